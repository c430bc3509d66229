// Organization isolation on the compatibility faces (seeds 000, 002, 003). Two organizations, each with an
// agent that sent a process snapshot, log lines and a logged-in session, a registration, an alert rule, a
// channel and a firing alert event. Every face route with a path parameter, called by one organization
// with the other's identifiers of that kind (hostnames, names, integer ids, uuids, session ids), finds
// nothing (404, or 400 for a body the route refuses first) and changes nothing; every list and filter
// shows none of the other organization's identifiers.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { makeBatch, metric, minutesAgo } from '../test-client.ts'
import { loopbackOnlyNotify, startClient, startLoopbackReceiver, unique } from './security-helpers.ts'
import { FACE_ROUTES } from './injection-walk.ts'

/** Face routes an agent or a registering host calls with its own credential (walked by the route inventory). */
const AGENT_ROUTES = new Set(['POST /api/submit/', 'POST /api/ingest/', 'POST /api/metrics/upload/', 'POST /api/processes/upload/',
  'POST /api/logs/upload_logs/', 'POST /api/agent/register/'])

interface Victim {
  hostname: string; agentName: string; agentNumber: string; agentUuid: string; registrationNumber: string; registrationUuid: string
  logId: string; sessionId: string; eventNumber: string; eventUuid: string; ruleNumber: string; ruleUuid: string; channelNumber: string; channelUuid: string
  markers: string[]
}

/** The other organization's identifiers a route's path parameter names. */
function idsFor(url: string, v: Victim): string[] {
  if (url.includes(':hostname')) return [v.hostname, v.agentName]
  if (url.startsWith('/api/agents/')) return [v.agentNumber, v.agentUuid, v.agentName]
  if (url.startsWith('/api/registrations/')) return [v.registrationNumber, v.registrationUuid]
  if (url.startsWith('/api/logs/')) return [v.logId]
  if (url.startsWith('/api/sessions/')) return [v.sessionId]
  if (url.startsWith('/api/alerts/')) return [v.eventNumber, v.eventUuid]
  if (url.startsWith('/api/thresholds/')) return [v.ruleNumber, v.ruleUuid]
  if (url.startsWith('/api/notifications/')) return [v.channelNumber, v.channelUuid]
  return []
}

