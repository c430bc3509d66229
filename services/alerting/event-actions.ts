// What people do to an alert event: acknowledge it (no repeats while it holds), take the acknowledgement
// back, or resolve it by hand. Each change is one transaction on the event row, locked first (a resolve
// takes the rule's evaluation lock before that), so it never interleaves with the evaluator's transition.
import type { Kysely, Transaction } from 'kysely'
import { DomainError } from '../errors/domain-error.ts'
import type { AlertSeverity, Database } from '../store/database.ts'
import { alertNotice, sendAlertNotice } from '../bus/alert-bus.ts'
import { enqueueNotifications } from './outbox.ts'
import { announcesResolve } from './evaluator.ts'
import { eventNotFound } from './events-repository.ts'
import { isUuid } from '../store/uuid.ts'
import { lockRuleAlerts } from './evaluate-rule.ts'
import { activeSilences, isSilenced } from './silence-matching.ts'

interface LockedEvent {
  id: string; org_id: string; rule_id: string | null; rule_name: string; agent_id: string | null; agent_name: string; series_key: string
  series_tags: Record<string, string>; severity: AlertSeverity; state: 'firing' | 'resolved'; value: number | null; summary: string
  started_at: Date; resolved_at: Date | null; last_notified_at: Date | null
}

async function lockEvent(trx: Transaction<Database>, orgId: string, eventId: string): Promise<LockedEvent> {
  if (!isUuid(eventId)) throw eventNotFound(eventId)
  const event = await trx.selectFrom('alert_events')
    .select(['id', 'org_id', 'rule_id', 'rule_name', 'agent_id', 'agent_name', 'series_key', 'series_tags', 'severity', 'state', 'value',
      'summary', 'started_at', 'resolved_at', 'last_notified_at'])
    .where('id', '=', eventId).where('org_id', '=', orgId).forUpdate().executeTakeFirst()
  if (!event) throw eventNotFound(eventId)
  return event
}

function refuseResolved(event: LockedEvent, action: string): void {
  if (event.state === 'resolved') {
    throw new DomainError('conflict', `Alert event ${event.id} is already resolved (at ${event.resolved_at?.toISOString()}); ${action}`,
      { details: { state: ['is resolved'] } })
  }
}

export interface Acknowledgement { userId: string; comment: string | null; expiresAt: Date | null; now: Date }

/** Acknowledges a firing event; acknowledging again replaces who, when, comment and expiry. */
export async function acknowledgeEvent(db: Kysely<Database>, orgId: string, eventId: string, ack: Acknowledgement): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const event = await lockEvent(trx, orgId, eventId)
    refuseResolved(event, 'only a firing alert can be acknowledged')
    await trx.updateTable('alert_events')
      .set({
        acknowledged_at: ack.now, acknowledged_by: ack.userId, ack_comment: ack.comment, ack_expires_at: ack.expiresAt,
        acknowledged_severity: event.severity, updated_at: ack.now,
      })
      .where('id', '=', eventId).where('org_id', '=', orgId).execute()
  })
}

/** Takes an acknowledgement back: repeats resume at the rule's next repeat time. */
export async function unacknowledgeEvent(db: Kysely<Database>, orgId: string, eventId: string, now: Date): Promise<void> {
  await db.transaction().execute(async (trx) => {
    refuseResolved(await lockEvent(trx, orgId, eventId), 'its acknowledgement is history now')
    await trx.updateTable('alert_events')
      .set({ acknowledged_at: null, acknowledged_by: null, ack_comment: null, ack_expires_at: null, acknowledged_severity: null, updated_at: now })
      .where('id', '=', eventId).where('org_id', '=', orgId).execute()
  })
}

export interface ManualResolution { userId: string; comment: string | null; now: Date }

/**
 * Resolves a firing event by hand, in one transaction: the event, its lifecycle row (back to inactive, so
 * the evaluator starts over and fires a new event if the condition still holds), the resolved notifications
 * when the rule asks for them, and the notice on hostpulse_alerts (sent by PostgreSQL at commit).
 * Returns how many resolved notifications were queued.
 */
