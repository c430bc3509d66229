// Every registered route, walked from the app's own route list: the public ones are an explicit list
// (and each refuses requests without its own credential); every other route answers 401 without a token
// and with an expired, tampered, wrongly signed or `alg: none` token, and 403 for a role that may not use
// it (viewers are read-only; user, organization and audit administration is admin-only; editors write
// rules, channels, silences, alert acknowledgements, dashboards and agents; every role keeps its own seed 004
// preferences and reports). WebSocket routes refuse a bad or missing token before the upgrade. Refusals are
// checked in each route's own error format (native, seed 000, DRF, seed 004).
import t from 'tap'
import { JWT_SECRET, assertError, jwtClaims, signJwt, type Reply } from '../test-client.ts'
import { assertRouteError, isRouteError, startClient, upgradeAttempt, withRandomIds as fill, type UpgradeAnswer } from './security-helpers.ts'

/** Routes that need no user session, with what each answers to a request carrying no credential at all. */
const PUBLIC: Record<string, number> = {
  'GET /health': 200,
  'GET /ready': 200,
  'POST /api/v1/auth/login': 400, // body required
  'POST /api/v1/auth/refresh': 400, // its credential is the refresh token in the body
  'POST /api/v1/ingest': 401, // X-API-Key
  'POST /api/v2/write': 401, // agent key: X-API-Key, Authorization: Token, Bearer or Basic, or ?u=&p= (InfluxDB line protocol)
  'POST /write': 401, // the same, InfluxDB 1.x path
  'POST /api/v1/write': 401, // Prometheus remote write: the agent key as Bearer, Basic password or X-API-Key
  'POST /api/v1/alerts/preview': 401, // evaluates a rule body once without storing it
  'POST /v1/metrics': 401, // OpenTelemetry OTLP/HTTP: the agent key (or an enrollment token) as Bearer, Basic password or X-API-Key
  'GET /ping': 204, // InfluxDB clients' health check: version headers, no data
  'GET /query': 401, // InfluxDB 1.x start-up calls (CREATE DATABASE, SHOW DATABASES) with the agent key
  'POST /query': 401,
  'GET /api/v1/agents/self/config': 401, // X-API-Key: an agent reads its own collection settings
  'POST /api/v1/agents/register': 400, // the enrollment token in the body
  'GET /api/v1/agents/register/:registration_id': 401, // X-Enrollment-Token
  'GET /': 200, // the web page: holds no data, everything it fetches needs a login
  'GET /assets/:version/:file': 404, // its scripts and styles (a random version is unknown)
  // The API's description (OpenAPI) and its browsable page: the shape of the API, no data. Public so a
  // browser can open /docs (it cannot send a bearer token on navigation); every call made from it needs one.
  'GET /openapi.json': 200,
  'GET /docs': 200,
  'GET /docs/': 200, // registered by Swagger UI as HEAD only; GET answers through /docs
  'GET /docs/json': 200,
  'GET /docs/yaml': 200,
  'GET /docs/static/index.html': 200,
  'GET /docs/static/swagger-initializer.js': 200,
  'GET /docs/static/theme/icon.svg': 200, // hostpulse's icon on the page
  'GET /docs/static/*': 404, // Swagger UI's files (a random name is unknown)
  // Compatibility faces: uploads authenticate with the agent's key (or the operator's opt-in shared key).
  'POST /api/submit/': 401, // seed 000
  'POST /api/ingest/': 401, // seed 002
  'POST /api/ingest': 401, // seed 002, as its quickstart starts the agent (--endpoint …/api/ingest)
  'POST /api/metrics/upload/': 401, // seed 003 uploads
  'POST /api/processes/upload/': 401,
  'POST /api/logs/upload_logs/': 401,
  'POST /api/agent/register/': 401, // an enrollment token (X-Enrollment-Token or a body field)
  'GET /api/csrf/': 200, // a CSRF token for seed 003's React page; no data, and no credential (hostpulse uses bearer tokens)
  // Seed 004's token routes: username and password, or the refresh token, in the body (missing: its validation status, 422).
  'POST /api/v1/auth/token/': 422,
  'POST /api/v1/auth/token/refresh/': 422,
}
/** Writes every role may make, to its own session and profile. */
const SELF_SERVICE = new Set(['POST /api/v1/auth/logout', 'PUT /api/v1/users/me', 'POST /api/v1/users/me/password', 'POST /api/v1/auth/logout/'])
/**
 * Writes every role may make, walked with every role: seed 004's dashboard preferences (per user) and its
 * reports (a report is a document of data the role may already read).
 */
const OWN_WRITES = new Set(['POST /dashboard/preferences/', 'POST /api/v1/reports/generate/'])
/** Admin only: users, organizations, the audit log. */
const ADMIN_ONLY = new Set([
  'GET /api/v1/users', 'POST /api/v1/users', 'GET /api/v1/users/:id', 'PUT /api/v1/users/:id', 'DELETE /api/v1/users/:id',
  'GET /api/v1/organizations', 'POST /api/v1/organizations', 'GET /api/v1/audit', 'GET /metrics',
])
/** Reads that still need the editor role (agent credentials). */
const EDITOR_READS = new Set(['GET /api/v1/enrollment-tokens', 'GET /api/v1/registrations', 'GET /api/v1/registrations/pending',
  'GET /api/registrations/', 'GET /api/registrations/pending/', 'GET /api/registrations/:id/'])
