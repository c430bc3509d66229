// Seed 003's reads against the real app: system logs (filters, hours, DRF pages, one line), user sessions
// (stable ids, logged in or out), host metrics (one row per collection), the newest process list, the CSRF
// token; and another organization's logs, sessions, metrics and processes as 404 or absent.
import t from 'tap'
import { makeBatch, minutesAgo, startClient, unique, type TestClient } from '../../test-client.ts'

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
const LOG_KEYS = ['agent', 'fields', 'hostname', 'id', 'level', 'message', 'source', 'timestamp']
const SESSION_KEYS = ['agent', 'first_seen', 'host', 'hostname', 'id', 'is_active', 'last_seen', 'login_time', 'logout_time', 'pid', 'terminal', 'username']
const METRIC_KEYS = ['agent', 'cpu_usage', 'disk_usage', 'hostname', 'id', 'memory_total', 'memory_usage', 'memory_used', 'network_in', 'network_out', 'timestamp']

async function seedAgent(api: TestClient, hostname: string, token = api.adminToken) {
  const res = await api.req('POST', '/api/agents/', { token, body: { hostname, is_approved: true } })
  if (res.status !== 201) throw new Error(`${res.status} ${res.text}`)
  return res.body as { id: number; uuid: string; api_key: string }
}

async function upload(api: TestClient, path: string, key: string, body: unknown) {
  const res = await api.post(path, body, { apiKey: key })
  if (res.status !== 201) throw new Error(`${path}: ${res.status} ${res.text}`)
  return res.body
}

