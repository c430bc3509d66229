// Where an agent's traffic is counted from and against: its cycle start day, time zone, counted interfaces
// and own quota (columns of agents), and the organization's quotas by label.
import { sql, type Kysely } from 'kysely'
import type { Database, TrafficDirection } from '../store/database.ts'
import { DomainError } from '../errors/domain-error.ts'
import type { TrafficSettings } from './traffic-reads.ts'

export interface AgentTrafficSettings extends TrafficSettings {
  quota_bytes: number | null
  quota_direction: TrafficDirection
}

export interface LabelQuota { label_key: string; label_value: string; quota_bytes: number; direction: TrafficDirection; updated_at: Date }

export async function trafficSettings(db: Kysely<Database>, orgId: string, agentId: string): Promise<AgentTrafficSettings> {
  const row = await db.selectFrom('agents')
    .select(['traffic_cycle_day', 'time_zone', 'traffic_interfaces', 'traffic_quota_bytes', 'traffic_quota_direction'])
    .where('org_id', '=', orgId).where('id', '=', agentId).executeTakeFirst()
  if (!row) throw new DomainError('not_found', `Agent "${agentId}" not found`)
  return {
    cycle_start_day: row.traffic_cycle_day, time_zone: row.time_zone, interfaces: row.traffic_interfaces,
    quota_bytes: row.traffic_quota_bytes, quota_direction: row.traffic_quota_direction,
  }
}

/** A time zone the store knows by name (IANA names such as Europe/Berlin; abbreviations are ambiguous and refused). */
export async function checkTimeZone(db: Kysely<Database>, timeZone: string): Promise<void> {
  const { rows: [known] } = await sql<{ name: string }>`select name from pg_timezone_names where name = ${timeZone} limit 1`.execute(db)
  if (!known || !timeZone.includes('/') && timeZone !== 'UTC') {
    throw new DomainError('invalid', `Invalid request: time_zone "${timeZone.slice(0, 64)}" is not a time zone name such as UTC, Europe/Berlin or America/New_York`,
      { details: { time_zone: ['must be an IANA time zone name'] } })
  }
}

export async function updateTrafficSettings(db: Kysely<Database>, orgId: string, agentId: string, change: Partial<AgentTrafficSettings>): Promise<AgentTrafficSettings> {
  if (change.time_zone !== undefined) await checkTimeZone(db, change.time_zone)
  await db.updateTable('agents').set({
    ...(change.cycle_start_day !== undefined ? { traffic_cycle_day: change.cycle_start_day } : {}),
    ...(change.time_zone !== undefined ? { time_zone: change.time_zone } : {}),
    ...(change.interfaces !== undefined ? { traffic_interfaces: change.interfaces === null ? null : [...new Set(change.interfaces)] } : {}),
    ...(change.quota_bytes !== undefined ? { traffic_quota_bytes: change.quota_bytes } : {}),
    ...(change.quota_direction !== undefined ? { traffic_quota_direction: change.quota_direction } : {}),
    updated_at: new Date(),
  }).where('org_id', '=', orgId).where('id', '=', agentId).execute()
  return trafficSettings(db, orgId, agentId)
}

export async function labelQuotas(db: Kysely<Database>, orgId: string): Promise<LabelQuota[]> {
  return db.selectFrom('traffic_quotas').select(['label_key', 'label_value', 'quota_bytes', 'direction', 'updated_at'])
    .where('org_id', '=', orgId).orderBy('label_key').orderBy('label_value').execute()
}

/** Creates or replaces the quota of agents labelled key=value: the stored quota, and whether it was new. */
export async function setLabelQuota(db: Kysely<Database>, orgId: string, q: Omit<LabelQuota, 'updated_at'>): Promise<{ quota: LabelQuota; created: boolean }> {
  const { created, ...quota } = await db.insertInto('traffic_quotas')
    .values({ org_id: orgId, label_key: q.label_key, label_value: q.label_value, quota_bytes: q.quota_bytes, direction: q.direction })
    .onConflict((oc) => oc.columns(['org_id', 'label_key', 'label_value']).doUpdateSet({ quota_bytes: q.quota_bytes, direction: q.direction, updated_at: new Date() }))
    .returning(['label_key', 'label_value', 'quota_bytes', 'direction', 'updated_at', sql<boolean>`xmax = 0`.as('created')]).executeTakeFirstOrThrow()
  return { quota, created }
}

export async function deleteLabelQuota(db: Kysely<Database>, orgId: string, key: string, value: string): Promise<void> {
  const gone = await db.deleteFrom('traffic_quotas').where('org_id', '=', orgId).where('label_key', '=', key).where('label_value', '=', value).executeTakeFirst()
  if (gone.numDeletedRows === 0n) throw new DomainError('not_found', `No traffic quota for label ${key}=${value}`)
}
