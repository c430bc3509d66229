// Notification channels of one organization: reading, creating, replacing and deleting them (each config
// checked, targets through the SSRF guard, names unique), and a channel's delivery log.
import type { Kysely, Selectable } from 'kysely'
import { DomainError } from '../errors/domain-error.ts'
import { isUuid } from '../store/uuid.ts'
import type { AlertEventsTable, AlertNotificationsTable, ChannelType, Database, NotificationChannelsTable, NotificationStatus } from '../store/database.ts'
import { checkChannelTargets, parseChannelConfig, type ConfigRules } from './channel-config.ts'

export const CHANNEL_COLUMNS = ['id', 'org_id', 'name', 'type', 'config', 'enabled', 'created_by', 'created_at', 'updated_at'] as const
export type ChannelRow = Pick<Selectable<NotificationChannelsTable>, (typeof CHANNEL_COLUMNS)[number]>

/** A channel as a caller writes it; `config` is checked here (masked secrets sent back keep the stored ones). */
export interface ChannelInput { name: string; type: ChannelType; config: unknown; enabled?: boolean }

/** A channel of the organization, or not_found. */
export async function getChannel(db: Kysely<Database>, orgId: string, id: string): Promise<ChannelRow> {
  if (!isUuid(id)) throw new DomainError('not_found', `Notification channel ${id} not found`)
  const c = await db.selectFrom('notification_channels').select(CHANNEL_COLUMNS).where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst()
  if (!c) throw new DomainError('not_found', `Notification channel ${id} not found`)
  return c
}

/** The organization's channels by name. */
export async function listChannels(db: Kysely<Database>, orgId: string): Promise<ChannelRow[]> {
  return db.selectFrom('notification_channels').select(CHANNEL_COLUMNS).where('org_id', '=', orgId).orderBy('name').execute()
}

export async function createChannel(db: Kysely<Database>, orgId: string, userId: string, input: ChannelInput, rules: ConfigRules): Promise<ChannelRow> {
  const values = await accepted(db, orgId, input, rules)
  return db.insertInto('notification_channels').values({ org_id: orgId, created_by: userId, ...values })
    .returning(CHANNEL_COLUMNS).executeTakeFirstOrThrow()
}

/** Replaces a channel; masked secrets sent back are kept (while the target stays the same). */
export async function replaceChannel(db: Kysely<Database>, orgId: string, id: string, input: ChannelInput, rules: ConfigRules): Promise<ChannelRow> {
  const current = await getChannel(db, orgId, id)
  const values = await accepted(db, orgId, input, rules, current)
  return db.updateTable('notification_channels').set({ ...values, updated_at: new Date() })
    .where('id', '=', current.id).where('org_id', '=', orgId).returning(CHANNEL_COLUMNS).executeTakeFirstOrThrow()
}

/** Deletes a channel (its pending notifications fail; the delivery log stays with the events); returns it as it was. */
export async function deleteChannel(db: Kysely<Database>, orgId: string, id: string): Promise<ChannelRow> {
  const current = await getChannel(db, orgId, id)
  await db.deleteFrom('notification_channels').where('id', '=', current.id).where('org_id', '=', orgId).execute()
  return current
}

/** A notification with its event's rule and agent names (left-joined: null once the event is gone). */
export type DeliveryRow = Pick<Selectable<AlertNotificationsTable>, 'id' | 'event_id' | 'rule_id' | 'kind' | 'status' | 'attempts' | 'last_error'
  | 'next_attempt_at' | 'created_at' | 'delivered_at' | 'message_id'> & { [K in 'rule_name' | 'agent_name']: Selectable<AlertEventsTable>[K] | null }

