// Restart: write, close, reopen the data dir; every row is there, compressed chunks included
// (PLATFORM.md's trap: without LOAD 'timescaledb' after opening, compressed chunks are silently skipped).
import t from 'tap'
import { sql } from 'kysely'
import type { Store } from '../../services/store/open-store.ts'
import { writeBatches } from '../../services/ingest/write-batches.ts'
import { allBackends, openPrepared, seedAgent } from './backends.ts'

const DAY = 86_400_000

async function census(store: Store, agentId: string) {
  const { rows: [metrics] } = await sql<{ rows: number; sum: number; old: number }>`select count(*) as rows, sum(value) as sum,
    count(*) filter (where time < now() - interval '7 days') as old from metrics where agent_id = ${agentId}`.execute(store.db)
  const { rows: [processes] } = await sql<{ rows: number }>`select count(*) as rows from process_metrics where agent_id = ${agentId}`.execute(store.db)
  const { rows: [chunks] } = await sql<{ compressed: number }>`select count(*) filter (where is_compressed) as compressed
    from timescaledb_information.chunks where hypertable_name = 'metrics'`.execute(store.db)
  return { metrics, processes, chunks }
}

for (const backend of await allBackends()) {
  t.test(`${backend.name}: rows survive close and reopen, compressed chunks included`, { skip: backend.skip }, async (t) => {
  t.teardown(() => backend.dispose())
  let store = await openPrepared(backend)
  const agent = await seedAgent(store)
  const now = Date.now()
  // 12 days, one batch per 2 hours: the first days land in chunks old enough to compress.
  const batches = Array.from({ length: 144 }, (_, i) => ({
    batch_id: crypto.randomUUID(), time: new Date(now - 12 * DAY + i * 2 * 3_600_000).toISOString(),
    metrics: [{ metric_type: 'cpu', metric_name: 'usage_percent', value: i, tags: {} }, { metric_type: 'load', metric_name: 'load1', value: i / 10, tags: {} }],
    processes: [{ pid: 1, name: 'init', cpu_percent: 0.1, memory_bytes: 4096, memory_percent: 0.1 }],
  }))
  for (let i = 0; i < batches.length; i += 24) await writeBatches(store.db, agent, batches.slice(i, i + 24))
  const { rows: compressed } = await sql<{ c: string }>`select compress_chunk(c, if_not_compressed => true)::text as c
    from show_chunks('metrics', older_than => interval '7 days') c`.execute(store.db)
  t.ok(compressed.length >= 4, `${compressed.length} chunks compressed`)
  const before = await census(store, agent.id)
  t.equal(before.metrics.rows, 288)
  t.ok(before.metrics.old > 0, 'some rows live in compressed chunks')
  t.equal(before.chunks.compressed, compressed.length)
  await store.close()

  store = await backend.open()
  t.teardown(() => store.close())
  t.same(await census(store, agent.id), before, 'same rows, same sum, same compressed chunks after reopening')
})
}
