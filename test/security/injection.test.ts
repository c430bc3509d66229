// Injection: SQL metacharacters, very long strings, unicode, NUL bytes, out-of-range integers and JSON type
// confusion in every path parameter, query parameter and body field of every route (taken from the routes'
// own schemas), one level into objects too (layout.refresh_interval_seconds, collect.cpu, host.hostname …):
// never a 5xx, and no row that existed before changes (new rows from valid creates are fine). Writes to one
// object (PUT and PATCH of an agent, its config, a user, a dashboard; rejecting a registration) go to objects
// made to be changed, and reads of agent data (with their required query parameters) to an agent with
// samples, so injected values get past the lookup; routes an agent calls get its key. Alert rules, events,
// silences and notification channels are walked the same way by injection-alerting.test.ts, and the
// compatibility faces by injection-faces-*.test.ts (one file would not finish in two minutes here).
import t from 'tap'
import { AGENT_CONFIG_PATH } from '../../contract/agent-config.ts'
import { INGEST_PATH } from '../../contract/ingest-batch.ts'
import { LINE_PROTOCOL_PATHS } from '../../services/ingest/line-protocol-routes.ts'
import { REMOTE_WRITE_PATH } from '../../services/ingest/remote-write-routes.ts'
import { OTLP_METRICS_PATH } from '../../services/ingest/otlp-routes.ts'
import { makeBatch } from '../test-client.ts'
import { startClient } from './security-helpers.ts'
import { ALERTING_ROUTES, FACE_ROUTES, injectEverywhere } from './injection-walk.ts'
import { PERF_ANALYSIS_PATHS } from '../../services/faces/perf-analysis/perf-analysis-face.ts'

/** Routes an agent calls with its key. */
const AGENT_KEY_ROUTES = new Set<string>([INGEST_PATH, ...LINE_PROTOCOL_PATHS, '/query', REMOTE_WRITE_PATH, OTLP_METRICS_PATH, AGENT_CONFIG_PATH])
/** Reads of one agent's data with query parameters: walked against the agent that sent samples. */
const AGENT_READS = ['/api/v1/metrics/latest/:agent_id', '/api/v1/metrics/range/:agent_id', '/api/v1/metrics/disk/:agent_id',
  '/api/v1/metrics/network/:agent_id', '/api/v1/metrics/process/:agent_id', '/api/v1/metrics/series/:agent_id',
  '/api/v1/metrics/stats/:agent_id', '/api/v1/processes/top/:agent_id', '/api/v1/agents/:id/processes',
  '/api/v1/agents/:id/processes/changes', '/api/v1/agents/:id/processes/blame']

