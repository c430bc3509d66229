// What a day of one host costs the store: the rows each hypertable gets, the disk they take before and after
// compression, and how long compressing them takes (in the embedded engine, the time its one session is held:
// ingest, reads and alert evaluation wait meanwhile). Sizing for README's "two ways to run".
//   npm run bench:agent-day                 (AGENTS=1; a day of 8,640 batches per agent at 10 s)
//   npm run bench:agent-day -- --compare-planner   (also each aggregate's windows refreshed again, default plan against hash plan)
// Each agent is the fleet simulator's host (60 metrics, 4 filesystems, 3 interfaces, 150 processes, containers
// on a third of the hosts, a session now and then), written through ingest's group write, yesterday from
// midnight to midnight UTC. The continuous aggregates are refreshed while the day is written, bucket by bucket
// as their policies do (the minute aggregate every minute, the hourly ones every hour), then every chunk holding
// the day is compressed, one chunk at a time as the compression policy does, each timed.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql, type Kysely } from 'kysely'
import { loadConfig } from '../services/config/config.ts'
import { openStore } from '../services/store/open-store.ts'
import { prepareStore } from '../services/store/prepare-store.ts'
import { writeBatchGroup } from '../services/ingest/write-batches.ts'
import { COMPRESSED_AFTER_CONFIG } from '../services/store/compression-policies.ts'
import { withRefreshPlanner } from '../services/store/aggregate-refresh.ts'
import { aggregateLevels } from '../services/store/late-data-refresh.ts'
import type { Database } from '../services/store/database.ts'
import { dirBytes, fmt, percentile, progress, say, seedFleet, timed } from './fleet-data.ts'
import { SimulatedHost } from './simulated-host.ts'

const AGENTS = Number(process.env.AGENTS ?? 1)
const INTERVAL_MS = 10_000
const BATCHES = 86_400_000 / INTERVAL_MS
/** Batches per group write: about what a busy API groups (group commit), all from one agent here. */
const GROUP = 12
const MiB = 2 ** 20
const totalMs = (ms: number[]) => ms.reduce((a, b) => a + b, 0)
/** What sql/003, 006 and 016 set for the raw tables, before the age became configuration. */
const FORMER_RAW_COMPRESS_AFTER_DAYS = 7

/**
 * One hypertable's day: rows, bytes before and after compression, the time compression took, its chunk interval
 * and the ages at which its policies compress and drop a chunk (days; Infinity when it has no such policy).
 */
interface TableDay { table: string; rows: number; before: number; after: number; compressMs: number; chunkDays: number; compressDays: number; dropDays: number }

const MINUTE_MS = 60_000
const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000
/** `--compare-planner`: refresh each hourly window and every 15th minute again, with the default plan and the hash plan. */
const COMPARE_PLANNER = process.argv.includes('--compare-planner')

interface AggregateRefreshes { view: string; bucketMs: number; ms: number[] }

/** Each continuous aggregate with its bucket, finest first (hierarchical ones after their source). */
async function aggregates(db: Kysely<Database>): Promise<Array<{ view: string; bucketMs: number }>> {
  return (await aggregateLevels(db)).sort((x, y) => x.bucketMs - y.bucketMs || x.depth - y.depth)
    .map((l) => ({ view: l.name, bucketMs: l.bucketMs }))
}

/**
 * Refreshes bucket by bucket in time order as the policies do through a day: `upTo(t)` refreshes every bucket
 * that ended by `t` (through withRefreshPlanner, as the embedded job runner runs them), each refresh timed. The
 * day is written in between, so the rows past the minute aggregate's watermark, which the hourly one reads through
 * its real-time union, are minutes old as in production, not the rest of the day.
 */
async function policyRefreshes(db: Kysely<Database>, day: number): Promise<{ upTo(t: number): Promise<void>; refreshes: AggregateRefreshes[] }> {
  const refreshes = (await aggregates(db)).map((a) => ({ ...a, ms: [] as number[] }))
  let next = day + MINUTE_MS
  return {
    refreshes,
    async upTo(t) {
      for (; next <= t; next += MINUTE_MS) {
        for (const a of refreshes) {
          if ((next - day) % a.bucketMs !== 0) continue
          const [, ms] = await timed(() => withRefreshPlanner(db, (conn) =>
            sql`call refresh_continuous_aggregate(${a.view}::regclass, ${new Date(next - a.bucketMs)}::timestamptz, ${new Date(next)}::timestamptz)`.execute(conn)))
          a.ms.push(ms)
        }
      }
    },
  }
}

