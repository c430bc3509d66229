// Injection: SQL metacharacters, very long strings, unicode, NUL bytes and JSON type confusion in every
// path parameter, query parameter and body field of every route (taken from the routes' own schemas):
// never a 5xx, and no row that existed before changes (new rows from valid creates are fine).
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { makeBatch } from '../api/helpers.ts'
import { startSecureApi } from './security-helpers.ts'

const STRINGS = [
  "' OR '1'='1", "1; DROP TABLE agents; --", "'); DELETE FROM users; --", '"; SELECT pg_sleep(3); --', "admin'--", '%27%20OR%201%3D1',
  '../../../../etc/passwd', 'x'.repeat(100_000), '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓ Ωmega \u202e dlrow', 'nul\u0000byte', '\\x00\\u0000', '${jndi:ldap://127.0.0.1/a}',
  '<script>alert(1)</script>', '\ud800', ' ', '', '-1', '1e309', 'NaN', 'null', '00000000-0000-0000-0000-000000000000', '*', '%', '_',
]
/** Percent-encoded; a lone surrogate (no UTF-8 form) goes as the invalid bytes of one. */
const enc = (s: string) => { try { return encodeURIComponent(s) } catch { return '%ED%A0%80' } }
const JSON_VALUES: unknown[] = [0, -1, 1.5, 1e308, -1e308, 2 ** 63, true, false, null, [], ['a'], {}, { $ne: null }, { '': '' }, [[[[[]]]]]]

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

  const routes = api.app.registeredRoutes.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && !SKIP.has(`${r.method} ${r.url}`))
  const props = (schema: unknown): string[] => Object.keys((schema as { properties?: Record<string, unknown> } | undefined)?.properties ?? {})
  const fillParams = (url: string, override?: [string, string]) =>
    url.replace(/:([A-Za-z_]+)/g, (_m, name: string) => enc(override && override[0] === name ? override[1] : randomUUID()))
  let requests = 0
  const failures: string[] = []
  const send = async (label: string, method: string, path: string, body?: unknown, token = api.adminToken) => {
    const headers: Record<string, string> = {}
    if (path.startsWith('/api/v1/agents/register/')) headers['x-enrollment-token'] = enroll.token
    const res = await api.req(method, path, { token, body, apiKey: path === '/api/v1/ingest' ? ingestAgent.api_key : undefined, headers })
    requests++
    if (res.status >= 500) failures.push(`${label}: ${res.status} ${res.text.slice(0, 200)}`)
    if (res.headers.get('content-type')?.includes('json') && res.status >= 400 && !(res.body && typeof res.body.error === 'string')) failures.push(`${label}: error not in the error format: ${res.text.slice(0, 200)}`)
  }

  for (const r of routes) {
    const key = `${r.method} ${r.url}`
    const schema = r.schema as { params?: unknown; querystring?: unknown; body?: unknown } | undefined
    const hasBody = r.method !== 'GET' && r.method !== 'DELETE'
    const sample = SAMPLES[key] ?? {}
    const params = (r.url.match(/:([A-Za-z_]+)/g) ?? []).map((p) => p.slice(1))
    for (const p of params) {
      for (const s of STRINGS) await send(`${key} param ${p}=${JSON.stringify(s).slice(0, 40)}`, r.method, fillParams(r.url, [p, s]), hasBody ? sample : undefined)
    }
    for (const q of props(schema?.querystring)) {
      for (const s of STRINGS) {
        await send(`${key} query ${q}=${JSON.stringify(s).slice(0, 40)}`, r.method, `${fillParams(r.url)}?${q}=${enc(s)}`, hasBody ? sample : undefined)
      }
      await send(`${key} query ${q} twice`, r.method, `${fillParams(r.url)}?${q}=1&${q}=2`, hasBody ? sample : undefined)
    }
    if (hasBody) {
      const fields = [...new Set([...props(schema?.body), ...Object.keys(sample)])]
      for (const f of fields) {
        for (const v of [...STRINGS, ...JSON_VALUES]) {
          await send(`${key} body ${f}=${JSON.stringify(v)?.slice(0, 40)}`, r.method, fillParams(r.url), { ...sample, [f]: v })
        }
      }
      for (const whole of JSON_VALUES) await send(`${key} body=${JSON.stringify(whole)}`, r.method, fillParams(r.url), whole)
      await send(`${key} body as a viewer`, r.method, fillParams(r.url), sample, viewer.token)
    }
  }
  t.ok(requests > 2000, `${requests} requests sent`)
  t.same(failures, [], 'no 5xx, and every error in the error format')
  t.equal(await snapshot(), before, 'no row that existed before changed')
  t.equal((await api.req('GET', '/api/v1/auth/me', { token: api.adminToken })).status, 200, 'the admin session still works')
  const tables = await api.store.db.selectFrom('agents').select('id').where('id', '=', keep.id).execute()
  t.equal(tables.length, 1, 'the agents table is still there')
})
