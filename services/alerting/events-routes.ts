// Alert events: the history (newest first, filtered, keyset-paginated), one event with its deliveries,
// a summary for page headers, and what people do to an event: acknowledge, unacknowledge, resolve.
// Every role reads; admins and editors act.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type, type Static } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { ERRORS, WRITE_ERRORS } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { userActor, writeAudit, type AuditAction } from '../audit/audit-log.ts'
import { parseLimit, parseRfc3339 } from '../query/time-range.ts'
import { DurationTooLongError, parseDuration } from '../time/duration.ts'
import type { Kysely } from 'kysely'
import type { AlertSeverity, Database } from '../store/database.ts'
import { EVENT_STATES, EventDetailOut, EventListOut, EventOut, SEVERITIES, eventNotifications, eventView, type EventRow } from './event-views.ts'
import { acknowledgeEvent, resolveEvent, unacknowledgeEvent } from './event-actions.ts'
import { eventsSummary, getEvent, listEvents, type EventFilter } from './events-repository.ts'
import { isUuid } from '../store/uuid.ts'
import { IdParam } from '../http/params.ts'

const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000
/** An acknowledgement lasts at most this long, so a forgotten one cannot mute repeats for good. */
const MAX_ACK_MS = 365 * 86_400_000
const BODY_LIMIT = 16 * 1024

const EventsQuery = Type.Object({
  state: Type.Optional(Type.Union(EVENT_STATES.map((s) => Type.Literal(s)), { description: 'firing or resolved' })),
  severity: Type.Optional(Type.String({ maxLength: 64, description: 'info, warning or critical; several comma-separated' })),
  agent: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'agent name or uuid (a deleted agent\'s history by its name)' })),
  rule: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'rule name or uuid (a deleted rule\'s history by its name)' })),
  acknowledged: Type.Optional(Type.Boolean({ description: 'only events whose acknowledgement holds now (true) or not (false)' })),
  start: Type.Optional(Type.String({ maxLength: 64, description: 'RFC3339: events still firing at or resolved after this time' })),
  end: Type.Optional(Type.String({ maxLength: 64, description: 'RFC3339: events that started before this time' })),
  limit: Type.Optional(Type.String({ maxLength: 12, description: `events per page, default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT}` })),
  cursor: Type.Optional(Type.String({ maxLength: 512, description: 'next_cursor of the previous page' })),
}, { additionalProperties: false })
type EventsQuery = Static<typeof EventsQuery>

const AckBody = Type.Object({
  comment: Type.Optional(Type.String({ maxLength: 2000 })),
  expires_in: Type.Optional(Type.String({ maxLength: 32, description: 'the acknowledgement ends after this long, e.g. 30m, 2h, 1d' })),
  expires_at: Type.Optional(Type.String({ maxLength: 64, description: 'RFC3339: the acknowledgement ends then' })),
}, { additionalProperties: false })
const ResolveBody = Type.Object({ comment: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false })
const SummaryOut = Type.Object({
  firing: Type.Object({ info: Type.Integer(), warning: Type.Integer(), critical: Type.Integer(), total: Type.Integer() }),
  acknowledged: Type.Integer({ description: 'firing events whose acknowledgement holds now' }),
  active_silences: Type.Integer({ description: 'silences and maintenance windows in effect now' }),
})

function bad(field: string, message: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `Invalid request: ${field} ${message}`, { [field]: [message] })
}

const encodeCursor = (id: string) => Buffer.from(JSON.stringify({ id })).toString('base64url')

function decodeCursor(text: string): string {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString()) as { id?: unknown }
    if (typeof c.id === 'string' && isUuid(c.id)) return c.id
  } catch { /* answered below */ }
  throw bad('cursor', 'is not one this API issued (use next_cursor as given)')
}

function severitiesOf(text: string): AlertSeverity[] {
  const list = text.split(',').map((s) => s.trim()).filter(Boolean)
  const wrong = list.find((s) => !(SEVERITIES as readonly string[]).includes(s))
  if (list.length === 0 || wrong !== undefined) throw bad('severity', `must be info, warning or critical, or several comma-separated (got "${wrong ?? text}")`)
  return list as AlertSeverity[]
}

/** A bound on the history; years before 1970 hold no alerts and some (year 0) are not storable times at all. */
function historyTime(field: string, text: string): Date {
  const time = parseRfc3339(field, text)
  if (time.getUTCFullYear() < 1970) throw bad(field, `must be in 1970 or later (got "${text}")`)
  return time
}

/** An empty comment box is no comment. */
export const commentOf = (text: string | undefined) => (text?.trim() ? text : null)

/** Lets `POST …/ack` and `…/resolve` be sent without a body (curl -X POST). */
export async function emptyBodyIsEmptyObject(request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {}
}

function ackExpiry(body: Static<typeof AckBody>, now: Date): Date | null {
  if (body.expires_in !== undefined && body.expires_at !== undefined) throw bad('expires_at', 'cannot be given with expires_in: choose one')
  let expires: Date | null = null
  let field = 'expires_in'
  if (body.expires_in !== undefined) {
    let ms: number
    try { ms = parseDuration(body.expires_in) } catch (err) {
      if (err instanceof DurationTooLongError) throw bad('expires_in', 'must be at most 365 days from now')
      throw bad('expires_in', `must be a duration such as 30m, 2h or 1d (got "${body.expires_in}")`)
    }
    if (ms <= 0) throw bad('expires_in', 'must be longer than 0')
    // Checked before the Date is built: a huge duration makes an Invalid Date that compares as NaN.
    if (ms > MAX_ACK_MS) throw bad('expires_in', 'must be at most 365 days from now')
    expires = new Date(now.getTime() + ms)
  } else if (body.expires_at !== undefined) {
    field = 'expires_at'
    expires = parseRfc3339('expires_at', body.expires_at)
    if (expires <= now) throw bad('expires_at', 'must be in the future')
  }
  if (expires && expires.getTime() - now.getTime() > MAX_ACK_MS) throw bad(field, 'must be at most 365 days from now')
  return expires
}

