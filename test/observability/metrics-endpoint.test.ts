// GET /metrics: Prometheus text exposition (format 0.0.4) checked by a strict parser written here, the
// ingest counters moving after a line protocol write, and access closed unless configured open.
import t, { type Test } from 'tap'
import { sql } from 'kysely'
import { ADMIN, GENEROUS_LIMITS, JWT_SECRET, ACCESS_TTL, REFRESH_TTL, assertError, openTestStore, startClient } from '../test-client.ts'
import { buildApp, type AppOptions } from '../../services/api/app.ts'
import { bootstrapAdmin } from '../../services/auth/bootstrap-admin.ts'
import { waitFor } from '../wait-for.ts'

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Family { name: string; type: string; help: string; samples: Sample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'], counter: [''], gauge: [''], untyped: [''] }

function parseValue(raw: string, where: string): number {
  // As Prometheus reads them (Go's strconv.ParseFloat): NaN and Inf in any case; prom-client writes "Nan".
  if (/^[+]?inf(inity)?$/i.test(raw)) return Infinity
  if (/^-inf(inity)?$/i.test(raw)) return -Infinity
  if (/^nan$/i.test(raw)) return NaN
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(raw)) throw new Error(`${where}: bad value ${raw}`)
  return Number(raw)
}

/** Parses the text format strictly: every rule it breaks throws, naming the line. */
export function parsePrometheusText(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline')
  const families = new Map<string, Family>()
  const closed = new Set<string>()
  let current: Family | undefined
  const lines = text.slice(0, -1).split('\n')
  lines.forEach((line, i) => {
    const where = `line ${i + 1}`
    if (line === '') return // the format ignores empty lines (prom-client separates families with one)
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line)
      if (!m) return // a plain comment
      const [, kind, name, rest] = m
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name ${name}`)
      if (closed.has(name)) throw new Error(`${where}: ${name} appears twice`)
      if (current && current.name !== name) { closed.add(current.name); current = undefined }
      current ??= families.get(name) ?? { name, type: 'untyped', help: '', samples: [] }
      if (current.samples.length > 0) throw new Error(`${where}: ${kind} after samples of ${name}`)
      families.set(name, current)
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type ${rest}`)
        current.type = rest
      } else current.help = rest
      return
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line)
    if (!m) throw new Error(`${where}: not a sample: ${line}`)
    const [, name, , labelText = '', rawValue] = m
    const labels: Record<string, string> = {}
    let rest = labelText
    while (rest.length > 0) {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest)
      if (!lm || !LABEL.test(lm[1])) throw new Error(`${where}: bad label set {${labelText}}`)
      if (lm[1] in labels) throw new Error(`${where}: label ${lm[1]} twice`)
      labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c))
      rest = rest.slice(lm[0].length)
    }
    const family = current && (SUFFIXES[current.type] ?? ['']).some((s) => name === current!.name + s) ? current : undefined
    if (!family) throw new Error(`${where}: sample ${name} outside its family's TYPE block`)
    family.samples.push({ name, labels, value: parseValue(rawValue, where) })
  })
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f)
  return families
}

