// The server's say over what an agent collects: editors set it per agent; the agent reads its own with its
// key at start and every few minutes and applies a change without a restart.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AgentRemoteConfig, AGENT_CONFIG_PATH } from '../../contract/agent-config.ts'
import { ERRORS, WRITE_ERRORS } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { agentConfig, getAgent, setAgentConfig } from './agents-repository.ts'
import { agentFromApiKey } from './agent-key-auth.ts'
import { IdParam } from '../http/params.ts'


export const agentConfigRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  const configOf = async (orgId: string, agentId: string) => (await agentConfig(db, orgId, agentId)) as AgentRemoteConfig

  app.get(AGENT_CONFIG_PATH, {
    schema: {
      summary: 'The calling agent\'s collection settings (X-API-Key)', tags: ['agents'], security: [{ agentKey: [] }],
      response: { 200: AgentRemoteConfig, ...ERRORS },
    },
  }, async (request) => {
    const agent = await agentFromApiKey(db, request)
    return configOf(agent.org_id, agent.id)
  })

  app.get('/api/v1/agents/:id/config', {
    onRequest: app.authenticate,
    schema: { summary: 'An agent\'s collection settings', tags: ['agents'], params: IdParam, response: { 200: AgentRemoteConfig, ...ERRORS } },
  }, async (request) => {
    const { orgId } = principalOf(request)
    return configOf(orgId, (await getAgent(db, orgId, request.params.id)).id)
  })

  app.put('/api/v1/agents/:id/config', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: {
      summary: 'Set an agent\'s collection settings (replaces them; {} returns the agent to its own flags)', tags: ['agents'],
      params: IdParam, body: AgentRemoteConfig, response: { 200: AgentRemoteConfig, ...WRITE_ERRORS },
    },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const agent = await getAgent(db, orgId, request.params.id)
    await setAgentConfig(db, orgId, agent.id, request.body)
    return configOf(orgId, agent.id)
  })
}
