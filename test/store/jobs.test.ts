// The embedded job runner: backdated rows, due jobs run, and then old chunks are compressed, expired
// chunks dropped and aggregates refreshed, exactly as TimescaleDB's scheduler would leave them.
import t from 'tap'
import { sql } from 'kysely'
import { EmbeddedJobRunner, analyzeWithSmallSample } from '../../services/store/embedded/job-runner.ts'
import { writeBatches } from '../../services/ingest/write-batches.ts'
import { bridgedServerBackend, embeddedBackend, openPrepared, seedAgent } from './backends.ts'

const DAY = 86_400_000

for (const makeBackend of [embeddedBackend, bridgedServerBackend]) {
  const backend = await makeBackend()
  t.test(backend.name, async (t) => {
    t.teardown(() => backend.dispose())
    const store = await openPrepared(backend)
    t.teardown(() => store.close())
    const agent = await seedAgent(store)
    const now = Date.now()
    const ages = { expired: 40 * DAY, old: 10 * DAY, recent: 30 * 60_000 }
    for (const [label, age] of Object.entries(ages)) {
      const time = new Date(now - age).toISOString()
      await writeBatches(store.db, agent, [{
        batch_id: crypto.randomUUID(), time,
        metrics: [{ metric_type: 'cpu', metric_name: 'usage_percent', value: label.length, tags: {} }],
        disks: [{ device: '/dev/sda1', mount_point: '/', total_bytes: 100, used_bytes: 40, available_bytes: 60, usage_percent: 40 }],
      }])
    }
    const chunks = async () => (await sql<{ hypertable_name: string; range_end: Date; is_compressed: boolean }>`
      select hypertable_name, range_end, is_compressed from timescaledb_information.chunks
      where hypertable_name in ('metrics', 'disk_metrics')`.execute(store.db)).rows
    const before = await chunks()
    t.ok(before.some((c) => c.range_end.getTime() < now - 30 * DAY), 'an expired chunk exists before the jobs run')
    t.notOk(before.some((c) => c.is_compressed), 'nothing is compressed yet')

    const statsOf = async () => (await sql<{ reltuples: number }>`select reltuples::float8 as reltuples from pg_class where relname = 'agents'`.execute(store.db)).rows[0].reltuples
    t.ok(await statsOf() < 1, 'before: no statistics for agents')
    const runner = new EmbeddedJobRunner(store.db)
    // The same clock as the checks below: a slow first pass must not move "a minute later" closer.
    const runs = await runner.runDueJobs(now)
    t.same(runs.filter((r) => r.error), [], 'every job succeeded')
    t.ok(runs.filter((r) => r.proc_name === 'policy_refresh_continuous_aggregate').length >= 10, 'every aggregate refreshed (with withRefreshPlanner)')
    const { rows: [mem] } = await sql<{ work_mem: string; enable_sort: string }>`select current_setting('work_mem') as work_mem, current_setting('enable_sort') as enable_sort`.execute(store.db)
    t.same(mem, { work_mem: '4MB', enable_sort: 'on' }, 'work_mem and enable_sort are back to the defaults after the refreshes')
    t.ok(runs.some((r) => r.proc_name === 'analyze'), 'the planner statistics were refreshed (no autovacuum runs embedded)')
    t.ok(await statsOf() >= 1, 'agents has statistics now (reltuples is -1 for a table never analyzed)')
    t.ok(runs.length >= 22, `all ${runs.length} scheduled jobs ran on the first pass`)

    const after = await chunks()
    t.notOk(after.some((c) => c.range_end.getTime() < now - 30 * DAY), 'expired chunks are dropped')
    const oldChunks = after.filter((c) => c.range_end.getTime() < now - 7 * DAY)
    t.ok(oldChunks.length >= 2, 'the 10-day-old chunks of both tables remain')
    t.ok(oldChunks.every((c) => c.is_compressed), 'chunks older than 7 days are compressed')
    t.ok(after.filter((c) => c.range_end.getTime() > now).every((c) => !c.is_compressed), 'current chunks stay uncompressed')

    const { rows: [counts] } = await sql<{ total: number; old: number }>`select count(*) as total,
      count(*) filter (where time < now() - interval '7 days') as old from metrics where agent_id = ${agent.id}`.execute(store.db)
    t.same(counts, { total: 2, old: 1 }, 'the expired row is gone, the compressed one still reads')

    const { rows: [mat] } = await sql<{ schema: string; name: string }>`select materialization_hypertable_schema as schema,
      materialization_hypertable_name as name from timescaledb_information.continuous_aggregates where view_name = 'metrics_1m'`.execute(store.db)
    const { rows: materialized } = await sql<{ count: number }>`select count(*) as count from ${sql.table(`${mat.schema}.${mat.name}`)}
      where agent_id = ${agent.id}`.execute(store.db)
    t.equal(materialized[0].count, 1, 'metrics_1m materialized the recent minute (the 10-day-old row is outside its refresh window)')

    t.same(await runner.runDueJobs(now + 1000), [], 'nothing is due again a second later')
    const later = await runner.runDueJobs(now + 61_000)
    t.same([...new Set(later.map((r) => r.relation))].sort(), ['metrics_1m'], 'a minute later only the 1-minute refresh is due')

    // The chunk being written grows: five minutes on, its statistics are refreshed (no autovacuum to do it).
    await writeBatches(store.db, agent, Array.from({ length: 200 }, (_, i) => ({
      batch_id: crypto.randomUUID(), time: new Date(now - i * 1000).toISOString(),
      metrics: [{ metric_type: 'cpu', metric_name: 'usage_percent', value: i, tags: {} }],
    })))
    // The 200 rows span 200 s: near midnight they straddle two daily chunks, so the chunks holding them are summed.
    const currentChunkRows = async () => (await sql<{ reltuples: number }>`
      select sum(greatest(c.reltuples, 0))::float8 as reltuples from timescaledb_information.chunks ch
      join pg_class c on c.relname = ch.chunk_name
      where ch.hypertable_name = 'metrics' and ch.range_end > ${new Date(now - 200_000).toISOString()}::timestamptz`.execute(store.db)).rows[0].reltuples
    t.ok(await currentChunkRows() < 200, 'the planner has not seen the 200 new rows yet')
    const fiveLater = await runner.runDueJobs(now + 5 * 60_000 + 1000)
    const analyzed = fiveLater.find((r) => r.proc_name === 'analyze current chunks')
    t.ok(analyzed && !analyzed.error, `the current chunks were analyzed (${analyzed?.relation})`)
    t.ok(await currentChunkRows() >= 200, 'the current metrics chunk\'s statistics count the new rows')

    // Between those passes, a chunk being written that grew by half is analyzed at the next check (with a smaller sample).
    const grownAt = now + 6 * 60_000
    await writeBatches(store.db, agent, Array.from({ length: 30 }, (_, i) => ({
      batch_id: crypto.randomUUID(), time: new Date(now - 100 - i * 100).toISOString(),
      metrics: Array.from({ length: 100 }, (_, m) => ({ metric_type: 'cpu', metric_name: `grown_${m}`, value: m, tags: {} })),
    })))
    t.ok(await currentChunkRows() < 3_200, 'the planner has not seen the 3,000 new rows yet')
    const grown = (await runner.runDueJobs(grownAt)).filter((r) => r.proc_name === 'analyze grown chunks')
    t.equal(grown.length, 1, 'a check one minute after the five-minute pass analyzes the chunk that grew')
    t.notOk(grown[0]?.error, grown[0]?.error ?? 'without error')
    t.ok(await currentChunkRows() >= 3_200, `its statistics count the new rows (${grown[0]?.relation})`)
    const again = await runner.runDueJobs(grownAt + 15_000)
    t.notOk(again.some((r) => r.proc_name === 'analyze grown chunks'), 'a chunk that did not grow since is not analyzed again')
    // A failed analysis (a chunk dropped meanwhile) leaves the session as it was: no transaction left aborted.
    await t.rejects(analyzeWithSmallSample(store.db, 'no_such_chunk'), /no_such_chunk/)
    t.same((await sql<{ one: number }>`select 1 as one`.execute(store.db)).rows, [{ one: 1 }], 'the session still answers after a failed analysis')
    t.equal((await sql<{ t: string }>`select current_setting('default_statistics_target') as t`.execute(store.db)).rows[0].t, '100', 'and the smaller sample did not outlive it')

    // Checkpoints, which nothing else makes on the embedded engine: once the WAL since the last one reaches the limit.
    const redo = async () => (await sql<{ redo: string }>`select (pg_control_checkpoint()).redo_lsn::text as redo`.execute(store.db)).rows[0].redo
    const checkpointing = new EmbeddedJobRunner(store.db, undefined, { checkpointWalBytes: 256 * 1024 })
    await checkpointing.checkpointIfDue(now)
    const redoBefore = await redo()
    t.equal(await checkpointing.checkpointIfDue(now + 1000), undefined, 'no checkpoint while the WAL since the last is under the limit')
    await writeBatches(store.db, agent, Array.from({ length: 20 }, (_, i) => ({
      batch_id: crypto.randomUUID(), time: new Date(now - 5000 - i * 100).toISOString(),
      metrics: Array.from({ length: 100 }, (_, m) => ({ metric_type: 'memory', metric_name: `wal_${m}`, value: m, tags: {} })),
    })))
    const made = await checkpointing.checkpointIfDue(now + 2000)
    t.ok(made && !made.error, `a checkpoint once the WAL passed 256 kB (${made?.relation ?? made?.error})`)
    t.not(await redo(), redoBefore, 'the redo point moved')
    t.equal(await checkpointing.checkpointIfDue(now + 3000), undefined, 'and none right after it')
  })
}
