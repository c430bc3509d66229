// The traffic stage's routes: billing-cycle totals, their settings and quotas (counted by the store).
import fp from 'fastify-plugin'
import { trafficRoutes } from './traffic-routes.ts'

export const trafficPlugin = fp(async (app) => {
  await app.register(trafficRoutes)
}, { name: 'hostpulse-traffic', dependencies: ['hostpulse-store', 'hostpulse-auth'] })
