// Seed 003's read-only viewsets over the native reads: system logs (services/logs/log-reads.ts), user
// sessions (query/session-reads.ts), host metrics (query/host-sample-reads.ts) and the newest process list
// (query/process-reads.ts), DRF-paginated; and the CSRF token its React front end asks for.
import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { AgentManagementOptions } from './face-options.ts'
import { PageOf, PageQuery, pageOf, pageWindow } from './drf.ts'
import {
  AgentNumberQuery, DRF_ERRORS, HoursQuery, NumberParam, SessionOut, hoursWindow, parseSessionId, sessionJson, sessionMatches,
} from './seed-shapes.ts'
import { principalOf } from '../../auth/auth-plugin.ts'
import { DomainError, invalidField } from '../../errors/domain-error.ts'
import { Nullable, Time } from '../../http/response-schemas.ts'
import { agentsByIds, findAgentByHostname, findAgentByNumber, type AgentRow } from '../../agents/agents-repository.ts'
import { getLog, listLogsPage, LOG_SEVERITY, type LogRow } from '../../logs/log-reads.ts'
import { listSessionsPage, sessionsLoggedInAt } from '../../query/session-reads.ts'
import { listHostSamples, type HostSample } from '../../query/host-sample-reads.ts'
import { readLatestSnapshotProcesses } from '../../query/process-reads.ts'
import type { LogLevel } from '../../store/database.ts'

const Text = Nullable(Type.String())
const Num = Nullable(Type.Number())

const LogOut = Type.Object({
  id: Type.Integer(), agent: Nullable(Type.Integer({ description: "the agent's id (null once it is deleted)" })), hostname: Text,
  timestamp: Time, level: Type.String(), source: Type.String(), message: Type.String(), fields: Type.Object({}, { additionalProperties: true }),
})
const HostMetricOut = Type.Object({
  id: Type.String({ description: '<agent id>-<time in ms>: one collection instant of one agent' }), agent: Type.Integer(), hostname: Text, timestamp: Time,
  cpu_usage: Num, memory_usage: Num, memory_total: Num, memory_used: Num, disk_usage: Num, network_in: Num, network_out: Num,
})
const ProcessOut = Type.Object({
  pid: Type.Integer(), ppid: Nullable(Type.Integer()), name: Type.String(), cmdline: Type.String(), username: Text, status: Text,
  cpu_percent: Type.Number(), memory_percent: Type.Number(), memory_rss: Type.Number(), memory_vms: Num, num_threads: Nullable(Type.Integer()),
  create_time: Nullable(Time), timestamp: Time, snapshot_id: Type.Integer(),
})

const LogsQuery = Type.Object({
  ...PageQuery, agent_id: Type.Optional(AgentNumberQuery), hours: Type.Optional(HoursQuery),
  level: Type.Optional(Type.String({ maxLength: 16, description: `${LOG_SEVERITY.join(', ')} (any case): this level and more severe ones` })),
  source: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  search: Type.Optional(Type.String({ maxLength: 256, description: 'case-insensitive substring of the message' })),
})
const WindowQuery = Type.Object({ ...PageQuery, agent_id: Type.Optional(AgentNumberQuery), hours: Type.Optional(HoursQuery) })