export async function resolveEvent(db: Kysely<Database>, orgId: string, eventId: string, res: ManualResolution): Promise<{ queued: number }> {
  return db.transaction().execute(async (trx) => {
    // The rule's evaluation lock first (as the evaluator takes it), then the row: an evaluation of the rule
    // never runs between our read and our write (no second resolved notification, no stale state row).
    if (!isUuid(eventId)) throw eventNotFound(eventId)
    const ruleOf = await trx.selectFrom('alert_events').select('rule_id').where('id', '=', eventId).where('org_id', '=', orgId).executeTakeFirst()
    if (ruleOf?.rule_id) await lockRuleAlerts(trx, ruleOf.rule_id)
    const event = await lockEvent(trx, orgId, eventId)
    refuseResolved(event, 'nothing to do')
    await trx.updateTable('alert_events')
      .set({ state: 'resolved', resolved_at: res.now, resolved_by: res.userId, resolve_comment: res.comment, updated_at: res.now })
      .where('id', '=', eventId).where('org_id', '=', orgId).execute()
    const queued = await queueResolvedNotifications(trx, event, res.now)
    if (event.rule_id && event.agent_id) {
      await trx.updateTable('alert_states')
        .set({ state: 'inactive', pending_since: null, firing_since: null, event_id: null, last_notified_at: null, notified_severity: null })
        .where('rule_id', '=', event.rule_id).where('agent_id', '=', event.agent_id).where('series_key', '=', event.series_key)
        .where('event_id', '=', eventId).where('org_id', '=', orgId).execute()
    }
    await sendAlertNotice(trx, alertNotice({ ...event, org_id: orgId }, res.now))
    return { queued }
  })
}

/** The event fields that decide whether its end is announced. */
export type ClosedEvent = Pick<LockedEvent, 'id' | 'org_id' | 'rule_id' | 'agent_id' | 'agent_name' | 'series_key' | 'series_tags' | 'severity' | 'last_notified_at'>

/**
 * Queues the resolved notifications of an event closed outside the evaluator (by hand, or with its rule),
 * before its lifecycle row is reset. As the evaluator does: only when the rule asks, and nobody hears of
 * the end of something they never heard of, or that is silenced. Returns how many were queued.
 */
export async function queueResolvedNotifications(trx: Kysely<Database>, event: ClosedEvent, now: Date): Promise<number> {
  if (event.rule_id === null) return 0
  const rule = await trx.selectFrom('alert_rules')
    .select(['id', 'name', 'notify_on_resolve', 'channels', 'group_wait_seconds'])
    .where('id', '=', event.rule_id).where('org_id', '=', event.org_id).executeTakeFirst()
  // A rule without channels now may still owe the end to those told of the firing (enqueueNotifications).
  if (!rule) return 0
  // Each check reads the database: later ones run only while the answer can still be yes.
  const firingNotified = rule.notify_on_resolve && await firingWasNotified(trx, event)
  const silenced = firingNotified && await silencedNow(trx, event, rule.name, now)
  if (!announcesResolve({ notifyOnResolve: rule.notify_on_resolve, firingNotified, silenced })) return 0
  return enqueueNotifications(trx, {
    orgId: event.org_id, eventId: event.id, ruleId: rule.id, channelIds: rule.channels, kind: 'resolved', groupWaitSeconds: rule.group_wait_seconds, now,
  })
}

/** The firing went out (or is queued): the evaluator marks its lifecycle row, the outbox holds the rows. */
async function firingWasNotified(trx: Kysely<Database>, event: ClosedEvent): Promise<boolean> {
  if (event.last_notified_at !== null) return true
  if (event.rule_id !== null && event.agent_id !== null) {
    const state = await trx.selectFrom('alert_states').select('last_notified_at')
      .where('rule_id', '=', event.rule_id).where('agent_id', '=', event.agent_id).where('series_key', '=', event.series_key)
      .where('event_id', '=', event.id).executeTakeFirst()
    if (state?.last_notified_at) return true
  }
  const queued = await trx.selectFrom('alert_notifications').select('id').where('org_id', '=', event.org_id).where('event_id', '=', event.id)
    .where('kind', 'in', ['firing', 'repeat']).limit(1).executeTakeFirst()
  return queued !== undefined
}

/** Silences mute every notification of a matching alert, resolved ones included (as the evaluator does). */
async function silencedNow(trx: Kysely<Database>, event: ClosedEvent, ruleName: string, now: Date): Promise<boolean> {
  if (event.rule_id === null || event.agent_id === null) return false
  const silences = await activeSilences(trx, event.org_id, now)
  if (silences.length === 0) return false
  const agent = await trx.selectFrom('agents').select('labels').where('id', '=', event.agent_id).where('org_id', '=', event.org_id).executeTakeFirst()
  return isSilenced(silences, {
    ruleId: event.rule_id, ruleName, agentId: event.agent_id, agentName: event.agent_name,
    severity: event.severity, labels: { ...agent?.labels, ...event.series_tags },
  })
}
