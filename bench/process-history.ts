// npx tsx bench/process-history.ts — p95 latency over HTTP of the process history reads (issue 17): the tree
// at an instant 20 days back, starts and exits over 24 h, blame over 24 h and over 30 days, on the embedded
// backend with one agent holding 30 days of 150-process snapshots every 60 s (6.5 million process rows),
// aggregated and compressed as the policies leave them.
// HOSTPULSE_BENCH_KEEP=<dir> keeps the generated store in <dir> and reuses it on the next run (same day only:
// the data ends at the minute the store was made, and "20 days back" is counted from there).
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { openStore, type Store } from '../services/store/open-store.ts'
import { prepareStore } from '../services/store/prepare-store.ts'
import { bootstrapAdmin } from '../services/auth/bootstrap-admin.ts'
import { benchApi, fmt, percentile, progress, say, seedFleet, timed, timeGets } from './fleet-data.ts'

const DAYS = 30
const PROCESSES = 150
/** Of the 150: long-running daemons; the rest are jobs that each live 3 to 32 minutes, then a new one starts. */
const DAEMONS = 120
const RUNS = 40
const TARGET_MS = 100
const PASSWORD = 'bench-password'
const PROCESS_AGGREGATES = ['process_metrics_1h', 'process_lives_1h', 'process_snapshots_1h']

/**
 * One 150-process snapshot a minute over [start, end) for `agent`, written in-engine a day at a time: 120
 * daemons up the whole time (CPU and memory varying) and 30 job slots whose processes come and go, so
 * that a day holds a few thousand starts and exits. Then the hourly aggregates are refreshed and chunks compressed
 * as the policies would have done (raw chunks after HOSTPULSE_COMPRESS_AFTER, the hourly aggregate after 8 days).
 */
export async function loadProcessHistory(store: Store, agent: { id: string; org_id: string }, start: Date, end: Date): Promise<number> {
  const minutes = Math.floor((end.getTime() - start.getTime()) / 60_000)
  const days = Math.ceil(minutes / 1440)
  const tick = progress('writing process snapshots (a day per step)', days)
  const [, loadMs] = await timed(async () => {
    for (let d = 0; d < days; d++) {
      const first = d * 1440
      const last = Math.min(minutes, first + 1440) - 1
      await sql`insert into process_snapshots (time, org_id, agent_id, snapshot_id, batch_id, total_processes)
        select ${start}::timestamptz + m * interval '1 minute', ${agent.org_id}::uuid, ${agent.id}::uuid, 1000000 + m, gen_random_uuid(), ${PROCESSES}
        from generate_series(${first}::int, ${last}::int) m`.execute(store.db)
      await sql`insert into process_metrics (time, org_id, agent_id, snapshot_id, pid, parent_pid, name, cmdline, username, status,
          cpu_percent, memory_bytes, memory_vms, memory_percent, num_threads, create_time)
        select ${start}::timestamptz + m * interval '1 minute', ${agent.org_id}::uuid, ${agent.id}::uuid, 1000000 + m,
               case when daemon then 1000 + p * 7 else 20000 + (p - ${DAEMONS}) * 1000 + (gen % 1000)::int end,
               case when p = 0 then 0 when daemon then 1 else 1000 + (p % 10) * 7 end,
               case when daemon then 'daemon-' || (p % 40) else 'job-' || (p % 6) end,
               case when daemon then '/usr/sbin/daemon-' || (p % 40) || ' --instance ' || p else '/usr/local/bin/job --batch ' || gen end,
               case when p % 3 = 0 then 'root' else 'svc' end, 'sleeping',
               case when daemon then (p % 10) * 1.5 + random() * 4 else 20 + random() * 60 end,
               ((p % 40 + 1) * 20000000::int8 + (random() * 5e6)::int8), (p % 40 + 1) * 60000000::int8, (p % 40 + 1) * 0.25, 1 + p % 16,
               case when daemon then ${start}::timestamptz - interval '1 day'
                    else ${start}::timestamptz + (gen * life) * interval '1 minute' - interval '5 seconds' end
        from generate_series(${first}::int, ${last}::int) m, generate_series(0, ${PROCESSES - 1}) p,
             lateral (select p < ${DAEMONS} as daemon, 3 + (p - ${DAEMONS}) as life) l,
             lateral (select case when daemon then 0 else m / life end as gen) g`.execute(store.db)
      tick(d + 1)
    }
  })
  const rows = minutes * PROCESSES
  say(`  wrote ${fmt(rows)} process rows and ${fmt(minutes)} snapshots in ${(loadMs / 1000).toFixed(1)} s`)
  await refreshProcessAggregates(store)
  // What each compression policy would have compressed by now: the raw tables after their policy's age (a day
  // unless HOSTPULSE_COMPRESS_AFTER says otherwise), the hourly process aggregate after 8 days (sql/028).
  const { rows: [raw] } = await sql<{ after: string }>`select config ->> 'compress_after' as after from timescaledb_information.jobs
    where proc_name = 'policy_compression' and hypertable_name = 'process_metrics'`.execute(store.db)
  const [, compressMs] = await timed(async () => {
    for (const [table, after] of [['process_metrics', raw.after], ['process_snapshots', raw.after], ['process_metrics_1h', '8 days']]) {
      await sql`select count(compress_chunk(c, if_not_compressed => true)) from show_chunks(${table}::regclass, older_than => ${after}::interval) c`.execute(store.db)
    }
  })
  say(`  compressed the raw chunks older than ${raw.after} and the hourly aggregate's older than 8 days in ${(compressMs / 1000).toFixed(1)} s (as the compression policies would)`)
  return rows
}

