// The planner settings a continuous aggregate's refresh runs with (services/store/aggregate-refresh.ts): applied
// on the refresh's own connection, put back afterwards even when the refresh fails, the refresh's query grouped
// in a hash table instead of a sort, and the rows it materializes the same as with the default settings.
import t from 'tap'
import { sql, type Kysely } from 'kysely'
import { REFRESH_WORK_MEM, withRefreshPlanner } from '../../services/store/aggregate-refresh.ts'
import { writeBatches } from '../../services/ingest/write-batches.ts'
import type { Database } from '../../services/store/database.ts'
import { onEachBackend, seedAgent } from './backends.ts'

const HOUR = 3_600_000

interface Session { pid: number; work_mem: string; enable_sort: string }
const session = async (db: Kysely<Database>) => (await sql<Session>`
  select pg_backend_pid() as pid, current_setting('work_mem') as work_mem, current_setting('enable_sort') as enable_sort`.execute(db)).rows[0]

await onEachBackend(t, async (t, store) => {
  const defaults = await session(store.db)

  const inside = await withRefreshPlanner(store.db, (conn) => session(conn))
  t.same({ work_mem: inside.work_mem, enable_sort: inside.enable_sort }, { work_mem: REFRESH_WORK_MEM, enable_sort: 'off' }, 'the settings hold on the refresh\'s connection')
  // A pool hands out the connection released last first: the one the refresh used.
  const after = await session(store.db)
  t.equal(after.pid, inside.pid, 'the same connection again')
  t.same(after, { ...defaults, pid: inside.pid }, 'and its settings are back to what they were')
  const sources = async () => (await sql<{ name: string; source: string }>`
    select name, source from pg_settings where name in ('work_mem', 'enable_sort') order by name`.execute(store.db)).rows
  t.notOk((await sources()).some((r) => r.source === 'session'), 'reset, not set: the connection follows the server\'s configuration again')

  // What the session had set is what comes back, not the default, and a larger work_mem is not lowered.
  for (const [own, during] of [['128MB', '128MB'], ['8MB', REFRESH_WORK_MEM]] as const) {
    const { rows: [set] } = await sql<{ pid: number }>`select set_config('work_mem', ${own}, false), pg_backend_pid() as pid`.execute(store.db)
    const held = await withRefreshPlanner(store.db, (conn) => session(conn))
    t.same({ pid: held.pid, work_mem: held.work_mem, enable_sort: held.enable_sort }, { pid: set.pid, work_mem: during, enable_sort: 'off' }, `a session at ${own}: the refresh runs at ${during}`)
    t.same(await session(store.db), { pid: set.pid, work_mem: own, enable_sort: 'on' }, `and the session is back at ${own}`)
  }
  await sql`reset work_mem`.execute(store.db)
  t.same(await session(store.db), { ...defaults, pid: inside.pid }, 'reset to the defaults for what follows')

  // A window narrower than one bucket is refused by TimescaleDB.
  const hour = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR
  await t.rejects(withRefreshPlanner(store.db, (conn) =>
    sql`call refresh_continuous_aggregate('process_lives_1h', ${new Date(hour).toISOString()}::timestamptz, ${new Date(hour + 60_000).toISOString()}::timestamptz)`.execute(conn)),
  /refresh window too small/, 'a refresh that fails reports its own error')
  t.same(await session(store.db), { ...defaults, pid: inside.pid }, 'and leaves the settings as they were too')

  // An hour of 100 processes seen every 100 s: 3,600 rows for the hourly process aggregates.
  const agent = await seedAgent(store)
  for (let s = 0; s < 36; s++) {
    await writeBatches(store.db, agent, [{
      batch_id: crypto.randomUUID(), time: new Date(hour + s * 100_000).toISOString(),
      processes: Array.from({ length: 100 }, (_, i) => ({ pid: 1000 + i, name: `worker-${i % 7}`, cmdline: `/usr/bin/worker ${i}`,
        username: 'app', parent_pid: 1, create_time: new Date(hour - HOUR).toISOString(),
        cpu_percent: (s * 7 + i) % 100, memory_bytes: 1e6 * (1 + i), memory_percent: i / 10 })),
    }])
  }
  await sql`analyze process_metrics`.execute(store.db)

  // What TimescaleDB runs to refresh process_lives_1h: the view's own query over the window, by bucket.
  const { rows: [view] } = await sql<{ name: string }>`select format('%I.%I', direct_view_schema, direct_view_name) as name
    from _timescaledb_catalog.continuous_agg where user_view_name = 'process_lives_1h'`.execute(store.db)
  const window = sql`bucket >= ${new Date(hour).toISOString()}::timestamptz and bucket < ${new Date(hour + HOUR).toISOString()}::timestamptz`
  const plan = async (db: Kysely<Database>) => (await sql<{ 'QUERY PLAN': string }>`explain select * from ${sql.raw(view.name)} where ${window}`.execute(db))
    .rows.map((r) => r['QUERY PLAN']).join('\n')
  const planned = await plan(store.db)
  const scanned = Number(/Scan[^\n]*rows=(\d+)/.exec(planned)?.[1])
  t.ok(scanned < 360, `premise: the planner takes the window for a tenth of its 3,600 rows or less (${scanned})`)
  t.match(planned, /\bSort\b/, 'premise: and so sorts them, with the default settings')
  const refreshPlan = await withRefreshPlanner(store.db, plan)
  t.match(refreshPlan, /HashAggregate/, 'the refresh groups in a hash table')
  t.notMatch(refreshPlan, /\bSort\b/, 'and sorts nothing')

  const lives = async () => (await sql<{ pid: number; count: string; first_seen: Date; last_seen: Date; peak_cpu_percent: number; name: string }>`
    select pid, count::text, first_seen, last_seen, peak_cpu_percent, name from process_lives_1h
    where agent_id = ${agent.id} order by pid`.execute(store.db)).rows
  await withRefreshPlanner(store.db, (conn) => sql`call refresh_continuous_aggregate('process_lives_1h',
    ${new Date(hour).toISOString()}::timestamptz, ${new Date(hour + HOUR).toISOString()}::timestamptz)`.execute(conn))
  const planned1 = await lives()
  // The view unions raw rows past its watermark, so the rows alone would read the same unrefreshed: the
  // materialization itself must hold them.
  const { rows: [mat] } = await sql<{ name: string }>`select format('%I.%I', h.schema_name, h.table_name) as name
    from _timescaledb_catalog.continuous_agg c join _timescaledb_catalog.hypertable h on h.id = c.mat_hypertable_id
    where c.user_view_name = 'process_lives_1h'`.execute(store.db)
  const { rows: [materialized] } = await sql<{ n: number }>`select count(*)::int as n from ${sql.raw(mat.name)} where agent_id = ${agent.id}`.execute(store.db)
  t.equal(materialized.n, 100, 'the refresh materialized a row per process')
  t.equal(planned1.length, 100, 'the view reads a row per process')
  t.ok(planned1.every((r) => r.count === '36'), 'each seen 36 times')
  await sql`call refresh_continuous_aggregate('process_lives_1h', ${new Date(hour).toISOString()}::timestamptz,
    ${new Date(hour + HOUR).toISOString()}::timestamptz, force => true)`.execute(store.db)
  t.same(await lives(), planned1, 'the same rows as a refresh with the default settings')
})
