// /api/v1/silences: silences and maintenance windows mute notifications of matching alerts (the evaluator
// still writes the history). Every role reads; admins and editors write. Nothing is erased that took
// effect: DELETE ends an active silence now and keeps it as history; only one not yet started is removed.
// POST /preview lists the firing alerts some matchers would mute, with the evaluator's own matching.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { sql } from 'kysely'
import { ApiError } from '../http/errors.ts'
import { ERRORS, NoContent, WRITE_ERRORS } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { userActor, writeAudit, type AuditAction } from '../audit/audit-log.ts'
import { parseLimit } from '../query/time-range.ts'
import type { SilenceMatchers } from '../store/database.ts'
import {
  Matchers, SILENCE_COLUMNS, SILENCE_KINDS, SilenceBody, SilenceOut, bad, checkedMatchers, silenceStatus, silenceView, silenceWindow, type SilenceRow,
} from './silence-views.ts'
import { EventOut, eventView, selectEvents } from './event-views.ts'
import { silenceMatches } from './silence-matching.ts'

/** Firing alerts a preview looks at (newest first); far more than any organization should have at once. */
const MAX_PREVIEW_SCAN = 10_000
const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000
const BODY_LIMIT = 16 * 1024

const ListQuery = Type.Object({
  active: Type.Optional(Type.Boolean({ description: 'true: in effect now; false: pending or expired' })),
  kind: Type.Optional(Type.Union(SILENCE_KINDS.map((k) => Type.Literal(k)))),
  limit: Type.Optional(Type.String({ maxLength: 12, description: `default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT}` })),
}, { additionalProperties: false })
const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const ListOut = Type.Object({ silences: Type.Array(SilenceOut), count: Type.Integer() })

