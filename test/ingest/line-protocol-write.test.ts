// POST /api/v2/write and /write over real HTTP: a corpus of line protocol round-trips into queryable
// series; bad lines are a 400 naming each line and store nothing; keys as X-API-Key, Token or Basic.
import t from 'tap'
import { gzipSync } from 'node:zlib'
import { sql } from 'kysely'
import { assertError, rowCounts, startClient, type TestClient } from '../test-client.ts'

interface Sent { status: number; text: string; body: any; headers: Headers }

async function write(api: TestClient, body: string | Uint8Array, opts: { path?: string; query?: string; headers?: Record<string, string> } = {}): Promise<Sent> {
  const res = await fetch(`${api.url}${opts.path ?? '/api/v2/write'}${opts.query ?? ''}`, {
    method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8', ...opts.headers }, body: body as BodyInit,
  })
  const text = await res.text()
  let parsed: unknown
  try { parsed = text ? JSON.parse(text) : undefined } catch { parsed = undefined }
  return { status: res.status, text, body: parsed, headers: res.headers }
}

interface Row { time: Date; metric_type: string; metric_name: string; value: number; tags: Record<string, string> }

async function rowsOf(api: TestClient, agentId: string): Promise<Row[]> {
  const { rows } = await sql<Row>`select time, metric_type, metric_name, value, tags from metrics where agent_id = ${agentId}::uuid
    order by time, metric_type, metric_name, tags::text`.execute(api.store.db)
  return rows
}

const sortedTags = (tags: Record<string, string>) => JSON.stringify(Object.fromEntries(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : 1))))
const view = (r: Row) => `${r.time.toISOString()} ${r.metric_type}.${r.metric_name}${sortedTags(r.tags)}=${r.value}`

