// The logs stage's routes: the native listing of shipped log lines.
import fp from 'fastify-plugin'
import { logsRoutes } from './logs-routes.ts'

export const logsPlugin = fp(async (app) => {
  await app.register(logsRoutes)
}, { name: 'hostpulse-logs', dependencies: ['hostpulse-store', 'hostpulse-auth'] })
