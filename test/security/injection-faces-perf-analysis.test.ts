// The injection walk (injection-walk.ts) over seed 004's routes, the PerfAnalysis face: token auth, collectors,
// columnar metrics, statistics, comparison, containers, reports and their files, preferences. SQL
// metacharacters, long strings, unicode, NUL bytes, out-of-range numbers, type confusion and an object's
// inherited keys (__proto__, constructor …: `hours` and the time ranges are looked up by name) in every path
// parameter (collector, container, report, file), query parameter (hours, collectors) and body field (token,
// refresh, preferences, report generation). Never a 5xx, every error in the seed's format (`{"error",
// "message", "details": {}}`), and no row kept aside changes: a user's preferences, a report, the collector
// and its containers, the users and their sessions. Reads go to a collector with samples and containers, so
// injected queries get past the lookup; the token and refresh samples belong to a user of their own (a valid
// sample logs in); logout ends the session it is called with, so it is walked last with sessions of its own.
import t from 'tap'
import { PERF_ANALYSIS_PATHS } from '../../services/faces/perf-analysis/perf-analysis-face.ts'
import { makeBatch, metric, minutesAgo, network } from '../test-client.ts'
import { startClient } from './security-helpers.ts'
import { waitFor } from '../wait-for.ts'
import { injectEverywhere } from './injection-walk.ts'

/** Keys every object has by inheritance: a name looked up in a table (`hours=7d`, a preference) must not find them. */
const INHERITED_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']
const LOGOUT = 'POST /api/v1/auth/logout/'
const MIB = 1024 * 1024

