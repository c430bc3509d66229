// Injection: SQL metacharacters, very long strings, unicode, NUL bytes and JSON type confusion in every
// path parameter, query parameter and body field of every route (taken from the routes' own schemas):
// never a 5xx, and no row that existed before changes (new rows from valid creates are fine). Alert rules,
// events, silences and notification channels are walked the same way by injection-alerting.test.ts (one
// file would not finish in two minutes here).
import t from 'tap'
import { makeBatch } from '../api/helpers.ts'
import { startSecureApi } from './security-helpers.ts'
import { ALERTING_ROUTES, injectEverywhere } from './injection-walk.ts'

t.test('injection', async (t) => {
  const api = await startSecureApi(t)
  const ingestAgent = (await api.req('POST', '/api/v1/agents', { token: api.adminToken, body: { name: 'inject-ingest' } })).body
  const keep = (await api.req('POST', '/api/v1/agents', { token: api.adminToken, body: { name: 'inject-keep', labels: { a: 'b' } } })).body
  const viewer = await api.user('viewer')
  const enroll = (await api.req('POST', '/api/v1/enrollment-tokens', { token: api.adminToken, body: {} })).body
  const keepToken = (await api.req('POST', '/api/v1/enrollment-tokens', { token: api.adminToken, body: { description: 'keep' } })).body
  const admin = (await api.req('GET', '/api/v1/users/me', { token: api.adminToken })).body

  /** Valid bodies, so one injected field at a time reaches the handler. */
  const SAMPLES: Record<string, Record<string, unknown>> = {
    'POST /api/v1/auth/login': { username: 'admin', password: 'not-the-password' },
    'POST /api/v1/auth/refresh': { refresh_token: 'x.y.z' },
    'POST /api/v1/users': { username: 'inj-user', password: 'inj-password-1', role: 'viewer' },
    'PUT /api/v1/users/:id': { role: 'viewer' },
    'PUT /api/v1/users/me': { display_name: 'me' },
    'POST /api/v1/users/me/password': { current_password: 'wrong-current', new_password: 'new-password-1' },
    'POST /api/v1/organizations': { name: 'InjOrg', admin: { username: 'inj-org-admin', password: 'inj-password-1' } },
    'POST /api/v1/agents': { name: 'inj-agent' },
    'POST /api/v1/enrollment-tokens': { description: 'inj' },
    'POST /api/v1/agents/register': { token: enroll.token, hostname: 'inj-host' },
    'POST /api/v1/registrations/:id/reject': { reason: 'r' },
    'POST /api/v1/ingest': makeBatch() as unknown as Record<string, unknown>,
  }
  const SKIP = new Set(['POST /api/v1/auth/logout']) // would end the session the test runs with

  const orgIds = (await api.store.db.selectFrom('organizations').select('id').execute()).map((o) => o.id)
  const snapshot = async () => JSON.stringify({
    orgs: await api.store.db.selectFrom('organizations').selectAll().where('id', 'in', orgIds).orderBy('id').execute(),
    users: (await api.store.db.selectFrom('users').select(['id', 'org_id', 'username', 'password_hash', 'role', 'created_at']).where('id', 'in', [admin.id, viewer.id]).orderBy('id').execute()),
    agents: await api.store.db.selectFrom('agents').select(['id', 'org_id', 'name', 'labels', 'api_key_hash', 'status', 'hostname']).where('id', 'in', [keep.id]).execute(),
    tokens: await api.store.db.selectFrom('enrollment_tokens').selectAll().where('id', '=', keepToken.id).execute(),
    sessions: await api.store.db.selectFrom('auth_sessions').select(['id', 'revoked_at']).where('user_id', 'in', [admin.id, viewer.id]).orderBy('id').execute(),
  })
  const before = await snapshot()

  const routes = api.app.registeredRoutes.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && !SKIP.has(`${r.method} ${r.url}`) && !ALERTING_ROUTES.test(r.url))
  const { requests, failures } = await injectEverywhere({
    api, routes, samples: SAMPLES, viewerToken: viewer.token,
    credentialsFor: (path) => ({
      apiKey: path === '/api/v1/ingest' ? ingestAgent.api_key : undefined,
      headers: path.startsWith('/api/v1/agents/register/') ? { 'x-enrollment-token': enroll.token } : undefined,
    }),
  })
  t.ok(requests > 2000, `${requests} requests sent`)
  t.same(failures, [], 'no 5xx, and every error in the error format')
  t.equal(await snapshot(), before, 'no row that existed before changed')
  t.equal((await api.req('GET', '/api/v1/auth/me', { token: api.adminToken })).status, 200, 'the admin session still works')
  const tables = await api.store.db.selectFrom('agents').select('id').where('id', '=', keep.id).execute()
  t.equal(tables.length, 1, 'the agents table is still there')
})
