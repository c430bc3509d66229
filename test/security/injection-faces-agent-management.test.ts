// The injection walk (injection-walk.ts) over seed 003's routes, the monitoring-agent management API with
// Django REST Framework conventions: agents, registrations, the agents' uploads, the reads, alerts,
// thresholds and notification channels. SQL metacharacters, long strings, unicode, NUL bytes, out-of-range
// numbers and type confusion in every path parameter, query parameter and body field, one level into
// objects (labels.team, config.url …) and into the first item of arrays of objects (processes[0].pid,
// logs[0].level, sessions[0].login_time …). Never a 5xx, every error in DRF's format (`{"detail"}` or
// `{"field": ["…"]}`), and no row kept aside changes: an agent, a threshold, a channel, a registration, a
// firing alert, the users and their sessions. Writes to one object (PUT, PATCH, activate, deactivate,
// approve, reject, resolve) go to objects made to be changed, so injected fields get past the lookup;
// creates get a fresh hostname or name each time (a getter in the sample), so injected fields get past the
// uniqueness checks into the store. Uploads carry the upload agent's key, register the enrollment token.
// Channel targets are a receiver on 127.0.0.1 and no host name is ever resolved: nothing leaves the machine.
import t from 'tap'
import { loopbackOnlyNotify, startClient, startLoopbackReceiver } from './security-helpers.ts'
import { FACE_ROUTES, injectEverywhere } from './injection-walk.ts'

