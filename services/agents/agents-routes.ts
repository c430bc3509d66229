// Agents management (seed 001, 0.3.0): list with status/limit/offset, create (key shown once), read,
// update (PUT and PATCH), delete with its data, and fleet statistics.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ERRORS, NoContent, Nullable, Time, WRITE_ERRORS } from '../http/response-schemas.ts'
import { Type } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { agentCounts, agentView, createAgent, getAgent, isOnline, listAgents, updateAgent, type AgentRow } from './agents-repository.ts'
import { deleteAgent } from '../alerting/agent-deletion.ts'
import { userActor, writeAudit } from '../audit/audit-log.ts'
import { IdParam } from '../http/params.ts'

const OptionalText = (max: number) => Type.Optional(Type.String({ maxLength: max }))
const Text = Nullable(Type.String())
const AgentOut = Type.Object({
  id: Type.String({ format: 'uuid' }), name: Type.String(), hostname: Text, ip_address: Text, os: Text, os_version: Text,
  agent_version: Text, labels: Type.Record(Type.String(), Type.String()), status: Type.String(), created_at: Time, updated_at: Time,
  last_seen_at: Nullable(Time), last_metrics_at: Nullable(Time), online: Type.Boolean(),
})
const AgentName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' })
const Labels = Type.Record(Type.String({ minLength: 1, maxLength: 64 }), Type.String({ maxLength: 256 }), { maxProperties: 64 })
const Status = Type.Union([Type.Literal('active'), Type.Literal('inactive'), Type.Literal('pending')])

const AgentFields = {
  hostname: OptionalText(255), ip_address: OptionalText(64), os: OptionalText(128), os_version: OptionalText(128),
  agent_version: OptionalText(64), labels: Type.Optional(Labels),
}

export interface AgentsRouteOptions { onlineWindowSeconds: number }

export const agentsRoutes: FastifyPluginAsyncTypebox<AgentsRouteOptions> = async (app, opts) => {
  const db = app.store.db
  const online = (a: AgentRow) => isOnline(a, opts.onlineWindowSeconds)
  const iso = (d: Date | null) => (d ? d.toISOString() : null)
  const view = (a: AgentRow) => ({
    ...agentView(a), created_at: a.created_at.toISOString(), updated_at: a.updated_at.toISOString(),
    last_seen_at: iso(a.last_seen_at), last_metrics_at: iso(a.last_metrics_at), online: online(a),
  })

  app.get('/api/v1/agents', {
    onRequest: app.authenticate,
    schema: {
      summary: 'List agents', tags: ['agents'],
      querystring: Type.Object({
        status: Type.Optional(Status),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
        offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 })),
      }),
      response: { 200: Type.Object({ agents: Type.Array(AgentOut), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }), ...ERRORS },
    },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const { status, limit = 100, offset = 0 } = request.query
    const { agents, total } = await listAgents(db, orgId, { status, limit, offset })
    return { agents: agents.map(view), total, limit, offset }
  })

  app.get('/api/v1/agents/stats', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Agent counts: total, active, inactive, online, offline', tags: ['agents'],
      response: { 200: Type.Object({ total: Type.Integer(), active: Type.Integer(), inactive: Type.Integer(), online: Type.Integer(),
        offline: Type.Integer(), pending: Type.Integer(), online_window_seconds: Type.Number() }), ...ERRORS },
    },
  }, async (request) => {
    const s = await agentCounts(db, principalOf(request).orgId, opts.onlineWindowSeconds)
    return { total: s.total, active: s.active, inactive: s.inactive, online: s.online, offline: s.total - s.online, pending: s.pending,
      online_window_seconds: opts.onlineWindowSeconds }
  })

  app.post('/api/v1/agents', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: {
      summary: 'Register an agent; the answer holds its API key, shown this once', tags: ['agents'],
      body: Type.Object({ name: AgentName, ...AgentFields }, { additionalProperties: false }),
      response: { 201: Type.Object({ ...AgentOut.properties, api_key: Type.String({ description: 'shown this once' }) }), ...WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const { orgId } = principalOf(request)
    const created = await createAgent(db, orgId, request.body)
    if (!created) throw new ApiError('CONFLICT', `An agent named "${request.body.name}" already exists`, { name: ['already exists'] })
    // A new agent is a new key: audited as key changes are.
    await writeAudit(db, { orgId, action: 'agent.create', actor: userActor(request), target: { type: 'agent', id: created.agent.id }, ip: request.ip, details: { name: created.agent.name } })
    return reply.status(201).send({ ...view(created.agent), api_key: created.apiKey })
  })

  app.get('/api/v1/agents/:id', {
    onRequest: app.authenticate,
    schema: { summary: 'One agent, by uuid or name', tags: ['agents'], params: IdParam, response: { 200: AgentOut, ...ERRORS } },
  }, async (request) => view(await getAgent(db, principalOf(request).orgId, request.params.id)))

  const updateSchema = {
    summary: 'Update an agent (fields not sent are kept)', tags: ['agents'], params: IdParam,
    body: Type.Object({ name: Type.Optional(AgentName), status: Type.Optional(Status), ...AgentFields }, { additionalProperties: false, minProperties: 1 }),
    response: { 200: AgentOut, ...WRITE_ERRORS },
  }
  for (const method of ['PUT', 'PATCH'] as const) {
    app.route({
      method, url: '/api/v1/agents/:id', onRequest: app.requireRole('admin', 'editor'), schema: updateSchema,
      handler: async (request) => {
        const { orgId } = principalOf(request)
        const agent = await getAgent(db, orgId, request.params.id)
        return view(await updateAgent(db, orgId, agent.id, request.body))
      },
    })
  }

  app.delete('/api/v1/agents/:id', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: { summary: 'Delete an agent and every sample it sent', tags: ['agents'], params: IdParam, response: { 204: NoContent, ...WRITE_ERRORS } },
  }, async (request, reply) => {
    await deleteAgent(db, principalOf(request).orgId, request.params.id, { actor: userActor(request), ip: request.ip })
    return reply.status(204).send(null)
  })
}