/** A channel's delivery log, newest first. */
export async function channelDeliveries(db: Kysely<Database>, orgId: string, channelId: string,
  filter: { status?: NotificationStatus; limit: number }): Promise<DeliveryRow[]> {
  let q = db.selectFrom('alert_notifications as n').leftJoin('alert_events as e', 'e.id', 'n.event_id')
    .select(['n.id', 'n.event_id', 'n.rule_id', 'e.rule_name', 'e.agent_name', 'n.kind', 'n.status', 'n.attempts', 'n.last_error',
      'n.next_attempt_at', 'n.created_at', 'n.delivered_at', 'n.message_id'])
    .where('n.channel_id', '=', channelId).where('n.org_id', '=', orgId)
  if (filter.status) q = q.where('n.status', '=', filter.status)
  return q.orderBy('n.created_at', 'desc').orderBy('n.id').limit(filter.limit).execute()
}

/** Everything an input must pass before anything is stored; returns the column values to store. */
async function accepted(db: Kysely<Database>, orgId: string, input: ChannelInput, rules: ConfigRules, current?: ChannelRow) {
  const config = parseChannelConfig(input.type, input.config, current)
  await checkChannelTargets(input.type, config, rules)
  const name = input.name.trim()
  await assertChannelNameFree(db, orgId, name, current?.id)
  return { name, type: input.type, config: JSON.stringify(config), enabled: input.enabled ?? true }
}

async function assertChannelNameFree(db: Kysely<Database>, orgId: string, name: string, exceptId?: string): Promise<void> {
  let q = db.selectFrom('notification_channels').select('id').where('org_id', '=', orgId).where('name', '=', name)
  if (exceptId) q = q.where('id', '!=', exceptId)
  if (await q.executeTakeFirst()) {
    throw new DomainError('conflict', `A notification channel named "${name}" already exists`, { details: { name: ['is taken'] } })
  }
}

/** A channel with its integer number (the id seed 003's face shows). */
export type NumberedChannelRow = ChannelRow & { number: number }
const NUMBERED_COLUMNS = [...CHANNEL_COLUMNS, 'number'] as const

/** A channel of the organization by its integer number, or undefined. */
export async function findChannelByNumber(db: Kysely<Database>, orgId: string, number: number): Promise<NumberedChannelRow | undefined> {
  if (!Number.isSafeInteger(number) || number < 1 || number > 2147483647) return undefined
  return db.selectFrom('notification_channels').select(NUMBERED_COLUMNS).where('org_id', '=', orgId).where('number', '=', number).executeTakeFirst()
}

/** One offset page of the organization's channels, oldest first (by number), and how many there are. */
export async function pageChannels(db: Kysely<Database>, orgId: string,
  filter: { type?: ChannelType; offset: number; limit: number }): Promise<{ channels: NumberedChannelRow[]; total: number }> {
  let q = db.selectFrom('notification_channels').where('org_id', '=', orgId)
  if (filter.type) q = q.where('type', '=', filter.type)
  const channels = await q.select(NUMBERED_COLUMNS).orderBy('number').limit(filter.limit).offset(filter.offset).execute()
  const { total } = await q.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow()
  return { channels, total: Number(total) }
}

/** The numbers of the organization's channels among `ids` (ids of other organizations or of no channel are left out). */
export async function channelNumbers(db: Kysely<Database>, orgId: string, ids: readonly string[]): Promise<Map<string, number>> {
  const valid = ids.filter((id) => isUuid(id))
  if (valid.length === 0) return new Map()
  const rows = await db.selectFrom('notification_channels').select(['id', 'number']).where('org_id', '=', orgId).where('id', 'in', valid).execute()
  return new Map(rows.map((r) => [r.id, r.number]))
}

/** The ids of the organization's channels with these numbers (numbers of no channel of it are left out). */
export async function channelIdsByNumber(db: Kysely<Database>, orgId: string, numbers: readonly number[]): Promise<Map<number, string>> {
  const valid = numbers.filter((n) => Number.isSafeInteger(n) && n >= 1 && n <= 2147483647)
  if (valid.length === 0) return new Map()
  const rows = await db.selectFrom('notification_channels').select(['id', 'number']).where('org_id', '=', orgId).where('number', 'in', valid).execute()
  return new Map(rows.map((r) => [r.number, r.id]))
}
