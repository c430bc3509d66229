// /api/v1/silences: silences and maintenance windows mute notifications of matching alerts (the evaluator
// still writes the history). Every role reads; admins and editors write. Nothing is erased that took
// effect: DELETE ends an active silence now and keeps it as history; only one not yet started is removed.
// POST /preview lists the firing alerts some matchers would mute, with the evaluator's own matching.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { ERRORS, NoContent, WRITE_ERRORS } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { userActor, writeAudit, type AuditAction } from '../audit/audit-log.ts'
import { parseLimit } from '../query/time-range.ts'
import { Matchers, SILENCE_KINDS, SilenceBody, SilenceOut, silenceView, type SilenceRow } from './silence-views.ts'
import { EventOut, eventView } from './event-views.ts'
import { createSilence, endSilence, firingEventsMatching, getSilence, listSilences, updateSilence } from './silences-repository.ts'
import { IdParam } from '../http/params.ts'

const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000
const BODY_LIMIT = 16 * 1024

const ListQuery = Type.Object({
  active: Type.Optional(Type.Boolean({ description: 'true: in effect now; false: pending or expired' })),
  kind: Type.Optional(Type.Union(SILENCE_KINDS.map((k) => Type.Literal(k)))),
  limit: Type.Optional(Type.String({ maxLength: 12, description: `default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT}` })),
}, { additionalProperties: false })
const ListOut = Type.Object({ silences: Type.Array(SilenceOut), count: Type.Integer() })

export const silencesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  async function audit(request: FastifyRequest, action: AuditAction, s: SilenceRow, extra: Record<string, string> = {}) {
    await writeAudit(db, {
      orgId: s.org_id, action, actor: userActor(request), target: { type: 'silence', id: s.id }, ip: request.ip,
      details: { kind: s.kind, matchers: Object.keys(s.matchers).join(','), starts_at: s.starts_at.toISOString(), ends_at: s.ends_at.toISOString(), ...extra },
    })
  }

  app.get('/api/v1/silences', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Silences and maintenance windows, latest start first', tags: ['silences'],
      querystring: ListQuery, response: { 200: ListOut, ...ERRORS },
    },
  }, async (request) => {
    const q = request.query
    const limit = parseLimit(q.limit, DEFAULT_LIMIT, MAX_LIMIT)
    const rows = await listSilences(db, principalOf(request).orgId, { active: q.active, kind: q.kind, limit })
    const now = new Date()
    return { silences: rows.map((s) => silenceView(s, now)), count: rows.length }
  })

  app.get('/api/v1/silences/:id', {
    onRequest: app.authenticate,
    schema: { summary: 'One silence', tags: ['silences'], params: IdParam, response: { 200: SilenceOut, ...ERRORS } },
  }, async (request) => silenceView(await getSilence(db, principalOf(request).orgId, request.params.id)))

  app.post('/api/v1/silences', {
    onRequest: app.requireRole('admin', 'editor'), bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Create a silence or maintenance window', tags: ['silences'],
      description: 'Give ends_at or duration; starts_at defaults to now. At most 366 days long; it must end in the future.',
      body: SilenceBody, response: { 201: SilenceOut, ...WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const created = await createSilence(db, p.orgId, { userId: p.userId, username: p.username }, request.body, new Date())
    await audit(request, 'silence.create', created)
    return reply.status(201).send(silenceView(created))
  })

  app.post('/api/v1/silences/preview', {
    onRequest: app.requireRole('admin', 'editor'), bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'The alerts firing now that these matchers would mute', tags: ['silences'],
      description: 'Stores nothing. Matching is the evaluator\'s own (services/alerting/silence-matching.ts).',
      body: Type.Object({ matchers: Matchers }, { additionalProperties: false }),
      response: { 200: Type.Object({ events: Type.Array(EventOut), count: Type.Integer() }), ...WRITE_ERRORS },
    },
  }, async (request) => {
    const muted = await firingEventsMatching(db, principalOf(request).orgId, request.body.matchers)
    const now = new Date()
    return { events: muted.map((e) => eventView(e, now)), count: muted.length }
  })

  app.put('/api/v1/silences/:id', {
    onRequest: app.requireRole('admin', 'editor'), bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Change a pending or active silence', tags: ['silences'],
      description: 'Replaces matchers and window; kind, starts_at and comment stay as they are when left out. An expired silence is history (409): create a new one.',
      params: IdParam, body: SilenceBody, response: { 200: SilenceOut, ...WRITE_ERRORS },
    },
  }, async (request) => {
    const updated = await updateSilence(db, principalOf(request).orgId, request.params.id, request.body, new Date())
    await audit(request, 'silence.update', updated)
    return silenceView(updated)
  })

  app.delete('/api/v1/silences/:id', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: {
      summary: 'End a silence now', tags: ['silences'],
      description: 'An active silence ends now and stays listed as expired (history); one not yet started is removed; an expired one answers 409.',
      params: IdParam, response: { 204: NoContent, ...WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const { silence, removed } = await endSilence(db, principalOf(request).orgId, request.params.id, new Date())
    await audit(request, 'silence.delete', silence, { outcome: removed ? 'removed before it started' : 'expired now' })
    return reply.status(204).send(null)
  })
}
