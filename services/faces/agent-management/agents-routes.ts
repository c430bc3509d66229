// Seed 003's MonitoringAgentViewSet over the native agents: list/create, retrieve/update/delete by the
// agent's integer number, statistics, activate/deactivate/approve, and the agent's configuration — the same
// one the hostpulse agent fetches (GET /api/v1/agents/self/config), by number or by hostname.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { AgentManagementOptions } from './face-options.ts'
import { PageOf, PageQuery, pageOf, pageWindow } from './drf.ts'
import {
  AgentConfigOut, AgentOut, DRF_ERRORS, DRF_WRITE_ERRORS, DrfError, NumberParam, agentConfigJson, agentJson, hoursWindow, numberFrom, statusFor,
} from './seed-shapes.ts'
import { agentByHostname, byHostname } from './upload-auth.ts'
import { principalOf } from '../../auth/auth-plugin.ts'
import { agentNameFor } from '../../auth/enrollment.ts'
import { userActor, writeAudit } from '../../audit/audit-log.ts'
import { DomainError, invalidField } from '../../errors/domain-error.ts'
import { NoContent } from '../../http/response-schemas.ts'
import {
  agentConfig, agentCounts, createAgent, findAgent, findAgentByHostname, findAgentByNumber, listAgents, updateAgent, type AgentChanges, type AgentRow, type NewAgentFields,
} from '../../agents/agents-repository.ts'
import { agentFromApiKey } from '../../agents/agent-key-auth.ts'
import { countPendingRegistrations } from '../../agents/enrollment-repository.ts'
import { deleteAgent } from '../../alerting/agent-deletion.ts'
import { eventsSummary } from '../../alerting/events-repository.ts'
import { listLogsPage } from '../../logs/log-reads.ts'
import type { AgentRemoteConfig } from '../../../contract/agent-config.ts'
import type { AgentStatus, Database } from '../../store/database.ts'
import type { Kysely } from 'kysely'

const OptionalText = (max: number) => Type.Optional(Type.String({ maxLength: max }))
const Hostname = Type.String({ minLength: 1, maxLength: 255 })
const AgentName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' })
const Labels = Type.Record(Type.String({ minLength: 1, maxLength: 64 }), Type.String({ maxLength: 256 }), { maxProperties: 64 })

/** The writable fields; read-only ones a client sends back (id, uuid, created_at, …) are ignored, as DRF does. */
const Writable = {
  name: Type.Optional(AgentName), ip_address: OptionalText(64), os: OptionalText(128), os_version: OptionalText(128), agent_version: OptionalText(64),
  labels: Type.Optional(Labels), is_active: Type.Optional(Type.Boolean()), is_approved: Type.Optional(Type.Boolean()),
}
const CreateBody = Type.Object({ hostname: Hostname, ...Writable }, { additionalProperties: true })
const PutBody = CreateBody
const PatchBody = Type.Object({ hostname: Type.Optional(Hostname), ...Writable }, { additionalProperties: true })
type Fields = { hostname?: string; name?: string; ip_address?: string; os?: string; os_version?: string; agent_version?: string; labels?: Record<string, string> }

const StatsOut = Type.Object({
  total_agents: Type.Integer(), active_agents: Type.Integer(), inactive_agents: Type.Integer(), approved_agents: Type.Integer(),
  pending_agents: Type.Integer({ description: 'agents not approved yet' }), online_agents: Type.Integer(), offline_agents: Type.Integer(),
  pending_registrations: Type.Integer(), recent_logs: Type.Integer({ description: 'log lines of the last 24 hours' }),
  active_alerts: Type.Integer({ description: 'alerts firing now' }),
})

/** The native columns a seed body may change (the booleans become the status). */
const nativeFields = (b: Fields): AgentChanges => {
  const out: AgentChanges = {}
  for (const k of ['hostname', 'name', 'ip_address', 'os', 'os_version', 'agent_version', 'labels'] as const) if (b[k] !== undefined) (out as Record<string, unknown>)[k] = b[k]
  return out
}

