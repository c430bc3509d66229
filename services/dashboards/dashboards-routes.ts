// Saved dashboards (seed 001's future endpoints): a name and a JSON layout of panels with metric selectors,
// shared with the organization or private to their owner. Viewers read; editors and admins write.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ERRORS, NoContent, Nullable, Time, WRITE_ERRORS } from '../http/response-schemas.ts'
import { Type, type Static } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { principalOf, type Principal } from '../auth/auth-plugin.ts'
import {
  createDashboard, deleteDashboard, findVisibleDashboard, listVisibleDashboards, replaceDashboard, type DashboardRow,
} from './dashboards-repository.ts'
import { IdParam } from '../http/params.ts'
import { SERIES_AGGS } from '../query/series-catalog.ts'

const Panel = Type.Object({
  id: Type.Optional(Type.String({ maxLength: 64 })),
  title: Type.String({ minLength: 1, maxLength: 200 }),
  type: Type.Union(['timeseries', 'stat', 'gauge', 'table', 'processes'].map((t) => Type.Literal(t))),
  metric: Type.String({ pattern: '^[a-z][a-z0-9_]*\\.[a-z0-9_]+$', maxLength: 200, description: '<type>.<name>, as the series endpoint takes it' }),
  tags: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 256 }), { maxProperties: 16 })),
  agg: Type.Optional(Type.Union(SERIES_AGGS.map((a) => Type.Literal(a)), { description: 'as the series endpoint takes it; rate for counters' })),
  agents: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 50, description: 'empty: every agent' })),
  unit: Type.Optional(Type.String({ maxLength: 32 })),
  grid: Type.Optional(Type.Object({
    x: Type.Integer({ minimum: 0, maximum: 100 }), y: Type.Integer({ minimum: 0, maximum: 10_000 }),
    w: Type.Integer({ minimum: 1, maximum: 100 }), h: Type.Integer({ minimum: 1, maximum: 100 }),
  })),
}, { additionalProperties: false })

const Layout = Type.Object({
  panels: Type.Array(Panel, { maxItems: 100 }),
  time_range: Type.Optional(Type.Union(['1h', '6h', '24h', '7d', '30d'].map((r) => Type.Literal(r)))),
  refresh_interval_seconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 86_400 })),
}, { additionalProperties: false })

const DashboardBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  scope: Type.Optional(Type.Union([Type.Literal('organization'), Type.Literal('user')], { description: 'default organization' })),
  layout: Layout,
}, { additionalProperties: false })

const DashboardOut = Type.Object({
  id: Type.String({ format: 'uuid' }), name: Type.String(), description: Type.String(), scope: Type.String(),
  owner_id: Nullable(Type.String()), layout: Layout, created_at: Time, updated_at: Time,
})

const view = (d: DashboardRow) => ({
  id: d.id, name: d.name, description: d.description, scope: d.scope, owner_id: d.owner_id, layout: d.layout as Static<typeof Layout>,
  created_at: d.created_at.toISOString(), updated_at: d.updated_at.toISOString(),
})

export const dashboardsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  /** A dashboard this principal may see: the organization's, or its own. */
  async function visibleOr404(p: Principal, id: string) {
    const d = await findVisibleDashboard(db, p.orgId, p.userId, id)
    if (!d) throw new ApiError('NOT_FOUND', `Dashboard ${id} not found`)
    return d
  }

  app.get('/api/v1/dashboards', {
    onRequest: app.authenticate,
    schema: { summary: 'List dashboards: the organization\'s and your own', tags: ['dashboards'], response: { 200: Type.Object({ count: Type.Integer(), dashboards: Type.Array(DashboardOut) }), ...ERRORS } },
  }, async (request) => {
    const p = principalOf(request)
    const rows = await listVisibleDashboards(db, p.orgId, p.userId)
    return { count: rows.length, dashboards: rows.map(view) }
  })

  app.get('/api/v1/dashboards/:id', {
    onRequest: app.authenticate,
    schema: { summary: 'One dashboard', tags: ['dashboards'], params: IdParam, response: { 200: DashboardOut, ...ERRORS } },
  }, async (request) => view(await visibleOr404(principalOf(request), request.params.id)))

  app.post('/api/v1/dashboards', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: { summary: 'Save a dashboard', tags: ['dashboards'], body: DashboardBody, response: { 201: DashboardOut, ...WRITE_ERRORS } },
  }, async (request, reply) => {
    const p = principalOf(request)
    const created = await createDashboard(db, p.orgId, p.userId, request.body)
    return reply.status(201).send(view(created))
  })

  app.put('/api/v1/dashboards/:id', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: { summary: 'Replace a dashboard', tags: ['dashboards'], params: IdParam, body: DashboardBody, response: { 200: DashboardOut, ...WRITE_ERRORS } },
  }, async (request) => {
    const p = principalOf(request)
    const current = await visibleOr404(p, request.params.id)
    return view(await replaceDashboard(db, p.orgId, p.userId, current, request.body))
  })

  app.delete('/api/v1/dashboards/:id', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: { summary: 'Delete a dashboard', tags: ['dashboards'], params: IdParam, response: { 204: NoContent, ...WRITE_ERRORS } },
  }, async (request, reply) => {
    const p = principalOf(request)
    const current = await visibleOr404(p, request.params.id)
    await deleteDashboard(db, p.orgId, current.id)
    return reply.status(204).send(null)
  })
}