/** The query string → a filter, each field checked in the order it has always been answered. */
function eventFilter(q: EventsQuery): EventFilter {
  const limit = parseLimit(q.limit, DEFAULT_LIMIT, MAX_LIMIT)
  const start = q.start === undefined ? undefined : historyTime('start', q.start)
  const end = q.end === undefined ? undefined : historyTime('end', q.end)
  if (start && end && start >= end) throw bad('start', 'must be before end')
  return {
    state: q.state, severities: q.severity === undefined ? undefined : severitiesOf(q.severity), agent: q.agent, rule: q.rule,
    acknowledged: q.acknowledged, start, end, afterId: q.cursor === undefined ? undefined : decodeCursor(q.cursor), limit,
  }
}

/** The audit entry of what a user did to an event, as every API that acts on events records it; returns the event as it is now. */
export async function auditEventAction(db: Kysely<Database>, request: FastifyRequest, action: AuditAction, id: string,
  details: Record<string, string | number | boolean | null>): Promise<EventRow> {
  const p = principalOf(request)
  const row = await getEvent(db, p.orgId, id)
  await writeAudit(db, {
    orgId: p.orgId, action, actor: userActor(request), target: { type: 'alert_event', id }, ip: request.ip,
    details: { rule: row.rule_name, agent: row.agent_name, severity: row.severity, ...details },
  })
  return row
}

export const alertEventsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  async function audited(request: FastifyRequest, action: AuditAction, id: string, details: Record<string, string | number | boolean | null>) {
    return eventView(await auditEventAction(db, request, action, id, details))
  }

  app.get('/api/v1/alerts/events', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Alert history, newest first', tags: ['alerts'],
      description: 'Filters combine; start/end select events that overlap [start, end). Page with cursor=<next_cursor>.',
      querystring: EventsQuery, response: { 200: EventListOut, ...ERRORS },
    },
  }, async (request) => {
    const { events, more } = await listEvents(db, principalOf(request).orgId, eventFilter(request.query))
    const now = new Date()
    return {
      events: events.map((e) => eventView(e, now)), count: events.length,
      ...(more ? { next_cursor: encodeCursor(events[events.length - 1].id) } : {}),
    }
  })

  app.get('/api/v1/alerts/events/summary', {
    onRequest: app.authenticate,
    schema: { summary: 'Firing alerts by severity, acknowledged ones, active silences', tags: ['alerts'], response: { 200: SummaryOut, ...ERRORS } },
  }, async (request) => {
    const { firing: by, acknowledged, activeSilences } = await eventsSummary(db, principalOf(request).orgId)
    return { firing: { ...by, total: by.info + by.warning + by.critical }, acknowledged, active_silences: activeSilences }
  })

  app.get('/api/v1/alerts/events/:id', {
    onRequest: app.authenticate,
    schema: { summary: 'One alert event with its notification deliveries', tags: ['alerts'], params: IdParam, response: { 200: EventDetailOut, ...ERRORS } },
  }, async (request) => {
    const orgId = principalOf(request).orgId
    const event = eventView(await getEvent(db, orgId, request.params.id))
    return { ...event, notifications: await eventNotifications(db, orgId, event.id) }
  })

  app.post('/api/v1/alerts/events/:id/ack', {
    onRequest: app.requireRole('admin', 'editor'), preValidation: emptyBodyIsEmptyObject, bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Acknowledge a firing alert: no repeat notifications while the acknowledgement holds', tags: ['alerts'],
      description: 'Acknowledging again replaces who, when, comment and expiry. A resolved event answers 409.',
      params: IdParam, body: AckBody, response: { 200: EventOut, ...WRITE_ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    const now = new Date()
    const expiresAt = ackExpiry(request.body, now)
    await acknowledgeEvent(db, p.orgId, request.params.id, { userId: p.userId, comment: commentOf(request.body.comment), expiresAt, now })
    return audited(request, 'alert.acknowledge', request.params.id, { acknowledged: true, expires_at: expiresAt?.toISOString() ?? null })
  })

  app.delete('/api/v1/alerts/events/:id/ack', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: {
      summary: 'Take an acknowledgement back: repeat notifications resume', tags: ['alerts'],
      params: IdParam, response: { 200: EventOut, ...WRITE_ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    await unacknowledgeEvent(db, p.orgId, request.params.id, new Date())
    return audited(request, 'alert.acknowledge', request.params.id, { acknowledged: false })
  })

  app.post('/api/v1/alerts/events/:id/resolve', {
    onRequest: app.requireRole('admin', 'editor'), preValidation: emptyBodyIsEmptyObject, bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Resolve a firing alert by hand', tags: ['alerts'],
      description: 'Its lifecycle starts over (a condition that still holds fires a new event); resolved notifications go out if the rule asks. '
        + 'A resolved event answers 409.',
      params: IdParam, body: ResolveBody, response: { 200: EventOut, ...WRITE_ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    const { queued } = await resolveEvent(db, p.orgId, request.params.id, { userId: p.userId, comment: commentOf(request.body.comment), now: new Date() })
    return audited(request, 'alert.resolve', request.params.id, { resolved_notifications: queued })
  })
}
