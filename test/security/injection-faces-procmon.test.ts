// The injection walk (injection-walk.ts) over seeds 000 and 002's routes: every path parameter, query
// parameter and body field (one level into processes[0] too) with SQL metacharacters, long strings,
// unicode, NUL bytes, out-of-range numbers and type confusion. Never a 5xx, every error in the seed's own
// format, and no row that existed before changes (valid submissions may add snapshots).
import t from 'tap'
import { startClient } from './security-helpers.ts'
import { injectEverywhere } from './injection-walk.ts'

const PROCMON_ROUTES = /^\/api\/(submit|ingest|hosts|latest)(\/|$)/
const UPLOADS = new Set(['/api/submit/', '/api/ingest/', '/api/ingest'])

t.test('injection: seeds 000 and 002', async (t) => {
  const api = await startClient(t)
  const db = api.store.db
  const host = await api.createAgent('inj-host')
  const keep = await api.createAgent('inj-keep', undefined, { hostname: 'keep.example' })
  const viewer = await api.user('viewer')
  const process = { pid: 10, parent_pid: 1, name: 'nginx', cmdline: 'nginx', username: 'www', status: 'running', cpu_percent: 1, memory_percent: 1, memory_rss: 10, memory_vms: 20, create_time: 1700000000 }
  const submission = { hostname: 'inj-host', ip_address: '10.0.0.1', os_info: 'Linux', processes: [process] }
  const psutil = { hostname: 'inj-host', processes: [{ pid: 10, ppid: 1, name: 'nginx', cmdline: ['nginx', '-g'], memory_info: { rss: 1, vms: 2 }, create_time: 1700000000.5 }] }
  const SAMPLES: Record<string, Record<string, unknown>> = { 'POST /api/submit/': submission, 'POST /api/ingest/': psutil, 'POST /api/ingest': psutil }
  const PARAMS: Record<string, Record<string, string>> = {
    'GET /api/hosts/:hostname/processes/': { hostname: 'inj-host' },
    'GET /api/hosts/:hostname/snapshots/': { hostname: 'inj-host' },
    'GET /api/hosts/:hostname/latest/': { hostname: 'inj-host' },
  }
  const QUERIES: Record<string, Record<string, string>> = { 'GET /api/latest': { hostname: 'inj-host' } }
  const credentialsFor = (url: string) => ({ apiKey: UPLOADS.has(url) ? host.api_key : undefined })

  t.test('control: the samples are valid', async (t) => {
    for (const [key, body] of Object.entries(SAMPLES)) {
      const url = key.split(' ')[1]
      const res = await api.req('POST', url, { body, ...credentialsFor(url) })
      t.equal(res.status, 201, `${key}: ${res.text.slice(0, 200)}`)
    }
    for (const url of ['/api/hosts/inj-host/processes/', '/api/hosts/inj-host/snapshots/', '/api/hosts/inj-host/latest/', '/api/latest?hostname=inj-host']) {
      t.equal((await api.get(url)).status, 200, url)
    }
  })

  const snapshot = async () => JSON.stringify({
    agents: await db.selectFrom('agents').select(['id', 'name', 'hostname', 'status', 'api_key_hash', 'number']).where('id', 'in', [keep.id]).execute(),
    snapshots: await db.selectFrom('process_snapshots').selectAll().orderBy('snapshot_id').execute(),
  })
  const before = await snapshot()
  const routes = api.app.registeredRoutes.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && PROCMON_ROUTES.test(r.url))
  t.equal(routes.length, 8, 'every route of seeds 000 and 002 is walked')
  const { requests, failures } = await injectEverywhere({ api, routes, samples: SAMPLES, params: PARAMS, queries: QUERIES, nested: true, arrays: true, viewerToken: viewer.token, credentialsFor })
  t.ok(requests > 1400, `${requests} requests sent`)
  t.same(failures, [], 'no 5xx, and every error in the seed\'s format')
  const after = JSON.parse(await snapshot())
  const was = JSON.parse(before)
  t.same(after.agents, was.agents, 'the kept agent is unchanged')
  t.same(after.snapshots.slice(0, was.snapshots.length), was.snapshots, 'no snapshot that existed before changed')
})
