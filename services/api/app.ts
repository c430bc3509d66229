// Builds the API as a plugin tree: external (store, jwt) → routes. server start lives in main.ts.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Store } from '../store/open-store.ts'
import { storePlugin } from '../store/store-plugin.ts'
import { authPlugin } from '../auth/auth-plugin.ts'
import { authRoutes } from '../auth/auth-routes.ts'
import { agentsRoutes } from '../agents/agents-routes.ts'
import { ingestRoutes } from '../ingest/ingest-routes.ts'
import { metricsRoutes } from '../query/metrics-routes.ts'
import { healthRoutes } from '../health/health-routes.ts'
import { errorHandler, notFoundHandler } from './errors.ts'
import { rejectNulCharacters } from './reject-nul-characters.ts'

export interface AppOptions {
  store: Store
  jwtSecret: string
  accessTtlSeconds: number
  refreshTtlSeconds: number
  logger?: FastifyServerOptions['logger']
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: 1024 * 1024,
    requestTimeout: 120_000,
    ajv: { customOptions: { allErrors: true, coerceTypes: 'array', removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler(notFoundHandler)
  app.addHook('preValidation', rejectNulCharacters)

  await app.register(storePlugin, { store: opts.store })
  await app.register(authPlugin, { secret: opts.jwtSecret })

  await app.register(healthRoutes)
  await app.register(authRoutes, { accessTtlSeconds: opts.accessTtlSeconds, refreshTtlSeconds: opts.refreshTtlSeconds })
  await app.register(agentsRoutes)
  await app.register(ingestRoutes)
  await app.register(metricsRoutes)
  return app
}
