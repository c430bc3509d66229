// The evaluator's side of the notification outbox: rows in alert_notifications, written in the same
// transaction as the event they announce. The dispatcher (services/notify) sends them; nothing here sends.
import { sql, type Kysely } from 'kysely'
import type { Database, NotificationKind } from '../store/database.ts'
import { isUuid } from '../store/uuid.ts'
import { toldOfFiring } from '../notify/told-of-firing.ts'

export interface NotificationRequest {
  orgId: string
  eventId: string
  ruleId: string
  /** The rule's channels; ids that are not enabled channels of the organization are skipped. */
  channelIds: string[]
  kind: NotificationKind
  /** How long a new group waits for more alerts of the same rule before it goes out. */
  groupWaitSeconds: number
  now: Date
}


/** The outbox rows of one rule × channel × kind that go out as one message share this key. */
export const groupKey = (ruleId: string, channelId: string, kind: NotificationKind) => `${ruleId}:${channelId}:${kind}`

/**
 * Queues one notification per enabled channel of the rule for an event, joining an open group of the same
 * rule × channel × kind. A group is open while one of its rows is pending and untried: a new row takes
 * that row's send time, so alerts of one rule firing within group_wait go out as ONE message.
 * The end of an alert (`resolved`) also goes to every enabled channel that was told of its firing, though the
 * rule no longer names it (its channels were changed while it fired); a channel the rule names now but that
 * never heard of the firing gets a row the dispatcher supersedes (outbox-dispatcher.ts).
 * Returns the number of rows queued.
 */
export async function enqueueNotifications(db: Kysely<Database>, input: NotificationRequest): Promise<number> {
  const channelIds = [...new Set(input.channelIds.filter((id) => isUuid(id)))]
  if (channelIds.length === 0 && input.kind !== 'resolved') return 0
  const firstSend = new Date(input.now.getTime() + input.groupWaitSeconds * 1000)
  const result = await sql`
    insert into alert_notifications (org_id, event_id, rule_id, channel_id, channel_name, kind, group_key, next_attempt_at)
    select c.org_id, ${input.eventId}::uuid, ${input.ruleId}::uuid, c.id, c.name, ${input.kind}, g.key,
      coalesce((select min(n.next_attempt_at) from alert_notifications n
                where n.group_key = g.key and n.status = 'pending' and n.attempts = 0), ${firstSend}::timestamptz)
    from notification_channels c
    cross join lateral (select ${input.ruleId}::text || ':' || c.id::text || ':' || ${input.kind}::text as key) g
    where c.org_id = ${input.orgId}::uuid and c.enabled and (c.id = any(${channelIds}::uuid[])
      or (${input.kind} = 'resolved' and exists (
        select 1 from alert_notifications f
        where f.event_id = ${input.eventId}::uuid and f.channel_id = c.id and ${toldOfFiring('f')})))`.execute(db)
  return Number(result.numAffectedRows ?? 0n)
}
