// GET /health (seed 001: the process is up) and GET /ready (the database answers).
import type { FastifyPluginAsync } from 'fastify'
import { Type } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { ErrorBody } from '../http/response-schemas.ts'
import { DATABASE_RETRY_AFTER_SECONDS } from '../store/database-unavailable.ts'

const HealthOut = Type.Object({ status: Type.String(), service: Type.String(), timestamp: Type.Integer({ description: 'unix seconds' }) })
const ReadyOut = Type.Object({ status: Type.String(), database: Type.String({ description: 'embedded or server' }) })

export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health', { schema: { response: { 200: HealthOut } } },
    async () => ({ status: 'healthy', service: 'hostpulse-api', timestamp: Math.floor(Date.now() / 1000) }))

  app.get('/ready', { schema: { response: { 200: ReadyOut, 503: ErrorBody } } }, async () => {
    try {
      await Promise.race([
        app.store.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 2 s')), 2000).unref()),
      ])
    } catch (err) {
      throw new ApiError('SERVICE_UNAVAILABLE', `Database unreachable: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`,
        { retry_after: DATABASE_RETRY_AFTER_SECONDS })
    }
    return { status: 'ready', database: app.store.backend }
  })
}
