// GET /health (seed 001: the process is up) and GET /ready (the database answers).
import type { FastifyPluginAsync } from 'fastify'
import { ApiError } from '../http/errors.ts'

export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health', async () => ({ status: 'healthy', service: 'hostpulse-api', timestamp: Math.floor(Date.now() / 1000) }))

  app.get('/ready', async () => {
    try {
      await Promise.race([
        app.store.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 2 s')), 2000).unref()),
      ])
    } catch (err) {
      throw new ApiError('SERVICE_UNAVAILABLE', `Database unreachable: ${(err as Error).message}`)
    }
    return { status: 'ready', database: app.store.backend }
  })
}