/** Per label set: buckets ascending in `le` and cumulative, the +Inf bucket equal to _count, a _sum. */
function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; count?: number; sum?: number }>()
  for (const s of f.samples) {
    const { le, ...rest } = s.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    const g = groups.get(key) ?? { buckets: [] }
    groups.set(key, g)
    if (s.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le`)
      g.buckets.push([parseValue(le, f.name), s.value])
    } else if (s.name.endsWith('_count')) g.count = s.value
    else g.sum = s.value
  }
  for (const [key, g] of groups) {
    if (g.count === undefined || g.sum === undefined) throw new Error(`${f.name}${key}: _count or _sum missing`)
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i][0] > g.buckets[i - 1][0]) || g.buckets[i][1] < g.buckets[i - 1][1]) throw new Error(`${f.name}${key}: buckets not ascending and cumulative`)
    }
    const last = g.buckets[g.buckets.length - 1]
    if (!last || last[0] !== Infinity || last[1] !== g.count) throw new Error(`${f.name}${key}: +Inf bucket missing or not equal to _count`)
  }
}

const value = (families: Map<string, Family>, family: string, name: string, labels: Record<string, string> = {}) =>
  families.get(family)?.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0) ?? 0

t.test('the strict parser refuses malformed expositions', async (t) => {
  const bad = [
    'x 1', // no trailing newline
    '# TYPE x counter\nx{a="1} 1\n',
    '# TYPE x counter\nx one\n',
    '# TYPE x counter\ny 1\n',
    '# TYPE x gauge\nx 1\n# TYPE x gauge\n',
    '# TYPE x histogram\nx_bucket{le="1"} 2\nx_bucket{le="+Inf"} 1\nx_sum 1\nx_count 1\n',
    '# TYPE x histogram\nx_bucket{le="1"} 1\nx_sum 1\nx_count 1\n',
    '# TYPE x nonsense\n',
  ]
  for (const text of bad) t.throws(() => parsePrometheusText(text), JSON.stringify(text))
  t.doesNotThrow(() => parsePrometheusText('# HELP x h\n# TYPE x counter\nx{a="q\\"\\\\"} 1 1700000000000\n# a comment\n'))
})

t.test('GET /metrics', async (t) => {
  const api = await startClient(t)

  t.test('closed by default: admins only', async (t) => {
    assertError(t, await api.request('GET', '/metrics'), 401, 'UNAUTHORIZED', 'no token:')
    const res = await api.request('GET', '/metrics', { token: api.adminToken })
    t.equal(res.status, 200)
    t.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  })

  t.test('parses, and the ingest counters move after a write', async (t) => {
    const scrape = async () => parsePrometheusText((await api.request('GET', '/metrics', { token: api.adminToken })).text)
    const before = await scrape()
    for (const name of ['hostpulse_ingest_batches_total', 'hostpulse_ingest_rows_total', 'hostpulse_ingest_batch_rows',
      'hostpulse_http_request_duration_seconds', 'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds']) {
      t.ok(before.has(name), `${name} is exposed`)
    }
    t.equal(before.get('hostpulse_ingest_batches_total')?.type, 'counter')
    t.equal(before.get('hostpulse_ingest_batch_rows')?.type, 'histogram')
    const agent = await api.createAgent('scraped')
    const now = BigInt(Date.now()) * 1_000_000n
    const res = await fetch(`${api.url}/api/v2/write?precision=ns`, {
      method: 'POST', headers: { authorization: `Token ${agent.api_key}` },
      body: `cpu,host=a u=1,s=2 ${now}\nmem,host=a used=3i ${now - 1_000_000_000n}\n`,
    })
    t.equal(res.status, 204)
    const after = await scrape()
    t.equal(value(after, 'hostpulse_ingest_batches_total', 'hostpulse_ingest_batches_total')
      - value(before, 'hostpulse_ingest_batches_total', 'hostpulse_ingest_batches_total'), 2, 'two batches (two timestamps) from the line protocol write')
    t.equal(value(after, 'hostpulse_ingest_rows_total', 'hostpulse_ingest_rows_total', { table: 'metrics' })
      - value(before, 'hostpulse_ingest_rows_total', 'hostpulse_ingest_rows_total', { table: 'metrics' }), 3, 'three metrics rows')
    t.equal(value(after, 'hostpulse_ingest_batch_rows', 'hostpulse_ingest_batch_rows_count')
      - value(before, 'hostpulse_ingest_batch_rows', 'hostpulse_ingest_batch_rows_count'), 2, 'two batch sizes observed')
    t.equal(value(after, 'hostpulse_ingest_batch_rows', 'hostpulse_ingest_batch_rows_sum')
      - value(before, 'hostpulse_ingest_batch_rows', 'hostpulse_ingest_batch_rows_sum'), 3)
    const writes = value(after, 'hostpulse_http_request_duration_seconds', 'hostpulse_http_request_duration_seconds_count', { route: '/api/v2/write', method: 'POST', status: '204' })
    t.equal(writes, 1, 'the write is timed under its route pattern')
    t.ok(value(after, 'hostpulse_http_request_duration_seconds', 'hostpulse_http_request_duration_seconds_count', { route: '/api/v1/agents', method: 'POST', status: '201' }) >= 1)
    await api.request('GET', '/no/such/path/12345')
    const unmatched = (await scrape()).get('hostpulse_http_request_duration_seconds')!.samples
    t.notOk(unmatched.some((s) => s.labels.route?.includes('12345')), 'raw URLs never become labels')
    t.ok(unmatched.some((s) => s.labels.route === 'unmatched' && s.labels.status === '404'))

    // The database connections: the embedded engine is one session, idle between requests.
    const db = (await scrape()).get('hostpulse_db_connections')
    t.equal(db?.type, 'gauge')
    const conn = (state: string) => db!.samples.find((s) => s.labels.state === state)?.value
    t.same([conn('max'), conn('open'), conn('idle'), conn('waiting')], [1, 1, 1, 0], 'max, open, idle, waiting of the embedded session')
    // While a long query holds the session, another caller waits for it: the gauge sees both.
    // (Watched until the second caller waits, well inside the long query: a loaded machine may start it late.)
    const long = sql`select pg_sleep(4)`.execute(api.store.db)
    const queued = sql`select 1`.execute(api.store.db)
    await waitFor('a caller waiting for the session', () => api.store.connections().waiting === 1, 3000, 20).catch(() => {})
    t.same(api.store.connections(), { max: 1, open: 1, idle: 0, waiting: 1 }, 'busy, one waiting')
    await Promise.all([long, queued])
    t.same(api.store.connections(), { max: 1, open: 1, idle: 1, waiting: 0 }, 'idle again')
  })

  t.test('each app has its own registry', async (t) => {
    const other = await appWith(t, {})
    const text = await (await fetch(`${other.url}/metrics`, { headers: { authorization: `Bearer ${other.token}` } })).text()
    t.equal(value(parsePrometheusText(text), 'hostpulse_ingest_batches_total', 'hostpulse_ingest_batches_total'), 0, 'a fresh app starts at zero')
  })

  t.test('METRICS_PUBLIC opens it; a static scraper token works; viewers and wrong tokens do not', async (t) => {
    const open = await appWith(t, { metrics: { public: true } })
    t.equal((await fetch(`${open.url}/metrics`)).status, 200, 'public when configured')
    const scraper = await appWith(t, { metrics: { token: 'scrape-token-0123456789abcdef' } })
    t.equal((await fetch(`${scraper.url}/metrics`, { headers: { authorization: 'Bearer scrape-token-0123456789abcdef' } })).status, 200, 'static token')
    t.equal((await fetch(`${scraper.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401, 'wrong static token')
    t.equal((await fetch(`${scraper.url}/metrics`, { headers: { authorization: `Bearer ${scraper.token}` } })).status, 200, 'admin JWT still works')
  })
})

/** Another app on its own store with `extra` options, an admin token for it. */
async function appWith(t: Test, extra: Partial<AppOptions>) {
  const store = await openTestStore(t)
  await bootstrapAdmin(store.db, ADMIN.username, ADMIN.password)
  const app = await buildApp({ store, jwtSecret: JWT_SECRET, accessTtlSeconds: ACCESS_TTL, refreshTtlSeconds: REFRESH_TTL, ...GENEROUS_LIMITS, ...extra })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const login = await fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) })
  return { url, token: ((await login.json()) as { token: string }).token }
}
