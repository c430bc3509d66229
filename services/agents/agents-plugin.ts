// The agents stage's routes: agents, their keys, enrollment and registrations, and collection settings.
import fp from 'fastify-plugin'
import { agentKeysRoutes } from './agent-keys-routes.ts'
import { agentsRoutes } from './agents-routes.ts'
import { agentConfigRoutes } from './agent-config-routes.ts'

export interface AgentsPluginOptions { onlineWindowSeconds: number }

export const agentsPlugin = fp<AgentsPluginOptions>(async (app, opts) => {
  await app.register(agentKeysRoutes)
  await app.register(agentsRoutes, { onlineWindowSeconds: opts.onlineWindowSeconds })
  await app.register(agentConfigRoutes)
}, { name: 'hostpulse-agents', dependencies: ['hostpulse-store', 'hostpulse-auth'] })
