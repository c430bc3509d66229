// Two organizations, each with agents, data, users, enrollment tokens, registrations, alert rules,
// notification channels (webhooks to a receiver on 127.0.0.1), silences and alert events with their
// lifecycle and delivery rows. Every route with a path parameter, tried by one organization with the
// other's ids (uuids and names), finds nothing (404, never 403: existence is not revealed) and changes
// nothing; a test-send across the boundary sends nothing; every list, filter and summary answers with none
// of the other organization's identifiers or counts; the other's ids are as unknown as made-up ones when
// referenced from a rule or a silence.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { makeBatch, metric } from '../test-client.ts'
import { loopbackOnlyNotify, startLoopbackReceiver, startClient, unique, upgradeAttempt } from './security-helpers.ts'

const PUBLIC = new Set(['GET /health', 'GET /ready', 'POST /api/v1/auth/login', 'POST /api/v1/auth/refresh', 'POST /api/v1/ingest',
  'POST /api/v1/agents/register', 'GET /api/v1/agents/register/:registration_id', 'GET /assets/:version/:file'])
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** Route families whose handlers must answer 404 to every foreign uuid (400 only for an id of the wrong shape). */
const STRICT = /^\/(api\/v1\/(alerts|silences|notification-channels)|ws)\//

t.test('organization isolation', async (t) => {
  const receiver = await startLoopbackReceiver(t)
  const lookedUp: string[] = []
  const api = await startClient(t, { notify: loopbackOnlyNotify(lookedUp) })
  const orgB = await api.req('POST', '/api/v1/organizations', { token: api.adminToken, body: { name: unique('OrgB'), admin: { username: unique('b-admin'), password: 'b-admin-password' } } })
  t.equal(orgB.status, 201)
  const bAdmin = (await api.login(orgB.body.admin.username, 'b-admin-password')).token

  /** Bodies that pass validation, so the handler itself must find nothing. */
  const BODIES: Record<string, unknown> = {
    'PUT /api/v1/users/:id': { role: 'viewer', password: 'hijacked-password-1', display_name: 'pwned' },
    'POST /api/v1/registrations/:id/reject': { reason: 'cross-org' },
    'PUT /api/v1/alerts/:id': {
      name: 'hijacked-rule', description: 'pwned', metric: 'cpu.usage_percent', aggregation: 'max', window: '5m', condition: '>', threshold: 1,
      for: '0s', severity: 'info', agents: [], labels: {}, tags: {}, channels: [], repeat_interval: null, notify_on_resolve: false, enabled: false,
      annotations: { summary: 'pwned' }, interval: '1m', group_wait: '0s',
    },
    'PUT /api/v1/silences/:id': { matchers: { agent: 'x' }, duration: '1h', comment: 'hijacked' },
    'POST /api/v1/alerts/events/:id/ack': {},
    'POST /api/v1/alerts/events/:id/resolve': {},
    'PUT /api/v1/notification-channels/:id': { name: 'hijacked-channel', type: 'webhook', config: { url: `${receiver.url}/hijacked`, secret: null }, enabled: false },
    'POST /api/v1/notification-channels/:id/test': {},
  }

  async function created(what: string, res: { status: number; text: string; body: any }) {
    if (res.status !== 201) throw new Error(`creating ${what} failed: ${res.status} ${res.text}`)
    return res.body
  }

  async function populate(token: string, orgId: string, tag: string) {
    const agent = (await api.req('POST', '/api/v1/agents', { token, body: { name: `${tag}-web-01`, hostname: `${tag}.example` } })).body
    const ingest = await api.req('POST', '/api/v1/ingest', { apiKey: agent.api_key, body: makeBatch({ metrics: [metric('cpu', 'usage_percent', 42)] }) })
    if (ingest.status !== 202) throw new Error(ingest.text)
    const user = (await api.req('POST', '/api/v1/users', { token, body: { username: unique(`${tag}-viewer`), password: 'viewer-password-1', role: 'viewer' } })).body
    const enroll = (await api.req('POST', '/api/v1/enrollment-tokens', { token, body: { description: `${tag} token` } })).body
    const reg = (await api.req('POST', '/api/v1/agents/register', { body: { token: enroll.token, hostname: `${tag}-pending-host` } })).body
    const hookPath = `/${tag}-hook-path-secret`
    const channel = await created('channel', await api.req('POST', '/api/v1/notification-channels', {
      token, body: { name: `${tag}-hook`, type: 'webhook', config: { url: `${receiver.url}${hookPath}`, secret: `${tag}-hmac-secret` } },
    }))
    const rule = await created('rule', await api.req('POST', '/api/v1/alerts', {
      token, body: { name: `${tag}-cpu-high`, metric: 'cpu.usage_percent', threshold: 90, agents: [agent.name], channels: [channel.id], description: `${tag} rule description` },
    }))
    const silence = await created('silence', await api.req('POST', '/api/v1/silences', { token, body: { matchers: { agent: agent.name }, duration: '1h', comment: `${tag} maintenance` } }))
    // Not started yet: DELETE would remove it outright, so a cross-organization DELETE that got through would show.
    const pendingSilence = await created('pending silence', await api.req('POST', '/api/v1/silences', {
      token, body: { matchers: { rule: rule.name }, starts_at: new Date(Date.now() + 86_400_000).toISOString(), duration: '2h', comment: `${tag} next window` },
    }))
    // A firing event as the evaluator leaves it: the event, its lifecycle row, and a delivered notification.
    const startedAt = new Date(Date.now() - 5 * 60_000)
    const event = await api.store.db.insertInto('alert_events').values({
      org_id: orgId, rule_id: rule.id, rule_name: rule.name, agent_id: agent.id, agent_name: agent.name, severity: 'critical', state: 'firing',
      value: 97.5, threshold: 90, summary: `${tag} cpu at 97.5%`, started_at: startedAt, last_notified_at: startedAt, notification_count: 1,
      series_tags: '{}', annotations: '{}',
    }).returning(['id']).executeTakeFirstOrThrow()
    await api.store.db.insertInto('alert_states').values({
      rule_id: rule.id, agent_id: agent.id, org_id: orgId, series_tags: '{}', state: 'firing', severity: 'critical', value: 97.5,
      pending_since: startedAt, firing_since: startedAt, last_notified_at: startedAt, event_id: event.id,
    }).execute()
    const notification = await api.store.db.insertInto('alert_notifications').values({
      org_id: orgId, event_id: event.id, rule_id: rule.id, channel_id: channel.id, channel_name: channel.name, kind: 'firing', status: 'delivered',
      attempts: 1, group_key: `${rule.id}:${channel.id}:firing`, message_id: randomUUID(), delivered_at: startedAt, last_error: null,
    }).returning(['id']).executeTakeFirstOrThrow()
    return { agent, user, enroll, reg, channel, hookPath, rule, silence, pendingSilence, event, notification }
  }
  const a = await populate(api.adminToken, api.orgId, 'orga')
  const b = await populate(bAdmin, orgB.body.id, 'orgb')

  const snapshotOf = async (orgId: string) => {
    const db = api.store.db
    return JSON.stringify({
      agents: await db.selectFrom('agents').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
      users: await db.selectFrom('users').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
      tokens: await db.selectFrom('enrollment_tokens').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
      registrations: await db.selectFrom('agent_registrations').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
      sessions: await db.selectFrom('auth_sessions').select(['id', 'revoked_at']).where('org_id', '=', orgId).orderBy('id').execute(),
      metrics: (await sql<{ n: number }>`select count(*)::int as n from metrics where org_id = ${orgId}`.execute(db)).rows[0].n,
      rules: await db.selectFrom('alert_rules').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
      channels: await db.selectFrom('notification_channels').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
      silences: await db.selectFrom('silences').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
      events: await db.selectFrom('alert_events').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
      states: await db.selectFrom('alert_states').selectAll().where('org_id', '=', orgId).orderBy('rule_id').orderBy('agent_id').orderBy('series_key').execute(),
      notifications: await db.selectFrom('alert_notifications').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
    })
  }

  for (const [attacker, token, victim] of [['B', bAdmin, a], ['A', api.adminToken, b]] as const) {
    t.test(`organization ${attacker} with the other's ids: 404 everywhere, nothing changed, nothing sent`, async (t) => {
      const victimOrg = victim === a ? api.orgId : orgB.body.id
      const before = await snapshotOf(victimOrg)
      const receivedBefore = receiver.received.length
      const foreignIds = [
        victim.agent.id, victim.agent.name, victim.user.id, victim.enroll.id, victim.reg.registration_id,
        victim.rule.id, victim.rule.name, victim.channel.id, victim.channel.name, victim.silence.id, victim.pendingSilence.id, victim.event.id,
      ]
      const secrets = [victim.agent.hostname ?? '\u0000', victim.user.username, victim.rule.name, victim.channel.name, victim.hookPath, 'hmac-secret', victim.silence.comment, victim.rule.description]
      const routes = api.app.registeredRoutes.filter((r) => r.method !== 'OPTIONS' && r.method !== 'HEAD' && /:/.test(r.url))
      let tried = 0
      for (const r of routes) {
        const key = `${r.method} ${r.url}`
        if (PUBLIC.has(key)) continue
        for (const id of foreignIds) {
          const path = r.url.replace(/:[A-Za-z_]+/g, encodeURIComponent(id))
          const res = await api.req(r.method, path, { token, body: r.method === 'GET' || r.method === 'DELETE' ? undefined : (BODIES[key] ?? {}) })
          tried++
          const label = `${key} with ${id}: ${res.status} ${res.text.slice(0, 160)}`
          if (STRICT.test(r.url)) t.ok(res.status === 404 || (res.status === 400 && !UUID.test(id)), label)
          else if (res.status !== 400) t.equal(res.status, 404, label)
          // An error may quote the id it was given; nothing else of the victim may show.
          t.notOk(secrets.some((s) => !id.includes(s) && res.text.includes(s)), `${key} with ${id} reveals nothing`)
        }
      }
      t.ok(tried >= 200, `${tried} cross-organization requests`)
      for (const id of [victim.agent.id, victim.agent.name]) {
        const ws = await upgradeAttempt(`${api.url}/ws/metrics/${encodeURIComponent(id)}?token=${token}`)
        t.notOk(ws.upgraded, `WS /ws/metrics/${id}: not upgraded`)
        t.equal(ws.status, 404, `WS /ws/metrics/${id}: 404 before the upgrade`)
      }
      t.equal(await snapshotOf(victimOrg), before, "the other organization's rows are unchanged")
      t.same(receiver.received.slice(receivedBefore).map((r) => r.path), [], "no test-send reached the other organization's webhook")
    })
  }

  t.test('lists, filters and summaries show only the own organization', async (t) => {
    const lists = api.app.registeredRoutes.filter((r) => r.method === 'GET' && !/:/.test(r.url) && !PUBLIC.has(`GET ${r.url}`))
    t.ok(lists.length >= 11, `${lists.length} list routes`)
    const aMarkers = [
      a.agent.id, a.agent.name, a.user.id, a.user.username, a.enroll.id, a.reg.registration_id, 'orga-pending-host', api.orgId,
      a.rule.id, a.rule.name, 'orga rule description', a.channel.id, a.channel.name, a.hookPath, 'orga-hmac-secret', a.silence.id, a.pendingSilence.id,
      'orga maintenance', 'orga next window', a.event.id, 'orga cpu at', a.notification.id,
    ]
    const foreignFilters = [
      `/api/v1/alerts/events?rule=${a.rule.id}`, `/api/v1/alerts/events?rule=${encodeURIComponent(a.rule.name)}`,
      `/api/v1/alerts/events?agent=${a.agent.id}`, `/api/v1/alerts/events?agent=${encodeURIComponent(a.agent.name)}`,
      `/api/v1/alerts/events?cursor=${Buffer.from(JSON.stringify({ id: a.event.id })).toString('base64url')}`,
      '/api/v1/alerts/events?state=firing', '/api/v1/alerts?severity=critical', '/api/v1/silences?active=true', '/api/v1/silences?active=false',
    ]
    for (const path of [...lists.map((r) => r.url), ...foreignFilters]) {
      const res = await api.req('GET', path, { token: bAdmin })
      t.ok(res.status < 500, `GET ${path} → ${res.status}`)
      for (const marker of aMarkers) t.notOk(res.text.includes(marker), `GET ${path} shows nothing of organization A (${marker})`)
      if (path.startsWith('/api/v1/alerts/events?') && !path.includes('state=')) t.same(res.body?.events, [], `GET ${path}: no events`)
    }
    const own = await api.req('GET', '/api/v1/registrations', { token: bAdmin })
    t.ok(own.text.includes(b.reg.registration_id), "control: B's own registration is listed")
    for (const [path, id] of [['/api/v1/alerts', b.rule.id], ['/api/v1/notification-channels', b.channel.id], ['/api/v1/silences', b.silence.id], ['/api/v1/alerts/events', b.event.id]]) {
      t.ok((await api.req('GET', path, { token: bAdmin })).text.includes(id), `control: GET ${path} lists B's own ${id}`)
    }
    const summary = await api.req('GET', '/api/v1/alerts/events/summary', { token: bAdmin })
    t.same(summary.body, { firing: { info: 0, warning: 0, critical: 1, total: 1 }, acknowledged: 0, active_silences: 1 }, "the summary counts only B's own alerts and silences")
    for (const matchers of [{ agent: a.agent.name }, { agent: a.agent.id }, { rule: a.rule.name }, { rule_id: a.rule.id }, { severity: 'critical' }]) {
      const preview = await api.req('POST', '/api/v1/silences/preview', { token: bAdmin, body: { matchers } })
      t.equal(preview.status, 200, `preview ${JSON.stringify(matchers)}`)
      t.notOk(aMarkers.some((m) => preview.text.includes(m)), `a silence preview by ${JSON.stringify(matchers)} shows none of A's alerts`)
    }
    for (const path of ['/api/v1/notification-channels', `/api/v1/notification-channels/${b.channel.id}`, `/api/v1/alerts/${b.rule.id}`]) {
      const own = await api.req('GET', path, { token: bAdmin })
      t.ok(own.status === 200 && !own.text.includes(b.hookPath) && !own.text.includes('orgb-hmac-secret'), `GET ${path}: not even the owner sees the webhook URL or secret again`)
    }
    const deliveries = await api.req('GET', `/api/v1/notification-channels/${b.channel.id}/deliveries`, { token: bAdmin })
    t.same(deliveries.body?.deliveries?.map((d: { id: string }) => d.id), [b.notification.id], "control: B's channel shows exactly its own delivery")
  })

  t.test("the other organization's channels, rules and agents are as unknown as made-up ones when referenced", async (t) => {
    const made = randomUUID()
    const rule = (channels: string[]) => api.req('POST', '/api/v1/alerts', { token: bAdmin, body: { name: unique('b-ref'), metric: 'cpu.usage_percent', threshold: 1, channels } })
    const foreignChannel = await rule([a.channel.id])
    const madeChannel = await rule([made])
    t.equal(foreignChannel.status, 400, "a rule cannot notify another organization's channel")
    t.equal(madeChannel.status, 400)
    t.equal(foreignChannel.body?.message?.replace(a.channel.id, 'ID'), madeChannel.body?.message?.replace(made, 'ID'), 'the same answer as for a made-up id')
    const silence = (ruleId: string) => api.req('POST', '/api/v1/silences', { token: bAdmin, body: { matchers: { rule_id: ruleId }, duration: '1h' } })
    const foreignRule = await silence(a.rule.id)
    const madeRule = await silence(made)
    t.equal(foreignRule.status, 400, "a silence cannot name another organization's rule")
    t.equal(foreignRule.body?.message?.replace(a.rule.id, 'ID'), madeRule.body?.message?.replace(made, 'ID'), 'the same answer as for a made-up id')
    for (const foreign of [a.agent.id, a.agent.name]) {
      const made = foreign === a.agent.id ? randomUUID() : unique('made-up-agent')
      const compare = (agents: string) => api.req('GET', `/api/v1/metrics/compare?metric=cpu.usage_percent&agents=${encodeURIComponent(agents)}`, { token: bAdmin })
      const viaQuery = await compare(`${b.agent.name},${foreign}`)
      const madeUp = await compare(`${b.agent.name},${made}`)
      t.equal((await compare(b.agent.name)).status, 200, "control: B's own agent alone is compared")
      t.equal(viaQuery.status, 404, `another organization's agent named in a query string (${foreign === a.agent.id ? 'id' : 'name'}) is not found`)
      t.equal(viaQuery.body?.message?.replace(foreign, 'X'), madeUp.body?.message?.replace(made, 'X'), 'the same answer as for a made-up one')
    }
    const put = await api.req('PUT', `/api/v1/alerts/${b.rule.id}`, { token: bAdmin, body: { name: b.rule.name, metric: 'cpu.usage_percent', threshold: 90, channels: [b.channel.id, a.channel.id] } })
    t.equal(put.status, 400, "B's own rule cannot be pointed at A's channel either")
    t.same((await api.store.db.selectFrom('alert_rules').select('channels').where('id', '=', b.rule.id).executeTakeFirstOrThrow()).channels, [b.channel.id], "B's rule is unchanged")
  })

  t.test('a test-send reaches only the own channel, on loopback, without any name lookup', async (t) => {
    const before = receiver.received.length
    const res = await api.req('POST', `/api/v1/notification-channels/${b.channel.id}/test`, { token: bAdmin, body: {} })
    t.equal(res.status, 200)
    t.equal(res.body?.delivered, true, `delivered (${res.text.slice(0, 200)})`)
    t.same(receiver.received.slice(before).map((r) => r.path), [b.hookPath], "control: B's own test-send arrives at B's webhook only")
    t.same(lookedUp, [], 'no host name was looked up')
  })

  t.test("an enrollment token registers hosts only into its own organization; data of one org's agent never shows in the other", async (t) => {
    const agentOrg = await api.store.db.selectFrom('agents').select('org_id').where('id', '=', b.agent.id).executeTakeFirstOrThrow()
    t.equal(agentOrg.org_id, orgB.body.id)
    const latestA = await api.req('GET', `/api/v1/metrics/latest/${encodeURIComponent(b.agent.name)}`, { token: api.adminToken })
    t.equal(latestA.status, 404)
    const latestB = await api.req('GET', `/api/v1/metrics/latest/${encodeURIComponent(b.agent.name)}`, { token: bAdmin })
    t.equal(latestB.status, 200, 'control: the owner reads it')
    // Same agent name in both organizations: each sees only its own.
    await api.req('POST', '/api/v1/agents', { token: bAdmin, body: { name: a.agent.name } })
    const same = await api.req('GET', `/api/v1/agents/${a.agent.name}`, { token: bAdmin })
    t.not(same.body.id, a.agent.id)
  })
})