t.test('injection', async (t) => {
  const api = await startClient(t)
  const db = api.store.db
  async function create(path: string, body: Record<string, unknown>, status = 201) {
    const res = await api.req('POST', path, { token: api.adminToken, body })
    if (res.status !== status) throw new Error(`POST ${path} failed: ${res.status} ${res.text}`)
    return res.body
  }
  const ingestAgent = await create('/api/v1/agents', { name: 'inject-ingest' })
  const keep = await create('/api/v1/agents', { name: 'inject-keep', labels: { a: 'b' } })
  const viewer = await api.user('viewer')
  const enroll = await create('/api/v1/enrollment-tokens', {})
  const keepToken = await create('/api/v1/enrollment-tokens', { description: 'keep' })
  const admin = (await api.req('GET', '/api/v1/users/me', { token: api.adminToken })).body
  const credentialsFor = (url: string) => ({
    apiKey: AGENT_KEY_ROUTES.has(url) ? ingestAgent.api_key as string : undefined,
    headers: url.startsWith('/api/v1/agents/register/') ? { 'x-enrollment-token': enroll.token as string } : undefined,
  })
  const sent = await api.req('POST', INGEST_PATH, { ...credentialsFor(INGEST_PATH), body: makeBatch() })
  if (sent.status !== 202) throw new Error(`ingest failed: ${sent.status} ${sent.text}`)

  const dashboardBody = (name: string) => ({
    name, description: 'd', scope: 'organization',
    layout: {
      panels: [{ id: 'cpu', title: 'CPU', type: 'timeseries', metric: 'cpu.usage_percent', tags: { core: 'total' }, agg: 'avg', agents: [ingestAgent.name],
        unit: '%', grid: { x: 0, y: 0, w: 6, h: 4 } }],
      time_range: '1h', refresh_interval_seconds: 30,
    },
  })
  const agentBody = { name: 'inject-target', status: 'active', hostname: 'target-host', ip_address: '10.0.0.9', os: 'Linux', os_version: '6.1',
    agent_version: '0.3.0', labels: { team: 'ops' } }
  // Kept aside (with the agent, token and users above): nothing below may change them.
  const keepDashboard = await create('/api/v1/dashboards', dashboardBody('inj-keep-dashboard'))
  // Made to be changed: the targets of PUT, PATCH and reject.
  const targetAgent = await create('/api/v1/agents', { name: 'inject-target' })
  const targetUser = await create('/api/v1/users', { username: 'inj-target-user', password: 'inj-password-1', role: 'viewer' })
  const targetDashboard = await create('/api/v1/dashboards', dashboardBody('inj-target-dashboard'))
  const pending = await create('/api/v1/agents/register', { token: enroll.token, hostname: 'inj-pending-host' }, 202)

  /** Valid bodies, so one injected field at a time reaches the handler. */
  const SAMPLES: Record<string, Record<string, unknown>> = {
    'POST /api/v1/auth/login': { username: 'admin', password: 'not-the-password' },
    'POST /api/v1/auth/refresh': { refresh_token: 'x.y.z' },
    'POST /api/v1/users': { username: 'inj-user', password: 'inj-password-1', role: 'viewer' },
    'PUT /api/v1/users/:id': { username: 'inj-target-user', role: 'viewer', display_name: 'Target', email: 'target@example.com' },
    'PUT /api/v1/users/me': { display_name: 'me' },
    'POST /api/v1/users/me/password': { current_password: 'wrong-current', new_password: 'new-password-1' },
    'POST /api/v1/organizations': { name: 'InjOrg', admin: { username: 'inj-org-admin', password: 'inj-password-1' } },
    'POST /api/v1/agents': { name: 'inj-agent' },
    'PUT /api/v1/agents/:id': agentBody,
    'PATCH /api/v1/agents/:id': agentBody,
    'PUT /api/v1/agents/:id/config': { interval_seconds: 30, collect: { cpu: true, processes: false }, max_processes: 200 },
    'POST /api/v1/enrollment-tokens': { description: 'inj' },
    'POST /api/v1/agents/register': { token: enroll.token, hostname: 'inj-host' },
    'POST /api/v1/registrations/:id/reject': { reason: 'r' },
    'POST /api/v1/ingest': makeBatch() as unknown as Record<string, unknown>,
    'POST /api/v1/dashboards': dashboardBody('inj-dashboard'),
    'PUT /api/v1/dashboards/:id': dashboardBody('inj-target-dashboard'),
  }
  const PARAMS: Record<string, Record<string, string>> = {
    'PUT /api/v1/agents/:id': { id: targetAgent.id },
    'PATCH /api/v1/agents/:id': { id: targetAgent.id },
    'PUT /api/v1/agents/:id/config': { id: targetAgent.id },
    'PUT /api/v1/users/:id': { id: targetUser.id },
    'PUT /api/v1/dashboards/:id': { id: targetDashboard.id },
    // The first reason that passes validation rejects it; the rest answer 409.
    'POST /api/v1/registrations/:id/reject': { id: pending.registration_id },
    ...Object.fromEntries(AGENT_READS.map((url) => [`GET ${url}`, { [url.match(/:([A-Za-z_]+)/)![1]]: ingestAgent.id }])),
  }
  /** Valid queries, so one injected query parameter at a time gets past the required ones. */
  const QUERIES: Record<string, Record<string, string>> = {
    'GET /api/v1/metrics/series/:agent_id': { metric: 'disk.usage_percent', 'tags.mount_point': '/', step: '1m', agg: 'max' },
    'GET /api/v1/metrics/stats/:agent_id': { metric: 'disk.usage_percent', 'tags.mount_point': '/' },
    'GET /api/v1/metrics/compare': { metric: 'cpu.usage_percent', agents: ingestAgent.name },
  }
  const SKIP = new Set(['POST /api/v1/auth/logout']) // would end the session the test runs with

  await t.test('control: every new sample is a valid body and the agent key opens the agent routes', async (t) => {
    const preflight: Array<[string, string, Record<string, unknown>, number]> = [
      ['POST', '/api/v1/dashboards', dashboardBody('inj-preflight-dashboard'), 201],
      ['PUT', `/api/v1/dashboards/${targetDashboard.id}`, SAMPLES['PUT /api/v1/dashboards/:id'], 200],
      ['PUT', `/api/v1/agents/${targetAgent.id}`, SAMPLES['PUT /api/v1/agents/:id'], 200],
      ['PATCH', `/api/v1/agents/${targetAgent.id}`, SAMPLES['PATCH /api/v1/agents/:id'], 200],
      ['PUT', `/api/v1/agents/${targetAgent.id}/config`, SAMPLES['PUT /api/v1/agents/:id/config'], 200],
      ['PUT', `/api/v1/users/${targetUser.id}`, SAMPLES['PUT /api/v1/users/:id'], 200],
    ]
    for (const [method, path, body, status] of preflight) {
      const res = await api.req(method, path, { token: api.adminToken, body })
      t.equal(res.status, status, `${method} ${path}: ${res.status} ${res.text.slice(0, 200)}`)
    }
    for (const path of LINE_PROTOCOL_PATHS) {
      const res = await api.req('POST', path, { ...credentialsFor(path), rawBody: 'cpu usage_percent=12.5' })
      t.equal(res.status, 204, `POST ${path} with the agent key: ${res.status} ${res.text.slice(0, 200)}`)
    }
    const config = await api.req('GET', AGENT_CONFIG_PATH, credentialsFor(AGENT_CONFIG_PATH))
    t.equal(config.status, 200, `GET ${AGENT_CONFIG_PATH} with the agent key: ${config.status} ${config.text.slice(0, 200)}`)
    for (const url of [...AGENT_READS, '/api/v1/metrics/compare']) {
      const query = new URLSearchParams(QUERIES[`GET ${url}`]).toString()
      const res = await api.req('GET', `${url.replace(/:[A-Za-z_]+/, ingestAgent.id)}?${query}`, { token: api.adminToken })
      t.equal(res.status, 200, `GET ${url}?${query} of the agent with samples: ${res.status} ${res.text.slice(0, 200)}`)
    }
  })

  const orgIds = (await db.selectFrom('organizations').select('id').execute()).map((o) => o.id)
  const targetsChangedAt = async () => (await Promise.all([
    db.selectFrom('agents').select('updated_at').where('id', '=', targetAgent.id).executeTakeFirstOrThrow(),
    db.selectFrom('users').select('updated_at').where('id', '=', targetUser.id).executeTakeFirstOrThrow(),
    db.selectFrom('dashboards').select('updated_at').where('id', '=', targetDashboard.id).executeTakeFirstOrThrow(),
  ])).map((r) => r.updated_at.getTime())
  const snapshot = async () => JSON.stringify({
    orgs: await db.selectFrom('organizations').selectAll().where('id', 'in', orgIds).orderBy('id').execute(),
    users: (await db.selectFrom('users').select(['id', 'org_id', 'username', 'password_hash', 'role', 'created_at']).where('id', 'in', [admin.id, viewer.id]).orderBy('id').execute()),
    agents: await db.selectFrom('agents').select(['id', 'org_id', 'name', 'labels', 'api_key_hash', 'status', 'hostname', 'config', 'updated_at']).where('id', 'in', [keep.id]).execute(),
    tokens: await db.selectFrom('enrollment_tokens').selectAll().where('id', '=', keepToken.id).execute(),
    sessions: await db.selectFrom('auth_sessions').select(['id', 'revoked_at']).where('user_id', 'in', [admin.id, viewer.id]).orderBy('id').execute(),
    dashboards: await db.selectFrom('dashboards').selectAll().where('id', '=', keepDashboard.id).execute(),
  })
  const before = await snapshot()
  const targetsBefore = await targetsChangedAt()

  const routes = api.app.registeredRoutes.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && !SKIP.has(`${r.method} ${r.url}`) && !ALERTING_ROUTES.test(r.url) && !FACE_ROUTES.test(r.url)
    && !PERF_ANALYSIS_PATHS.test(r.url))
  for (const key of [...Object.keys(SAMPLES), ...Object.keys(PARAMS), ...Object.keys(QUERIES)]) t.ok(routes.some((r) => `${r.method} ${r.url}` === key), `${key} is registered (the samples are current)`)
  for (const url of AGENT_KEY_ROUTES) t.ok(routes.some((r) => r.url === url), `${url} is registered (the agent key goes where it is needed)`)

  const { requests, failures } = await injectEverywhere({ api, routes, samples: SAMPLES, params: PARAMS, queries: QUERIES, nested: true, viewerToken: viewer.token, credentialsFor })
  t.ok(requests > 2000, `${requests} requests sent`)
  t.same(failures, [], 'no 5xx, and every error in the error format')
  t.equal(await snapshot(), before, 'no row that existed before changed')
  const targetsAfter = await targetsChangedAt()
  for (const [i, name] of ['agent', 'user', 'dashboard'].entries()) t.ok(targetsAfter[i] > targetsBefore[i], `control: bodies reached the target ${name}`)
  const rejected = await db.selectFrom('agent_registrations').select('status').where('id', '=', pending.registration_id).executeTakeFirstOrThrow()
  t.equal(rejected.status, 'rejected', 'control: a reject body reached the pending registration')
  t.equal((await api.req('GET', '/api/v1/auth/me', { token: api.adminToken })).status, 200, 'the admin session still works')
  const tables = await db.selectFrom('agents').select('id').where('id', '=', keep.id).execute()
  t.equal(tables.length, 1, 'the agents table is still there')
})
