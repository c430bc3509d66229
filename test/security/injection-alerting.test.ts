// Injection into alert rules, alert events (ack, resolve), silences and notification channels: SQL
// metacharacters, very long strings, unicode, NUL bytes and JSON type confusion in every path parameter,
// query parameter and body field, one level into objects too (config.url, matchers.agent …): never a
// 5xx, and no row that existed before changes. PUT, ack, resolve and test-send go to objects made to be
// changed, so injected fields get past the lookup; rows kept aside (a rule, a channel, a silence, an event
// with its lifecycle and delivery rows) must stay as they were. Channel targets are a webhook receiver on
// 127.0.0.1 (private targets allowed) and no host name is ever resolved: nothing leaves this machine.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { loopbackOnlyNotify, startLoopbackReceiver, startClient } from './security-helpers.ts'
import { ALERTING_ROUTES, injectEverywhere } from './injection-walk.ts'

t.test('injection into alerting and notification routes', async (t) => {
  const receiver = await startLoopbackReceiver(t)
  const lookedUp: string[] = []
  const api = await startClient(t, { notify: loopbackOnlyNotify(lookedUp) })
  const db = api.store.db
  const viewer = await api.user('viewer')
  const admin = (await api.req('GET', '/api/v1/users/me', { token: api.adminToken })).body
  const agent = (await api.req('POST', '/api/v1/agents', { token: api.adminToken, body: { name: 'inj-alert-agent', labels: { env: 'prod' } } })).body

  async function create(path: string, body: Record<string, unknown>) {
    const res = await api.req('POST', path, { token: api.adminToken, body })
    if (res.status !== 201) throw new Error(`POST ${path} failed: ${res.status} ${res.text}`)
    return res.body
  }
  const channel = (name: string, path: string) => create('/api/v1/notification-channels', { name, type: 'webhook', config: { url: `${receiver.url}${path}`, secret: `${name}-hmac` } })
  const rule = (name: string, channels: string[] = []) => create('/api/v1/alerts', { name, metric: 'cpu.usage_percent', threshold: 90, agents: [agent.name], channels })
  async function firingEvent(r: { id: string; name: string }, channelRow?: { id: string; name: string }) {
    const startedAt = new Date(Date.now() - 60_000)
    const event = await db.insertInto('alert_events').values({
      org_id: api.orgId, rule_id: r.id, rule_name: r.name, agent_id: agent.id, agent_name: agent.name, severity: 'critical', state: 'firing',
      value: 97, threshold: 90, summary: `${r.name} firing`, started_at: startedAt, last_notified_at: startedAt, notification_count: 1, series_tags: '{}', annotations: '{}',
    }).returning('id').executeTakeFirstOrThrow()
    await db.insertInto('alert_states').values({
      rule_id: r.id, agent_id: agent.id, org_id: api.orgId, series_tags: '{}', state: 'firing', severity: 'critical', value: 97,
      pending_since: startedAt, firing_since: startedAt, last_notified_at: startedAt, event_id: event.id,
    }).execute()
    if (channelRow) {
      await db.insertInto('alert_notifications').values({
        org_id: api.orgId, event_id: event.id, rule_id: r.id, channel_id: channelRow.id, channel_name: channelRow.name, kind: 'firing',
        status: 'delivered', attempts: 1, group_key: `${r.id}:${channelRow.id}:firing`, message_id: randomUUID(), delivered_at: startedAt, last_error: null,
      }).execute()
    }
    return event.id
  }

  // Kept aside: nothing below may change them.
  const keepChannel = await channel('keep-hook', '/keep-hook-secret-path')
  const keepRule = await rule('keep-rule', [keepChannel.id])
  const keepSilence = await create('/api/v1/silences', { matchers: { agent: agent.name, labels: { env: 'prod' } }, duration: '6h', comment: 'keep' })
  const keepEvent = await firingEvent(keepRule, keepChannel)
  // Made to be changed: the targets of PUT, ack, resolve and test-send.
  const targetChannel = await channel('target-hook', '/target-hook')
  const targetRule = await rule('target-rule')
  const targetSilence = await create('/api/v1/silences', { matchers: { rule: 'target-rule' }, duration: '6h', comment: 'target' })
  // Events of rules of their own: a PUT of targetRule that changes its selection retires that rule's alerts.
  const ackEvent = await firingEvent(await rule('target-ack-rule'))
  const resolveEvent = await firingEvent(await rule('target-resolve-rule'))

  const ruleBody = (name: string) => ({
    name, description: 'd', metric: 'cpu.usage_percent', aggregation: 'avg', window: '1m', condition: '>', threshold: 90, warning_threshold: 80,
    recovery_threshold: 85, for: '0s', severity: 'critical', agents: [agent.name], labels: { env: 'prod' }, tags: { core: 'total' }, channels: [],
    repeat_interval: '1h', notify_on_resolve: true, enabled: true, annotations: { summary: '{{agent}} at {{value}}' }, interval: '15s', group_wait: '10s',
  })
  const webhook = (name: string, path: string) => ({ name, type: 'webhook', enabled: true, config: { url: `${receiver.url}${path}`, secret: 's3cret', headers: { 'X-Team': 'ops' } } })
  const SAMPLES: Record<string, Record<string, unknown>> = {
    'POST /api/v1/alerts': ruleBody('inj-rule'),
    'POST /api/v1/alerts/preview': ruleBody('inj-preview'),
    'PUT /api/v1/alerts/:id': ruleBody('target-rule'),
    'POST /api/v1/alerts/events/:id/ack': { comment: 'looking', expires_in: '2h' },
    'POST /api/v1/alerts/events/:id/resolve': { comment: 'fixed' },
    'POST /api/v1/silences': { kind: 'maintenance', matchers: { agent: agent.name, severity: 'critical', labels: { env: 'prod' } }, duration: '1h', comment: 'inj' },
    'POST /api/v1/silences/preview': { matchers: { agent: agent.name, rule: 'keep-rule', rule_id: keepRule.id, severity: 'critical', labels: { env: 'prod' } } },
    'PUT /api/v1/silences/:id': { kind: 'silence', matchers: { rule: 'target-rule' }, duration: '2h', comment: 'changed' },
    'POST /api/v1/notification-channels': webhook('inj-hook', '/inj-hook'),
    'PUT /api/v1/notification-channels/:id': webhook('target-hook', '/target-hook'),
  }
  const PARAMS: Record<string, Record<string, string>> = {
    'PUT /api/v1/alerts/:id': { id: targetRule.id },
    'POST /api/v1/alerts/events/:id/ack': { id: ackEvent },
    'POST /api/v1/alerts/events/:id/resolve': { id: resolveEvent },
    'PUT /api/v1/silences/:id': { id: targetSilence.id },
    'PUT /api/v1/notification-channels/:id': { id: targetChannel.id },
    // A real send, to the receiver on loopback: the route runs to its end.
    'POST /api/v1/notification-channels/:id/test': { id: targetChannel.id },
    'GET /api/v1/notification-channels/:id/deliveries': { id: keepChannel.id },
  }

  t.test('control: every sample is a valid body (so injected fields are what gets refused)', async (t) => {
    const preflight: Array<[string, string, Record<string, unknown>, number]> = [
      ['POST', '/api/v1/alerts', { ...SAMPLES['POST /api/v1/alerts'], name: 'preflight-rule' }, 201],
      ['PUT', `/api/v1/alerts/${targetRule.id}`, SAMPLES['PUT /api/v1/alerts/:id'], 200],
      ['POST', `/api/v1/alerts/events/${ackEvent}/ack`, SAMPLES['POST /api/v1/alerts/events/:id/ack'], 200],
      // Its own event: the walk's resolve target must still be firing.
      ['POST', `/api/v1/alerts/events/${await firingEvent(await rule('preflight-resolve-rule'))}/resolve`, SAMPLES['POST /api/v1/alerts/events/:id/resolve'], 200],
      ['POST', '/api/v1/silences', SAMPLES['POST /api/v1/silences'], 201],
      ['POST', '/api/v1/silences/preview', SAMPLES['POST /api/v1/silences/preview'], 200],
      ['PUT', `/api/v1/silences/${targetSilence.id}`, SAMPLES['PUT /api/v1/silences/:id'], 200],
      ['POST', '/api/v1/notification-channels', { ...SAMPLES['POST /api/v1/notification-channels'], name: 'preflight-hook' }, 201],
      ['PUT', `/api/v1/notification-channels/${targetChannel.id}`, SAMPLES['PUT /api/v1/notification-channels/:id'], 200],
    ]
    for (const [method, path, body, status] of preflight) {
      const res = await api.req(method, path, { token: api.adminToken, body })
      t.equal(res.status, status, `${method} ${path}: ${res.status} ${res.text.slice(0, 200)}`)
    }
  })

  const snapshot = async () => JSON.stringify({
    users: await db.selectFrom('users').select(['id', 'org_id', 'username', 'password_hash', 'role']).where('id', 'in', [admin.id, viewer.id]).orderBy('id').execute(),
    sessions: await db.selectFrom('auth_sessions').select(['id', 'revoked_at']).where('user_id', 'in', [admin.id, viewer.id]).orderBy('id').execute(),
    rules: await db.selectFrom('alert_rules').selectAll().where('id', '=', keepRule.id).execute(),
    channels: await db.selectFrom('notification_channels').selectAll().where('id', '=', keepChannel.id).execute(),
    silences: await db.selectFrom('silences').selectAll().where('id', '=', keepSilence.id).execute(),
    events: await db.selectFrom('alert_events').selectAll().where('id', '=', keepEvent).execute(),
    states: await db.selectFrom('alert_states').selectAll().where('rule_id', '=', keepRule.id).execute(),
    notifications: await db.selectFrom('alert_notifications').selectAll().where('event_id', '=', keepEvent).orderBy('id').execute(),
  })
  const before = await snapshot()

  const routes = api.app.registeredRoutes.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && ALERTING_ROUTES.test(r.url))
  t.ok(routes.length >= 24, `${routes.length} alerting and notification routes`)
  for (const key of [...Object.keys(SAMPLES), ...Object.keys(PARAMS)]) t.ok(routes.some((r) => `${r.method} ${r.url}` === key), `${key} is registered (the samples are current)`)

  const { requests, failures } = await injectEverywhere({ api, routes, samples: SAMPLES, params: PARAMS, nested: true, viewerToken: viewer.token })
  t.ok(requests > 3000, `${requests} requests sent`)
  t.same(failures, [], 'no 5xx, and every error in the error format')
  t.equal(await snapshot(), before, 'no row kept aside changed')

  const sent = receiver.received.map((r) => r.path)
  t.ok(sent.length > 0, `the test-sends ran to their end (${sent.length} reached the receiver)`)
  t.same([...new Set(sent)], ['/target-hook'], 'every send went to the target channel on loopback, none elsewhere')
  t.same(lookedUp, [], 'no host name was looked up: injected targets never reached name resolution')
  const changed = await db.selectFrom('alert_events').select(['acknowledged_at', 'state']).where('id', 'in', [ackEvent, resolveEvent]).orderBy('started_at').execute()
  t.ok(changed.some((e) => e.acknowledged_at !== null), 'control: ack bodies reached their target')
  t.ok(changed.some((e) => e.state === 'resolved'), 'control: resolve bodies reached their target')
  t.equal((await api.req('GET', '/api/v1/auth/me', { token: api.adminToken })).status, 200, 'the admin session still works')
})