/** Seeds 000 and 002's routes: walked by injection-faces-procmon.test.ts. */
const PROCMON_ROUTES = /^\/api\/(submit|ingest|hosts|latest)(\/|$)/
const UPLOADS = new Set(['/api/metrics/upload/', '/api/processes/upload/', '/api/logs/upload_logs/'])
const REGISTER = '/api/agent/register/'
/** Seed 003's route families, in walking order (the first that matches): 43 routes in all. */
const FAMILIES: Array<[string, (url: string) => boolean]> = [
  ['uploads', (url) => UPLOADS.has(url)],
  ['agents', (url) => /^\/api\/(agents|agent\/config)\//.test(url)],
  ['registrations', (url) => /^\/api\/(registrations|agent\/register)\//.test(url)],
  ['reads', (url) => /^\/api\/(logs|sessions|metrics|processes|csrf)\//.test(url)],
  ['alerts', (url) => url.startsWith('/api/alerts/')],
  ['thresholds', (url) => url.startsWith('/api/thresholds/')],
  ['notifications', (url) => url.startsWith('/api/notifications/')],
]
const familyOf = (url: string) => FAMILIES.find(([, has]) => has(url))?.[0]
const ROUTE_COUNT = 43

t.test('injection: seed 003 (agent management, DRF)', async (t) => {
  const receiver = await startLoopbackReceiver(t)
  const lookedUp: string[] = []
  const api = await startClient(t, { notify: loopbackOnlyNotify(lookedUp) })
  const db = api.store.db
  const viewer = await api.user('viewer')
  const admin = (await api.req('GET', '/api/v1/users/me', { token: api.adminToken })).body
  async function call(method: string, path: string, body: unknown, status: number, extra: { apiKey?: string; headers?: Record<string, string> } = {}) {
    const res = await api.req(method, path, { token: api.adminToken, body, ...extra })
    if (res.status !== status) throw new Error(`${method} ${path} failed: ${res.status} ${res.text}`)
    return res.body
  }
  let serial = 0
  const fresh = (prefix: string) => `${prefix}-${++serial}`

  // Agents: one that uploads (its key opens the upload routes; its hostname is the reads' filter), one kept
  // aside, one made to be changed (PUT, PATCH, activate, deactivate, approve).
  const uploader = await call('POST', '/api/agents/', { hostname: 'inj-upload.example', is_approved: true }, 201)
  const keepAgent = await call('POST', '/api/agents/', { hostname: 'inj-keep.example', name: 'inj-keep', labels: { a: 'b' }, is_approved: true }, 201)
  const targetAgent = await call('POST', '/api/agents/', { hostname: 'inj-target.example', name: 'inj-target' }, 201)
  // Registrations: one kept aside, one to reject, one to approve (and one each for the control to spend).
  const enroll = await call('POST', '/api/v1/enrollment-tokens', { description: 'inj' }, 201)
  const enrollHeader = { 'x-enrollment-token': enroll.token as string }
  const register = (hostname: string) => call('POST', REGISTER, { hostname }, 201, { headers: enrollHeader })
  const keepRegistration = await register('inj-keep-pending.example')
  const rejectTarget = await register('inj-reject.example')
  const approveTarget = await register('inj-approve.example')
  // Channels, on the loopback receiver: one kept aside, one made to be changed.
  const webhook = (name: string, path: string) => ({
    name, channel_type: 'webhook', type: 'webhook', is_active: true, enabled: true,
    config: { url: `${receiver.url}${path}`, secret: 's3cret', headers: { 'X-Team': 'ops' } },
  })
  const keepChannel = await call('POST', '/api/notifications/', webhook('inj-keep-hook', '/keep-hook'), 201)
  const targetChannel = await call('POST', '/api/notifications/', webhook('inj-target-hook', '/target-hook'), 201)
  // Thresholds: one kept aside (with a firing alert), one made to be changed.
  const threshold = (name: string) => ({
    name, agent: uploader.id, metric_type: 'cpu', threshold: 90, comparison: 'gt', level: 'critical', is_active: true, enabled: true,
    notification_channels: [targetChannel.id],
  })
  const keepThreshold = await call('POST', '/api/thresholds/', { ...threshold('inj-keep-threshold'), notification_channels: [keepChannel.id] }, 201)
  const targetThreshold = await call('POST', '/api/thresholds/', threshold('inj-target-threshold'), 201)
  /** A firing alert of `rule` on the upload agent, as the evaluator leaves it: the event and its state. */
  async function firingAlert(rule: { uuid: string; name: string }) {
    const startedAt = new Date(Date.now() - 60_000)
    const event = await db.insertInto('alert_events').values({
      org_id: api.orgId, rule_id: rule.uuid, rule_name: rule.name, agent_id: uploader.uuid, agent_name: uploader.name, severity: 'critical', state: 'firing',
      value: 97, threshold: 90, summary: `${rule.name} firing`, started_at: startedAt, last_notified_at: startedAt, notification_count: 1, series_tags: '{}', annotations: '{}',
    }).returning(['id', 'number']).executeTakeFirstOrThrow()
    await db.insertInto('alert_states').values({
      rule_id: rule.uuid, agent_id: uploader.uuid, org_id: api.orgId, series_tags: '{}', state: 'firing', severity: 'critical', value: 97,
      pending_since: startedAt, firing_since: startedAt, last_notified_at: startedAt, event_id: event.id,
    }).execute()
    return event
  }
  const keepEvent = await firingAlert(keepThreshold)
  // The resolve target on a rule of its own (a PUT of the target threshold may end that rule's alerts).
  const resolveRule = await call('POST', '/api/thresholds/', threshold('inj-resolve-threshold'), 201)
  const resolveEvent = await firingAlert(resolveRule)

  const now = new Date().toISOString()
  const agentFields = { ip_address: '10.0.0.9', os: 'Linux', os_version: '6.1', agent_version: '1.2.3',
    labels: { team: 'ops' }, is_active: true, is_approved: true,
  }
  const agentBody = { hostname: 'inj-target.example', name: 'inj-target', ...agentFields }
  const SAMPLES: Record<string, Record<string, unknown>> = {
    // A fresh hostname on every create (the one injected field aside), so a create gets past "hostname taken".
    'POST /api/agents/': { get hostname() { return fresh('inj-new.example') }, ...agentFields, is_approved: false },
    'PUT /api/agents/:id/': agentBody,
    'PATCH /api/agents/:id/': agentBody,
    'POST /api/agents/:id/activate/': {},
    'POST /api/agents/:id/deactivate/': {},
    'POST /api/agents/:id/approve/': {},
    [`POST ${REGISTER}`]: {
      get hostname() { return fresh('inj-register.example') }, ip_address: '10.0.0.7', os: 'Debian', os_version: '12', agent_version: '1.2.3', version: '1.2.3',
      ip_addresses: ['10.0.0.7'], kernel: '6.1.0', arch: 'x86_64', cpu_model: 'Xeon', cpu_cores: 4, memory_total_bytes: 8_000_000_000,
      virtualization: 'kvm', cloud_provider: 'none',
    },
    'POST /api/registrations/:id/approve/': {},
    'POST /api/registrations/:id/reject/': { notes: 'unknown machine', reason: 'unknown machine' },
    'POST /api/metrics/upload/': {
      hostname: 'inj-upload.example', cpu_usage: 41.5, memory_usage: 63.2, memory_total: 8_000_000_000, memory_used: 5_056_000_000, memory_available: 2_944_000_000,
      swap_usage: 1.5, load_average: [0.5, 0.7, 0.9], disk_usage: 71.25, disk_total: 100_000_000_000, disk_used: 71_250_000_000, disk_free: 28_750_000_000,
      mount_point: '/', disk_device: '/dev/sda1', network_in: 1_000_000, network_out: 500_000, packets_recv: 1000, packets_sent: 500, interface: 'eth0',
    },
    'POST /api/processes/upload/': {
      hostname: 'inj-upload.example',
      processes: [{
        pid: 812, ppid: 1, parent_pid: 1, name: 'postgres', username: 'postgres', status: 'running', cmdline: ['postgres', '-D', '/var/lib/pg'],
        cpu_percent: 12.5, memory_percent: 3.2, memory_rss: 52_428_800, memory_bytes: 52_428_800, memory_vms: 104_857_600, memory_mb: 50,
        memory_info: { rss: 52_428_800, vms: 104_857_600 }, num_threads: 4, create_time: 1_700_000_000.5,
      }],
    },
    'POST /api/logs/upload_logs/': {
      hostname: 'inj-upload.example',
      logs: [{ message: 'disk failing', level: 'error', log_level: 'error', source: 'syslog', log_type: 'syslog', timestamp: now, time: now, fields: { unit: 'smartd' }, facility: 'kern' }],
      sessions: [{
        username: 'alice', user: 'alice', terminal: 'pts/0', tty: 'pts/0', host: '10.0.0.1', ip_address: '10.0.0.1', remote_host: '10.0.0.1', pid: 4242,
        login_time: now, started: now,
      }],
    },
    'POST /api/alerts/:id/resolve/': { comment: 'fixed' },
    'POST /api/thresholds/': { ...threshold('inj-threshold'), get name() { return fresh('inj-threshold') } },
    'PUT /api/thresholds/:id/': threshold('inj-target-threshold'),
    'PATCH /api/thresholds/:id/': threshold('inj-target-threshold'),
    'POST /api/notifications/': { ...webhook('inj-hook', '/inj-hook'), get name() { return fresh('inj-hook') } },
    'PUT /api/notifications/:id/': webhook('inj-target-hook', '/target-hook'),
    'PATCH /api/notifications/:id/': webhook('inj-target-hook', '/target-hook'),
  }
  const PARAMS: Record<string, Record<string, string>> = {
    ...Object.fromEntries(['PUT /api/agents/:id/', 'PATCH /api/agents/:id/', 'POST /api/agents/:id/activate/', 'POST /api/agents/:id/deactivate/',
      'POST /api/agents/:id/approve/'].map((key) => [key, { id: String(targetAgent.id) }])),
    // The first valid body decides the registration; the rest answer 409.
    'POST /api/registrations/:id/reject/': { id: String(rejectTarget.id) },
    'POST /api/registrations/:id/approve/': { id: String(approveTarget.id) },
    'POST /api/alerts/:id/resolve/': { id: String(resolveEvent.number) },
    'PUT /api/thresholds/:id/': { id: String(targetThreshold.id) },
    'PATCH /api/thresholds/:id/': { id: String(targetThreshold.id) },
    'PUT /api/notifications/:id/': { id: String(targetChannel.id) },
    'PATCH /api/notifications/:id/': { id: String(targetChannel.id) },
  }
  /** Required query parameters, and filters that make the other injected ones run against the upload agent's data. */
  const byUploader = { agent_id: String(uploader.id), hours: '24' }
  const QUERIES: Record<string, Record<string, string>> = {
    'GET /api/agent/config/': { hostname: 'inj-upload.example' },
    'GET /api/processes/list/': { hostname: 'inj-upload.example' },
    'GET /api/logs/': { ...byUploader, level: 'info', source: 'syslog', search: 'disk' },
    'GET /api/sessions/': byUploader,
    'GET /api/metrics/': byUploader,
    'GET /api/alerts/': { agent: String(uploader.id), resolved: 'false', level: 'critical' },
    'GET /api/thresholds/': { agent: String(uploader.id), metric_type: 'cpu', is_active: 'true' },
    'GET /api/notifications/': { channel_type: 'webhook' },
  }
  const credentialsFor = (url: string) => ({
    apiKey: UPLOADS.has(url) ? uploader.api_key as string : undefined,
    headers: url === REGISTER ? enrollHeader : undefined,
  })

  await t.test('control: every sample is accepted (so injected fields are what gets refused)', async (t) => {
    const spare = async () => String((await register(fresh('inj-spare.example'))).id)
    const preflight: Array<[string, string, number]> = [
      ['POST /api/agents/', '/api/agents/', 201],
      ['PUT /api/agents/:id/', `/api/agents/${targetAgent.id}/`, 200],
      ['PATCH /api/agents/:id/', `/api/agents/${targetAgent.id}/`, 200],
      ['POST /api/agents/:id/deactivate/', `/api/agents/${targetAgent.id}/deactivate/`, 200],
      ['POST /api/agents/:id/activate/', `/api/agents/${targetAgent.id}/activate/`, 200],
      ['POST /api/agents/:id/approve/', `/api/agents/${targetAgent.id}/approve/`, 200],
      [`POST ${REGISTER}`, REGISTER, 201],
      // Registrations and an alert of their own: the walk's targets must still be pending and firing.
      ['POST /api/registrations/:id/approve/', `/api/registrations/${await spare()}/approve/`, 200],
      ['POST /api/registrations/:id/reject/', `/api/registrations/${await spare()}/reject/`, 200],
      ['POST /api/metrics/upload/', '/api/metrics/upload/', 201],
      ['POST /api/processes/upload/', '/api/processes/upload/', 201],
      ['POST /api/logs/upload_logs/', '/api/logs/upload_logs/', 201],
      ['POST /api/alerts/:id/resolve/', `/api/alerts/${(await firingAlert(await call('POST', '/api/thresholds/', threshold('inj-spare-threshold'), 201))).number}/resolve/`, 200],
      ['POST /api/thresholds/', '/api/thresholds/', 201],
      ['PUT /api/thresholds/:id/', `/api/thresholds/${targetThreshold.id}/`, 200],
      ['PATCH /api/thresholds/:id/', `/api/thresholds/${targetThreshold.id}/`, 200],
      ['POST /api/notifications/', '/api/notifications/', 201],
      ['PUT /api/notifications/:id/', `/api/notifications/${targetChannel.id}/`, 200],
      ['PATCH /api/notifications/:id/', `/api/notifications/${targetChannel.id}/`, 200],
    ]
    t.same(preflight.map(([key]) => key).sort(), Object.keys(SAMPLES).sort(), 'every sample is tried')
    for (const [key, path, status] of preflight) {
      const method = key.split(' ')[0]
      const res = await api.req(method, path, { token: api.adminToken, body: SAMPLES[key], ...credentialsFor(key.split(' ')[1]) })
      t.equal(res.status, status, `${method} ${path}: ${res.status} ${res.text.slice(0, 200)}`)
    }
    // With the uploads in, the reads have rows to filter.
    for (const [key, query] of Object.entries(QUERIES)) {
      const path = `${key.split(' ')[1]}?${new URLSearchParams(query)}`
      const res = await api.req('GET', path, { token: api.adminToken })
      t.equal(res.status, 200, `GET ${path}: ${res.status} ${res.text.slice(0, 200)}`)
      if (res.body?.results) t.ok(res.body.results.length > 0, `GET ${path} finds the rows it filters for`)
    }
  })

  const users = [admin.id, viewer.id]
  const snapshot = async () => JSON.stringify({
    users: await db.selectFrom('users').select(['id', 'org_id', 'username', 'password_hash', 'role', 'created_at']).where('id', 'in', users).orderBy('id').execute(),
    sessions: await db.selectFrom('auth_sessions').select(['id', 'revoked_at']).where('user_id', 'in', users).orderBy('id').execute(),
    agents: await db.selectFrom('agents').selectAll().where('id', '=', keepAgent.uuid).execute(),
    registrations: await db.selectFrom('agent_registrations').selectAll().where('id', '=', keepRegistration.uuid).execute(),
    rules: await db.selectFrom('alert_rules').selectAll().where('id', '=', keepThreshold.uuid).execute(),
    channels: await db.selectFrom('notification_channels').selectAll().where('id', '=', keepChannel.uuid).execute(),
    events: await db.selectFrom('alert_events').selectAll().where('id', '=', keepEvent.id).execute(),
    states: await db.selectFrom('alert_states').selectAll().where('rule_id', '=', keepThreshold.uuid).execute(),
  })
  const before = await snapshot()
  const changedAt = async () => (await Promise.all([
    db.selectFrom('agents').select('updated_at').where('id', '=', targetAgent.uuid).executeTakeFirstOrThrow(),
    db.selectFrom('alert_rules').select('updated_at').where('id', '=', targetThreshold.uuid).executeTakeFirstOrThrow(),
    db.selectFrom('notification_channels').select('updated_at').where('id', '=', targetChannel.uuid).executeTakeFirstOrThrow(),
  ])).map((r) => r.updated_at.getTime())
  const targetsBefore = await changedAt()

  const routes = api.app.registeredRoutes.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && FACE_ROUTES.test(r.url) && !PROCMON_ROUTES.test(r.url))
  t.equal(routes.length, ROUTE_COUNT, `every route of seed 003 is walked (${routes.length})`)
  for (const r of routes) t.ok(familyOf(r.url), `${r.method} ${r.url} is in a route family`)
  for (const key of [...Object.keys(SAMPLES), ...Object.keys(PARAMS), ...Object.keys(QUERIES)]) t.ok(routes.some((r) => `${r.method} ${r.url}` === key), `${key} is registered (the samples are current)`)

  // DELETE routes are walked with injected ids only (no PARAMS): an id is a number of 1 to 10 digits, which no
  // injected string is, so no DELETE reaches a row; the snapshot below holds the ones kept aside.
  // One family at a time, timed: the whole walk took about 100 s here (so one file, not two).
  let requests = 0
  const failures: string[] = []
  for (const [family] of FAMILIES) {
    const started = Date.now()
    const walked = await injectEverywhere({
      api, routes: routes.filter((r) => familyOf(r.url) === family), samples: SAMPLES, params: PARAMS, queries: QUERIES,
      nested: true, arrays: true, viewerToken: viewer.token, credentialsFor,
    })
    t.comment(`${family}: ${walked.requests} requests in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    requests += walked.requests
    failures.push(...walked.failures)
  }
  t.ok(requests > 9500, `${requests} requests sent`)
  t.same(failures, [], 'no 5xx, and every error in DRF\'s format')
  t.equal(await snapshot(), before, 'no row kept aside changed')

  const targetsAfter = await changedAt()
  for (const [i, name] of ['agent', 'threshold', 'channel'].entries()) t.ok(targetsAfter[i] > targetsBefore[i], `control: bodies reached the target ${name}`)
  const decided = await db.selectFrom('agent_registrations').select(['id', 'status']).where('id', 'in', [rejectTarget.uuid, approveTarget.uuid]).execute()
  t.same(Object.fromEntries(decided.map((r) => [r.id, r.status])), { [rejectTarget.uuid]: 'rejected', [approveTarget.uuid]: 'approved' }, 'control: reject and approve reached their registrations')
  const resolved = await db.selectFrom('alert_events').select('state').where('id', '=', resolveEvent.id).executeTakeFirstOrThrow()
  t.equal(resolved.state, 'resolved', 'control: a resolve reached its alert')
  t.same(lookedUp, [], 'no host name was looked up: injected channel targets never reached name resolution')
  t.same([...new Set(receiver.received.map((r) => r.path))].filter((p) => p !== '/target-hook' && p !== '/inj-hook'), [], 'nothing was sent anywhere but the loopback receiver\'s hooks')
  t.equal((await api.req('GET', '/api/v1/auth/me', { token: api.adminToken })).status, 200, 'the admin session still works')
  t.equal((await api.req('POST', '/api/metrics/upload/', { apiKey: uploader.api_key, body: { cpu_usage: 1 } })).status, 201, 'the upload agent\'s key still works')
})
