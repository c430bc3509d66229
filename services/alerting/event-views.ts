// Alert events and their deliveries as the API shows them: the columns read, the JSON built from them,
// and the response schemas (one source for both the serializer and the OpenAPI document).
import { Type } from 'typebox'
import { sql, type Kysely } from 'kysely'
import { Nullable, Time } from '../http/response-schemas.ts'
import type { AlertSeverity, Database, NotificationKind, NotificationStatus } from '../store/database.ts'
import { redactUrls } from '../security/redact-urls.ts'

export const SEVERITIES = ['info', 'warning', 'critical'] as const satisfies readonly AlertSeverity[]
export const EVENT_STATES = ['firing', 'resolved'] as const

/** An event row with the names of the users who acknowledged and resolved it. */
export interface EventRow {
  id: string
  rule_id: string | null
  rule_name: string
  /** The rule's metric, for the unit of value and threshold; null once the rule is deleted. */
  metric: string | null
  agent_id: string | null
  agent_name: string
  series_key: string
  series_tags: Record<string, string>
  severity: AlertSeverity
  state: 'firing' | 'resolved'
  value: number | null
  threshold: number | null
  summary: string
  annotations: Record<string, string>
  started_at: Date
  resolved_at: Date | null
  resolved_by: string | null
  resolved_by_name: string | null
  resolve_comment: string | null
  acknowledged_at: Date | null
  acknowledged_by: string | null
  acknowledged_by_name: string | null
  ack_comment: string | null
  ack_expires_at: Date | null
  last_notified_at: Date | null
  notification_count: number
}

/** Events of one organization, with user names; callers add filters on `e.*` and an order. */
export function selectEvents(db: Kysely<Database>, orgId: string) {
  return db.selectFrom('alert_events as e')
    .leftJoin('users as ack_user', 'ack_user.id', 'e.acknowledged_by')
    .leftJoin('users as res_user', 'res_user.id', 'e.resolved_by')
    .leftJoin('alert_rules as rule', 'rule.id', 'e.rule_id')
    .select([
      'e.id', 'e.rule_id', 'e.rule_name', 'rule.metric as metric', 'e.agent_id', 'e.agent_name', 'e.series_key', 'e.series_tags', 'e.severity', 'e.state',
      'e.value', 'e.threshold', 'e.summary', 'e.annotations', 'e.started_at', 'e.resolved_at', 'e.resolved_by',
      'res_user.username as resolved_by_name', 'e.resolve_comment', 'e.acknowledged_at', 'e.acknowledged_by',
      'ack_user.username as acknowledged_by_name', 'e.ack_comment', 'e.ack_expires_at', 'e.last_notified_at', 'e.notification_count',
    ])
    .where('e.org_id', '=', orgId)
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)

/** An acknowledgement counts until it expires; an expired one is shown but no longer mutes repeats. */
export function isAcknowledged(e: Pick<EventRow, 'acknowledged_at' | 'ack_expires_at'>, now = new Date()): boolean {
  return e.acknowledged_at !== null && (e.ack_expires_at === null || e.ack_expires_at > now)
}

export function eventView(e: EventRow, now = new Date()) {
  return {
    id: e.id, rule_id: e.rule_id, rule_name: e.rule_name, metric: e.metric, agent_id: e.agent_id, agent_name: e.agent_name,
    series_key: e.series_key, series_tags: e.series_tags, severity: e.severity, state: e.state,
    value: e.value, threshold: e.threshold, summary: e.summary, annotations: e.annotations,
    started_at: e.started_at.toISOString(), resolved_at: iso(e.resolved_at),
    duration_seconds: Math.max(0, Math.round(((e.resolved_at ?? now).getTime() - e.started_at.getTime()) / 1000)),
    resolved_by: e.resolved_by, resolved_by_name: e.resolved_by_name, resolve_comment: e.resolve_comment,
    acknowledged: isAcknowledged(e, now),
    acknowledged_at: iso(e.acknowledged_at), acknowledged_by: e.acknowledged_by, acknowledged_by_name: e.acknowledged_by_name,
    ack_comment: e.ack_comment, ack_expires_at: iso(e.ack_expires_at),
    last_notified_at: iso(e.last_notified_at), notification_count: e.notification_count,
  }
}

