// A malformed id answers the same on every route: 404 (NOT_FOUND natively), as an id nobody has (agents and alert
// rules take names where ids go, so a text that is no uuid can only be unknown, never a 400).
import t from 'tap'
import { assertRouteError, startClient } from '../security/security-helpers.ts'

const MALFORMED = ['not-a-uuid', '1234', "x' or '1'='1", '00000000-0000-0000-0000-00000000000g']
/** Valid values for query parameters a route requires, so the id is what the answer is about. */
const REQUIRED_QUERY: Record<string, string> = { metric: 'cpu.usage_percent', start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z' }
/** Routes whose id is checked by something other than the admin's token (an enrollment token). */
const OTHER_CREDENTIALS = new Set(['/api/v1/agents/register/:registration_id'])

t.test('GET and DELETE with a malformed id: 404 on every route that takes one', async (t) => {
  const api = await startClient(t)
  const routes = api.app.registeredRoutes.filter((r) => /\/:(id|agent_id|registration_id)\b/.test(r.url) && !OTHER_CREDENTIALS.has(r.url)
    && (r.method === 'GET' || r.method === 'DELETE') && !r.url.startsWith('/ws/'))
  t.ok(routes.length >= 15, `${routes.length} routes take an id`)
  for (const route of routes) {
    for (const id of MALFORMED) {
      const required = ((route.schema?.querystring as { required?: string[] } | undefined)?.required ?? [])
      const query = required.map((name) => `${name}=${encodeURIComponent(REQUIRED_QUERY[name] ?? 'x')}`).join('&')
      const path = route.url.replace(/:(id|agent_id|registration_id)\b/, encodeURIComponent(id)) + (query ? `?${query}` : '')
      const res = await api.req(route.method, path, { token: api.adminToken })
      // In the route's own error format: the native NOT_FOUND, or a compatibility face's.
      assertRouteError(t, route.url, res, 404, 'NOT_FOUND', `${route.method} ${route.url} with "${id}": ${res.text.slice(0, 120)}`)
    }
  }
})