export const readsRoutes: FastifyPluginAsyncTypebox<AgentManagementOptions> = async (app) => {
  const db = app.store.db

  /** `?agent_id=`: the agent's uuid, or null when the organization has no agent of that number (an empty page, as a DRF filter gives). */
  async function agentFilter(orgId: string, number: number | undefined): Promise<{ agentId?: string } | null> {
    if (number === undefined) return {}
    const agent = await findAgentByNumber(db, orgId, number)
    return agent ? { agentId: agent.id } : null
  }
  /** The agents a page of rows names, by uuid. */
  async function agentsOf(orgId: string, ids: string[]): Promise<Map<string, AgentRow>> {
    return new Map((await agentsByIds(db, orgId, ids)).map((a) => [a.id, a]))
  }
  const empty = (request: FastifyRequest, q: PageQuery) => pageOf(request, q, 0, [])

  const logJson = (agents: Map<string, AgentRow>) => (l: LogRow) => {
    const agent = agents.get(l.agent_id)
    return {
      id: l.id, agent: agent?.number ?? null, hostname: agent?.hostname ?? null, timestamp: l.time.toISOString(), level: l.level, source: l.source,
      message: l.message, fields: l.fields,
    }
  }

  app.get('/api/logs/', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Seed 003: system logs of the last `hours` (default 24), newest first', tags: ['seed-003'],
      querystring: LogsQuery, response: { 200: PageOf(LogOut), ...DRF_ERRORS },
    },
  }, async (request) => {
    const q = request.query
    const { orgId } = principalOf(request)
    const level = q.level?.toLowerCase()
    if (level !== undefined && !(LOG_SEVERITY as readonly string[]).includes(level)) throw invalidField('level', `must be one of ${LOG_SEVERITY.join(', ')}`)
    const agent = await agentFilter(orgId, q.agent_id)
    if (!agent) return empty(request, q)
    const { limit, offset } = pageWindow(q)
    const { logs, total } = await listLogsPage(db, {
      orgId, ...agent, ...hoursWindow(q.hours), level: level as LogLevel | undefined, source: q.source, q: q.search, limit, offset,
    })
    return pageOf(request, q, total, logs.map(logJson(await agentsOf(orgId, logs.map((l) => l.agent_id)))))
  })

  app.get('/api/logs/:id/', {
    onRequest: app.authenticate,
    schema: { summary: 'Seed 003: one log line', tags: ['seed-003'], params: NumberParam, response: { 200: LogOut, ...DRF_ERRORS } },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const n = /^\d{1,15}$/.test(request.params.id) ? Number(request.params.id) : NaN
    if (!(n >= 1)) throw new DomainError('not_found', `Log ${JSON.stringify(request.params.id)} not found.`)
    const log = await getLog(db, orgId, n)
    return logJson(await agentsOf(orgId, [log.agent_id]))(log)
  })

  app.get('/api/sessions/', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Seed 003: user sessions seen logged in during the last `hours` (default 24), newest login first', tags: ['seed-003'],
      querystring: WindowQuery, response: { 200: PageOf(SessionOut), ...DRF_ERRORS },
    },
  }, async (request) => {
    const q = request.query
    const { orgId } = principalOf(request)
    const agent = await agentFilter(orgId, q.agent_id)
    if (!agent) return empty(request, q)
    const { sessions, total } = await listSessionsPage(db, { orgId, ...agent, ...hoursWindow(q.hours), ...pageWindow(q) })
    const agents = await agentsOf(orgId, sessions.map((s) => s.agent_id))
    // A session's agent may be deleted between the two reads: its rows went with it.
    return pageOf(request, q, total, sessions.filter((s) => agents.has(s.agent_id)).map((s) => sessionJson(agents.get(s.agent_id)!, s)))
  })

  app.get('/api/sessions/:id/', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Seed 003: one user session', tags: ['seed-003'],
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }), response: { 200: SessionOut, ...DRF_ERRORS },
    },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const notFound = new DomainError('not_found', `Session ${JSON.stringify(request.params.id)} not found.`)
    const id = parseSessionId(request.params.id)
    const agent = id && await findAgentByNumber(db, orgId, id.agentNumber)
    if (!id || !agent) throw notFound
    const session = (await sessionsLoggedInAt(db, { orgId, agentId: agent.id, loginTime: id.loginTime })).find((s) => sessionMatches(s, id.key))
    if (!session) throw notFound
    return sessionJson(agent, session)
  })

  const sampleJson = (agents: Map<string, AgentRow>) => (s: HostSample) => {
    const agent = agents.get(s.agent_id)!
    return {
      id: `${agent.number}-${s.time.getTime()}`, agent: agent.number, hostname: agent.hostname, timestamp: s.time.toISOString(),
      cpu_usage: s.cpu_usage, memory_usage: s.memory_usage, memory_total: s.memory_total, memory_used: s.memory_used,
      disk_usage: s.disk_usage, network_in: s.network_in, network_out: s.network_out,
    }
  }

  app.get('/api/metrics/', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Seed 003: host metrics of the last `hours` (default 24), one row per collection, newest first', tags: ['seed-003'],
      querystring: WindowQuery, response: { 200: PageOf(HostMetricOut), ...DRF_ERRORS },
    },
  }, async (request) => {
    const q = request.query
    const { orgId } = principalOf(request)
    const agent = await agentFilter(orgId, q.agent_id)
    if (!agent) return empty(request, q)
    const { samples, total } = await listHostSamples(db, { orgId, ...agent, ...hoursWindow(q.hours), ...pageWindow(q) })
    const agents = await agentsOf(orgId, samples.map((s) => s.agent_id))
    return pageOf(request, q, total, samples.filter((s) => agents.has(s.agent_id)).map(sampleJson(agents)))
  })

  app.get('/api/processes/list/', {
    onRequest: app.authenticate,
    schema: {
      summary: "Seed 003: a host's newest process list, by CPU then memory", tags: ['seed-003'],
      querystring: Type.Object({ ...PageQuery, hostname: Type.String({ minLength: 1, maxLength: 255 }) }), response: { 200: PageOf(ProcessOut), ...DRF_ERRORS },
    },
  }, async (request) => {
    const q = request.query
    const { orgId } = principalOf(request)
    const agent = await findAgentByHostname(db, orgId, q.hostname)
    if (!agent) throw new DomainError('not_found', `No agent has hostname "${q.hostname}".`)
    const latest = await readLatestSnapshotProcesses(db, { orgId, agentId: agent.id })
    if (!latest) return empty(request, q)
    const { snapshot, processes } = latest
    const sorted = [...processes].sort((a, b) => b.cpu_percent - a.cpu_percent || b.memory_bytes - a.memory_bytes || a.pid - b.pid)
    const { offset, limit } = pageWindow(q)
    return pageOf(request, q, sorted.length, sorted.slice(offset, offset + limit).map((p) => ({
      pid: p.pid, ppid: p.parent_pid, name: p.name, cmdline: p.cmdline, username: p.username, status: p.status, cpu_percent: p.cpu_percent,
      memory_percent: p.memory_percent, memory_rss: p.memory_bytes, memory_vms: p.memory_vms, num_threads: p.num_threads,
      create_time: p.create_time?.toISOString() ?? null, timestamp: snapshot.time.toISOString(), snapshot_id: Number(snapshot.snapshot_id),
    })))
  })

  // The seed's React front end fetches a CSRF token before it writes. hostpulse authenticates with bearer
  // tokens in the Authorization header, which a browser never adds by itself to a cross-site request, so
  // CSRF does not apply to them: the token is answered for compatibility, protects nothing and is checked
  // nowhere — no cookie is ever a credential here, so nothing is weakened.
  app.get('/api/csrf/', {
    schema: {
      summary: 'Seed 003: a CSRF token for the seed\'s front end (bearer-token requests need none)', tags: ['seed-003'],
      response: { 200: Type.Object({ csrfToken: Type.String() }) },
    },
  }, async (request, reply) => {
    const token = randomBytes(32).toString('hex')
    void reply.header('set-cookie', `csrftoken=${token}; Path=/; SameSite=Lax${request.protocol === 'https' ? '; Secure' : ''}`)
    return { csrfToken: token }
  })

}