/** Seed 003 keeps hostnames unique, and native names are unique: a taken one is a 400 on that field. */
async function checkUnique(db: Kysely<Database>, orgId: string, fields: AgentChanges, self?: AgentRow): Promise<void> {
  if (fields.hostname !== undefined && fields.hostname !== self?.hostname) {
    const other = await findAgentByHostname(db, orgId, fields.hostname)
    if (other && other.id !== self?.id) throw invalidField('hostname', 'an agent with this hostname already exists')
  }
  if (fields.name !== undefined && fields.name !== self?.name) {
    const other = await findAgent(db, orgId, fields.name)
    if (other && other.id !== self?.id) throw invalidField('name', 'an agent with this name already exists')
  }
}

export const agentsRoutes: FastifyPluginAsyncTypebox<AgentManagementOptions> = async (app, opts) => {
  const db = app.store.db
  const editors = app.requireRole('admin', 'editor')
  const json = (a: AgentRow) => agentJson(a, opts.onlineWindowSeconds)

  /** The caller's organization's agent of the path's number. */
  async function agentOf(request: FastifyRequest, id: string): Promise<AgentRow> {
    const agent = await findAgentByNumber(db, principalOf(request).orgId, numberFrom(id, 'Agent'))
    if (!agent) throw new DomainError('not_found', `Agent ${id} not found.`)
    return agent
  }
  const configOf = async (agent: AgentRow) => agentConfigJson(agent, (await agentConfig(db, agent.org_id, agent.id)) as AgentRemoteConfig)

  app.get('/api/agents/', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Seed 003: agents, by name, one page at a time', tags: ['seed-003'],
      querystring: Type.Object(PageQuery), response: { 200: PageOf(AgentOut), ...DRF_ERRORS },
    },
  }, async (request) => {
    const { limit, offset } = pageWindow(request.query)
    const { agents, total } = await listAgents(db, principalOf(request).orgId, { limit, offset })
    return pageOf(request, request.query, total, agents.map(json))
  })

  app.post('/api/agents/', {
    onRequest: editors,
    schema: {
      summary: 'Seed 003: create an agent (pending unless is_approved); the answer holds its API key, shown this once', tags: ['seed-003'],
      body: CreateBody, response: { 201: Type.Object({ ...AgentOut.properties, api_key: Type.String({ description: 'shown this once' }) }), ...DRF_WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const { orgId } = principalOf(request)
    const body = request.body
    const fields: NewAgentFields = { ...nativeFields(body), name: body.name ?? agentNameFor(body.hostname) }
    await checkUnique(db, orgId, fields)
    // The seed's default is unapproved; is_active only counts once approved.
    const status = statusFor('pending', body.is_approved ? { is_approved: true, is_active: body.is_active } : { is_approved: false })
    const created = await createAgent(db, orgId, fields)
    if (!created) throw invalidField('name', 'an agent with this name already exists')
    const agent = status === created.agent.status ? created.agent : await updateAgent(db, orgId, created.agent.id, { status })
    // A new agent is a new key: audited as on the native API.
    await writeAudit(db, { orgId, action: 'agent.create', actor: userActor(request), target: { type: 'agent', id: agent.id }, ip: request.ip, details: { name: agent.name } })
    return reply.status(201).send({ ...json(agent), api_key: created.apiKey })
  })

  app.get('/api/agents/stats/', {
    onRequest: app.authenticate,
    schema: { summary: 'Seed 003: agent counts, pending registrations, recent logs, active alerts', tags: ['seed-003'], response: { 200: StatsOut, ...DRF_ERRORS } },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const counts = await agentCounts(db, orgId, opts.onlineWindowSeconds)
    const { total: recentLogs } = await listLogsPage(db, { orgId, ...hoursWindow(24), limit: 1, offset: 0 })
    const alerts = await eventsSummary(db, orgId)
    return {
      total_agents: counts.total, active_agents: counts.active, inactive_agents: counts.inactive, approved_agents: counts.total - counts.pending,
      pending_agents: counts.pending, online_agents: counts.online, offline_agents: counts.total - counts.online,
      pending_registrations: await countPendingRegistrations(db, orgId), recent_logs: recentLogs,
      active_alerts: Object.values(alerts.firing).reduce((a, b) => a + b, 0),
    }
  })

  app.get('/api/agents/:id/', {
    onRequest: app.authenticate,
    schema: { summary: 'Seed 003: one agent', tags: ['seed-003'], params: NumberParam, response: { 200: AgentOut, ...DRF_ERRORS } },
  }, async (request) => json(await agentOf(request, request.params.id)))

  for (const [method, body] of [['PUT', PutBody], ['PATCH', PatchBody]] as const) {
    app.route({
      method, url: '/api/agents/:id/', onRequest: editors,
      schema: {
        summary: `Seed 003: ${method === 'PUT' ? 'update' : 'partially update'} an agent (is_active / is_approved set its status)`, tags: ['seed-003'],
        params: NumberParam, body, response: { 200: AgentOut, ...DRF_WRITE_ERRORS },
      },
      handler: async (request) => {
        const agent = await agentOf(request, request.params.id)
        const b = request.body as Fields & { is_active?: boolean; is_approved?: boolean }
        const changes = nativeFields(b)
        await checkUnique(db, agent.org_id, changes, agent)
        if (b.is_active !== undefined || b.is_approved !== undefined) {
          const status = statusFor(agent.status, { is_active: b.is_active, is_approved: b.is_approved })
          if (status !== agent.status) changes.status = status
        }
        return json(Object.keys(changes).length > 0 ? await updateAgent(db, agent.org_id, agent.id, changes) : agent)
      },
    })
  }

  app.delete('/api/agents/:id/', {
    onRequest: editors,
    schema: { summary: 'Seed 003: delete an agent and every sample it sent', tags: ['seed-003'], params: NumberParam, response: { 204: NoContent, ...DRF_WRITE_ERRORS } },
  }, async (request, reply) => {
    const agent = await agentOf(request, request.params.id)
    await deleteAgent(db, agent.org_id, agent.id, { actor: userActor(request), ip: request.ip })
    return reply.status(204).send(null)
  })

  const actions: Array<[string, string, { is_active?: boolean; is_approved?: boolean }]> = [
    ['activate', 'accept its data again (an unapproved agent must be approved instead)', { is_active: true }],
    ['deactivate', 'refuse its data from now on (403 on every upload, nothing stored)', { is_active: false }],
    ['approve', 'approve it: it becomes active unless it was deactivated', { is_approved: true }],
  ]
  for (const [action, summary, change] of actions) {
    app.post(`/api/agents/:id/${action}/`, {
      onRequest: editors,
      schema: { summary: `Seed 003: ${action} an agent: ${summary}`, tags: ['seed-003'], params: NumberParam, response: { 200: AgentOut, ...DRF_WRITE_ERRORS } },
    }, async (request) => {
      const agent = await agentOf(request, request.params.id)
      const status: AgentStatus = statusFor(agent.status, change)
      return json(status === agent.status ? agent : await updateAgent(db, agent.org_id, agent.id, { status }))
    })
  }

  app.get('/api/agents/:id/config/', {
    onRequest: app.authenticate,
    schema: { summary: "Seed 003: an agent's configuration (monitoring scope, interval, version)", tags: ['seed-003'], params: NumberParam, response: { 200: AgentConfigOut, ...DRF_ERRORS } },
  }, async (request) => configOf(await agentOf(request, request.params.id)))

  // Users (bearer token) look any agent of their organization up; an agent (its key, or its hostname with
  // AGENT_HOSTNAME_AUTH) only itself, as on GET /api/v1/agents/self/config.
  app.get('/api/agent/config/', {
    // Credentials before the query is judged: a bearer token, else the agent's key (hostname mode: later).
    onRequest: async (request, reply) => {
      if (request.headers.authorization?.startsWith('Bearer ')) await app.authenticate(request, reply)
      else if (!byHostname(opts.hostnameAuth, request)) request.ingestingAgent = await agentFromApiKey(db, request)
    },
    schema: {
      summary: "Seed 003: an agent's configuration by hostname (a user's bearer token, or the agent's own X-API-Key)", tags: ['seed-003'],
      security: [{ bearer: [] }, { agentKey: [] }],
      querystring: Type.Object({ hostname: Hostname }), response: { 200: AgentConfigOut, ...DRF_ERRORS, 403: DrfError },
    },
  }, async (request) => {
    const { hostname } = request.query
    if (request.principal) {
      const agent = await findAgentByHostname(db, request.principal.orgId, hostname)
      if (!agent) throw new DomainError('not_found', `No agent has hostname "${hostname}".`)
      return configOf(agent)
    }
    const agent = request.ingestingAgent ?? await agentByHostname(app, hostname, false)
    if (agent.hostname !== hostname && agent.name !== hostname) {
      throw new DomainError('forbidden', `This key belongs to agent "${agent.name}", not to hostname "${hostname}"`)
    }
    return configOf(agent)
  })
}