/** The same windows refreshed again with `force`, alternating the default plan and withRefreshPlanner's. */
async function comparePlanners(db: Kysely<Database>, day: number): Promise<Array<{ view: string; defaultMs: number[]; hashMs: number[] }>> {
  const out: Array<{ view: string; defaultMs: number[]; hashMs: number[] }> = []
  for (const a of await aggregates(db)) {
    if (a.bucketMs >= DAY_MS) continue
    const step = a.bucketMs === MINUTE_MS ? 15 * MINUTE_MS : a.bucketMs
    const c = { view: a.view, defaultMs: [] as number[], hashMs: [] as number[] }
    for (let start = day; start < day + DAY_MS; start += step) {
      const refresh = (conn: Kysely<Database>) => sql`call refresh_continuous_aggregate(${a.view}::regclass,
        ${new Date(start)}::timestamptz, ${new Date(start + a.bucketMs)}::timestamptz, force => true)`.execute(conn)
      c.defaultMs.push((await timed(() => refresh(db)))[1])
      c.hashMs.push((await timed(() => withRefreshPlanner(db, refresh)))[1])
    }
    say(`  compared ${a.view}: ${c.defaultMs.length} windows`)
    out.push(c)
  }
  return out
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hostpulse-bench-agent-day-'))
  const pgDir = join(dir, 'pg')
  const store = await openStore({ backend: 'embedded', dataDir: pgDir })
  const db = store.db
  try {
    // The retention a default installation applies (HOSTPULSE_RETENTION_* unset).
    await prepareStore(store, { retention: loadConfig({}).retention })
    const agents = await seedFleet(store, AGENTS)
    const day = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000
    say(`writing ${AGENTS} agent${AGENTS === 1 ? '' : 's'} × ${fmt(BATCHES)} batches (a day at 10 s, ${new Date(day).toISOString().slice(0, 10)}) through ingest's group write, ${GROUP} batches a group …`)
    const hosts = agents.map((_, i) => new SimulatedHost(i, INTERVAL_MS))
    const tick = progress('batches', BATCHES)
    const policies = await policyRefreshes(db, day)
    let writeMs = 0
    for (let b = 0; b < BATCHES; b += GROUP) {
      const n = Math.min(GROUP, BATCHES - b)
      writeMs += (await timed(() => writeBatchGroup(db, agents.map((a, i) => ({
        agent: a, batches: Array.from({ length: n }, (_, k) => hosts[i].batch(day + (b + k) * INTERVAL_MS)),
      })))))[1]
      await policies.upTo(day + (b + n) * INTERVAL_MS)
      tick(b + n)
    }
    const refreshes = policies.refreshes
    const refreshS = refreshes.reduce((x, r) => x + totalMs(r.ms), 0) / 1000
    say(`  written in ${(writeMs / 1000).toFixed(0)} s, the aggregates refreshed as it went in ${refreshS.toFixed(0)} s`)
    const comparison = COMPARE_PLANNER ? await comparePlanners(db, day) : undefined
    await sql`checkpoint`.execute(db)
    const dirBefore = dirBytes(pgDir)

    // Every hypertable with rows (the internal ones holding compressed chunks aside), aggregates' materializations
    // named by their view, each with its chunk interval and its policies' ages (compress after, drop after), in
    // days. Those without compression (the hourly and daily aggregates) are counted as they are.
    const tables = (await sql<{ table: string; name: string; compressible: boolean; chunk_days: number; compress_days: number | null; drop_days: number | null }>`
      select format('%I.%I', h.schema_name, h.table_name) as table, coalesce(ca.user_view_name, h.table_name) as name,
        h.compression_state = 1 as compressible,
        (select extract(epoch from d.time_interval) / 86400 from timescaledb_information.dimensions d
          where d.hypertable_schema = h.schema_name and d.hypertable_name = h.table_name limit 1)::float8 as chunk_days,
        (select extract(epoch from (j.config->>'compress_after')::interval) / 86400 from timescaledb_information.jobs j
          where j.proc_name = 'policy_compression' and j.hypertable_name in (h.table_name, ca.user_view_name) limit 1)::float8 as compress_days,
        (select extract(epoch from (j.config->>'drop_after')::interval) / 86400 from timescaledb_information.jobs j
          where j.proc_name = 'policy_retention' and j.hypertable_name in (h.table_name, ca.user_view_name) limit 1)::float8 as drop_days
      from _timescaledb_catalog.hypertable h
      left join _timescaledb_catalog.continuous_agg ca on ca.mat_hypertable_id = h.id
      where h.compression_state <> 2 order by h.id`.execute(db)).rows
    const days: TableDay[] = []
    for (const t of tables) {
      const list = (await sql<{ chunk: string }>`select c::text as chunk from show_chunks(${t.table}::regclass) c`.execute(db)).rows
      const rows = Number((await sql<{ n: string }>`select count(*) as n from ${sql.raw(t.table)}`.execute(db)).rows[0].n)
      if (rows === 0) continue
      const before = Number((await sql<{ b: string }>`select hypertable_size(${t.table}::regclass) as b`.execute(db)).rows[0].b)
      let compressMs = 0
      for (const { chunk } of t.compressible ? list : []) {
        const [, ms] = await timed(() => sql`select compress_chunk(${chunk}::regclass, if_not_compressed => true)`.execute(db))
        compressMs += ms
      }
      const after = Number((await sql<{ b: string }>`select hypertable_size(${t.table}::regclass) as b`.execute(db)).rows[0].b)
      days.push({ table: t.name, rows, before, after, compressMs, chunkDays: t.chunk_days, compressDays: t.compress_days ?? Infinity, dropDays: t.drop_days ?? Infinity })
      say(`  ${t.name}: ${fmt(rows)} rows, ${(before / MiB).toFixed(1)} → ${(after / MiB).toFixed(1)} MiB, compressed in ${(compressMs / 1000).toFixed(2)} s`)
    }
    await sql`checkpoint`.execute(db)
    const dirAfter = dirBytes(pgDir)

    say('')
    say(`per agent and day (${AGENTS} agent${AGENTS === 1 ? '' : 's'} measured):`)
    say(`  ${'table'.padEnd(26)} ${'rows'.padStart(10)} ${'uncompressed'.padStart(13)} ${'compressed'.padStart(11)} ${'ratio'.padStart(6)} ${'compression holds'.padStart(18)}`)
    for (const d of days) {
      say(`  ${d.table.padEnd(26)} ${fmt(d.rows / AGENTS).padStart(10)} ${`${(d.before / AGENTS / MiB).toFixed(1)} MiB`.padStart(13)} `
        + `${`${(d.after / AGENTS / MiB).toFixed(2)} MiB`.padStart(11)} ${`${(d.before / d.after).toFixed(0)}×`.padStart(6)} ${`${(d.compressMs / AGENTS / 1000).toFixed(2)} s`.padStart(18)}`)
    }
    const sum = (f: (d: TableDay) => number) => days.reduce((n, d) => n + f(d), 0) / AGENTS
    const before = sum((d) => d.before)
    const after = sum((d) => d.after)
    const holdS = sum((d) => d.compressMs) / 1000
    say(`  ${'all'.padEnd(26)} ${fmt(sum((d) => d.rows)).padStart(10)} ${`${(before / MiB).toFixed(1)} MiB`.padStart(13)} `
      + `${`${(after / MiB).toFixed(2)} MiB`.padStart(11)} ${`${(before / after).toFixed(0)}×`.padStart(6)} ${`${holdS.toFixed(2)} s`.padStart(18)}`)
    say(`  the data directory: ${(dirBefore / MiB).toFixed(0)} MiB before compressing, ${(dirAfter / MiB).toFixed(0)} MiB after (WAL, catalogs and free space included)`)
    // Steady state, each table by its own policies. A chunk is compressed once its end is compress_after old, so
    // besides those days the chunk being written stays uncompressed too: half a chunk's days on average. The
    // rest, up to the retention, is compressed.
    // `rawAfter`: the raw tables' compress_after in days instead of their policy's (for the comparison below).
    const rowDays = (d: TableDay, rawAfter?: number) => {
      const after = rawAfter !== undefined && COMPRESSED_AFTER_CONFIG.includes(d.table) ? rawAfter : d.compressDays
      return Math.min(after + d.chunkDays / 2, d.dropDays)
    }
    const steadyOf = (d: TableDay, rawAfter?: number) =>
      (rowDays(d, rawAfter) * d.before + Math.max(0, d.dropDays - rowDays(d, rawAfter)) * d.after) / AGENTS
    const steadyAt = (rawAfter?: number) => days.reduce((n, d) => n + steadyOf(d, rawAfter), 0)
    const steady = steadyAt()
    const uncompressed = days.reduce((n, d) => n + rowDays(d) * d.before / AGENTS, 0)
    say('')
    say(`per agent, steady state (each table's newest days uncompressed until its compression policy takes its chunk, then compressed until its retention): `
      + `${(steady / MiB).toFixed(0)} MiB, ${(100 * uncompressed / steady).toFixed(0)} % of it the uncompressed days`)
    for (const d of [...days].sort((a, b) => steadyOf(b) - steadyOf(a)).slice(0, 4)) {
      say(`  ${d.table}: ${(steadyOf(d) / MiB).toFixed(0)} MiB (${rowDays(d)} days uncompressed on average: compressed ${d.compressDays} `
        + `day${d.compressDays === 1 ? '' : 's'} after its ${d.chunkDays}-day chunk ends; kept ${d.dropDays} days)`)
    }
    const former = steadyAt(FORMER_RAW_COMPRESS_AFTER_DAYS)
    say(`  with raw rows compressed after ${FORMER_RAW_COMPRESS_AFTER_DAYS} days (the migrations' setting before HOSTPULSE_COMPRESS_AFTER): `
      + `${(former / MiB).toFixed(0)} MiB (${(former / steady).toFixed(2)}× this)`)
    // A chunk holds chunk_days of data: when the policy compresses it, the hold is that many days' worth.
    const longest = days.reduce((a, b) => (b.compressMs * b.chunkDays > a.compressMs * a.chunkDays ? b : a))
    const longestS = longest.compressMs * longest.chunkDays / AGENTS / 1000
    say('')
    say(`aggregate refreshes as their policies run them, each holding the embedded engine's session (per agent${AGENTS === 1 ? '' : `, ${AGENTS} agents measured`}):`)
    say(`  ${'aggregate'.padEnd(24)} ${'refreshes'.padStart(9)} ${'median'.padStart(9)} ${'longest'.padStart(9)} ${'a day'.padStart(8)}`)
    for (const r of refreshes) {
      say(`  ${r.view.padEnd(24)} ${fmt(r.ms.length).padStart(9)} ${`${(percentile(r.ms, 0.5) / AGENTS).toFixed(1)} ms`.padStart(9)} `
        + `${`${(Math.max(...r.ms) / AGENTS).toFixed(0)} ms`.padStart(9)} ${`${(totalMs(r.ms) / AGENTS / 1000).toFixed(1)} s`.padStart(8)}`)
    }
    const hourly = refreshes.filter((r) => r.bucketMs === HOUR_MS)
    const hourS = hourly.reduce((n, r) => n + percentile(r.ms, 0.5), 0) / AGENTS / 1000
    const longestHourly = hourly.reduce((a, b) => (percentile(b.ms, 0.5) > percentile(a.ms, 0.5) ? b : a))
    const longestHourlyS = percentile(longestHourly.ms, 0.5) / AGENTS / 1000
    const minute = refreshes.find((r) => r.view === 'metrics_1m')
    const minuteS = minute ? percentile(minute.ms, 0.5) / AGENTS / 1000 : 0
    say(`  once an hour the hourly aggregates take ${hourS.toFixed(2)} s per agent, the longest (${longestHourly.view}) ${longestHourlyS.toFixed(2)} s; the minute aggregate ${(minuteS * 1000).toFixed(1)} ms per agent every minute`)
    say(`  scaled linearly from ${AGENTS} agent${AGENTS === 1 ? '' : 's'} (each refresh's fixed cost is counted per agent too: an upper bound, loosest for the small aggregates):`)
    for (const n of [1, 10, 50, 250]) {
      say(`  ${String(n).padStart(3)} agents: the hourly aggregates ${(n * hourS).toFixed(1)} s an hour, the longest ${(n * longestHourlyS).toFixed(1)} s; the minute aggregate ${(n * minuteS).toFixed(2)} s a minute`)
    }
    if (comparison) {
      say(`  (the aggregates' sizes above include the dead rows of these second refreshes: take sizes from a run without --compare-planner)`)
      say(`  the same windows refreshed again (force), alternating TimescaleDB's default plan and the hash plan (withRefreshPlanner), medians per agent:`)
      for (const c of comparison) {
        say(`    ${c.view.padEnd(22)} ${String(c.defaultMs.length).padStart(3)} windows: default ${(percentile(c.defaultMs, 0.5) / AGENTS).toFixed(1)} ms, `
          + `hash ${(percentile(c.hashMs, 0.5) / AGENTS).toFixed(1)} ms (${(percentile(c.hashMs, 0.5) / percentile(c.defaultMs, 0.5)).toFixed(2)}×)`)
      }
    }
    say(`compression, in the embedded engine one chunk at a time, each holding its one session: ${holdS.toFixed(1)} s per agent a day; `
      + `the longest single chunk is ${longest.table}'s (${longest.chunkDays} day${longest.chunkDays === 1 ? '' : 's'} of data): ${longestS.toFixed(1)} s per agent`)
    for (const n of [1, 10, 50, 250]) {
      say(`  ${String(n).padStart(3)} agents: ${(n * holdS / 60).toFixed(1)} min of compression a day, the longest chunk ${(n * longestS / 60).toFixed(1)} min; `
        + `about ${(n * steady / 2 ** 30).toFixed(1)} GiB on disk`)
    }
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err) => { console.error(err); process.exit(1) })
