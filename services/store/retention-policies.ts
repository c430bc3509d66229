// Retention periods come from configuration, so they are applied at start (not frozen in a migration):
// a policy whose drop_after differs from the configured one is replaced; an equal one is left alone.
import { sql, type Kysely } from 'kysely'
import type { Database } from './database.ts'
import { durationToInterval } from '../time/duration.ts'
import { policyAge } from './policy-age.ts'

export interface RetentionConfig { raw: string; minute: string; hour: string; day: string; logs?: string }

/** The hypertables agents' rows land in (logs aside): they keep the raw retention tier. */
export const RAW_HYPERTABLES = ['metrics', 'disk_metrics', 'network_metrics', 'process_metrics', 'process_snapshots', 'user_sessions', 'container_metrics']

/** Which relation keeps which retention tier. */
export function retentionPlan(cfg: RetentionConfig): Array<{ relation: string; keep: string }> {
  return [
    ...RAW_HYPERTABLES.map((relation) => ({ relation, keep: cfg.raw })),
    { relation: 'logs', keep: cfg.logs ?? cfg.raw },
    { relation: 'metrics_1m', keep: cfg.minute },
    ...['metrics_1h', 'disk_metrics_1h', 'network_metrics_1h', 'process_metrics_1h', 'process_io_1h', 'process_lives_1h', 'process_snapshots_1h', 'container_metrics_1h'].map((relation) => ({ relation, keep: cfg.hour })),
    { relation: 'metrics_1d', keep: cfg.day },
    // Billing history: traffic per 15 minutes is kept as long as daily data.
    { relation: 'network_traffic', keep: cfg.day },
    { relation: 'network_traffic_daily', keep: cfg.day },
  ]
}

export async function applyRetentionPolicies(db: Kysely<Database>, cfg: RetentionConfig, log: (msg: string) => void = () => {}): Promise<number> {
  let changed = 0
  for (const { relation, keep } of retentionPlan(cfg)) {
    const interval = durationToInterval(keep)
    const stands = await policyAge(db, 'policy_retention', relation, 'drop_after', interval)
    if (stands === 'same') continue
    if (stands === 'other') await sql`select remove_retention_policy(${relation}::regclass, if_exists => true)`.execute(db)
    await sql`select add_retention_policy(${relation}::regclass, drop_after => ${interval}::interval)`.execute(db)
    log(`retention ${relation}: keep ${keep}`)
    changed++
  }
  return changed
}
