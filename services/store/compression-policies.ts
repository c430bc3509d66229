// When raw rows are compressed comes from configuration (HOSTPULSE_COMPRESS_AFTER), applied at start as the
// retention periods are: a policy whose compress_after differs is changed in place, an equal one left alone.
//
// Uncompressed, a host's day takes about 440 MiB (process rows 277, metrics 117: `npm run bench:agent-day`),
// compressed about 33 MiB. The migrations compress after 7 days, so the uncompressed week was three quarters of a
// store's disk. The default here is a day: the current day's chunk and the one before stay in row form (up to
// about 2.5 days, as the policy runs every 12 hours), where the live views, the host pages and the process tree
// read; older raw rows read from compressed chunks. Process snapshots and sessions have week-long chunks.
// The aggregates keep their own policies (sql/021, 028): their refresh windows must stay uncompressed.
import { sql, type Kysely } from 'kysely'
import type { Database } from './database.ts'
import { durationToInterval } from '../time/duration.ts'
import { RAW_HYPERTABLES } from './retention-policies.ts'
import { policyAge } from './policy-age.ts'

export const DEFAULT_COMPRESS_AFTER = '1d'

/** The relations whose compression age is configured: every raw hypertable, and the logs. */
export const COMPRESSED_AFTER_CONFIG = [...RAW_HYPERTABLES, 'logs']

/** Sets every raw hypertable's compression policy to `compressAfter`; answers how many it changed. */
export async function applyCompressionPolicies(db: Kysely<Database>, compressAfter = DEFAULT_COMPRESS_AFTER,
  log: (msg: string) => void = () => {}): Promise<number> {
  const interval = durationToInterval(compressAfter)
  let changed = 0
  for (const relation of COMPRESSED_AFTER_CONFIG) {
    const stands = await policyAge(db, 'policy_compression', relation, 'compress_after', interval)
    if (stands === 'same') continue
    if (stands === 'none') {
      await sql`select add_compression_policy(${relation}::regclass, compress_after => ${interval}::interval)`.execute(db)
    } else {
      // The same job, its age changed: its id, schedule and history stay (alter_job checks the new config).
      await sql`select alter_job(j.job_id, config => jsonb_set(j.config, '{compress_after}', to_jsonb(${interval}::interval::text)))
        from timescaledb_information.jobs j
        where j.proc_name = 'policy_compression' and j.hypertable_schema = current_schema() and j.hypertable_name = ${relation}`.execute(db)
    }
    changed++
  }
  if (changed > 0) log(`compression: raw rows are compressed after ${compressAfter} (${changed} polic${changed === 1 ? 'y' : 'ies'} set)`)
  return changed
}
