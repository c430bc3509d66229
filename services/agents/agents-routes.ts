// POST /api/v1/agents: an admin registers an agent and receives its API key, once.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ApiError } from '../api/errors.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { agentView, createAgent, findAgent } from './agents-repository.ts'

const OptionalText = (max: number) => Type.Optional(Type.String({ maxLength: max }))

export const agentsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/api/v1/agents', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: {
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
        hostname: OptionalText(255), ip_address: OptionalText(64), os: OptionalText(128), os_version: OptionalText(128),
        agent_version: OptionalText(64),
        labels: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 256 }), { maxProperties: 64 })),
      }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const created = await createAgent(app.store.db, principalOf(request).orgId, request.body)
    if (!created) throw new ApiError('CONFLICT', `An agent named "${request.body.name}" already exists`, { name: ['already exists'] })
    return reply.status(201).send({ ...agentView(created.agent), api_key: created.apiKey })
  })

  app.get('/api/v1/agents/:id', {
    onRequest: app.authenticate,
    schema: { params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }) },
  }, async (request) => {
    const agent = await findAgent(app.store.db, principalOf(request).orgId, request.params.id)
    if (!agent) throw new ApiError('NOT_FOUND', `Agent "${request.params.id}" not found`)
    return agentView(agent)
  })
}
