// GET /api/v1/audit: the organization's audit log for its admins, newest first, paged by id.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ERRORS, ErrorBody, Nullable, Time } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { listAuditEntries } from './audit-repository.ts'

const Text = Nullable(Type.String())
const AuditEntryOut = Type.Object({
  id: Type.Integer(), time: Time, actor_type: Type.String({ description: 'user, agent, anonymous or system' }), actor_id: Text, actor_name: Text,
  action: Type.String(), target_type: Text, target_id: Text, ip: Text,
  details: Type.Object({}, { additionalProperties: true, description: 'plain, non-secret facts of the action' }),
})

export const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  app.get('/api/v1/audit', {
    onRequest: app.requireRole('admin'),
    schema: {
      summary: 'Your organization\'s audit log, newest first', tags: ['audit'],
      querystring: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        /** Entries older than this id (the `next_before` of the previous page). */
        before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
        action: Type.Optional(Type.String({ maxLength: 64, pattern: '^[a-z_.]+$' })),
      }),
      response: { 200: Type.Object({ entries: Type.Array(AuditEntryOut), next_before: Nullable(Type.Integer()) }), ...ERRORS, 403: ErrorBody },
    },
  }, async (request) => {
    const { limit = 100, before, action } = request.query
    const { entries, nextBefore } = await listAuditEntries(db, principalOf(request).orgId, { limit, before, action })
    return {
      entries: entries.map((r) => ({ ...r, id: Number(r.id), time: r.time.toISOString() })),
      next_before: nextBefore,
    }
  })
}
