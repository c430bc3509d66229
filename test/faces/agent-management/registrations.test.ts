// Seed 003's registration workflow against the real app: the native enrollment behind a second face.
// Register needs an enrollment token (header or body field; 401 saying how to get one without), hostnames
// are unique, registrations list newest first (DRF pages), approve creates the native agent at once and
// answers its key (which ingests natively), reject keeps notes; another organization's are 404.
import t from 'tap'
import { makeBatch, metric, startClient, unique } from '../../test-client.ts'

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
const REG_KEYS = ['agent', 'agent_uuid', 'agent_version', 'hostname', 'id', 'ip_address', 'notes', 'os', 'os_version', 'requested_at', 'reviewed_at', 'status', 'uuid']

t.test('seed 003 registrations', async (t) => {
  const api = await startClient(t)
  const admin = api.adminToken
  const newToken = async (body: Record<string, unknown> = {}, token = admin) => {
    const res = await api.req('POST', '/api/v1/enrollment-tokens', { token, body: { description: 'seed 003', ...body } })
    if (res.status !== 201) throw new Error(res.text)
    return res.body.token as string
  }
  const enrollment = await newToken()
  const register = (body: Record<string, unknown>, headers: Record<string, string> = {}) => api.req('POST', '/api/agent/register/', { body, headers })

  t.test('no token: 401 {"detail"} saying how to get one; a bad one: 401; nothing registered', async (t) => {
    const none = await register({ hostname: 'anon.example' })
    t.equal(none.status, 401)
    t.same(Object.keys(none.body), ['detail'])
    t.match(none.body.detail, /enrollment token/i)
    t.match(none.body.detail, /X-Enrollment-Token/)
    t.match(none.body.detail, /POST \/api\/v1\/enrollment-tokens/)
    const noneBadBody = await register({ os: 5 })
    t.equal(noneBadBody.status, 401, 'the token is asked for before the body is judged')
    const bad = await register({ hostname: 'anon.example', token: 'hpe_nope' })
    t.equal(bad.status, 401)
    t.match(bad.body.detail, /Invalid enrollment token/)
    const listed = await api.req('GET', '/api/registrations/', { token: admin })
    t.equal(listed.body.count, 0)
  })

  let first: any
  t.test('register with the header, a body token, or enrollment_token: pending, DRF shape', async (t) => {
    const res = await register({ hostname: 'web-01.example', ip_address: '10.1.1.1', os: 'Debian', version: '1.2.3', kernel: '6.1' }, { 'X-Enrollment-Token': enrollment })
    t.equal(res.status, 201, res.text)
    t.same(Object.keys(res.body).sort(), REG_KEYS)
    t.match(res.body, { hostname: 'web-01.example', ip_address: '10.1.1.1', os: 'Debian', agent_version: '1.2.3', status: 'pending', agent: null, agent_uuid: null, reviewed_at: null, notes: null })
    t.ok(Number.isInteger(res.body.id))
    t.match(res.body.requested_at, ISO)
    t.notOk('api_key' in res.body, 'no key while pending')
    first = res.body
    t.equal((await register({ hostname: 'web-02.example', token: enrollment })).status, 201)
    t.equal((await register({ hostname: 'web-03.example', enrollment_token: enrollment })).status, 201)
    const native = await api.req('GET', '/api/v1/registrations/pending', { token: admin })
    t.same(native.body.registrations.map((r: { hostname: string }) => r.hostname).sort(), ['web-01.example', 'web-02.example', 'web-03.example'], 'the native registrations')
  })

  t.test('hostnames are unique; bad bodies are 400 {"field": [...]}', async (t) => {
    const dup = await register({ hostname: 'web-01.example', token: enrollment })
    t.equal(dup.status, 400)
    t.same(dup.body, { hostname: ['An agent or a pending registration with this hostname already exists.'] })
    const missing = await register({ token: enrollment, os: 'x' })
    t.equal(missing.status, 400)
    t.same(missing.body, { hostname: ['This field is required.'] })
    const wrong = await register({ token: enrollment, hostname: 'x'.repeat(256), cpu_cores: 'many' })
    t.same(Object.keys(wrong.body).sort(), ['cpu_cores', 'hostname'])
    t.equal((await api.req('GET', '/api/registrations/', { token: admin })).body.count, 3, 'nothing more registered')
  })

  t.test('lists: newest first, paginated, pending/, editors only', async (t) => {
    const all = await api.req('GET', '/api/registrations/', { token: admin })
    t.equal(all.status, 200)
    t.same(Object.keys(all.body).sort(), ['count', 'next', 'previous', 'results'])
    t.same(all.body.results.map((r: { hostname: string }) => r.hostname), ['web-03.example', 'web-02.example', 'web-01.example'])
    for (const r of all.body.results) t.same(Object.keys(r).sort(), REG_KEYS)
    const page = await api.req('GET', '/api/registrations/?page_size=2&page=2', { token: admin })
    t.same(page.body.results.map((r: { hostname: string }) => r.hostname), ['web-01.example'])
    t.equal(page.body.next, null)
    t.match(page.body.previous, /page=1/)
    const pending = await api.req('GET', '/api/registrations/pending/', { token: admin })
    t.equal(pending.body.count, 3)
    const one = await api.req('GET', `/api/registrations/${first.id}/`, { token: admin })
    t.same(one.body, first)
    const viewer = await api.user('viewer')
    const denied = await api.req('GET', '/api/registrations/', { token: viewer.token })
    t.equal(denied.status, 403)
    t.same(Object.keys(denied.body), ['detail'])
    t.equal((await api.req('GET', '/api/registrations/')).status, 401)
    t.equal((await api.req('GET', '/api/registrations/9999/', { token: admin })).status, 404)
  })

  t.test('approve: the native agent exists at once, the key is answered once and ingests natively', async (t) => {
    const res = await api.req('POST', `/api/registrations/${first.id}/approve/`, { token: admin })
    t.equal(res.status, 200, res.text)
    t.same(Object.keys(res.body).sort(), [...REG_KEYS, 'api_key'].sort())
    t.match(res.body, { id: first.id, status: 'approved', hostname: 'web-01.example' })
    t.match(res.body.reviewed_at, ISO)
    t.ok(Number.isInteger(res.body.agent))
    t.match(res.body.api_key, /^hp_/)
    const native = await api.req('GET', `/api/v1/agents/${res.body.agent_uuid}`, { token: admin })
    t.equal(native.status, 200, 'visible natively at once')
    t.match(native.body, { hostname: 'web-01.example', status: 'active', os: 'Debian', agent_version: '1.2.3' })
    const listed = await api.req('GET', '/api/v1/agents', { token: admin })
    t.ok(listed.body.agents.some((a: { id: string }) => a.id === res.body.agent_uuid), 'in the native list')
    const viaFace = await api.req('GET', `/api/agents/${res.body.agent}/`, { token: admin })
    t.match(viaFace.body, { uuid: res.body.agent_uuid, is_active: true, is_approved: true })
    const ingest = await api.ingest(res.body.api_key, makeBatch({ metrics: [metric('cpu', 'usage_percent', 33)] }))
    t.equal(ingest.status, 202, 'the key ingests natively')
    const latest = await api.req('GET', `/api/v1/metrics/latest/${res.body.agent_uuid}`, { token: admin })
    t.ok(latest.body.metrics.some((m: { metric_name: string; value: number }) => m.metric_name === 'usage_percent' && m.value === 33))

    const again = await api.req('POST', `/api/registrations/${first.id}/approve/`, { token: admin })
    t.equal(again.status, 409, 'a decided registration is not decided again')
    t.same(Object.keys(again.body), ['detail'])
    const dup = await register({ hostname: 'web-01.example', token: enrollment })
    t.equal(dup.status, 400, 'the approved host has an agent now: its hostname is taken')
    const audit = await api.store.db.selectFrom('audit_log').select('action').where('target_id', '=', first.uuid).execute()
    t.same(audit.map((a) => a.action).sort(), ['registration.approve', 'registration.key_delivered', 'registration.request'])
  })

  t.test('reject with notes; a rejected hostname may register again', async (t) => {
    const list = (await api.req('GET', '/api/registrations/pending/', { token: admin })).body.results
    const web2 = list.find((r: { hostname: string }) => r.hostname === 'web-02.example')
    const res = await api.req('POST', `/api/registrations/${web2.id}/reject/`, { token: admin, body: { notes: 'unknown machine' } })
    t.equal(res.status, 200, res.text)
    t.match(res.body, { id: web2.id, status: 'rejected', notes: 'unknown machine', agent: null })
    t.match(res.body.reviewed_at, ISO)
    const native = (await api.req('GET', '/api/v1/registrations?status=rejected', { token: admin })).body.registrations
    t.equal(native[0].reason, 'unknown machine', 'the native registration carries the notes')
    const web3 = list.find((r: { hostname: string }) => r.hostname === 'web-03.example')
    const noBody = await api.req('POST', `/api/registrations/${web3.id}/reject/`, { token: admin })
    t.equal(noBody.status, 200)
    t.equal(noBody.body.notes, null)
    const tooLong = await api.req('POST', `/api/registrations/${web3.id}/reject/`, { token: admin, body: { notes: 'x'.repeat(501) } })
    t.equal(tooLong.status, 400)
    t.ok(Array.isArray(tooLong.body.notes))
    const editor = await api.user('editor')
    const viewer = await api.user('viewer')
    t.equal((await api.req('POST', `/api/registrations/${web3.id}/reject/`, { token: viewer.token, body: {} })).status, 403)
    t.equal((await api.req('POST', `/api/registrations/${web3.id}/approve/`, { token: editor.token })).status, 409, 'editors decide; this one was decided')
    t.equal((await register({ hostname: 'web-02.example', token: enrollment })).status, 201, 'rejected hosts may ask again')
  })

  t.test('an auto-approving token: approved at once, with the key', async (t) => {
    const auto = await newToken({ auto_approve: true })
    const res = await register({ hostname: 'auto.example' }, { 'X-Enrollment-Token': auto })
    t.equal(res.status, 201)
    t.match(res.body, { status: 'approved', hostname: 'auto.example' })
    t.ok(Number.isInteger(res.body.agent))
    t.match(res.body.api_key, /^hp_/)
    t.equal((await api.ingest(res.body.api_key, makeBatch())).status, 202)
  })

  t.test("another organization's registrations are 404, never listed, not decided", async (t) => {
    const orgB = await api.req('POST', '/api/v1/organizations', { token: admin, body: { name: unique('OrgB'), admin: { username: unique('b-admin'), password: 'b-admin-password' } } })
    const bToken = (await api.login(orgB.body.admin.username, 'b-admin-password')).token
    const bEnroll = await newToken({}, bToken)
    const bReg = (await register({ hostname: 'web-01.example', token: bEnroll })).body
    t.equal(bReg.status, 'pending', 'hostnames are unique per organization')
    for (const [method, path] of [['GET', `/api/registrations/${bReg.id}/`], ['POST', `/api/registrations/${bReg.id}/approve/`], ['POST', `/api/registrations/${bReg.id}/reject/`]] as const) {
      const res = await api.req(method, path, { token: admin, body: method === 'POST' ? {} : undefined })
      t.equal(res.status, 404, `${method} ${path}`)
    }
    const mine = (await api.req('GET', '/api/registrations/?page_size=500', { token: admin })).body.results
    t.notOk(mine.some((r: { id: number }) => r.id === bReg.id))
    const still = await api.req('GET', `/api/registrations/${bReg.id}/`, { token: bToken })
    t.equal(still.body.status, 'pending', 'undecided')
    t.equal((await api.req('GET', '/api/registrations/', { token: bToken })).body.count, 1)
  })
})
