// Where a relation's retention or compression policy stands against a configured age: both are applied at
// start from configuration, and a policy already at that age is left alone.
import { sql, type Kysely } from 'kysely'
import type { Database } from './database.ts'

/**
 * How `relation`'s policy job `proc` stands against an age: 'same' when its config's `key` is `interval`,
 * 'other' when it differs, 'none' when the relation has no such policy.
 */
export async function policyAge(db: Kysely<Database>, proc: 'policy_retention' | 'policy_compression', relation: string,
  key: 'drop_after' | 'compress_after', interval: string): Promise<'same' | 'other' | 'none'> {
  const { rows } = await sql<{ same: boolean }>`
    select (j.config ->> ${key}::text)::interval = ${interval}::interval as same
    from timescaledb_information.jobs j
    where j.proc_name = ${proc}
      and j.hypertable_schema = current_schema() and j.hypertable_name = ${relation}`.execute(db)
  return rows.length === 0 ? 'none' : rows[0].same ? 'same' : 'other'
}
