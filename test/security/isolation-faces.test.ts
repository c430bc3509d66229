// Organization isolation on the compatibility faces (seeds 000, 002, 003, 004). Two organizations, each with
// an agent that sent a process snapshot, log lines, a logged-in session and containers, a registration, an
// alert rule, a channel, a firing alert event and a user's dashboard preferences. Every face route with a
// path parameter, called by one organization with the other's identifiers of that kind (hostnames, names,
// integer ids, uuids, session ids, container ids, alone or under its own collector), finds nothing (404, or
// 400 for a body the route refuses first) and changes nothing; every list and filter shows none of the other
// organization's identifiers, and no write names the other's collectors.
import t from 'tap'
import { createHash, randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { makeBatch, metric, minutesAgo } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'
import { PERF_ANALYSIS_PATHS } from '../../services/faces/perf-analysis/perf-analysis-face.ts'
import { loopbackOnlyNotify, startClient, startLoopbackReceiver, unique } from './security-helpers.ts'
import { FACE_ROUTES } from './injection-walk.ts'

const isFaceRoute = (url: string) => FACE_ROUTES.test(url) || PERF_ANALYSIS_PATHS.test(url)

/** Face routes an agent or a registering host calls with its own credential (walked by the route inventory). */
const AGENT_ROUTES = new Set(['POST /api/submit/', 'POST /api/ingest/', 'POST /api/metrics/upload/', 'POST /api/processes/upload/',
  'POST /api/logs/upload_logs/', 'POST /api/agent/register/'])

interface Victim {
  hostname: string; agentName: string; agentNumber: string; agentUuid: string; registrationNumber: string; registrationUuid: string
  logId: string; sessionId: string; eventNumber: string; eventUuid: string; ruleNumber: string; ruleUuid: string; channelNumber: string; channelUuid: string
  /** Seed 004 names a container by its integer id or its runtime id (or a prefix of 12 or more hex digits). */
  containerNumber: string; containerRuntimeId: string
  /** Seed 004's reports: by integer id, and a completed one's file by name. */
  reportNumber: string; reportFile: string
  markers: string[]
}

/**
 * The other organization's identifiers a route's path parameters name: one for every parameter, or one per
 * parameter name (a container of `v` under `v`'s collector and under the caller's own, `own`).
 */
function idsFor(url: string, v: Victim, own: Victim): Array<string | Record<string, string>> {
  if (url.includes(':container_id')) {
    return [v.agentNumber, own.agentNumber].flatMap((collector) => [v.containerNumber, v.containerRuntimeId, v.containerRuntimeId.slice(0, 12)]
      .map((container) => ({ id: collector, container_id: container })))
  }
  if (url.startsWith('/dashboard/api/collectors/')) return [v.agentNumber, v.agentUuid, v.agentName]
  if (url.startsWith('/api/v1/reports/')) return [v.reportNumber]
  if (url.startsWith('/media/reports/')) return [v.reportFile]
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
    const runtimeId = createHash('sha256').update(tag).digest('hex')
    const agent = (await api.req('POST', '/api/v1/agents', { token, body: { name: `${tag}-box`, hostname } })).body
    const submitted = await api.req('POST', '/api/submit/', { apiKey: agent.api_key, body: {
      hostname, processes: [{ pid: 1, name: `${tag}-init`, cmdline: `${tag}-cmdline`, cpu_percent: 1, memory_percent: 1, memory_rss: 1, memory_vms: 1 }],
    } })
    if (submitted.status !== 201) throw new Error(submitted.text)
    const batch = {
      ...makeBatch({ metrics: [metric('cpu', 'usage_percent', 42)] }), host: { hostname },
      sessions: [{ user: `${tag}-user`, terminal: 'pts/0', host: '10.0.0.1', pid: 4242, login_time: minutesAgo(30) }],
      logs: [{ source: `${tag}-syslog`, level: 'error' as const, message: `${tag} disk failing` }],
      containers: [{ id: runtimeId, name: `${tag}-nginx`, image: `${tag}/nginx:1`, state: 'running', cpu_percent: 5, memory_bytes: 1 << 28, memory_percent: 12.5, rx_bytes: 1, tx_bytes: 2 }],
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
    const container = await db.selectFrom('containers').select('id').where('org_id', '=', orgId).where('container_id', '=', runtimeId).executeTakeFirstOrThrow()
    const preferences = await api.req('POST', '/dashboard/preferences/', { token, body: { chart_theme: 'dark', default_collector_id: Number(await num('agents', agent.id)) } })
    if (preferences.status !== 200) throw new Error(`preferences: ${preferences.status} ${preferences.text}`)
    const asked = await api.req('POST', '/api/v1/reports/generate/', { token, body: { collector_id: Number(await num('agents', agent.id)), time_range_hours: 1 } })
    if (asked.status !== 202) throw new Error(`report: ${asked.status} ${asked.text}`)
    const report = await waitFor('the report completed', async () => {
      const r = (await api.req('GET', `/api/v1/reports/${asked.body.id}/`, { token })).body
      return r.status === 'completed' && r
    }, 60_000, 200)
    return {
      hostname, agentName: agent.name, agentNumber: await num('agents', agent.id), agentUuid: agent.id,
      registrationNumber: await num('agent_registrations', registration.id), registrationUuid: registration.id,
      logId: String(log.id), sessionId, eventNumber: String(event.number), eventUuid: event.id,
      ruleNumber: await num('alert_rules', rule.id), ruleUuid: rule.id, channelNumber: await num('notification_channels', channel.id), channelUuid: channel.id,
      containerNumber: String(container.id), containerRuntimeId: runtimeId,
      reportNumber: String(report.id), reportFile: report.file_url.split('/').pop(),
      markers: [`${tag}-nginx`, `${tag}/nginx:1`, runtimeId.slice(0, 12), hostname, agent.name, agent.id, `${tag}-init`, `${tag}-cmdline`, `${tag}-user`, `${tag} disk failing`, `${tag}-syslog`, `${tag}-pending.example`,
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
    containers: await db.selectFrom('containers').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
    preferences: await db.selectFrom('user_preferences').selectAll().where('org_id', '=', orgId).orderBy('user_id').execute(),
    reports: await db.selectFrom('reports').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
    counts: (await sql<{ n: string }>`select (select count(*) from logs where org_id = ${orgId})::text || '/' || (select count(*) from process_snapshots where org_id = ${orgId})::text
      || '/' || (select count(*) from user_sessions where org_id = ${orgId})::text || '/' || (select count(*) from metrics where org_id = ${orgId})::text as n`.execute(db)).rows[0].n,
  })

  const routes = api.app.registeredRoutes.filter((r) => r.method !== 'OPTIONS' && r.method !== 'HEAD' && isFaceRoute(r.url) && /:/.test(r.url)
    && !AGENT_ROUTES.has(`${r.method} ${r.url}`))
  t.ok(routes.length >= 35, `${routes.length} face routes with a path parameter`)
  for (const r of routes) t.ok(idsFor(r.url, a, b).length > 0, `${r.method} ${r.url}: the walk knows which identifiers it takes`)

  for (const [attacker, token, victim, own, victimOrg] of [['B', bAdmin, a, b, () => api.orgId], ['A', api.adminToken, b, a, () => orgB.body.id]] as const) {
    t.test(`organization ${attacker} with the other's identifiers: 404, nothing changed`, async (t) => {
      const before = await rowsOf(victimOrg())
      for (const r of routes) {
        for (const id of idsFor(r.url, victim, own)) {
          const path = r.url.replace(/:([A-Za-z_]+)/g, (_m, name: string) => encodeURIComponent(typeof id === 'string' ? id : id[name]))
          const named = typeof id === 'string' ? id : Object.values(id).join(' ')
          const res = await api.req(r.method, path, { token, body: r.method === 'GET' || r.method === 'DELETE' ? undefined : {} })
          const label = `${r.method} ${r.url} with ${named}: ${res.status} ${res.text.slice(0, 160)}`
          t.ok(res.status === 404 || (res.status === 400 && r.method !== 'GET' && r.method !== 'DELETE'), label)
          t.notOk(victim.markers.some((m) => !named.includes(m) && res.text.includes(m)), `${r.method} ${r.url} with ${named} reveals nothing`)
        }
      }
      // Seed 004's writes that name a collector: refused when it is the other organization's.
      const otherCollector = Number(victim.agentNumber)
      const preferences = await api.req('POST', '/dashboard/preferences/', { token, body: { default_collector_id: otherCollector } })
      t.equal(preferences.status, 422, `POST /dashboard/preferences/ with the other's collector ${otherCollector}: ${preferences.status} ${preferences.text.slice(0, 160)}`)
      const report = await api.req('POST', '/api/v1/reports/generate/', { token, body: { collector_id: otherCollector } })
      t.equal(report.status, 422, `POST /api/v1/reports/generate/ with the other's collector ${otherCollector}: ${report.status} ${report.text.slice(0, 160)}`)
      t.equal(await rowsOf(victimOrg()), before, "the other organization's rows are unchanged")
    })
  }

  t.test('lists and filters show only the own organization', async (t) => {
    const lists = api.app.registeredRoutes.filter((r) => r.method === 'GET' && isFaceRoute(r.url) && !/:/.test(r.url)).map((r) => r.url)
    const filters = [
      `/dashboard/api/compare/?collectors=${a.agentNumber}`, `/dashboard/api/compare/?collectors=${b.agentNumber},${a.agentNumber}&hours=1`,
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
      ['/api/sessions/', 'orgb-user'], ['/api/registrations/', 'orgb-pending.example'], ['/api/alerts/', b.eventUuid], ['/dashboard/api/collectors/', b.hostname],
      [`/dashboard/api/collectors/${b.agentNumber}/containers/`, 'orgb-nginx']] as const) {
      const own = await api.req('GET', path, { token: bAdmin })
      t.ok(own.text.includes(marker), `control: GET ${path} lists B's own ${marker}: ${own.status} ${own.text.slice(0, 300)}`)
    }
    t.equal((await api.req('GET', `/api/thresholds/${randomUUID()}/`, { token: bAdmin })).status, 404, 'control: a made-up id is a 404 too')
    // Seed 004 answers collectors by number: B's own ones only, and its defaults never name one of A's.
    t.same((await api.req('GET', '/dashboard/api/collectors/', { token: bAdmin })).body.map((c: { id: number }) => String(c.id)), [b.agentNumber], "B's collectors are B's own")
    t.equal(String((await api.req('GET', '/dashboard/preferences/', { token: bAdmin })).body.default_collector_id), b.agentNumber, "B's default collector is B's own")
    const ownContainer = await api.req('GET', `/dashboard/api/collectors/${b.agentNumber}/containers/${b.containerRuntimeId}/cpu/?hours=1`, { token: bAdmin })
    t.equal(ownContainer.status, 200, `control: B reads its own container by runtime id: ${ownContainer.status} ${ownContainer.text.slice(0, 160)}`)
  })
})
