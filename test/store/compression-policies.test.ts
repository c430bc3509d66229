// When raw rows are compressed (HOSTPULSE_COMPRESS_AFTER, applied at start), and how the embedded job runner
// works through a backlog of chunks: one chunk a run, the job coming back at the next check until none is left.
import t, { type Test } from 'tap'
import { sql } from 'kysely'
import { applyCompressionPolicies, COMPRESSED_AFTER_CONFIG } from '../../services/store/compression-policies.ts'
import { COMPRESSION_CHUNKS_PER_RUN, EmbeddedJobRunner, isNotable } from '../../services/store/embedded/job-runner.ts'
import { writeBatches } from '../../services/ingest/write-batches.ts'
import type { Store } from '../../services/store/open-store.ts'
import { embeddedBackend, onEachBackend, openPrepared, seedAgent } from './backends.ts'

const DAY = 86_400_000

/** Each compression policy's compress_after, by the relation it compresses, in days. */
async function compressAfterDays(store: Store): Promise<Record<string, number>> {
  const { rows } = await sql<{ relation: string; days: number }>`
    select coalesce(ca.view_name, j.hypertable_name) as relation,
           extract(epoch from (j.config ->> 'compress_after')::interval)::float8 / 86400 as days
    from timescaledb_information.jobs j
    left join timescaledb_information.continuous_aggregates ca
      on ca.materialization_hypertable_schema = j.hypertable_schema and ca.materialization_hypertable_name = j.hypertable_name
    where j.proc_name = 'policy_compression'`.execute(store.db)
  return Object.fromEntries(rows.map((r) => [r.relation, r.days]))
}

/** An embedded store, an agent, and one cpu.usage_percent row of that agent `age` days back for each age given. */
async function storeWithRowsAt(t: Test, ages: number[]): Promise<{ store: Store; agent: { id: string; org_id: string }; now: number }> {
  const backend = await embeddedBackend()
  t.teardown(() => backend.dispose())
  const store = await openPrepared(backend)
  t.teardown(() => store.close())
  const agent = await seedAgent(store)
  const now = Date.now()
  for (const age of ages) {
    await writeBatches(store.db, agent, [{
      batch_id: crypto.randomUUID(), time: new Date(now - age * DAY).toISOString(),
      metrics: [{ metric_type: 'cpu', metric_name: 'usage_percent', value: age, tags: {} }],
    }])
  }
  return { store, agent, now }
}

await onEachBackend(t, async (t, store) => {
  const days = await compressAfterDays(store)
  for (const relation of COMPRESSED_AFTER_CONFIG) t.equal(days[relation], 1, `${relation}: compressed after a day by default`)
  t.equal(days.metrics_1m, 8, 'the minute aggregate keeps its own (its refresh window is 7 days)')
  t.equal(days.network_traffic, 45, 'traffic buckets keep theirs')

  const jobIds = async () => (await sql<{ job_id: number }>`select job_id from timescaledb_information.jobs
    where proc_name = 'policy_compression' order by job_id`.execute(store.db)).rows.map((r) => r.job_id)
  const idsBefore = await jobIds()
  const log: string[] = []
  t.teardown(() => applyCompressionPolicies(store.db)) // a shared TEST_DATABASE_URL keeps the default however this ends
  t.equal(await applyCompressionPolicies(store.db, '2d', (m) => log.push(m)), COMPRESSED_AFTER_CONFIG.length, 'a new age changes every raw policy')
  t.same(await jobIds(), idsBefore, 'in place: the same jobs, ids kept')
  t.match(log, [/raw rows are compressed after 2d \(8 policies set\)/])
  const changed = await compressAfterDays(store)
  for (const relation of COMPRESSED_AFTER_CONFIG) t.equal(changed[relation], 2, `${relation}: now after 2 days`)
  t.equal(changed.metrics_1m, 8, 'aggregates untouched')
  t.equal(await applyCompressionPolicies(store.db, '2d'), 0, 'the same age again changes nothing')
  t.equal(await applyCompressionPolicies(store.db), COMPRESSED_AFTER_CONFIG.length, 'and the default comes back')
})