/** The hourly process aggregates, as their policies would have left them (a store kept from before a new one gets it filled). */
async function refreshProcessAggregates(store: Store): Promise<void> {
  for (const view of PROCESS_AGGREGATES) {
    const [, refreshMs] = await timed(() => sql`call refresh_continuous_aggregate(${view}::regclass, null, null)`.execute(store.db))
    say(`  refreshed ${view} in ${(refreshMs / 1000).toFixed(1)} s`)
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false)
}

const keep = process.env.HOSTPULSE_BENCH_KEEP
const dir = keep ?? await mkdtemp(join(tmpdir(), 'hostpulse-bench-process-history-'))
try {
  say(`hostpulse process history bench — 1 agent × ${DAYS} days of ${PROCESSES}-process snapshots every 60 s, embedded TimescaleDB, over HTTP`)
  const dataDir = join(dir, 'pg')
  const reuse = keep !== undefined && await exists(join(dataDir, 'PG_VERSION'))
  const store = await openStore({ backend: 'embedded', dataDir })
  await prepareStore(store, { retention: { raw: '30d', minute: '90d', hour: '90d', day: '365d' } })
  let end: Date
  if (reuse) {
    const { rows } = await sql<{ end: Date }>`select max(time) + interval '1 minute' as end from process_snapshots`.execute(store.db)
    end = rows[0].end
    say(`  reusing the store in ${dir} (data up to ${end.toISOString()})`)
    await refreshProcessAggregates(store)
  } else {
    const { orgId } = await bootstrapAdmin(store.db, 'admin', PASSWORD)
    const [agent] = await seedFleet(store, 1, orgId)
    end = new Date(Math.floor(Date.now() / 60_000) * 60_000)
    await loadProcessHistory(store, agent, new Date(end.getTime() - DAYS * 86_400_000), end)
  }
  const start = new Date(end.getTime() - DAYS * 86_400_000)
  const { rows: [counts] } = await sql<{ rows: number; compressed: number; chunks: number }>`
    select (select count(*) from process_metrics)::int8 as rows,
           (select count(*) from timescaledb_information.chunks where hypertable_name = 'process_metrics' and is_compressed) as compressed,
           (select count(*) from timescaledb_information.chunks where hypertable_name = 'process_metrics') as chunks`.execute(store.db)
  say(`  process_metrics: ${fmt(Number(counts.rows))} rows in ${counts.chunks} chunks, ${counts.compressed} compressed`)

  const { app, base, token } = await benchApi(store, 'admin', PASSWORD)
  const iso = (d: Date) => encodeURIComponent(d.toISOString())
  const ago = (ms: number) => new Date(end.getTime() - ms)
  const DAY = 86_400_000
  // A day 20 days back (compressed chunks) and the last day (not yet compressed), so both storages are measured.
  const cases: Array<{ name: string; path: string; size: (body: any) => string }> = [
    { name: 'tree at an instant 20 d back', path: `/api/v1/agents/bench-0/processes?at=${iso(ago(20 * DAY + 30_000))}`,
      size: (b) => `${b.total_processes} processes at ${b.timestamp}` },
    { name: 'changes over 24 h (last day)', path: `/api/v1/agents/bench-0/processes/changes?start=${iso(ago(DAY))}&end=${iso(end)}`,
      size: (b) => `${b.count} of ${b.total} changes` },
    { name: 'changes over 24 h, 20 d back', path: `/api/v1/agents/bench-0/processes/changes?start=${iso(ago(21 * DAY))}&end=${iso(ago(20 * DAY))}`,
      size: (b) => `${b.count} of ${b.total} changes` },
    { name: 'blame cpu over 24 h', path: `/api/v1/agents/bench-0/processes/blame?metric=cpu&start=${iso(ago(DAY))}&end=${iso(end)}`,
      size: (b) => `${b.count} entries, ${b.resolution}` },
    { name: 'blame memory over 24 h', path: `/api/v1/agents/bench-0/processes/blame?metric=memory&start=${iso(ago(DAY))}&end=${iso(end)}`,
      size: (b) => `${b.count} entries, ${b.resolution}` },
    { name: 'blame cpu over 30 d', path: `/api/v1/agents/bench-0/processes/blame?metric=cpu&start=${iso(start)}&end=${iso(end)}`,
      size: (b) => `${b.count} entries, ${b.resolution}` },
  ]
  say(`\n  ${RUNS} requests each (after 3 warm-up), p50 / p95 over HTTP, target p95 ≤ ${TARGET_MS} ms:`)
  const summary: string[] = []
  for (const c of cases) {
    const { times, last } = await timeGets(base, token, c.path, RUNS)
    const p50 = percentile(times, 0.5)
    const p95 = percentile(times, 0.95)
    const ratio = p95 / TARGET_MS
    say(`  ${c.name.padEnd(30)} p50 ${p50.toFixed(1).padStart(6)} ms  p95 ${p95.toFixed(1).padStart(6)} ms  `
      + `(${ratio.toFixed(2)}× target → ${p95 <= TARGET_MS ? 'MET' : 'MISSED'})  [${c.size(last)}]`)
    summary.push(`${c.name} p95 ${p95.toFixed(1)} ms (${ratio.toFixed(2)}×)`)
  }
  say(`\nsummary: ${summary.join('; ')}`)
  await app.close()
  await store.close()
} finally {
  if (!keep) await rm(dir, { recursive: true, force: true })
}
