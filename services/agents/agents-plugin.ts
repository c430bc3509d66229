// The agents stage's routes: agents, their keys, enrollment and registrations, and collection settings.
import fp from 'fastify-plugin'
import { agentKeysRoutes } from './agent-keys-routes.ts'
import { agentsRoutes } from './agents-routes.ts'
import { agentConfigRoutes } from './agent-config-routes.ts'
import { rememberAgentKeys } from './agent-key-cache.ts'

export interface AgentsPluginOptions { onlineWindowSeconds: number; rememberAgentKeys: boolean }

export const agentsPlugin = fp<AgentsPluginOptions>(async (app, opts) => {
  // Uploads learn whose key they carry without a read, until a change could concern the key.
  if (opts.rememberAgentKeys) {
    const stopRemembering = await rememberAgentKeys(app.store, (err) =>
      app.log.warn(`agent keys are read from the database at every upload: cannot LISTEN for their changes (${err.message})`))
    app.addHook('onClose', async () => { await stopRemembering() })
  }
  await app.register(agentKeysRoutes)
  await app.register(agentsRoutes, { onlineWindowSeconds: opts.onlineWindowSeconds })
  await app.register(agentConfigRoutes)
}, { name: 'hostpulse-agents', dependencies: ['hostpulse-store', 'hostpulse-auth'] })
