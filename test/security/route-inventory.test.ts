// Every registered route, walked from the app's own route list: the public ones are an explicit list
// (and each refuses requests without its own credential); every other route answers 401 without a token
// and with an expired, tampered, wrongly signed or `alg: none` token, and 403 for a role that may not use
// it (viewers are read-only; user, organization and audit administration is admin-only).
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { JWT_SECRET, assertError, jwtClaims, signJwt } from '../api/helpers.ts'
import { startSecureApi } from './security-helpers.ts'

/** Routes that need no user session, with what each answers to a request carrying no credential at all. */
const PUBLIC: Record<string, number> = {
  'GET /health': 200,
  'GET /ready': 200,
  'POST /api/v1/auth/login': 400, // body required
  'POST /api/v1/auth/refresh': 400, // its credential is the refresh token in the body
  'POST /api/v1/ingest': 401, // X-API-Key
  'POST /api/v2/write': 401, // agent key: X-API-Key or Authorization: Token (InfluxDB line protocol)
  'POST /write': 401, // the same, InfluxDB 1.x path (also Basic with the key as password)
  'GET /api/v1/agents/self/config': 401, // X-API-Key: an agent reads its own collection settings
  'POST /api/v1/agents/register': 400, // the enrollment token in the body
  'GET /api/v1/agents/register/:registration_id': 401, // X-Enrollment-Token
  'GET /': 200, // the web page: holds no data, everything it fetches needs a login
  'GET /assets/:version/:file': 404, // its scripts and styles (a random version is unknown)
}
/** Writes every role may make, to its own session and profile. */
const SELF_SERVICE = new Set(['POST /api/v1/auth/logout', 'PUT /api/v1/users/me', 'POST /api/v1/users/me/password'])
/** Admin only: users, organizations, the audit log. */
const ADMIN_ONLY = new Set([
  'GET /api/v1/users', 'POST /api/v1/users', 'GET /api/v1/users/:id', 'PUT /api/v1/users/:id', 'DELETE /api/v1/users/:id',
  'GET /api/v1/organizations', 'POST /api/v1/organizations', 'GET /api/v1/audit', 'GET /metrics',
])
/** Reads that still need the editor role (agent credentials). */
const EDITOR_READS = new Set(['GET /api/v1/enrollment-tokens', 'GET /api/v1/registrations', 'GET /api/v1/registrations/pending'])

const fill = (url: string) => url.replace(/:[A-Za-z_]+/g, () => randomUUID()).replace(/\*$/, 'x')

t.test('route inventory', async (t) => {
  const api = await startSecureApi(t)
  const routes = api.app.registeredRoutes.filter((r) => r.method !== 'OPTIONS')
  const keys = routes.map((r) => `${r.method} ${r.url}`)
  t.ok(routes.length >= 25, `${routes.length} routes registered`)
  const baseKey = (k: string) => k.replace(/^HEAD /, 'GET ')

  t.test('every public route is registered and refuses requests without its credential', async (t) => {
    for (const [key, status] of Object.entries(PUBLIC)) {
      t.ok(keys.includes(key), `${key} is registered (the list is current)`)
      const [method, url] = key.split(' ')
      const res = await api.req(method, fill(url), method === 'POST' ? { body: {} } : {})
      t.equal(res.status, status, `${key} without credentials → ${status}`)
    }
  })

  const viewer = await api.user('viewer')
  const editor = await api.user('editor')
  const claims = jwtClaims(viewer.token)
  const now = Math.floor(Date.now() / 1000)
  const [head, payload, signature] = viewer.token.split('.')
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const forged: Record<string, string> = {
    'expired': signJwt({ ...claims, iat: now - 7200, exp: now - 3600 }, JWT_SECRET),
    'tampered (role: admin, old signature)': `${head}.${b64({ ...claims, role: 'admin' })}.${signature}`,
    'signed with another secret': signJwt({ ...claims, role: 'admin' }, 'not-the-server-secret-not-the-server-secret'),
    'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`,
    'alg none with an admin payload': `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, role: 'admin' })}.`,
    'garbage': 'not.a.jwt',
  }

  const protectedRoutes = routes.filter((r) => PUBLIC[baseKey(`${r.method} ${r.url}`)] === undefined)

  t.test('every other route: 401 without a token and with every kind of bad token', async (t) => {
    for (const r of protectedRoutes) {
      const key = `${r.method} ${r.url}`
      const path = fill(r.url)
      const body = r.method === 'GET' || r.method === 'HEAD' ? undefined : {}
      const none = await api.req(r.method, path, { body })
      if (r.method === 'HEAD') t.equal(none.status, 401, `${key} no token`)
      else assertError(t, none, 401, 'UNAUTHORIZED', `${key} no token:`)
      for (const [kind, token] of Object.entries(forged)) {
        const res = await api.req(r.method, path, { body, token })
        if (r.method === 'HEAD') t.equal(res.status, 401, `${key} ${kind}`)
        else assertError(t, res, 401, 'UNAUTHORIZED', `${key} ${kind}:`)
      }
    }
    t.equal((await api.req('GET', '/api/v1/auth/me', { token: viewer.token })).status, 200, 'control: the genuine token works')
  })

  t.test('403 for a role that may not use the route; the allowed roles pass authorization', async (t) => {
    for (const r of protectedRoutes) {
      const key = baseKey(`${r.method} ${r.url}`)
      const path = fill(r.url)
      const read = r.method === 'GET' || r.method === 'HEAD'
      const body = read ? undefined : {}
      const viewerRefused = ADMIN_ONLY.has(key) || EDITOR_READS.has(key) || (!read && !SELF_SERVICE.has(key))
      if (SELF_SERVICE.has(key)) continue // exercised with their own sessions in test/auth
      const asViewer = await api.req(r.method, path, { body, token: viewer.token })
      if (viewerRefused) {
        if (r.method === 'HEAD') t.equal(asViewer.status, 403, `${r.method} ${r.url} viewer`)
        else assertError(t, asViewer, 403, 'FORBIDDEN', `${r.method} ${r.url} viewer:`)
      } else {
        t.notOk([401, 403].includes(asViewer.status), `${r.method} ${r.url}: a viewer may read (${asViewer.status})`)
      }
      if (ADMIN_ONLY.has(key)) {
        const asEditor = await api.req(r.method, path, { body, token: editor.token })
        if (r.method === 'HEAD') t.equal(asEditor.status, 403, `${r.method} ${r.url} editor`)
        else assertError(t, asEditor, 403, 'FORBIDDEN', `${r.method} ${r.url} editor:`)
      }
      if (read) {
        const asAdmin = await api.req(r.method, path, { token: api.adminToken })
        t.notOk([401, 403].includes(asAdmin.status), `${r.method} ${r.url}: an admin may read (${asAdmin.status})`)
      }
    }
  })
})
