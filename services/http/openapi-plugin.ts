// The OpenAPI document (/openapi.json) and a browsable page (/docs), generated from the route schemas.
// Registered before the routes so that every route's schema is collected.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

export const openapiPlugin = fp(async (app, opts: { version: string }) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'hostpulse API',
        version: opts.version,
        description: 'Self-hosted host metrics on TimescaleDB. Errors: {"error": CODE, "message", "code": status, "details"}. '
          + 'Log in at POST /api/v1/auth/login and send Authorization: Bearer <token>; agents send X-API-Key.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          agentKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          enrollmentToken: { type: 'apiKey', in: 'header', name: 'X-Enrollment-Token' },
        },
      },
      security: [{ bearer: [] }],
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}, { name: 'hostpulse-openapi' })
