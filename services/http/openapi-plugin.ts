// The OpenAPI document (/openapi.json) and a browsable page (/docs), generated from the route schemas.
// Registered before the routes so that every route's schema is collected. The page carries hostpulse's
// name and icon; a route without tags is filed under its path's family; a route that runs no
// authentication hook is documented as public (no lock).
import { readFileSync } from 'node:fs'
import fp from 'fastify-plugin'
import swagger, { type SwaggerTransform } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

const ICON = readFileSync(new URL('../web/public/icon.svg', import.meta.url))

/**
 * The page's CSP: the app's, except that Swagger UI's bundle applies inline styles (its React components),
 * which only this page allows; scripts stay 'self' only.
 */
const DOCS_CSP = "default-src 'self';script-src 'self';style-src 'self' 'unsafe-inline';img-src 'self' data:;font-src 'self';connect-src 'self';"
  + "object-src 'none';base-uri 'self';form-action 'self';frame-ancestors 'none'"

/** `/api/v1/agents/:id` → agents; the compatibility faces' `/api/...` → compatibility; the rest by their first segment. */
function tagOf(url: string): string {
  const parts = url.split('/').filter(Boolean)
  if (parts[0] === 'api' && parts[1] === 'v1' && parts[2]) return parts[2]
  if (parts[0] === 'api' || parts[0] === 'write' || parts[0] === 'query' || parts[0] === 'ping') return 'compatibility'
  return parts[0] ?? 'service'
}

const transform: SwaggerTransform = ({ schema, url, route }) => {
  const out: Record<string, unknown> = { ...(schema ?? {}) }
  if (!out.tags) out.tags = [tagOf(url)]
  // No onRequest hook means no authentication runs: public, whatever the document's default says.
  if (out.security === undefined && !route.onRequest) out.security = []
  return { schema: out, url }
}

export const openapiPlugin = fp(async (app, opts: { version: string }) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'hostpulse API',
        version: opts.version,
        description: 'Self-hosted host metrics on TimescaleDB. Errors: `{"error": CODE, "message", "code": status, "details"}`. '
          + 'Log in at `POST /api/v1/auth/login` and send `Authorization: Bearer <token>`; agents send `X-API-Key: <agent key>`.',
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
    transform,
  })
  // The document (600 KB of JSON, 1.1 MB of YAML) is fixed once the routes are: serialized on its first
  // request instead of on every one (about 8 ms of the event loop each, on public routes).
  let serialized: { json: Buffer; yaml: Buffer } | undefined
  const documents = () => serialized ??= { json: Buffer.from(JSON.stringify(app.swagger())), yaml: Buffer.from(app.swagger({ yaml: true })) }
  const JSON_TYPE = 'application/json; charset=utf-8'
  await app.register(swaggerUi, {
    routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true },
    logo: { type: 'image/svg+xml', content: ICON, href: '/', target: '_self' },
    theme: { title: 'hostpulse API', favicon: [{ filename: 'icon.svg', rel: 'icon', sizes: 'any', type: 'image/svg+xml', content: ICON }] },
    uiHooks: {
      onRequest: (request, reply, next) => {
        void reply.header('content-security-policy', DOCS_CSP)
        // The UI's own redirect of /docs/static/index.html to /docs/ misses a URL with a query string and sends it
        // to itself, a loop browsers give up on: the query is dropped here (found by the fuzzer).
        if (request.url.startsWith('/docs/static/index.html?')) { void reply.redirect('/docs/'); return }
        if (request.routeOptions.url === '/docs/json') { void reply.type(JSON_TYPE).send(documents().json); return }
        if (request.routeOptions.url === '/docs/yaml') { void reply.type('application/x-yaml').send(documents().yaml); return }
        next()
      },
    },
  })
  app.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) => reply.type(JSON_TYPE).send(documents().json))
}, { name: 'hostpulse-openapi' })
