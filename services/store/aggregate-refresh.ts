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
 * planner settings above, and leaves that connection's settings as they were afterwards, whatever happened. A
 * refresh cannot run inside a transaction block, so these are separate statements, not a `SET LOCAL`: one reads
 * the values and sets the refresh's (work_mem is only ever raised, never lowered below what the session had),
 * one puts them back: a value the session had set is set again, any other is reset, so the connection follows
 * the server's configuration again. The settings live for the session in between: on a server, `DATABASE_URL`
 * must not go through a pooler in transaction mode (README, "Production: a TimescaleDB server").
 */
export async function withRefreshPlanner<T>(db: Kysely<Database>, refresh: (conn: Kysely<Database>) => Promise<T>): Promise<T> {
  // A transaction is one connection already, and TimescaleDB refuses a refresh inside one: let it say so.
  if (db.isTransaction) return refresh(db)
  return db.connection().execute(async (conn) => {
    // The CTE is evaluated before the outer select list, so the values read are the ones before the change.
    const { rows: [prior] } = await sql<Prior>`
      with prior as materialized (
        select current_setting('work_mem') as work_mem, current_setting('enable_sort') as enable_sort,
               (select source = 'session' from pg_settings where name = 'work_mem') as work_mem_set,
               (select source = 'session' from pg_settings where name = 'enable_sort') as enable_sort_set)
      select work_mem, enable_sort, work_mem_set, enable_sort_set,
             set_config('work_mem', case when pg_size_bytes(work_mem) >= pg_size_bytes(${REFRESH_WORK_MEM}) then work_mem else ${REFRESH_WORK_MEM} end, false),
             set_config('enable_sort', 'off', false)
      from prior`.execute(conn)
    // Without parameters, so one simple query of two statements.
    const restore = () => sql.raw(`${putBack('work_mem', prior.work_mem, prior.work_mem_set)}; ${putBack('enable_sort', prior.enable_sort, prior.enable_sort_set)}`).execute(conn)
    let result: T
    try {
      result = await refresh(conn)
    } catch (err) {
      await restore().catch(() => {}) // the refresh's own error is the one to report
      throw err
    }
    await restore().catch((err) => {
      throw new Error(`the planner settings were not put back after a completed refresh: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    })
    return result
  })
}

interface Prior { work_mem: string; enable_sort: string; work_mem_set: boolean; enable_sort_set: boolean }

/** The statement that puts `name` back: the session's own value again, or the server's. */
const putBack = (name: string, value: string, sessionSet: boolean) => (sessionSet ? `set ${name} = '${value.replaceAll("'", "''")}'` : `reset ${name}`)
