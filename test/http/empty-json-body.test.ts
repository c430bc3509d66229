// `Content-Type: application/json` with an empty body is no body, not malformed JSON: HTTP clients send that
// header by default (Python requests sessions, fetch wrappers), and the DRF APIs two faces answer accept it
// for actions. A route that needs a body still refuses it with a 400 naming the body, in its own format.
import t from 'tap'
import { ADMIN, assertError, startClient } from '../test-client.ts'

t.test('an empty JSON body on actions that take none', async (t) => {
  const api = await startClient(t)
  const admin = api.adminToken
  const empty = (method: string, path: string, token?: string) => api.req(method, path, { token, rawBody: '' })

  // Seed 003: an agent's actions, and a registration's decisions.
  const agent = await api.req('POST', '/api/agents/', { token: admin, body: { hostname: 'empty-body.example' } })
  t.equal(agent.status, 201, agent.text)
  for (const action of ['approve', 'deactivate', 'activate']) {
    const res = await empty('POST', `/api/agents/${agent.body.id}/${action}/`, admin)
    t.equal(res.status, 200, `seed 003 ${action}: ${res.text}`)
  }
  const token = (await api.req('POST', '/api/v1/enrollment-tokens', { token: admin, body: {} })).body.token as string
  for (const [hostname, decision] of [['approve-me.example', 'approve'], ['reject-me.example', 'reject']]) {
    const reg = await api.req('POST', '/api/agent/register/', { body: { hostname }, headers: { 'x-enrollment-token': token } })
    t.equal(reg.status, 201, reg.text)
    const res = await empty('POST', `/api/registrations/${reg.body.id}/${decision}/`, admin)
    t.equal(res.status, 200, `seed 003 registration ${decision}: ${res.text}`)
    t.match(res.body, { status: decision === 'approve' ? 'approved' : 'rejected' })
  }

  // Logouts: native, and seed 004's.
  const native = await api.login(ADMIN.username, ADMIN.password)
  t.equal((await empty('POST', '/api/v1/auth/logout', native.token)).status, 204, 'native logout')
  const perf = await api.post('/api/v1/auth/token/', ADMIN)
  t.equal(perf.status, 200, perf.text)
  t.equal((await empty('POST', '/api/v1/auth/logout/', perf.body.access)).status, 204, 'seed 004 logout')

  // A route that needs a body still says so, in its own format.
  const created = await empty('POST', '/api/v1/agents', admin)
  assertError(t, created, 400, 'VALIDATION_ERROR', 'native create without a body:')
  t.match(created.body.message, /body/i)
  const drf = await empty('POST', '/api/agents/', admin)
  t.equal(drf.status, 400, drf.text)
  t.same(Object.keys(drf.body).length > 0 && !('error' in drf.body), true, `DRF's shape: ${drf.text}`)
  // Whitespace or a fragment is malformed JSON, as before.
  assertError(t, await api.req('POST', '/api/v1/agents', { token: admin, rawBody: '{"name":' }), 400, 'BAD_REQUEST', 'a fragment:')
  assertError(t, await api.req('POST', '/api/v1/agents', { token: admin, rawBody: '   ' }), 400, 'BAD_REQUEST', 'blanks:')
})
