// HTTP hardening shared by every route: security headers (with a CSP for the web page the API will
// serve from `/`), CORS only for configured origins, and the list of registered routes (for the
// route-inventory test and for anyone auditing what the API exposes).
import fp from 'fastify-plugin'
import fastifyHelmet from '@fastify/helmet'
import fastifyCors from '@fastify/cors'
import { rejectLoneSurrogates, rejectNonFiniteNumbers } from './reject-unstorable-input.ts'

export interface RegisteredRoute { method: string; url: string; schema?: Record<string, unknown> }

declare module 'fastify' {
  interface FastifyInstance { registeredRoutes: RegisteredRoute[] }
}

export interface SecurityOptions { corsOrigins: string[] }

export const securityPlugin = fp(async (app, opts: SecurityOptions) => {
  const routes: RegisteredRoute[] = []
  app.decorate('registeredRoutes', routes)
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    for (const method of methods) {
      routes.push({ method, url: route.url, schema: route.schema as Record<string, unknown> | undefined })
    }
  })

  app.addHook('preValidation', rejectLoneSurrogates)
  app.addHook('preHandler', rejectNonFiniteNumbers)

  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        // Live metrics arrive over a WebSocket on the same host.
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    // API answers are private to the user who asked for them.
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
  })
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/api/') && !reply.hasHeader('cache-control')) void reply.header('cache-control', 'no-store')
  })

  if (opts.corsOrigins.length > 0) {
    await app.register(fastifyCors, {
      origin: opts.corsOrigins,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type'],
      exposedHeaders: ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'retry-after'],
      // Bearer tokens, not cookies: browsers need no credentials mode.
      credentials: false,
      maxAge: 600,
    })
  }
}, { name: 'hostpulse-security' })