t.test('organization isolation on the compatibility faces', async (t) => {
  const receiver = await startLoopbackReceiver(t)
  const api = await startClient(t, { notify: loopbackOnlyNotify() })
  const db = api.store.db
  const orgB = await api.req('POST', '/api/v1/organizations', { token: api.adminToken, body: { name: unique('OrgB'), admin: { username: unique('b-admin'), password: 'b-admin-password' } } })
  t.equal(orgB.status, 201)
  const bAdmin = (await api.login(orgB.body.admin.username, 'b-admin-password')).token

  async function populate(token: string, orgId: string, tag: string): Promise<Victim> {
    const hostname = `${tag}-host.example`
    const agent = (await api.req('POST', '/api/v1/agents', { token, body: { name: `${tag}-box`, hostname } })).body
    const submitted = await api.req('POST', '/api/submit/', { apiKey: agent.api_key, body: {
      hostname, processes: [{ pid: 1, name: `${tag}-init`, cmdline: `${tag}-cmdline`, cpu_percent: 1, memory_percent: 1, memory_rss: 1, memory_vms: 1 }],
    } })
    if (submitted.status !== 201) throw new Error(submitted.text)
    const batch = {
      ...makeBatch({ metrics: [metric('cpu', 'usage_percent', 42)] }), host: { hostname },
      sessions: [{ user: `${tag}-user`, terminal: 'pts/0', host: '10.0.0.1', pid: 4242, login_time: minutesAgo(30) }],
      logs: [{ source: `${tag}-syslog`, level: 'error' as const, message: `${tag} disk failing` }],
    }
    const ingested = await api.req('POST', '/api/v1/ingest', { apiKey: agent.api_key, body: batch })
    if (ingested.status !== 202) throw new Error(ingested.text)
    const enroll = (await api.req('POST', '/api/v1/enrollment-tokens', { token, body: { description: `${tag} token` } })).body
    const reg = await api.req('POST', '/api/agent/register/', { headers: { 'x-enrollment-token': enroll.token }, body: { hostname: `${tag}-pending.example` } })
    if (reg.status >= 300) throw new Error(`register: ${reg.status} ${reg.text}`)
    const channel = (await api.req('POST', '/api/v1/notification-channels', {
      token, body: { name: `${tag}-channel`, type: 'webhook', config: { url: `${receiver.url}/${tag}-hooks-path` } },
    })).body
    const rule = (await api.req('POST', '/api/v1/alerts', { token, body: { name: `${tag}-cpu-rule`, metric: 'cpu.usage_percent', threshold: 90, agents: [agent.name] } })).body
    if (!rule.id || !channel.id) throw new Error(`rule or channel: ${JSON.stringify({ rule, channel })}`)
    const startedAt = new Date(Date.now() - 5 * 60_000)
    const event = await db.insertInto('alert_events').values({
      org_id: orgId, rule_id: rule.id, rule_name: rule.name, agent_id: agent.id, agent_name: agent.name, severity: 'critical', state: 'firing',
      value: 97.5, threshold: 90, summary: `${tag} cpu at 97.5%`, started_at: startedAt, last_notified_at: startedAt, notification_count: 1,
      series_tags: '{}', annotations: '{}',
    }).returning(['id', 'number']).executeTakeFirstOrThrow()
    const num = async (table: 'agents' | 'agent_registrations' | 'alert_rules' | 'notification_channels', id: string) =>
      String((await sql<{ number: number }>`select number from ${sql.table(table)} where id = ${id}`.execute(db)).rows[0].number)
    const registration = await db.selectFrom('agent_registrations').select(['id']).where('org_id', '=', orgId).where('hostname', '=', `${tag}-pending.example`).executeTakeFirstOrThrow()
    const log = await db.selectFrom('logs').select('id').where('org_id', '=', orgId).executeTakeFirstOrThrow()
    const sessions = await api.req('GET', '/api/sessions/', { token })
    const sessionId = sessions.body?.results?.[0]?.id
    if (typeof sessionId !== 'string') throw new Error(`sessions: ${sessions.status} ${sessions.text}`)
    return {
      hostname, agentName: agent.name, agentNumber: await num('agents', agent.id), agentUuid: agent.id,
      registrationNumber: await num('agent_registrations', registration.id), registrationUuid: registration.id,
      logId: String(log.id), sessionId, eventNumber: String(event.number), eventUuid: event.id,
      ruleNumber: await num('alert_rules', rule.id), ruleUuid: rule.id, channelNumber: await num('notification_channels', channel.id), channelUuid: channel.id,
      markers: [hostname, agent.name, agent.id, `${tag}-init`, `${tag}-cmdline`, `${tag}-user`, `${tag} disk failing`, `${tag}-syslog`, `${tag}-pending.example`,
        registration.id, rule.name, rule.id, channel.name, channel.id, `${tag}-hooks-path`, `${tag} cpu at`, event.id],
    }
  }
  const a = await populate(api.adminToken, api.orgId, 'orga')
  const b = await populate(bAdmin, orgB.body.id, 'orgb')

  const rowsOf = async (orgId: string) => JSON.stringify({
    agents: await db.selectFrom('agents').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
    registrations: await db.selectFrom('agent_registrations').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
    rules: await db.selectFrom('alert_rules').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
    channels: await db.selectFrom('notification_channels').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
    events: await db.selectFrom('alert_events').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
    counts: (await sql<{ n: string }>`select (select count(*) from logs where org_id = ${orgId})::text || '/' || (select count(*) from process_snapshots where org_id = ${orgId})::text
      || '/' || (select count(*) from user_sessions where org_id = ${orgId})::text || '/' || (select count(*) from metrics where org_id = ${orgId})::text as n`.execute(db)).rows[0].n,
  })

  const routes = api.app.registeredRoutes.filter((r) => r.method !== 'OPTIONS' && r.method !== 'HEAD' && FACE_ROUTES.test(r.url) && /:/.test(r.url)
    && !AGENT_ROUTES.has(`${r.method} ${r.url}`))
  t.ok(routes.length >= 25, `${routes.length} face routes with a path parameter`)
  for (const r of routes) t.ok(idsFor(r.url, a).length > 0, `${r.method} ${r.url}: the walk knows which identifiers it takes`)

  for (const [attacker, token, victim, victimOrg] of [['B', bAdmin, a, () => api.orgId], ['A', api.adminToken, b, () => orgB.body.id]] as const) {
    t.test(`organization ${attacker} with the other's identifiers: 404, nothing changed`, async (t) => {
      const before = await rowsOf(victimOrg())
      for (const r of routes) {
        for (const id of idsFor(r.url, victim)) {
          const path = r.url.replace(/:[A-Za-z_]+/g, encodeURIComponent(id))
          const res = await api.req(r.method, path, { token, body: r.method === 'GET' || r.method === 'DELETE' ? undefined : {} })
          const label = `${r.method} ${r.url} with ${id}: ${res.status} ${res.text.slice(0, 160)}`
          t.ok(res.status === 404 || (res.status === 400 && r.method !== 'GET' && r.method !== 'DELETE'), label)
          t.notOk(victim.markers.some((m) => !id.includes(m) && res.text.includes(m)), `${r.method} ${r.url} with ${id} reveals nothing`)
        }
      }
      t.equal(await rowsOf(victimOrg()), before, "the other organization's rows are unchanged")
    })
  }

  t.test('lists and filters show only the own organization', async (t) => {
    const lists = api.app.registeredRoutes.filter((r) => r.method === 'GET' && FACE_ROUTES.test(r.url) && !/:/.test(r.url)).map((r) => r.url)
    const filters = [
      `/api/latest?hostname=${a.hostname}`, `/api/processes/list/?hostname=${a.hostname}`, `/api/agent/config/?hostname=${a.hostname}`,
      `/api/logs/?agent_id=${a.agentNumber}`, `/api/metrics/?agent_id=${a.agentNumber}`, `/api/alerts/?agent=${a.agentNumber}`,
      `/api/logs/?agent_id=${a.agentNumber}&hours=720`, '/api/alerts/?resolved=false', '/api/registrations/?page=1',
    ]
    for (const path of [...lists, ...filters]) {
      const res = await api.req('GET', path, { token: bAdmin })
      t.ok(res.status < 500, `GET ${path} → ${res.status}`)
      // A 404 may quote the hostname it was asked for; nothing else of A may show.
      for (const marker of a.markers) if (!path.includes(marker)) t.notOk(res.text.includes(marker), `GET ${path} shows nothing of organization A (${marker})`)
    }
    for (const [path, marker] of [['/api/hosts/', b.hostname], ['/api/agents/', b.agentName], ['/api/logs/', 'orgb disk failing'],
      ['/api/sessions/', 'orgb-user'], ['/api/registrations/', 'orgb-pending.example'], ['/api/alerts/', b.eventUuid]] as const) {
      const own = await api.req('GET', path, { token: bAdmin })
      t.ok(own.text.includes(marker), `control: GET ${path} lists B's own ${marker}: ${own.status} ${own.text.slice(0, 300)}`)
    }
    t.equal((await api.req('GET', `/api/thresholds/${randomUUID()}/`, { token: bAdmin })).status, 404, 'control: a made-up id is a 404 too')
  })
})
