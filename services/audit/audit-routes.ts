// GET /api/v1/audit: the organization's audit log for its admins, newest first, paged by id.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { principalOf } from '../auth/auth-plugin.ts'
import { BUILTIN_ORG } from '../auth/bootstrap-admin.ts'

export const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  app.get('/api/v1/audit', {
    onRequest: app.requireRole('admin'),
    schema: {
      querystring: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        /** Entries older than this id (the `next_before` of the previous page). */
        before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
        action: Type.Optional(Type.String({ maxLength: 64, pattern: '^[a-z_.]+$' })),
      }),
    },
  }, async (request) => {
    const p = principalOf(request)
    const { limit = 100, before, action } = request.query
    const builtin = (await db.selectFrom('organizations').select('name').where('id', '=', p.orgId).executeTakeFirst())?.name === BUILTIN_ORG
    let q = db.selectFrom('audit_log')
      .select(['id', 'time', 'actor_type', 'actor_id', 'actor_name', 'action', 'target_type', 'target_id', 'ip', 'details'])
      // Events of no organization (failed logins for unknown usernames) belong to the operator: the built-in organization.
      .where((eb) => (builtin ? eb.or([eb('org_id', '=', p.orgId), eb('org_id', 'is', null)]) : eb('org_id', '=', p.orgId)))
      .orderBy('id', 'desc').limit(limit + 1)
    if (before !== undefined) q = q.where('id', '<', before)
    if (action !== undefined) q = q.where('action', '=', action)
    const rows = await q.execute()
    const page = rows.slice(0, limit)
    return {
      entries: page.map((r) => ({ ...r, id: Number(r.id), time: r.time.toISOString() })),
      next_before: rows.length > limit ? Number(page[page.length - 1].id) : null,
    }
  })
}