t.test('embedded job runner: a backlog of chunks is compressed one chunk a run, a check apart', async (t) => {
  // Three daily chunks past a day's age: the backlog a store kept a week uncompressed has on its first start.
  const { store, agent, now } = await storeWithRowsAt(t, [2, 3, 4])
  const compressed = async () => (await sql<{ n: number }>`select count(*)::int as n from timescaledb_information.chunks
    where hypertable_name = 'metrics' and is_compressed`.execute(store.db)).rows[0].n
  t.equal(await compressed(), 0, 'nothing compressed before the runner')

  const runner = new EmbeddedJobRunner(store.db)
  const metricsCompression = (runs: Awaited<ReturnType<EmbeddedJobRunner['runDueJobs']>>) =>
    runs.filter((r) => r.proc_name === 'policy_compression' && r.relation === 'metrics')
  const first = metricsCompression(await runner.runDueJobs(now))
  t.equal(first.length, 1, 'the first pass runs the metrics compression job')
  t.notOk(first[0].error, first[0].error ?? 'without error')
  t.equal(first[0].chunks_left, 2, 'two chunks are left after it')
  t.equal(await compressed(), COMPRESSION_CHUNKS_PER_RUN, 'it compressed one chunk')

  // The next checks (15 s apart, long before its 12-hour schedule) run it again until nothing is left.
  const second = metricsCompression(await runner.runDueJobs(now + 15_000))
  t.same(second.map((r) => r.chunks_left), [1], 'the next check runs it again: one left')
  // A batch written between the checks is stored, and reads back with the rest below.
  await writeBatches(store.db, agent, [{ batch_id: crypto.randomUUID(), time: new Date(now).toISOString(),
    metrics: [{ metric_type: 'cpu', metric_name: 'usage_percent', value: 1, tags: {} }] }])
  const third = metricsCompression(await runner.runDueJobs(now + 30_000))
  t.same(third.map((r) => r.chunks_left), [0], 'the check after: none left')
  t.equal(await compressed(), 3, 'all three chunks are compressed')
  t.same(metricsCompression(await runner.runDueJobs(now + 45_000)), [], 'then the job waits for its schedule')
  t.ok(isNotable(first[0]) && isNotable(second[0]), 'runs with chunks left are printed at the default log level (a backlog\'s progress)')
  t.equal(isNotable({ ...third[0], ms: 20 }), false, 'a quick one with none left is not')
  t.equal(isNotable({ ...third[0], ms: 1500 }), true, 'one that held the session a second and more is')

  const { rows } = await sql<{ value: number }>`select value from metrics where agent_id = ${agent.id} order by time`.execute(store.db)
  t.same(rows.map((r) => r.value), [4, 3, 2, 1], 'every row still reads, compressed or not')

  // Rows replayed into two compressed chunks leave them partly compressed: the policy recompresses them, one a run.
  for (const age of [3, 4]) {
    await writeBatches(store.db, agent, [{
      batch_id: crypto.randomUUID(), time: new Date(now - age * DAY + 60_000).toISOString(),
      metrics: [{ metric_type: 'cpu', metric_name: 'usage_percent', value: age + 0.5, tags: {} }],
    }])
  }
  const partial = async () => (await sql<{ n: number }>`select count(*)::int as n from _timescaledb_catalog.chunk c
    join _timescaledb_catalog.hypertable h on h.id = c.hypertable_id
    where h.table_name = 'metrics' and not c.dropped and c.status & 8 <> 0`.execute(store.db)).rows[0].n
  t.equal(await partial(), 2, 'the replayed rows left two chunks partly compressed')
  const restarted = new EmbeddedJobRunner(store.db)
  t.same(metricsCompression(await restarted.runDueJobs(now)).map((r) => r.chunks_left), [1], 'a run recompresses one: one left')
  t.same(metricsCompression(await restarted.runDueJobs(now + 15_000)).map((r) => r.chunks_left), [0], 'the next check, the other')
  t.equal(await partial(), 0, 'none is partly compressed now')
  const { rows: after } = await sql<{ value: number }>`select value from metrics where agent_id = ${agent.id} order by time`.execute(store.db)
  t.same(after.map((r) => r.value), [4, 4.5, 3, 3.5, 2, 1], 'and every row reads once')
})

t.test('embedded job runner: the minute aggregate\'s backlog too (its job names the aggregate, not its hypertable)', async (t) => {
  // Past the aggregate's 8 days by more than its 10-day chunk, and 10 days apart: two due chunks.
  const { store, agent, now } = await storeWithRowsAt(t, [19, 29])
  await sql`call refresh_continuous_aggregate('metrics_1m', null, null)`.execute(store.db)
  const minuteChunks = async () => (await sql<{ compressed: boolean }>`
    select ch.is_compressed as compressed from timescaledb_information.chunks ch
    join timescaledb_information.continuous_aggregates ca on ca.materialization_hypertable_schema = ch.hypertable_schema
      and ca.materialization_hypertable_name = ch.hypertable_name
    where ca.view_name = 'metrics_1m'`.execute(store.db)).rows
  t.same((await minuteChunks()).map((c) => c.compressed), [false, false], 'two uncompressed chunks of the minute aggregate')
  const runner = new EmbeddedJobRunner(store.db)
  const minute = (runs: Awaited<ReturnType<EmbeddedJobRunner['runDueJobs']>>) =>
    runs.filter((r) => r.proc_name === 'policy_compression' && r.relation === 'metrics_1m').map((r) => r.error ?? r.chunks_left)
  t.same(minute(await runner.runDueJobs(now)), [1], 'the first run compresses one: one left')
  t.same(minute(await runner.runDueJobs(now + 15_000)), [0], 'the next check the other')
  t.same((await minuteChunks()).map((c) => c.compressed), [true, true], 'both are compressed')
  const { rows } = await sql<{ max: number }>`select max from metrics_1m where agent_id = ${agent.id} order by bucket`.execute(store.db)
  t.same(rows.map((r) => r.max), [29, 19], 'and read back')
})