/**
 * Routes this inventory must find, so a family that stops being registered (or moves) is noticed rather
 * than silently walked no more: alert rules, alert events, silences, notification channels, the live streams.
 */
const EXPECTED = [
  'GET /api/v1/alerts', 'POST /api/v1/alerts', 'GET /api/v1/alerts/:id', 'PUT /api/v1/alerts/:id', 'DELETE /api/v1/alerts/:id',
  'GET /api/v1/alerts/events', 'GET /api/v1/alerts/events/summary', 'GET /api/v1/alerts/events/:id',
  'POST /api/v1/alerts/events/:id/ack', 'DELETE /api/v1/alerts/events/:id/ack', 'POST /api/v1/alerts/events/:id/resolve',
  'GET /api/v1/silences', 'POST /api/v1/silences', 'POST /api/v1/silences/preview', 'GET /api/v1/silences/:id', 'PUT /api/v1/silences/:id', 'DELETE /api/v1/silences/:id',
  'GET /api/v1/notification-channels', 'POST /api/v1/notification-channels', 'GET /api/v1/notification-channels/:id',
  'PUT /api/v1/notification-channels/:id', 'DELETE /api/v1/notification-channels/:id',
  'POST /api/v1/notification-channels/:id/test', 'GET /api/v1/notification-channels/:id/deliveries',
  'GET /ws/metrics/:agent_id', 'GET /ws/live',
  // The compatibility faces (seeds 000, 002, 003).
  'GET /api/hosts/', 'GET /api/hosts/:hostname/processes/', 'GET /api/hosts/:hostname/snapshots/', 'GET /api/hosts/:hostname/latest/', 'GET /api/latest',
  'GET /api/agents/', 'POST /api/agents/', 'GET /api/agents/stats/', 'GET /api/agents/:id/', 'PUT /api/agents/:id/', 'PATCH /api/agents/:id/',
  'DELETE /api/agents/:id/', 'POST /api/agents/:id/activate/', 'POST /api/agents/:id/deactivate/', 'POST /api/agents/:id/approve/',
  'GET /api/agents/:id/config/', 'GET /api/agent/config/', 'GET /api/registrations/', 'GET /api/registrations/pending/', 'GET /api/registrations/:id/',
  'POST /api/registrations/:id/approve/', 'POST /api/registrations/:id/reject/', 'GET /api/logs/', 'GET /api/logs/:id/', 'GET /api/sessions/',
  'GET /api/sessions/:id/', 'GET /api/metrics/', 'GET /api/processes/list/', 'GET /api/alerts/', 'GET /api/alerts/:id/', 'POST /api/alerts/:id/resolve/',
  'GET /api/thresholds/', 'POST /api/thresholds/', 'GET /api/thresholds/:id/', 'PUT /api/thresholds/:id/', 'PATCH /api/thresholds/:id/',
  'DELETE /api/thresholds/:id/', 'GET /api/notifications/', 'POST /api/notifications/', 'GET /api/notifications/:id/', 'PUT /api/notifications/:id/',
  'PATCH /api/notifications/:id/', 'DELETE /api/notifications/:id/', 'GET /api/v1/logs',
  // Seed 004 (PerfAnalysis): auth, collectors, metrics, comparison, containers, preferences.
  'GET /api/v1/auth/user/', 'POST /api/v1/auth/logout/', 'GET /dashboard/api/collectors/', 'GET /dashboard/api/collectors/:id/',
  'GET /dashboard/api/collectors/:id/cpu/', 'GET /dashboard/api/collectors/:id/memory/', 'GET /dashboard/api/collectors/:id/disk/',
  'GET /dashboard/api/collectors/:id/network/', 'GET /dashboard/api/collectors/:id/stats/', 'GET /dashboard/api/compare/',
  'GET /dashboard/api/collectors/:id/containers/', 'GET /dashboard/api/collectors/:id/containers/aggregate/',
  'GET /dashboard/api/collectors/:id/containers/:container_id/cpu/', 'GET /dashboard/preferences/', 'POST /dashboard/preferences/',
  'GET /api/v1/reports/', 'POST /api/v1/reports/generate/', 'GET /api/v1/reports/:id/', 'GET /media/reports/:file',
  'GET /ping', 'GET /query', 'POST /query',
]
/** The WebSocket routes (GET with an upgrade); every /ws/ route must be listed here. */
const WEBSOCKETS = ['/ws/metrics/:agent_id', '/ws/live']

const asReply = (a: UpgradeAnswer): Reply => ({ status: a.status, body: a.body, text: a.text, headers: new Headers() })

