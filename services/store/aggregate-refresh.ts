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
 * planner settings above, and puts that connection's settings back afterwards, whatever happened. A refresh
 * cannot run inside a transaction block, so these are separate statements, not a `SET LOCAL`.
 */
export async function withRefreshPlanner<T>(db: Kysely<Database>, refresh: (conn: Kysely<Database>) => Promise<T>): Promise<T> {
  // A transaction is one connection already, and TimescaleDB refuses a refresh inside one: let it say so.
  if (db.isTransaction) return refresh(db)
  return db.connection().execute(async (conn) => {
    await sql`select set_config('work_mem', ${REFRESH_WORK_MEM}, false), set_config('enable_sort', 'off', false)`.execute(conn)
    try {
      return await refresh(conn)
    } finally {
      await sql`reset work_mem`.execute(conn).catch(() => {})
      await sql`reset enable_sort`.execute(conn).catch(() => {})
    }
  })
}
