// Seed 003's agents viewset against the real app and embedded TimescaleDB: list (DRF pages), create (key
// once, pending unless approved), retrieve/PUT/PATCH/DELETE by integer id, activate/deactivate/approve on
// the native status, statistics, the configuration the hostpulse agent fetches (by id and by hostname),
// roles, DRF error shapes, and another organization's agents as 404.
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { pageOf } from '../../../services/faces/agent-management/drf.ts'
import { makeBatch, metric, rowCounts, startClient, unique, type TestClient } from '../../test-client.ts'

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
const AGENT_KEYS = ['agent_version', 'created_at', 'hostname', 'id', 'ip_address', 'is_active', 'is_approved', 'is_online', 'labels', 'last_metrics_at',
  'last_seen', 'name', 'os', 'os_version', 'status', 'updated_at', 'uuid'].sort()

async function seedAgent(api: TestClient, body: Record<string, unknown>, token = api.adminToken) {
  const res = await api.req('POST', '/api/agents/', { token, body })
  if (res.status !== 201) throw new Error(`${res.status} ${res.text}`)
  return res.body
}

t.test('seed 003 agents', async (t) => {
  const api = await startClient(t)
  const admin = api.adminToken
  const viewer = await api.user('viewer')
  const editor = await api.user('editor')

  t.test('POST /api/agents/: pending by default, key once, a native agent', async (t) => {
    const res = await api.req('POST', '/api/agents/', { token: admin, body: { hostname: 'db-01.example', ip_address: '10.0.0.5', os: 'Ubuntu', id: 999, created_at: 'ignored' } })
    t.equal(res.status, 201, res.text)
    t.same(Object.keys(res.body).sort(), [...AGENT_KEYS, 'api_key'].sort())
    t.ok(Number.isInteger(res.body.id) && res.body.id > 0, 'id is the integer number')
    t.not(res.body.id, 999, 'a read-only id in the body is ignored')
    t.match(res.body, { hostname: 'db-01.example', name: 'db-01.example', ip_address: '10.0.0.5', os: 'Ubuntu', status: 'pending', is_active: false, is_approved: false, is_online: false, last_seen: null })
    t.match(res.body.api_key, /^hp_/)
    t.match(res.body.created_at, ISO)
    const native = await api.req('GET', `/api/v1/agents/${res.body.uuid}`, { token: admin })
    t.equal(native.status, 200, 'visible natively at once')
    t.equal(native.body.status, 'pending')
    // Unapproved: its key is refused on the native ingest with 403, nothing stored.
    const before = await rowCounts(api.store)
    const refused = await api.ingest(res.body.api_key, makeBatch())
    t.equal(refused.status, 403)
    t.same(await rowCounts(api.store), before)
    const again = await api.req('GET', `/api/agents/${res.body.id}/`, { token: admin })
    t.notOk(/api_key/.test(again.text), 'the key is never shown again')

    const approved = await seedAgent(api, { hostname: 'db-02.example', is_approved: true })
    t.match(approved, { status: 'active', is_active: true, is_approved: true })
    const parked = await seedAgent(api, { hostname: 'db-03.example', name: 'db-three', is_approved: true, is_active: false })
    t.match(parked, { name: 'db-three', status: 'inactive', is_active: false, is_approved: true })
    t.equal((await api.ingest(approved.api_key, makeBatch())).status, 202, 'an approved agent ingests natively')
  })

  t.test('POST /api/agents/: bad bodies are 400 {"field": [...]}, nothing created', async (t) => {
    const count = async () => (await api.req('GET', '/api/v1/agents', { token: admin })).body.total
    const before = await count()
    const missing = await api.req('POST', '/api/agents/', { token: admin, body: { os: 'x' } })
    t.equal(missing.status, 400)
    t.same(missing.body, { hostname: ['This field is required.'] })
    const wrong = await api.req('POST', '/api/agents/', { token: admin, body: { hostname: 'x'.repeat(300), is_active: 'very', name: '-bad' } })
    t.equal(wrong.status, 400)
    t.same(Object.keys(wrong.body).sort(), ['hostname', 'is_active', 'name'])
    for (const messages of Object.values(wrong.body) as string[][]) t.ok(messages.every((m) => typeof m === 'string' && m.endsWith('.')))
    const dup = await api.req('POST', '/api/agents/', { token: admin, body: { hostname: 'db-01.example' } })
    t.equal(dup.status, 400)
    t.same(dup.body, { hostname: ['An agent with this hostname already exists.'] })
    const dupName = await api.req('POST', '/api/agents/', { token: admin, body: { hostname: 'fresh.example', name: 'db-three' } })
    t.same(dupName.body, { name: ['An agent with this name already exists.'] })
    const notJson = await api.req('POST', '/api/agents/', { token: admin, rawBody: '{"hostname":' })
    t.equal(notJson.status, 400)
    t.type(notJson.body.detail, 'string')
    t.equal(await count(), before, 'nothing created')
  })

  t.test('roles and credentials: 401/403 {"detail"}', async (t) => {
    const anon = await api.req('GET', '/api/agents/')
    t.equal(anon.status, 401)
    t.same(Object.keys(anon.body), ['detail'])
    t.match(anon.body.detail, /bearer/i)
    const bad = await api.req('GET', '/api/agents/', { token: 'not-a-jwt' })
    t.equal(bad.status, 401)
    t.equal((await api.req('GET', '/api/agents/', { token: viewer.token })).status, 200, 'viewers read')
    const denied = await api.req('POST', '/api/agents/', { token: viewer.token, body: { hostname: 'v.example' } })
    t.equal(denied.status, 403)
    t.same(Object.keys(denied.body), ['detail'])
    const first = (await api.req('GET', '/api/agents/', { token: viewer.token })).body.results[0]
    for (const [method, path] of [['POST', `/api/agents/${first.id}/deactivate/`], ['PATCH', `/api/agents/${first.id}/`], ['DELETE', `/api/agents/${first.id}/`]] as const) {
      const res = await api.req(method, path, { token: viewer.token, body: method === 'PATCH' ? { os: 'x' } : undefined })
      t.equal(res.status, 403, `viewer ${method} ${path}`)
    }
    t.equal((await seedAgent(api, { hostname: 'by-editor.example' }, editor.token)).status, 'pending', 'editors create')
  })

  t.test('GET /api/agents/: DRF page-number pagination with absolute links', async (t) => {
    for (let i = 0; i < 3; i++) await seedAgent(api, { hostname: `page-${i}.example` })
    const all = await api.req('GET', '/api/agents/', { token: admin })
    t.equal(all.status, 200)
    t.same(Object.keys(all.body).sort(), ['count', 'next', 'previous', 'results'])
    const total = all.body.count
    t.ok(total >= 7)
    t.equal(all.body.next, null)
    t.equal(all.body.previous, null)
    for (const a of all.body.results) t.same(Object.keys(a).sort(), AGENT_KEYS)
    const p1 = await api.req('GET', '/api/agents/?page_size=2', { token: admin })
    t.equal(p1.body.results.length, 2)
    t.equal(p1.body.count, total)
    t.equal(p1.body.previous, null)
    t.match(p1.body.next, /^http:\/\/127\.0\.0\.1:\d+\/api\/agents\/\?page_size=2&page=2$/)
    const p2 = await api.req('GET', new URL(p1.body.next).pathname + new URL(p1.body.next).search, { token: admin })
    t.equal(p2.status, 200)
    t.match(p2.body.previous, /page=1/)
    t.notSame(p2.body.results.map((a: { id: number }) => a.id), p1.body.results.map((a: { id: number }) => a.id))
    // Past the last page DRF answers 404 "Invalid page."; the first page of nothing is an empty 200.
    const beyond = await api.req('GET', '/api/agents/?page=999', { token: admin })
    t.equal(beyond.status, 404)
    t.same(beyond.body, { detail: 'Invalid page.' })
    const last = Math.ceil(p1.body.count / 2)
    t.equal((await api.req('GET', `/api/agents/?page_size=2&page=${last}`, { token: admin })).status, 200, 'the last page is a page')
    t.equal((await api.req('GET', `/api/agents/?page_size=2&page=${last + 1}`, { token: admin })).status, 404, 'the one after it is not')
    const request = { url: '/api/agents/', protocol: 'http', host: '127.0.0.1' } as unknown as FastifyRequest
    t.same(pageOf(request, { page: 1 }, 0, []), { count: 0, next: null, previous: null, results: [] }, 'the first page of nothing is a page')
    t.throws(() => pageOf(request, { page: 2 }, 0, []), { message: 'Invalid page.' }, 'the second is not')
    // As DRF reads them: a page that is no whole number from 1 is "Invalid page."; a page size past the
    // maximum is the maximum, and one that is no positive whole number the default.
    for (const page of ['0', '-1', 'abc', '1.5']) {
      const bad = await api.req('GET', `/api/agents/?page=${page}`, { token: admin })
      t.equal(bad.status, 404, `page=${page}`)
      t.same(bad.body, { detail: 'Invalid page.' })
    }
    const agentCount = (await api.req('GET', '/api/agents/', { token: admin })).body.count
    for (const [size, expected] of [['501', 500], ['100000', 500], ['abc', 50], ['0', 50], ['-3', 50], [' 2', 2]] as const) {
      const res = await api.req('GET', `/api/agents/?page_size=${encodeURIComponent(size)}`, { token: admin })
      t.equal(res.status, 200, `page_size=${size}: ${res.text.slice(0, 100)}`)
      t.equal(res.body.results.length, Math.min(expected, agentCount), `page_size=${size}: pages of ${expected}`)
      if (agentCount > expected) t.match(res.body.next, new RegExp(`page_size=${expected}&page=2$`), 'the next link carries the size used')
    }
  })

  t.test('retrieve, PUT, PATCH, DELETE by integer id; unknown ids are 404 {"detail"}', async (t) => {
    const a = await seedAgent(api, { hostname: 'crud.example', is_approved: true })
    const got = await api.req('GET', `/api/agents/${a.id}/`, { token: viewer.token })
    t.equal(got.status, 200)
    t.equal(got.body.uuid, a.uuid)
    for (const id of ['999999', 'abc', a.uuid, '0', '-1', '99999999999']) {
      const res = await api.req('GET', `/api/agents/${id}/`, { token: admin })
      t.equal(res.status, 404, `GET /api/agents/${id}/`)
      t.same(Object.keys(res.body ?? {}), ['detail'])
    }
    const putMissing = await api.req('PUT', `/api/agents/${a.id}/`, { token: admin, body: { os: 'Debian' } })
    t.equal(putMissing.status, 400)
    t.same(putMissing.body, { hostname: ['This field is required.'] })
    const put = await api.req('PUT', `/api/agents/${a.id}/`, { token: admin, body: { ...got.body, hostname: 'crud-2.example', os: 'Debian', labels: { env: 'prod' } } })
    t.equal(put.status, 200, put.text)
    t.match(put.body, { hostname: 'crud-2.example', os: 'Debian', labels: { env: 'prod' }, status: 'active' })
    const patch = await api.req('PATCH', `/api/agents/${a.id}/`, { token: admin, body: { agent_version: '2.1' } })
    t.match(patch.body, { agent_version: '2.1', hostname: 'crud-2.example', os: 'Debian' })
    const off = await api.req('PATCH', `/api/agents/${a.id}/`, { token: admin, body: { is_active: false } })
    t.match(off.body, { status: 'inactive', is_active: false, is_approved: true })
    const taken = await api.req('PATCH', `/api/agents/${a.id}/`, { token: admin, body: { hostname: 'db-01.example' } })
    t.equal(taken.status, 400)
    t.same(taken.body, { hostname: ['An agent with this hostname already exists.'] })
    const native = await api.req('GET', `/api/v1/agents/${a.uuid}`, { token: admin })
    t.match(native.body, { hostname: 'crud-2.example', os: 'Debian', agent_version: '2.1', status: 'inactive' }, 'the native agent changed')
    t.equal((await api.req('PATCH', '/api/agents/999999/', { token: admin, body: { os: 'x' } })).status, 404)

    const del = await api.req('DELETE', `/api/agents/${a.id}/`, { token: admin })
    t.equal(del.status, 204)
    t.equal((await api.req('GET', `/api/v1/agents/${a.uuid}`, { token: admin })).status, 404, 'gone natively')
    t.equal((await api.req('DELETE', `/api/agents/${a.id}/`, { token: admin })).status, 404)
    const audit = await api.store.db.selectFrom('audit_log').select(['action']).where('target_id', '=', a.uuid).execute()
    t.same(audit.map((r) => r.action).sort(), ['agent.create', 'agent.delete'], 'create and delete audited')
  })

  t.test('activate, deactivate, approve set the native status', async (t) => {
    const a = await seedAgent(api, { hostname: 'states.example' })
    const activatePending = await api.req('POST', `/api/agents/${a.id}/activate/`, { token: admin })
    t.equal(activatePending.status, 409, 'an unapproved agent cannot be activated')
    t.match(activatePending.body.detail, /approve/)
    const deactivatePending = await api.req('POST', `/api/agents/${a.id}/deactivate/`, { token: admin })
    t.match(deactivatePending.body, { status: 'pending', is_active: false, is_approved: false }, 'deactivating a pending agent leaves it pending')
    const approved = await api.req('POST', `/api/agents/${a.id}/approve/`, { token: admin })
    t.equal(approved.status, 200)
    t.match(approved.body, { status: 'active', is_active: true, is_approved: true })
    t.equal((await api.ingest(a.api_key, makeBatch())).status, 202, 'approved: ingests')
    const off = await api.req('POST', `/api/agents/${a.id}/deactivate/`, { token: editor.token })
    t.match(off.body, { status: 'inactive', is_active: false, is_approved: true })
    t.equal((await api.ingest(a.api_key, makeBatch())).status, 403, 'deactivated: refused natively')
    const reapprove = await api.req('POST', `/api/agents/${a.id}/approve/`, { token: admin })
    t.match(reapprove.body, { status: 'inactive' }, 'approving an approved agent changes nothing')
    const on = await api.req('POST', `/api/agents/${a.id}/activate/`, { token: admin })
    t.match(on.body, { status: 'active', is_active: true })
    t.equal((await api.req('POST', '/api/agents/424242/approve/', { token: admin })).status, 404)
  })

  t.test('GET /api/agents/stats/', async (t) => {
    const res = await api.req('GET', '/api/agents/stats/', { token: viewer.token })
    t.equal(res.status, 200)
    t.same(Object.keys(res.body).sort(), ['active_agents', 'active_alerts', 'approved_agents', 'inactive_agents', 'offline_agents', 'online_agents',
      'pending_agents', 'pending_registrations', 'recent_logs', 'total_agents'])
    for (const v of Object.values(res.body)) t.ok(Number.isInteger(v))
    const native = (await api.req('GET', '/api/v1/agents/stats', { token: admin })).body
    t.equal(res.body.total_agents, native.total)
    t.equal(res.body.active_agents, native.active)
    t.equal(res.body.pending_agents, native.pending)
    t.equal(res.body.online_agents, native.online)
    t.equal(res.body.approved_agents, native.total - native.pending)
    t.ok(res.body.online_agents >= 1, 'agents that ingested are online')
    t.equal(res.body.pending_registrations, 0)
    t.equal(res.body.recent_logs, 0)
    t.equal(res.body.active_alerts, 0)
  })

  t.test('configuration: by id (users) and by hostname (users, or the agent itself), the native one', async (t) => {
    const a = await seedAgent(api, { hostname: 'cfg.example', is_approved: true })
    const other = await seedAgent(api, { hostname: 'cfg-other.example', is_approved: true })
    const put = await api.req('PUT', `/api/v1/agents/${a.uuid}/config`, { token: admin, body: { interval_seconds: 30, collect: { processes: false, containers: false }, max_processes: 50 } })
    t.equal(put.status, 200, put.text)
    const byId = await api.req('GET', `/api/agents/${a.id}/config/`, { token: viewer.token })
    t.equal(byId.status, 200, byId.text)
    t.same(Object.keys(byId.body).sort(), ['agent_id', 'agent_version', 'config', 'hostname', 'interval', 'max_processes', 'monitoring_scope', 'version'])
    t.match(byId.body, { agent_id: a.id, hostname: 'cfg.example', interval: 30, max_processes: 50 })
    t.same(byId.body.monitoring_scope, ['cpu', 'memory', 'disk', 'network', 'sessions'])
    const fetched = await api.req('GET', '/api/v1/agents/self/config', { apiKey: a.api_key })
    t.same(byId.body.config, fetched.body, 'the same configuration the hostpulse agent fetches')
    t.match(byId.body.version, /^[0-9a-f]{12}$/)
    const plain = await api.req('GET', `/api/agents/${other.id}/config/`, { token: admin })
    t.match(plain.body, { interval: null, max_processes: null, config: {} })
    t.same(plain.body.monitoring_scope, ['cpu', 'memory', 'disk', 'network', 'processes', 'sessions', 'containers'])
    t.not(plain.body.version, byId.body.version, 'the version follows the configuration')

    const byUser = await api.req('GET', '/api/agent/config/?hostname=cfg.example', { token: viewer.token })
    t.same(byUser.body, byId.body)
    const byKey = await api.req('GET', '/api/agent/config/?hostname=cfg.example', { apiKey: a.api_key })
    t.equal(byKey.status, 200)
    t.same(byKey.body, byId.body)
    const foreign = await api.req('GET', '/api/agent/config/?hostname=cfg-other.example', { apiKey: a.api_key })
    t.equal(foreign.status, 403, 'a key reads only its own agent')
    t.same(Object.keys(foreign.body), ['detail'])
    const none = await api.req('GET', '/api/agent/config/?hostname=cfg.example')
    t.equal(none.status, 401, 'hostname alone is not a credential (AGENT_HOSTNAME_AUTH off)')
    t.equal((await api.req('GET', '/api/agent/config/?hostname=nope.example', { token: admin })).status, 404)
    const missing = await api.req('GET', '/api/agent/config/', { token: admin })
    t.equal(missing.status, 400)
    t.same(missing.body, { hostname: ['This field is required.'] })
    await api.req('POST', `/api/agents/${a.id}/deactivate/`, { token: admin })
    t.equal((await api.req('GET', '/api/agent/config/?hostname=cfg.example', { apiKey: a.api_key })).status, 403, 'an inactive agent is refused')
  })

  t.test("another organization's agents are 404 and never listed", async (t) => {
    const orgB = await api.req('POST', '/api/v1/organizations', { token: admin, body: { name: unique('OrgB'), admin: { username: unique('b-admin'), password: 'b-admin-password' } } })
    t.equal(orgB.status, 201)
    const bToken = (await api.login(orgB.body.admin.username, 'b-admin-password')).token
    const b = await seedAgent(api, { hostname: 'b-secret.example', is_approved: true }, bToken)
    const mine = (await api.req('GET', '/api/agents/?page_size=500', { token: admin })).body
    t.notOk(mine.results.some((a: { id: number }) => a.id === b.id), 'not listed')
    for (const [method, path] of [['GET', `/api/agents/${b.id}/`], ['PATCH', `/api/agents/${b.id}/`], ['PUT', `/api/agents/${b.id}/`], ['DELETE', `/api/agents/${b.id}/`],
      ['POST', `/api/agents/${b.id}/activate/`], ['POST', `/api/agents/${b.id}/deactivate/`], ['POST', `/api/agents/${b.id}/approve/`], ['GET', `/api/agents/${b.id}/config/`]] as const) {
      const res = await api.req(method, path, { token: admin, body: method === 'PATCH' || method === 'PUT' ? { hostname: 'hijack.example', is_active: false } : undefined })
      t.equal(res.status, 404, `${method} ${path}`)
    }
    t.equal((await api.req('GET', '/api/agent/config/?hostname=b-secret.example', { token: admin })).status, 404)
    const still = await api.req('GET', `/api/agents/${b.id}/`, { token: bToken })
    t.match(still.body, { hostname: 'b-secret.example', status: 'active' }, 'unchanged')
    const stats = (await api.req('GET', '/api/agents/stats/', { token: bToken })).body
    t.equal(stats.total_agents, 1, "B's statistics count B's agents only")
  })

  t.test('uploads from an agent created here reach the native metrics', async (t) => {
    const a = await seedAgent(api, { hostname: 'metrics.example', is_approved: true })
    await api.ingestOk(a.api_key, makeBatch({ metrics: [metric('cpu', 'usage_percent', 12)] }))
    const listed = (await api.req('GET', `/api/agents/${a.id}/`, { token: admin })).body
    t.equal(listed.is_online, true)
    t.match(listed.last_seen, ISO)
  })
})