t.test('route inventory', async (t) => {
  const api = await startClient(t)
  const routes = api.app.registeredRoutes.filter((r) => r.method !== 'OPTIONS')
  const keys = routes.map((r) => `${r.method} ${r.url}`)
  t.ok(routes.length >= 25, `${routes.length} routes registered`)
  const baseKey = (k: string) => k.replace(/^HEAD /, 'GET ')
  for (const key of EXPECTED) t.ok(keys.includes(key), `${key} is registered and walked below`)
  t.same(routes.filter((r) => r.url.startsWith('/ws/') && r.method === 'GET').map((r) => r.url).sort(), [...WEBSOCKETS].sort(), 'the WebSocket list is current')

  t.test('every public route is registered and refuses requests without its credential', async (t) => {
    for (const [key, status] of Object.entries(PUBLIC)) {
      t.ok(keys.includes(key) || keys.includes(key.replace(/^GET /, 'HEAD ')), `${key} is registered (the list is current)`)
      const [method, url] = key.split(' ')
      const res = await api.req(method, fill(url), method === 'POST' ? { body: {} } : {})
      t.equal(res.status, status, `${key} without credentials → ${status}`)
      if (status >= 400 && res.headers.get('content-type')?.includes('json')) t.ok(isRouteError(url, res.body), `${key}: the refusal is in the route's error format (${res.text.slice(0, 160)})`)
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
      else assertRouteError(t, r.url, none, 401, 'UNAUTHORIZED', `${key} no token:`)
      for (const [kind, token] of Object.entries(forged)) {
        const res = await api.req(r.method, path, { body, token })
        if (r.method === 'HEAD') t.equal(res.status, 401, `${key} ${kind}`)
        else assertRouteError(t, r.url, res, 401, 'UNAUTHORIZED', `${key} ${kind}:`)
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
      const viewerRefused = ADMIN_ONLY.has(key) || EDITOR_READS.has(key) || (!read && !SELF_SERVICE.has(key) && !OWN_WRITES.has(key))
      if (SELF_SERVICE.has(key)) continue // exercised with their own sessions in test/auth
      const asViewer = await api.req(r.method, path, { body, token: viewer.token })
      if (viewerRefused) {
        if (r.method === 'HEAD') t.equal(asViewer.status, 403, `${r.method} ${r.url} viewer`)
        else assertRouteError(t, r.url, asViewer, 403, 'FORBIDDEN', `${r.method} ${r.url} viewer:`)
      } else {
        t.notOk([401, 403].includes(asViewer.status), `${r.method} ${r.url}: a viewer may read (${asViewer.status})`)
      }
      const asEditor = await api.req(r.method, path, { body, token: editor.token })
      if (ADMIN_ONLY.has(key)) {
        if (r.method === 'HEAD') t.equal(asEditor.status, 403, `${r.method} ${r.url} editor`)
        else assertRouteError(t, r.url, asEditor, 403, 'FORBIDDEN', `${r.method} ${r.url} editor:`)
      } else {
        // Editors write rules, channels, silences, acknowledgements, dashboards and agents; past the role check a random id is a 404 or the empty body a 400.
        t.notOk([401, 403].includes(asEditor.status), `${r.method} ${r.url}: an editor may use it (${asEditor.status})`)
      }
      if (read) {
        const asAdmin = await api.req(r.method, path, { token: api.adminToken })
        t.notOk([401, 403].includes(asAdmin.status), `${r.method} ${r.url}: an admin may read (${asAdmin.status})`)
      }
    }
  })

  t.test('WebSocket routes: a plain GET and every upgrade without a valid token are 401, never upgraded', async (t) => {
    for (const url of WEBSOCKETS) {
      const path = fill(url)
      assertError(t, await api.req('GET', path), 401, 'UNAUTHORIZED', `GET ${url} without a token (no upgrade):`)
      const none = await upgradeAttempt(`${api.url}${path}`)
      t.notOk(none.upgraded, `${url}: no upgrade without a token`)
      assertError(t, asReply(none), 401, 'UNAUTHORIZED', `${url} upgrade without a token:`)
      for (const [kind, token] of Object.entries(forged)) {
        for (const [how, headers, query] of [
          ['?token=', {}, `?token=${encodeURIComponent(token)}`],
          ['Sec-WebSocket-Protocol', { 'sec-websocket-protocol': `hostpulse, ${token}` }, ''],
          ['Authorization', { authorization: `Bearer ${token}` }, ''],
        ] as const) {
          const res = await upgradeAttempt(`${api.url}${path}${query}`, headers)
          t.notOk(res.upgraded, `${url} ${kind} in ${how}: not upgraded`)
          t.equal(res.status, 401, `${url} ${kind} in ${how}: 401`)
        }
      }
    }
    // Control: the same request with a genuine viewer token is upgraded (viewers may watch), so the 401s above are the token's doing.
    const ok = await upgradeAttempt(`${api.url}/ws/live?token=${viewer.token}`)
    t.ok(ok.upgraded, `a viewer's genuine token is upgraded on /ws/live (${ok.status} ${ok.text.slice(0, 120)})`)
  })
})