const Str = Type.String()
const NStr = Nullable(Type.String())
const NTime = Nullable(Time)
const NNum = Nullable(Type.Number())

export const EventOut = Type.Object({
  id: Str, rule_id: NStr, rule_name: Str,
  metric: Nullable(Type.String({ description: 'the rule\'s metric (its name gives the unit of value and threshold); null once the rule is deleted' })),
  agent_id: NStr, agent_name: Str,
  series_key: Type.String({ description: 'identifies the series within the rule and agent (e.g. the mount point); empty for one-series rules' }),
  series_tags: Type.Record(Str, Str), severity: Str, state: Type.String({ description: 'firing or resolved' }),
  value: NNum, threshold: NNum, summary: Str, annotations: Type.Record(Str, Str),
  started_at: Time, resolved_at: NTime, duration_seconds: Type.Integer({ description: 'until resolved, or until now while firing' }),
  resolved_by: Nullable(Type.String({ description: 'the user who resolved it by hand; null when the evaluator resolved it' })),
  resolved_by_name: NStr, resolve_comment: NStr,
  acknowledged: Type.Boolean({ description: 'acknowledged and the acknowledgement has not expired: no repeat notifications' }),
  acknowledged_at: NTime, acknowledged_by: NStr, acknowledged_by_name: NStr, ack_comment: NStr, ack_expires_at: NTime,
  last_notified_at: NTime, notification_count: Type.Integer(),
})

export const NotificationOut = Type.Object({
  id: Str, channel_id: NStr, channel_name: Str, channel_type: Nullable(Type.String({ description: 'null when the channel was deleted' })),
  kind: Type.String({ description: 'firing, repeat or resolved' }), status: Type.String({ description: 'pending, sending, delivered, failed, or superseded (the alert resolved or was acknowledged before it went out)' }),
  attempts: Type.Integer(), last_error: NStr, next_attempt_at: Time, created_at: Time, delivered_at: NTime,
})

export const EventDetailOut = Type.Object({ ...EventOut.properties, notifications: Type.Array(NotificationOut) })

export const EventListOut = Type.Object({
  events: Type.Array(EventOut), count: Type.Integer(),
  next_cursor: Type.Optional(Type.String({ description: 'pass as cursor= for the next (older) page; absent on the last page' })),
})

interface NotificationRow {
  id: string; channel_id: string | null; channel_name: string; channel_type: string | null; kind: NotificationKind; status: NotificationStatus
  attempts: number; last_error: string | null; next_attempt_at: Date; created_at: Date; delivered_at: Date | null
}

/** The delivery log of one event (oldest first); never the channel's config. */
export async function eventNotifications(db: Kysely<Database>, orgId: string, eventId: string) {
  const rows: NotificationRow[] = await db.selectFrom('alert_notifications as n')
    .leftJoin('notification_channels as c', (j) => j.onRef('c.id', '=', 'n.channel_id').on('c.org_id', '=', orgId))
    .select(['n.id', 'n.channel_id', 'n.channel_name', 'c.type as channel_type', 'n.kind', 'n.status', 'n.attempts', 'n.last_error',
      'n.next_attempt_at', 'n.created_at', 'n.delivered_at'])
    .where('n.org_id', '=', orgId).where('n.event_id', '=', eventId)
    .orderBy('n.created_at').orderBy(sql`n.kind = 'resolved'`).orderBy('n.channel_name').orderBy('n.id')
    .execute()
  return rows.map((n) => ({
    ...n, last_error: redactUrls(n.last_error),
    next_attempt_at: n.next_attempt_at.toISOString(), created_at: n.created_at.toISOString(), delivered_at: iso(n.delivered_at),
  }))
}
