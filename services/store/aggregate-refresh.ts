// How a continuous aggregate's refresh is planned. TimescaleDB refreshes a window through the aggregate's own
// query with `time_bucket(time) >= start and time_bucket(time) < end` added. The planner cannot estimate those
// two conditions and applies PostgreSQL's default range selectivity, 0.5 % of the chunk's rows (2,685 where
// 540,000 were read, for an hour of 10 hosts' processes in a chunk holding about that hour). For so few rows it sorts them and groups in order, and the sort of the real
// rows spills to disk: 61 MB for that hour at 64 MB of work_mem. Grouping in a hash table needs memory for the
// groups only (2 MB there), so the refresh runs with sorting discouraged. It is still chosen where nothing else
// answers. Measured in the embedded engine, alternating: process_lives_1h 2.4 → 1.4 s for an hour of 10 hosts,
// metrics_1m 1.57 → 1.25 s for a minute of 500 (see BENCHMARKS.md, "The aggregates' refresh, planned").
import { sql, type Kysely } from 'kysely'
import type { Database } from './database.ts'

/**
 * work_mem while an aggregate refreshes (the engine's default is 4 MB): the minute aggregate groups a minute of
 * every series (30,000 groups at 500 agents), and with room for them in memory a refresh took 0.85 s instead
 * of 1.03 (the mean of three each, alternating in one engine). A hash table that outgrows it (with PostgreSQL's
 * hash_mem_multiplier, twice this) spills to disk rather than failing.
 */
export const REFRESH_WORK_MEM = '64MB'

/**
 * Runs `refresh` (a `call refresh_continuous_aggregate` or a policy's `run_job`) on one connection with the
 * planner settings above, and puts that connection's own values back afterwards, whatever happened. A refresh
 * cannot run inside a transaction block, so these are separate statements, not a `SET LOCAL`: one reads the
 * values and sets the refresh's (work_mem is only ever raised, never lowered below what the session had), one
 * restores them. The settings live for the session in between: on a server, `DATABASE_URL` must not go through a
 * pooler in transaction mode (README, "Production: a TimescaleDB server").
 */
export async function withRefreshPlanner<T>(db: Kysely<Database>, refresh: (conn: Kysely<Database>) => Promise<T>): Promise<T> {
  // A transaction is one connection already, and TimescaleDB refuses a refresh inside one: let it say so.
  if (db.isTransaction) return refresh(db)
  return db.connection().execute(async (conn) => {
    // The CTE is evaluated before the outer select list, so the values read are the ones before the change.
    const { rows: [prior] } = await sql<{ work_mem: string; enable_sort: string }>`
      with prior as materialized (select current_setting('work_mem') as work_mem, current_setting('enable_sort') as enable_sort)
      select work_mem, enable_sort,
             set_config('work_mem', case when pg_size_bytes(work_mem) >= pg_size_bytes(${REFRESH_WORK_MEM}) then work_mem else ${REFRESH_WORK_MEM} end, false),
             set_config('enable_sort', 'off', false)
      from prior`.execute(conn)
    const restore = () => sql`select set_config('work_mem', ${prior.work_mem}, false), set_config('enable_sort', ${prior.enable_sort}, false)`.execute(conn)
    let result: T
    try {
      result = await refresh(conn)
    } catch (err) {
      await restore().catch(() => {}) // the refresh's own error is the one to report
      throw err
    }
    await restore()
    return result
  })
}