export const silencesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  async function silenceOr404(orgId: string, id: string): Promise<SilenceRow> {
    const s = await db.selectFrom('silences').select(SILENCE_COLUMNS).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst()
    if (!s) throw new ApiError('NOT_FOUND', `Silence ${id} not found`)
    return s
  }

  /** matchers.rule_id names a rule of the caller's organization; another's is as unknown as none. */
  async function assertRuleOfOrg(orgId: string, matchers: SilenceMatchers): Promise<void> {
    if (matchers.rule_id === undefined) return
    const rule = await db.selectFrom('alert_rules').select('id').where('org_id', '=', orgId).where('id', '=', matchers.rule_id).executeTakeFirst()
    if (!rule) throw bad('matchers.rule_id', `is not a rule of your organization (${matchers.rule_id})`)
  }

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
    let query = db.selectFrom('silences').select(SILENCE_COLUMNS).where('org_id', '=', principalOf(request).orgId)
    if (q.kind) query = query.where('kind', '=', q.kind)
    const active = sql<boolean>`(starts_at <= now() and ends_at > now())`
    if (q.active !== undefined) query = query.where(q.active ? active : sql<boolean>`not ${active}`)
    const rows = await query.orderBy('starts_at', 'desc').orderBy('id').limit(limit).execute()
    const now = new Date()
    return { silences: rows.map((s) => silenceView(s, now)), count: rows.length }
  })

  app.get('/api/v1/silences/:id', {
    onRequest: app.authenticate,
    schema: { summary: 'One silence', tags: ['silences'], params: IdParams, response: { 200: SilenceOut, ...ERRORS } },
  }, async (request) => silenceView(await silenceOr404(principalOf(request).orgId, request.params.id)))

  app.post('/api/v1/silences', {
    onRequest: app.requireRole('admin', 'editor'), bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Create a silence or maintenance window', tags: ['silences'],
      description: 'Give ends_at or duration; starts_at defaults to now. At most 366 days long; it must end in the future.',
      body: SilenceBody, response: { 201: SilenceOut, ...WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const body = request.body
    const matchers = checkedMatchers(body.matchers)
    const { starts, ends } = silenceWindow(body, new Date())
    await assertRuleOfOrg(p.orgId, matchers)
    const created = await db.insertInto('silences').values({
      org_id: p.orgId, kind: body.kind ?? 'silence', matchers: JSON.stringify(matchers), starts_at: starts, ends_at: ends,
      comment: body.comment ?? '', created_by: p.userId, created_by_name: p.username,
    }).returning(SILENCE_COLUMNS).executeTakeFirstOrThrow()
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
    const p = principalOf(request)
    const matchers = checkedMatchers(request.body.matchers)
    const firing = await selectEvents(db, p.orgId).where('e.state', '=', 'firing')
      .orderBy('e.started_at', 'desc').orderBy('e.id', 'desc').limit(MAX_PREVIEW_SCAN).execute()
    const agentIds = [...new Set(firing.map((e) => e.agent_id).filter((id): id is string => id !== null))]
    const labels = new Map(agentIds.length === 0 ? [] : (await db.selectFrom('agents').select(['id', 'labels'])
      .where('org_id', '=', p.orgId).where('id', 'in', agentIds).execute()).map((a) => [a.id, a.labels]))
    const muted = firing.filter((e) => silenceMatches(matchers, {
      ruleId: e.rule_id ?? '', ruleName: e.rule_name, agentId: e.agent_id ?? '', agentName: e.agent_name, severity: e.severity,
      labels: { ...(e.agent_id ? labels.get(e.agent_id) : undefined), ...e.series_tags },
    }))
    const now = new Date()
    return { events: muted.map((e) => eventView(e, now)), count: muted.length }
  })

  app.put('/api/v1/silences/:id', {
    onRequest: app.requireRole('admin', 'editor'), bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Change a pending or active silence', tags: ['silences'],
      description: 'Replaces matchers and window; kind, starts_at and comment stay as they are when left out. An expired silence is history (409): create a new one.',
      params: IdParams, body: SilenceBody, response: { 200: SilenceOut, ...WRITE_ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    const body = request.body
    const now = new Date()
    const current = await silenceOr404(p.orgId, request.params.id)
    if (silenceStatus(current, now) === 'expired') {
      throw new ApiError('CONFLICT', `Silence ${current.id} expired at ${current.ends_at.toISOString()}; expired silences are history: create a new one`, { status: ['is expired'] })
    }
    const matchers = checkedMatchers(body.matchers)
    const { starts, ends } = silenceWindow(body, now, current.starts_at)
    await assertRuleOfOrg(p.orgId, matchers)
    const updated = await db.updateTable('silences').set({
      kind: body.kind ?? current.kind, matchers: JSON.stringify(matchers), starts_at: starts, ends_at: ends, comment: body.comment ?? current.comment,
    }).where('id', '=', current.id).where('org_id', '=', p.orgId).returning(SILENCE_COLUMNS).executeTakeFirstOrThrow()
    await audit(request, 'silence.update', updated)
    return silenceView(updated)
  })

  app.delete('/api/v1/silences/:id', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: {
      summary: 'End a silence now', tags: ['silences'],
      description: 'An active silence ends now and stays listed as expired (history); one not yet started is removed; an expired one answers 409.',
      params: IdParams, response: { 204: NoContent, ...WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const now = new Date()
    const current = await silenceOr404(p.orgId, request.params.id)
    const status = silenceStatus(current, now)
    if (status === 'expired') {
      throw new ApiError('CONFLICT', `Silence ${current.id} already expired at ${current.ends_at.toISOString()}`, { status: ['is expired'] })
    }
    if (status === 'pending') {
      await db.deleteFrom('silences').where('id', '=', current.id).where('org_id', '=', p.orgId).execute()
      await audit(request, 'silence.delete', current, { outcome: 'removed before it started' })
    } else {
      // ends_at must stay after starts_at (a CHECK), even for a silence created this very millisecond.
      const ends = new Date(Math.max(now.getTime(), current.starts_at.getTime() + 1))
      const ended = await db.updateTable('silences').set({ ends_at: ends }).where('id', '=', current.id).where('org_id', '=', p.orgId)
        .returning(SILENCE_COLUMNS).executeTakeFirstOrThrow()
      await audit(request, 'silence.delete', ended, { outcome: 'expired now' })
    }
    return reply.status(204).send(null)
  })
}