t.test('line protocol write', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('telegraf-host')
  const token = { authorization: `Token ${agent.api_key}` }
  // Whole seconds a few minutes ago, so every precision can name the same instant.
  const baseS = Math.floor(Date.now() / 1000) - 600
  const iso = (s: number, ms = 0) => new Date(s * 1000 + ms).toISOString()

  t.test('a corpus of valid lines round-trips into series', async (t) => {
    const corpus = [
      '# telegraf output, with comments and blank lines',
      '',
      `cpu,cpu=cpu-total,host=web-01 usage_idle=97.5,usage_user=1.25,usage_system=0.75 ${baseS}123456789`,
      `mem,host=web-01 used=8123456789i,available_percent=41.2,swap_free=0u ${baseS}000000000`,
      `system,host=web-01 load1=0.5,n_cpus=8i,uptime_format="3 days, 2:01",online=true,degraded=F ${baseS}000000000`,
      `disk\\ io,device=sda\\ 1,path=C:\\\\x,k\\=ey=v\\,al reads=12i,Write\\ Bytes=4096i,busy=t ${baseS}000000000`,
      `Docker.Container-Stats,name=db cpu.percent=3.5 ${baseS}500000000`,
      `net,interface=eth0 note="escaped \\"quote\\" and \\\\ backslash",bytes_recv=123u ${baseS}000000000`,
      `exp value=-1.5e3 ${baseS}000000000`,
    ].join('\n')
    const res = await write(api, corpus, { query: '?org=acme&bucket=telegraf&precision=ns', headers: token })
    t.equal(res.status, 204, `204 No Content (${res.text})`)
    t.equal(res.text, '', 'no body, like InfluxDB')
    t.equal(res.headers.get('x-hostpulse-points'), '7')
    t.equal(res.headers.get('x-hostpulse-rows'), '16')
    t.equal(res.headers.get('x-hostpulse-skipped-string-fields'), '2')
    const rows = (await rowsOf(api, agent.id)).map(view).sort()
    const at = iso(baseS)
    const diskTags = JSON.stringify({ 'device': 'sda 1', 'k=ey': 'v,al', 'path': 'C:\\\\x' })
    t.same(rows, [
      `${at} disk_io.busy${diskTags}=1`,
      `${at} disk_io.reads${diskTags}=12`,
      `${at} disk_io.write_bytes${diskTags}=4096`,
      `${at} exp.value{}=-1500`,
      `${at} mem.available_percent{"host":"web-01"}=41.2`,
      `${at} mem.swap_free{"host":"web-01"}=0`,
      `${at} mem.used{"host":"web-01"}=8123456789`,
      `${at} net.bytes_recv{"interface":"eth0"}=123`,
      `${at} system.degraded{"host":"web-01"}=0`,
      `${at} system.load1{"host":"web-01"}=0.5`,
      `${at} system.n_cpus{"host":"web-01"}=8`,
      `${at} system.online{"host":"web-01"}=1`,
      `${iso(baseS, 123)} cpu.usage_idle{"cpu":"cpu-total","host":"web-01"}=97.5`,
      `${iso(baseS, 123)} cpu.usage_system{"cpu":"cpu-total","host":"web-01"}=0.75`,
      `${iso(baseS, 123)} cpu.usage_user{"cpu":"cpu-total","host":"web-01"}=1.25`,
      `${iso(baseS, 500)} docker_container_stats.cpu_percent{"name":"db"}=3.5`,
    ], 'every numeric and boolean field is a row; names normalized; tags kept; ns truncated to ms')

    const range = await api.get(`/api/v1/metrics/range/${agent.id}?start=${iso(baseS - 60)}&end=${iso(baseS + 60)}&limit=100`)
    t.equal(range.status, 200)
    t.equal(range.body.count, 16, 'the query API reads them back')
    const load = range.body.metrics.find((m: any) => m.metric_type === 'system' && m.metric_name === 'load1')
    t.same(load, { time: iso(baseS), agent_id: 'telegraf-host', metric_type: 'system', metric_name: 'load1', value: 0.5, tags: { host: 'web-01' } })
    const latest = await sql<{ n: number }>`select count(*)::int as n from metrics_latest where agent_id = ${agent.id}::uuid`.execute(api.store.db)
    t.equal(latest.rows[0].n, 16, 'metrics_latest holds each series')
  })

  t.test('precision variants name the same instant', async (t) => {
    const a = await api.createAgent('precision-host')
    for (const [precision, ts] of [['ns', `${baseS}250000000`], ['us', `${baseS}250000`], ['ms', `${baseS}250`], ['s', `${baseS}`]] as const) {
      const res = await write(api, `prec,p=${precision} v=1i ${ts}`, { query: `?precision=${precision}`, headers: { 'x-api-key': a.api_key } })
      t.equal(res.status, 204, `${precision}: 204`)
    }
    const rows = await rowsOf(api, a.id)
    t.same(rows.map((r) => [r.tags.p, r.time.toISOString()]).sort(), [
      ['ms', iso(baseS, 250)], ['ns', iso(baseS, 250)], ['s', iso(baseS)], ['us', iso(baseS, 250)]])
    const bad = await write(api, 'prec v=1', { query: '?precision=h', headers: { 'x-api-key': a.api_key } })
    assertError(t, bad, 400, 'VALIDATION_ERROR', 'precision=h:')
  })

  t.test('no timestamp means now; /write, Basic auth and gzip (Telegraf\'s default) work', async (t) => {
    const a = await api.createAgent('v1-host')
    const before = Date.now()
    const basic = `Basic ${Buffer.from(`telegraf:${a.api_key}`).toString('base64')}`
    const res = await write(api, gzipSync('up,via=v1 v=1\n'), { path: '/write', query: '?db=telegraf', headers: { authorization: basic, 'content-encoding': 'gzip' } })
    t.equal(res.status, 204, res.text)
    const [row] = await rowsOf(api, a.id)
    t.ok(row.time.getTime() >= before - 1000 && row.time.getTime() <= Date.now() + 1000, 'stamped with the time of arrival')
    const plain = await write(api, 'up,via=none v=2', { headers: { 'x-api-key': a.api_key, 'content-type': 'application/octet-stream' } })
    t.equal(plain.status, 204, 'any content type is read as line protocol')
  })

  t.test('invalid lines: 400 naming each line, nothing stored', async (t) => {
    const before = await rowCounts(api.store)
    const futureNs = `${BigInt(Date.now() + 10 * 60_000) * 1_000_000n}`
    const body = [
      '# header',
      `good v=1 ${baseS}000000000`,
      'bad,host= v=1',
      `good v=2 ${baseS}000000000`,
      'cpu usage=abc',
      `later v=1 ${futureNs}`,
      'only_measurement',
    ].join('\n')
    const res = await write(api, body, { headers: token })
    assertError(t, res, 400, 'VALIDATION_ERROR')
    t.same(Object.keys(res.body.details), ['line 3', 'line 5', 'line 6', 'line 7'], 'every bad line, by number')
    t.match(res.body.details['line 3'][0], /value of tag "host" is empty/)
    t.match(res.body.details['line 5'][0], /field "usage" is not a number/)
    t.match(res.body.details['line 6'][0], /more than 5 minutes in the future/)
    t.match(res.body.details['line 7'][0], /no field set/)
    t.match(res.body.message, /line 3 .*\(and 3 more lines\)/)
    t.same(await rowCounts(api.store), before, 'nothing stored')

    const empty = await write(api, '# only a comment\n', { headers: token })
    assertError(t, empty, 400, 'VALIDATION_ERROR', 'no lines:')
    const many = await write(api, Array.from({ length: 150 }, () => 'x').join('\n'), { headers: token })
    t.equal(Object.keys(many.body.details).length, 101, '100 lines listed, then a count')
    t.same(many.body.details['(more)'], ['50 more invalid lines not listed'])
  })

  t.test('credentials', async (t) => {
    assertError(t, await write(api, 'x v=1'), 401, 'UNAUTHORIZED', 'none:')
    assertError(t, await write(api, 'x v=1', { headers: { authorization: 'Token hp_not_a_key' } }), 401, 'UNAUTHORIZED', 'unknown token:')
    assertError(t, await write(api, 'x v=1', { path: '/write', headers: { authorization: 'Bearer nope' } }), 401, 'UNAUTHORIZED', 'bearer:')
  })

  t.test('one batch per timestamp in ingest_batches', async (t) => {
    const a = await api.createAgent('dedupe-host')
    const line = `again v=1 ${baseS}000000000`
    t.equal((await write(api, line, { headers: { 'x-api-key': a.api_key } })).status, 204)
    const batches = await sql<{ n: number }>`select count(*)::int as n from ingest_batches where agent_id = ${a.id}::uuid`.execute(api.store.db)
    t.equal(batches.rows[0].n, 1, 'one batch per timestamp')
  })

  t.test('bodies over 16 MiB are refused', async (t) => {
    const line = `big v=1 ${baseS}000000000\n`
    const big = gzipSync(Buffer.from(line.repeat(Math.ceil((16 * 1024 * 1024 + 1) / line.length))))
    const res = await write(api, big, { headers: { ...token, 'content-encoding': 'gzip' } })
    assertError(t, res, 413, 'PAYLOAD_TOO_LARGE', 'decompressed over the limit:')
    const br = await write(api, 'x v=1', { headers: { ...token, 'content-encoding': 'br' } })
    assertError(t, br, 415, 'UNSUPPORTED_MEDIA_TYPE', 'brotli:')
  })
})
