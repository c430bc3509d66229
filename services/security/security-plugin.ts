// HTTP hardening shared by every route: security headers (with a CSP for the web page the API
// serves from `/`) and CORS only for configured origins.
import fp from 'fastify-plugin'
import fastifyHelmet from '@fastify/helmet'
import fastifyCors from '@fastify/cors'
import { rejectNonFiniteNumbers } from './reject-unstorable-input.ts'

export interface SecurityOptions { corsOrigins: string[] }

export const securityPlugin = fp(async (app, opts: SecurityOptions) => {
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