t.test('seed 003 reads', async (t) => {
  const api = await startClient(t)
  const admin = api.adminToken
  const viewer = await api.user('viewer')
  const a = await seedAgent(api, 'reader-a.example')
  const b = await seedAgent(api, 'reader-b.example')

  await upload(api, '/api/logs/upload_logs/', a.api_key, {
    logs: [
      { timestamp: minutesAgo(180), level: 'info', source: 'cron', message: 'nightly job started' },
      { timestamp: minutesAgo(30), level: 'warning', source: 'kernel', message: 'CPU temperature above threshold' },
      { timestamp: minutesAgo(20), level: 'error', source: 'kernel', message: 'I/O error on sda' },
      { timestamp: minutesAgo(10), level: 'critical', source: 'sshd', message: 'possible break-in attempt 100%_sure' },
    ],
    sessions: [
      { username: 'alice', terminal: 'pts/0', host: '198.51.100.7', pid: 501, login_time: minutesAgo(120) },
      { username: 'bob', terminal: 'pts/1', login_time: minutesAgo(60) },
    ],
  })
  await upload(api, '/api/logs/upload_logs/', b.api_key, { logs: [{ timestamp: minutesAgo(5), level: 'debug', message: 'b speaks' }] })

  t.test('GET /api/logs/: newest first, hours (default 24), agent_id, level, source, search, pages', async (t) => {
    const all = await api.req('GET', '/api/logs/', { token: viewer.token })
    t.equal(all.status, 200)
    t.same(Object.keys(all.body).sort(), ['count', 'next', 'previous', 'results'])
    t.equal(all.body.count, 5)
    t.same(all.body.results.map((l: { message: string }) => l.message),
      ['b speaks', 'possible break-in attempt 100%_sure', 'I/O error on sda', 'CPU temperature above threshold', 'nightly job started'])
    for (const l of all.body.results) {
      t.same(Object.keys(l).sort(), LOG_KEYS)
      t.ok(Number.isInteger(l.id))
      t.match(l.timestamp, ISO)
    }
    t.equal((await api.req('GET', '/api/logs/?hours=1', { token: admin })).body.count, 4, 'hours=1 leaves out the 3-hour-old line')
    const ofA = await api.req('GET', `/api/logs/?agent_id=${a.id}`, { token: admin })
    t.equal(ofA.body.count, 4)
    t.ok(ofA.body.results.every((l: { agent: number; hostname: string }) => l.agent === a.id && l.hostname === 'reader-a.example'))
    t.same((await api.req('GET', '/api/logs/?level=ERROR', { token: admin })).body.results.map((l: { level: string }) => l.level), ['critical', 'error'], 'a level and the more severe ones')
    t.equal((await api.req('GET', '/api/logs/?source=kernel', { token: admin })).body.count, 2)
    t.same((await api.req('GET', '/api/logs/?search=100%25_', { token: admin })).body.results.map((l: { source: string }) => l.source), ['sshd'], '% and _ match themselves')
    t.equal((await api.req('GET', '/api/logs/?agent_id=424242', { token: admin })).body.count, 0, 'an unknown agent: an empty page')
    const p1 = await api.req('GET', '/api/logs/?page_size=2', { token: admin })
    t.equal(p1.body.results.length, 2)
    t.match(p1.body.next, /\/api\/logs\/\?page_size=2&page=2$/)
    const p3 = await api.req('GET', '/api/logs/?page_size=2&page=3', { token: admin })
    t.same(p3.body.results.map((l: { message: string }) => l.message), ['nightly job started'])
    t.equal(p3.body.next, null)
    t.match(p3.body.previous, /page=2/)
    t.same((await api.req('GET', '/api/logs/?page=0', { token: admin })).body, { detail: 'Invalid page.' }, 'page 0 is DRF\'s 404')
    for (const bad of ['hours=0', 'hours=721', 'hours=soon', 'level=loud', 'agent_id=abc']) {
      const res = await api.req('GET', `/api/logs/?${bad}`, { token: admin })
      t.equal(res.status, 400, bad)
      t.ok(Object.values(res.body).every((v) => Array.isArray(v)), `${bad}: {"field": [...]}`)
    }
    t.equal((await api.req('GET', '/api/logs/')).status, 401)
  })

  t.test('GET /api/logs/{id}/', async (t) => {
    const [first] = (await api.req('GET', '/api/logs/', { token: admin })).body.results
    const one = await api.req('GET', `/api/logs/${first.id}/`, { token: viewer.token })
    t.equal(one.status, 200)
    t.same(one.body, first)
    for (const id of ['99999999', 'abc', '0']) {
      const res = await api.req('GET', `/api/logs/${id}/`, { token: admin })
      t.equal(res.status, 404, id)
      t.same(Object.keys(res.body), ['detail'])
    }
  })

  t.test('GET /api/sessions/: spans of the repeated reports, stable ids, logged in or out', async (t) => {
    const listed = await api.req('GET', '/api/sessions/', { token: viewer.token })
    t.equal(listed.status, 200)
    t.equal(listed.body.count, 2)
    t.same(listed.body.results.map((s: { username: string }) => s.username), ['bob', 'alice'], 'newest login first')
    for (const s of listed.body.results) t.same(Object.keys(s).sort(), SESSION_KEYS)
    const alice = listed.body.results[1]
    t.match(alice, { agent: a.id, hostname: 'reader-a.example', terminal: 'pts/0', host: '198.51.100.7', pid: 501, is_active: true, logout_time: null })
    t.match(alice.login_time, ISO)
    t.match(alice.id, new RegExp(`^${a.id}-\\d+-[0-9a-f]{12}$`))

    // A later report with alice still logged in and bob gone.
    await upload(api, '/api/logs/upload_logs/', a.api_key, {
      timestamp: new Date(Date.now() + 1000).toISOString(), sessions: [{ username: 'alice', terminal: 'pts/0', host: '198.51.100.7', pid: 501, login_time: alice.login_time }],
    })
    const after = (await api.req('GET', '/api/sessions/', { token: admin })).body.results
    t.equal(after.length, 2, 'the same two sessions, not one more row each report')
    const alice2 = after.find((s: { username: string }) => s.username === 'alice')
    const bob2 = after.find((s: { username: string }) => s.username === 'bob')
    t.equal(alice2.id, alice.id, 'a session keeps its id')
    t.ok(Date.parse(alice2.last_seen) > Date.parse(alice.last_seen), 'last_seen moves on')
    t.equal(alice2.first_seen, alice.first_seen)
    t.match(bob2, { is_active: false, logout_time: bob2.last_seen })
    const one = await api.req('GET', `/api/sessions/${alice.id}/`, { token: viewer.token })
    t.equal(one.status, 200)
    t.same(one.body, alice2)
    t.equal((await api.req('GET', `/api/sessions/?agent_id=${b.id}`, { token: admin })).body.count, 0)
    t.equal((await api.req('GET', `/api/sessions/?agent_id=${a.id}&page_size=1`, { token: admin })).body.results.length, 1)
    const tampered = alice.id.replace(/[0-9a-f]$/, (c: string) => (c === '0' ? '1' : '0'))
    // A login time past the year 9999 (a 500 before: no such time reaches the database) or at its very end.
    for (const id of [tampered, 'abc', `${b.id}-${Date.parse(alice.login_time)}-${alice.id.slice(-12)}`, '1-2-3', `${a.id}-253402300800000-abcdefabcdef`, `${a.id}-999999999999999-abcdefabcdef`, `${a.id}-253402300799999-abcdefabcdef`]) {
      const res = await api.req('GET', `/api/sessions/${id}/`, { token: admin })
      t.equal(res.status, 404, id)
      t.same(Object.keys(res.body), ['detail'])
    }
  })

  t.test('GET /api/metrics/: one row per collection, native and seed uploads alike', async (t) => {
    const fourAgo = minutesAgo(4)
    await upload(api, '/api/metrics/upload/', a.api_key, { cpu_usage: 20, memory_usage: 40, memory_total: 1000, memory_used: 400, disk_usage: 55, network_in: 10, network_out: 20, timestamp: fourAgo })
    await upload(api, '/api/metrics/upload/', a.api_key, { cpu_usage: 30, memory_usage: 50, timestamp: minutesAgo(2) })
    await api.ingestOk(b.api_key, makeBatch({ time: minutesAgo(3), host: undefined }))
    const all = await api.req('GET', '/api/metrics/', { token: viewer.token })
    t.equal(all.status, 200)
    t.equal(all.body.count, 3)
    for (const m of all.body.results) t.same(Object.keys(m).sort(), METRIC_KEYS)
    const [newest, native, oldest] = all.body.results
    t.match(newest, { agent: a.id, hostname: 'reader-a.example', cpu_usage: 30, memory_usage: 50, disk_usage: null, network_in: null })
    t.match(native, { agent: b.id, cpu_usage: 39.37, memory_usage: 75.2, disk_usage: 18.15, network_in: 2505301971, network_out: 1382943312 }, 'a native batch as a seed row')
    t.match(oldest, { cpu_usage: 20, memory_usage: 40, memory_total: 1000, memory_used: 400, disk_usage: 55, network_in: 10, network_out: 20 })
    t.equal(oldest.id, `${a.id}-${Date.parse(fourAgo)}`)
    t.equal((await api.req('GET', `/api/metrics/?agent_id=${a.id}`, { token: admin })).body.count, 2)
    const page = await api.req('GET', `/api/metrics/?agent_id=${a.id}&page_size=1&page=2`, { token: admin })
    t.same(page.body.results.map((m: { cpu_usage: number }) => m.cpu_usage), [20])
    t.equal(page.body.next, null)
    await upload(api, '/api/metrics/upload/', a.api_key, { cpu_usage: 5, timestamp: minutesAgo(26 * 60) })
    t.equal((await api.req('GET', `/api/metrics/?agent_id=${a.id}`, { token: admin })).body.count, 2, 'default: the last 24 hours')
    t.equal((await api.req('GET', `/api/metrics/?agent_id=${a.id}&hours=48`, { token: admin })).body.count, 3)
  })

  t.test('GET /api/processes/list/: hostname required, 404 for an unknown host, empty before a snapshot', async (t) => {
    const missing = await api.req('GET', '/api/processes/list/', { token: admin })
    t.equal(missing.status, 400)
    t.same(missing.body, { hostname: ['This field is required.'] })
    const unknownHost = await api.req('GET', '/api/processes/list/?hostname=nobody.example', { token: admin })
    t.equal(unknownHost.status, 404)
    t.same(Object.keys(unknownHost.body), ['detail'])
    const quiet = await seedAgent(api, 'quiet.example')
    const empty = await api.req('GET', '/api/processes/list/?hostname=quiet.example', { token: viewer.token })
    t.same(empty.body, { count: 0, next: null, previous: null, results: [] })
    await upload(api, '/api/processes/upload/', quiet.api_key, { processes: [{ pid: 7, name: 'sleep', cpu_percent: 0, memory_percent: 0.1, memory_rss: 4096 }] })
    const one = (await api.req('GET', '/api/processes/list/?hostname=quiet.example', { token: admin })).body
    t.equal(one.count, 1)
    t.same(Object.keys(one.results[0]).sort(), ['cmdline', 'cpu_percent', 'create_time', 'memory_percent', 'memory_rss', 'memory_vms', 'name', 'num_threads', 'pid',
      'ppid', 'snapshot_id', 'status', 'timestamp', 'username'])
    t.match(one.results[0], { pid: 7, name: 'sleep', memory_rss: 4096, ppid: null })
  })

  t.test('GET /api/csrf/: a token and a csrftoken cookie, no credentials needed', async (t) => {
    const res = await api.req('GET', '/api/csrf/')
    t.equal(res.status, 200)
    t.same(Object.keys(res.body), ['csrfToken'])
    t.match(res.body.csrfToken, /^[0-9a-f]{64}$/)
    const cookie = res.headers.get('set-cookie') ?? ''
    t.match(cookie, new RegExp(`^csrftoken=${res.body.csrfToken}; Path=/; SameSite=Lax`))
    t.notMatch(cookie, /HttpOnly/, 'the front end reads it')
    const again = await api.req('GET', '/api/csrf/')
    t.not(again.body.csrfToken, res.body.csrfToken)
    // It is no credential: a write with the cookie and header but no bearer token is still refused.
    const write = await api.req('POST', '/api/agents/', { body: { hostname: 'csrf.example' }, headers: { cookie: `csrftoken=${res.body.csrfToken}`, 'x-csrftoken': res.body.csrfToken } })
    t.equal(write.status, 401)
  })

  t.test("another organization's logs, sessions, metrics and processes are 404 or absent", async (t) => {
    const orgB = await api.req('POST', '/api/v1/organizations', { token: admin, body: { name: unique('OrgB'), admin: { username: unique('b-admin'), password: 'b-admin-password' } } })
    const bToken = (await api.login(orgB.body.admin.username, 'b-admin-password')).token
    const other = await seedAgent(api, 'secret-host.example', bToken)
    await upload(api, '/api/logs/upload_logs/', other.api_key, {
      logs: [{ level: 'error', message: 'secret failure' }], sessions: [{ username: 'mallory', login_time: minutesAgo(5) }],
    })
    await upload(api, '/api/metrics/upload/', other.api_key, { cpu_usage: 99 })
    await upload(api, '/api/processes/upload/', other.api_key, { processes: [{ pid: 66, name: 'secretd' }] })
    const theirs = async (path: string) => (await api.req('GET', path, { token: bToken })).body
    const bLog = (await theirs('/api/logs/')).results[0]
    const bSession = (await theirs('/api/sessions/')).results[0]
    t.equal(bLog.message, 'secret failure')
    t.equal(bSession.username, 'mallory')

    t.equal((await api.req('GET', `/api/logs/${bLog.id}/`, { token: admin })).status, 404)
    t.equal((await api.req('GET', `/api/sessions/${bSession.id}/`, { token: admin })).status, 404)
    t.equal((await api.req('GET', '/api/processes/list/?hostname=secret-host.example', { token: admin })).status, 404)
    for (const path of [`/api/logs/?agent_id=${other.id}`, `/api/sessions/?agent_id=${other.id}`, `/api/metrics/?agent_id=${other.id}`]) {
      t.equal((await api.req('GET', path, { token: admin })).body.count, 0, path)
    }
    for (const path of ['/api/logs/?page_size=500', '/api/sessions/?page_size=500', '/api/metrics/?page_size=500']) {
      const text = (await api.req('GET', path, { token: admin })).text
      t.notMatch(text, /secret|mallory|"cpu_usage":99/, `${path} shows nothing of B`)
    }
    t.equal((await theirs('/api/logs/')).count, 1, "B sees only B's")
    t.equal((await theirs('/api/metrics/')).count, 1)
  })
})
