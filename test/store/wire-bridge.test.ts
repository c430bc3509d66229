// The tests' wire bridge (PGlite behind pglite-socket, as a server over TCP) must take a protocol message of
// any size: one over 64 KiB arrives in several TCP chunks, which pglite-socket 0.0.19 handed to PGlite one by
// one, trapping the engine (backends.ts joins them). One ingest statement of 64 batches of 150 processes is
// such a message.
import t from 'tap'
import { sql } from 'kysely'
import { writeBatches } from '../../services/ingest/write-batches.ts'
import { bridgedServerBackend, openPrepared, seedAgent } from './backends.ts'

t.test('a statement larger than 64 KiB over the bridge', async (t) => {
  const backend = await bridgedServerBackend()
  t.teardown(() => backend.dispose())
  const store = await openPrepared(backend)
  t.teardown(() => store.close())
  const agent = await seedAgent(store)
  const now = Date.now()
  const processes = Array.from({ length: 150 }, (_, p) => ({
    pid: p + 1, parent_pid: 1, name: `worker-${p}`, cmdline: `/usr/bin/worker --slot ${p} --queue jobs-${p}`, username: 'app',
    status: 'sleeping', cpu_percent: p / 10, memory_bytes: 1_000_000 + p, memory_percent: 0.1, num_threads: 1,
  }))
  const batches = Array.from({ length: 64 }, (_, i) => ({
    batch_id: crypto.randomUUID(), time: new Date(now - i * 10_000).toISOString(),
    metrics: [{ metric_type: 'cpu', metric_name: 'usage_percent', value: i, tags: {} }], processes,
  }))
  const bytes = JSON.stringify(batches).length
  t.ok(bytes > 64 * 1024, `the batches are ${Math.round(bytes / 1024)} KiB`)
  const result = await writeBatches(store.db, agent, batches)
  t.equal(result.accepted_batches, 64, 'every batch accepted')
  const { rows: [counts] } = await sql<{ processes: number; metrics: number }>`select
    (select count(*)::int from process_metrics where agent_id = ${agent.id}) as processes,
    (select count(*)::int from metrics where agent_id = ${agent.id}) as metrics`.execute(store.db)
  t.same(counts, { processes: 64 * 150, metrics: 64 }, 'and every row stored')
  const { rows: [alive] } = await sql<{ one: number }>`select 1 as one`.execute(store.db)
  t.equal(alive.one, 1, 'the engine answers after it')
})