t.test('injection: seed 004 (PerfAnalysis)', async (t) => {
  const api = await startClient(t)
  const db = api.store.db
  const viewer = await api.user('viewer')
  const keeper = await api.user('editor') // its preferences are kept aside
  const tokenUser = await api.user('viewer') // the token and refresh samples log in as this user
  const admin = (await api.req('GET', '/api/v1/users/me', { token: api.adminToken })).body
  async function call(method: string, path: string, body: unknown, status: number, token = api.adminToken) {
    const res = await api.req(method, path, { token, body })
    if (res.status !== status) throw new Error(`${method} ${path} failed: ${res.status} ${res.text}`)
    return res.body
  }

  // A collector with ten minutes of host samples and one container, so every read has rows to answer.
  const agent = await api.createAgent('inj-perf')
  const runtimeId = 'feedc0ffee00112233445566778899aabbccddeeff00112233445566778899aa'
  for (let i = 0; i < 10; i++) {
    await api.ingestOk(agent.api_key, makeBatch({
      time: minutesAgo(10 - i), disks: [], processes: [],
      metrics: [
        metric('cpu', 'user', 20 + i), metric('cpu', 'system', 5), metric('cpu', 'idle', 75 - i), metric('cpu', 'iowait', 0.5),
        metric('memory', 'used_bytes', (4000 + i) * MIB), metric('memory', 'available_bytes', 12000 * MIB), metric('memory', 'usage_percent', 25 + i),
        metric('memory', 'total_bytes', 16 * 1024 * MIB),
        metric('diskio', 'read_ops_per_sec', 10 + i, { tags: { device: 'sda' } }), metric('diskio', 'io_util_percent', 3, { tags: { device: 'sda' } }),
      ],
      networks: [network('eth0', { bytes_recv_per_sec: 1e5 + i, bytes_sent_per_sec: 5e4, packets_recv_per_sec: 100, packets_sent_per_sec: 50 })],
      containers: [{ id: runtimeId, name: 'inj-nginx', image: 'nginx:latest', state: 'running', cpu_percent: 5 + i, memory_bytes: 256 * MIB, memory_percent: 12.5, rx_bytes: 1024, tx_bytes: 512 }],
    }))
  }
  const collector = (await call('GET', '/dashboard/api/collectors/', undefined, 200)).find((c: { name: string }) => c.name === 'inj-perf')
  const collectorId = String(collector.id)
  const container = (await call('GET', `/dashboard/api/collectors/${collectorId}/containers/`, undefined, 200))[0]
  await call('POST', '/dashboard/preferences/', { chart_theme: 'dark', default_time_range: '7d', visible_metrics: ['cpu'] }, 200, keeper.token)
  // A completed report, so its id and file name are real ones.
  const asked = await call('POST', '/api/v1/reports/generate/', { collector_id: collector.id, time_range_hours: 1, include_containers: false }, 202)
  const report = await waitFor('the report completed', async () => {
    const r = await call('GET', `/api/v1/reports/${asked.id}/`, undefined, 200)
    return r.status === 'completed' && r
  }, 60_000, 200)
  const { refresh } = await call('POST', '/api/v1/auth/token/', { username: tokenUser.username, password: tokenUser.password }, 200, '')

  const SAMPLES: Record<string, Record<string, unknown>> = {
    'POST /api/v1/auth/token/': { username: tokenUser.username, password: tokenUser.password },
    'POST /api/v1/auth/token/refresh/': { refresh },
    'POST /dashboard/preferences/': {
      default_time_range: '6h', default_collector_id: collector.id, chart_theme: 'dark', refresh_interval_seconds: 30, show_containers: false,
      visible_metrics: ['cpu', 'memory'],
    },
    'POST /api/v1/reports/generate/': { collector_id: collector.id, format: 'html', time_range_hours: 1, include_containers: false },
    [LOGOUT]: {},
  }
  const collectorRoutes = ['/dashboard/api/collectors/:id/', '/dashboard/api/collectors/:id/cpu/', '/dashboard/api/collectors/:id/memory/',
    '/dashboard/api/collectors/:id/disk/', '/dashboard/api/collectors/:id/network/', '/dashboard/api/collectors/:id/stats/',
    '/dashboard/api/collectors/:id/containers/', '/dashboard/api/collectors/:id/containers/aggregate/']
  const PARAMS: Record<string, Record<string, string>> = {
    ...Object.fromEntries(collectorRoutes.map((url) => [`GET ${url}`, { id: collectorId }])),
    'GET /dashboard/api/collectors/:id/containers/:container_id/cpu/': { id: collectorId, container_id: String(container.id) },
    'GET /api/v1/reports/:id/': { id: String(report.id) },
    'GET /media/reports/:file': { file: report.file_url.split('/').pop() },
  }
  const routes = api.app.registeredRoutes.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && PERF_ANALYSIS_PATHS.test(r.url))
  const takesHours = (r: (typeof routes)[number]) => 'hours' in ((r.schema?.querystring as { properties?: object } | undefined)?.properties ?? {})
  /** The cheapest range on every route that takes one, sent along with every injected parameter; compare needs its collectors. */
  const QUERIES: Record<string, Record<string, string>> = {
    ...Object.fromEntries(routes.filter(takesHours).map((r) => [`${r.method} ${r.url}`, { hours: '1' }])),
    'GET /dashboard/api/compare/': { collectors: collectorId, hours: '1' },
  }

  await t.test('control: every sample is accepted and every read finds its rows (so injected values are what gets refused)', async (t) => {
    for (const key of Object.keys(SAMPLES).filter((k) => k !== LOGOUT)) {
      const res = await api.req('POST', key.split(' ')[1], { token: api.adminToken, body: SAMPLES[key] })
      t.equal(res.status, key.includes('/generate/') ? 202 : 200, `${key}: ${res.status} ${res.text.slice(0, 200)}`)
    }
    for (const key of new Set([...Object.keys(PARAMS), ...Object.keys(QUERIES)])) {
      const url = key.split(' ')[1].replace(/:([A-Za-z_]+)/g, (_m, name: string) => PARAMS[key]?.[name] ?? '')
      const path = QUERIES[key] ? `${url}?${new URLSearchParams(QUERIES[key])}` : url
      const res = await api.req('GET', path, { token: api.adminToken })
      t.equal(res.status, 200, `GET ${path}: ${res.status} ${res.text.slice(0, 200)}`)
      const series = res.body?.timestamps ?? res.body?.metrics?.cpu?.[collectorId]?.timestamps
      if (series) t.ok(series.length > 0, `GET ${path} answers samples`)
    }
  })

  const users = [admin.id, viewer.id, keeper.id, tokenUser.id]
  const snapshot = async () => JSON.stringify({
    users: await db.selectFrom('users').select(['id', 'org_id', 'username', 'password_hash', 'role', 'created_at']).where('id', 'in', users).orderBy('id').execute(),
    // The token user's sessions grow with every valid login; the others' may not change at all.
    sessions: await db.selectFrom('auth_sessions').select(['id', 'revoked_at']).where('user_id', 'in', [admin.id, viewer.id, keeper.id]).orderBy('id').execute(),
    preferences: await db.selectFrom('user_preferences').selectAll().where('user_id', '=', keeper.id).execute(),
    agents: await db.selectFrom('agents').selectAll().where('id', '=', agent.id).execute(),
    containers: await db.selectFrom('containers').selectAll().where('agent_id', '=', agent.id).orderBy('id').execute(),
    // Valid bodies ask for reports of their own; the one kept aside does not change.
    report: await db.selectFrom('reports').selectAll().where('id', '=', report.id).execute(),
  })
  const before = await snapshot()
  const preferencesChangedAt = async () =>
    (await db.selectFrom('user_preferences').select('updated_at').where('user_id', '=', admin.id).executeTakeFirstOrThrow()).updated_at.getTime()
  const preferencesBefore = await preferencesChangedAt()

  for (const key of [...Object.keys(SAMPLES), ...Object.keys(PARAMS), ...Object.keys(QUERIES)]) t.ok(routes.some((r) => `${r.method} ${r.url}` === key), `${key} is registered (the samples are current)`)
  for (const r of routes.filter((r) => r.url.includes(':'))) t.ok(PARAMS[`${r.method} ${r.url}`], `${r.method} ${r.url}: the walk has real ids for its path parameters`)

  const started = Date.now()
  const walked = await injectEverywhere({
    api, routes: routes.filter((r) => `${r.method} ${r.url}` !== LOGOUT), samples: SAMPLES, params: PARAMS, queries: QUERIES,
    viewerToken: viewer.token, strings: INHERITED_KEYS,
  })
  // Logout ends the session it is called with (the first request does; the rest are refused): sessions of its own.
  const logoutSession = await api.login(tokenUser.username, tokenUser.password)
  const logoutViewer = await api.login(tokenUser.username, tokenUser.password)
  const loggedOut = await injectEverywhere({
    api, routes: routes.filter((r) => `${r.method} ${r.url}` === LOGOUT), samples: SAMPLES, token: logoutSession.token, viewerToken: logoutViewer.token,
  })
  t.comment(`${walked.requests + loggedOut.requests} requests in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  t.ok(walked.requests + loggedOut.requests > 1200, `${walked.requests + loggedOut.requests} requests sent`)
  t.same([...walked.failures, ...loggedOut.failures], [], 'no 5xx, and every error in the seed\'s format')
  t.equal(await snapshot(), before, 'no row kept aside changed')

  t.ok(await preferencesChangedAt() > preferencesBefore, 'control: bodies reached the admin\'s preferences')
  t.equal((await api.req('GET', '/api/v1/auth/user/', { token: logoutSession.token })).status, 401, 'control: the logout walk ended its session')
  t.equal((await api.req('GET', '/api/v1/auth/user/', { token: api.adminToken })).status, 200, 'the admin session still works')
  t.equal((await api.req('GET', '/api/v1/auth/user/', { token: viewer.token })).status, 200, 'the viewer session still works')
})
