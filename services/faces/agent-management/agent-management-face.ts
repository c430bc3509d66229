// Seed 003, the monitoring-agent management API, answered at its own paths with Django REST Framework's
// shapes. Every route is a thin adapter: request → a native service or repository → the seed's shape.
// Errors are the native ones, worded the DRF way by this plugin's error handler (encapsulated: the native
// API keeps its own format).
import type { FastifyPluginAsync } from 'fastify'
import { claimErrorFormat, errorHandlerFor } from '../../http/errors.ts'
import { drfErrorBody } from './drf.ts'
import type { AgentManagementOptions } from './face-options.ts'
import { agentsRoutes } from './agents-routes.ts'
import { registrationsRoutes } from './registrations-routes.ts'
import { uploadsRoutes } from './uploads-routes.ts'
import { readsRoutes } from './reads-routes.ts'
import { alertsRoutes } from './alerts-routes.ts'
import { thresholdsRoutes } from './thresholds-routes.ts'
import { notificationsRoutes } from './notifications-routes.ts'


export const agentManagementFace: FastifyPluginAsync<AgentManagementOptions> = async (app, opts) => {
  app.setErrorHandler(errorHandlerFor(drfErrorBody))
  // Every other /api/ path outside /api/v<N>/ (seed 002's two routes among them) is Django REST Framework's.
  claimErrorFormat('django rest framework', /^\/api\/(?!v\d+\/)/, drfErrorBody)
  await app.register(agentsRoutes, opts)
  await app.register(registrationsRoutes, opts)
  await app.register(uploadsRoutes, opts)
  await app.register(readsRoutes, opts)
  await app.register(alertsRoutes, opts)
  await app.register(thresholdsRoutes, opts)
  await app.register(notificationsRoutes, opts)
}
