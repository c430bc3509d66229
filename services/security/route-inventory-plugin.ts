// The list of every registered route, for the route-inventory test and for anyone auditing what the API
// exposes. Registered before anything that adds routes (the OpenAPI pages included), so none is missed.
import fp from 'fastify-plugin'

export interface RegisteredRoute { method: string; url: string; schema?: Record<string, unknown> }

declare module 'fastify' {
  interface FastifyInstance { registeredRoutes: RegisteredRoute[] }
}

export const routeInventoryPlugin = fp(async (app) => {
  const routes: RegisteredRoute[] = []
  app.decorate('registeredRoutes', routes)
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    for (const method of methods) {
      routes.push({ method, url: route.url, schema: route.schema as Record<string, unknown> | undefined })
    }
  })
}, { name: 'hostpulse-route-inventory' })
