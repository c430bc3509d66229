// The embedded job runner's vacuum of the tables ingest rewrites: with no autovacuum in the embedded engine,
// the space of deleted rows is reused, and the hot tables' pages are left clean, only because the runner
// vacuums them. The engine keeps no dead-row counts (pg_stat_user_tables.n_dead_tup stays 0), so what shows
// it is the size of the table and the visibility map. In-place updates alone do not grow a table (a page's
// dead versions are pruned as it fills): the growth shows where rows are deleted, ingest_batches after its prune.
import t from 'tap'
import { sql } from 'kysely'
import { EmbeddedJobRunner, HOT_TABLES, HOT_TABLES_VACUUM_INTERVAL_MS } from '../../services/store/embedded/job-runner.ts'
import { writeBatches } from '../../services/ingest/write-batches.ts'
import { embeddedBackend, openPrepared, seedAgent } from './backends.ts'

const backend = await embeddedBackend()
t.test(backend.name, async (t) => {
  t.teardown(() => backend.dispose())
  const store = await openPrepared(backend)
  t.teardown(() => store.close())
  const agent = await seedAgent(store)

  let sent = 0
  /** `count` requests of one batch each: every one updates the agent, its 20 series in metrics_latest and its container. */
  async function ingest(count: number): Promise<void> {
    for (let i = 0; i < count; i++, sent++) {
      await writeBatches(store.db, agent, [{
        batch_id: crypto.randomUUID(), time: new Date(Date.now() - 3_600_000 + sent * 1000).toISOString(),
        metrics: Array.from({ length: 20 }, (_, k) => ({ metric_type: 'cpu', metric_name: 'usage_percent', value: sent, tags: { core: String(k) } })),
        containers: [{ id: 'c1', name: 'web', image: 'nginx', state: 'running', cpu_percent: 1, memory_bytes: 1, memory_limit_bytes: 2, memory_percent: 50, rx_bytes: 0, tx_bytes: 0 }],
      }])
    }
  }
  const heapBytes = async (table: string) =>
    Number((await sql<{ bytes: string }>`select pg_relation_size(${table}::regclass) as bytes`.execute(store.db)).rows[0].bytes)
  /** Pages, and pages the visibility map knows hold no dead row version (as of the last vacuum or analyze). */
  const visibility = async (table: string) => (await sql<{ pages: number; clean: number }>`
    select relpages as pages, relallvisible as clean from pg_class where oid = ${table}::regclass`.execute(store.db)).rows[0]
  // The hourly job's procedure with nothing kept: what it does to these rows 30 days on.
  const prune = () => sql`call hostpulse_prune_ingest_batches(0, '{"keep": "0 seconds"}')`.execute(store.db)

  const BATCHES = 400
  await ingest(BATCHES)
  const first = await heapBytes('ingest_batches')
  await prune()
  await ingest(BATCHES)
  const grown = await heapBytes('ingest_batches')
  t.ok(grown >= first * 1.5, `without a vacuum the pruned rows' space is not reused: ${BATCHES} rows took ${first} bytes, ${BATCHES} more after the prune ${grown}`)

  await sql`analyze agents, metrics_latest, containers`.execute(store.db)
  for (const table of ['agents', 'metrics_latest', 'containers']) {
    const v = await visibility(table)
    t.ok(v.pages > 0 && v.clean < v.pages, `before: ${table}: ${v.clean} of ${v.pages} pages known clean after ${sent} updates`)
  }

  await prune()
  const runner = new EmbeddedJobRunner(store.db)
  const now = Date.now()
  const runs = await runner.runDueJobs(now)
  const vacuum = runs.find((r) => r.proc_name === 'vacuum hot tables')
  t.ok(vacuum, 'the first pass vacuums the hot tables')
  t.notOk(vacuum?.error, `the vacuum succeeded${vacuum?.error ? `: ${vacuum.error}` : ''}`)
  t.equal(vacuum?.relation, `${HOT_TABLES.length} tables`, 'every table of the list exists here and was vacuumed')
  t.comment(`vacuum of ${vacuum?.relation} took ${vacuum?.ms} ms`)
  for (const table of ['agents', 'metrics_latest', 'containers']) {
    const v = await visibility(table)
    t.ok(v.pages > 0 && v.clean === v.pages, `after: ${table}: all ${v.pages} pages hold no dead row version (${v.clean} known clean)`)
  }

  await ingest(BATCHES)
  const after = await heapBytes('ingest_batches')
  t.ok(after <= grown, `after the vacuum the pruned rows' space is reclaimed: ${BATCHES} more rows left the table at ${after} bytes (was ${grown})`)

  t.notOk((await runner.runDueJobs(now + 61_000)).some((r) => r.proc_name === 'vacuum hot tables'), 'not vacuumed again a minute later')
  const later = await runner.runDueJobs(now + HOT_TABLES_VACUUM_INTERVAL_MS + 1000)
  t.ok(later.some((r) => r.proc_name === 'vacuum hot tables' && !r.error), 'vacuumed again once the interval has passed')
})
