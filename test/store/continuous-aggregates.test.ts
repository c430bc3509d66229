// Each continuous aggregate equals the same aggregation computed over the raw rows for the same buckets.
import t, { type Test } from 'tap'
import { sql } from 'kysely'
import type { IngestBatch } from '../../contract/ingest-batch.ts'
import { writeBatches } from '../../services/ingest/write-batches.ts'
import type { Store } from '../../services/store/open-store.ts'
import { allBackends, openPrepared, seedAgent } from './backends.ts'

const HOUR = 3_600_000
// A seeded generator: the data differ run to run only when the seed does.
function random(seed: number) {
  return () => { seed = (seed * 1664525 + 1013904223) % 4294967296; return seed / 4294967296 }
}

async function seed(store: Store) {
  const rnd = random(42)
  const agents = [await seedAgent(store, 'a'), await seedAgent(store, 'b')]
  // 50 hours of samples every 3 minutes, ending two days ago so every bucket is complete.
  const end = Math.floor((Date.now() - 2 * 24 * HOUR) / HOUR) * HOUR
  for (const agent of agents) {
    const batches: IngestBatch[] = []
    for (let ts = end - 50 * HOUR; ts < end; ts += 180_000) {
      const time = new Date(ts + Math.floor(rnd() * 1000)).toISOString()
      batches.push({
        batch_id: crypto.randomUUID(), time,
        metrics: [
          { metric_type: 'cpu', metric_name: 'usage_percent', value: rnd() * 100, tags: {} },
          { metric_type: 'cpu', metric_name: 'usage_percent', value: rnd() * 100, tags: { core: '0' } },
          { metric_type: 'memory', metric_name: 'used_bytes', value: Math.floor(rnd() * 8e9), tags: {} },
        ],
        disks: ['/', '/data'].map((m) => ({
          device: `/dev/${m === '/' ? 'sda1' : 'sdb1'}`, mount_point: m, total_bytes: 1e12, used_bytes: Math.floor(rnd() * 1e12),
          available_bytes: 1, usage_percent: rnd() * 100, inodes_percent: rnd() * 10, read_bytes_per_sec: rnd() * 1e6,
          write_bytes_per_sec: rnd() * 1e6, io_util_percent: rnd() * 100,
        })),
        networks: [{ interface: 'eth0', bytes_sent: ts / 1000, bytes_recv: ts / 500, packets_sent: 1, packets_recv: 2,
          errors_in: Math.floor(ts / 3.6e6), bytes_sent_per_sec: rnd() * 1e5, bytes_recv_per_sec: rnd() * 1e5 }],
        processes: ['nginx', 'postgres'].map((name, pid) => ({ pid: pid + 100, name, cpu_percent: rnd() * 50,
          memory_bytes: Math.floor(rnd() * 1e9), memory_percent: rnd() * 10 })),
      })
    }
    // Small requests: the wire bridge used for the pg path cannot take one message larger than a TCP chunk.
    for (let i = 0; i < batches.length; i += 20) await writeBatches(store.db, agent, batches.slice(i, i + 20))
  }
  for (const view of ['metrics_1m', 'metrics_1h', 'metrics_1d', 'disk_metrics_1h', 'network_metrics_1h', 'process_metrics_1h']) {
    await sql`call refresh_continuous_aggregate(${view}::regclass, null, null)`.execute(store.db)
  }
  return agents.map((a) => a.id)
}

type Row = Record<string, unknown>
/** Compares two result sets row by row, numbers to a relative 1e-9 (floating-point sums differ in order). */
function sameRows(t: Test, actual: Row[], expected: Row[], what: string) {
  t.equal(actual.length, expected.length, `${what}: same number of buckets`)
  let mismatches = 0
  expected.forEach((e, i) => {
    for (const [k, v] of Object.entries(e)) {
      const a = actual[i]?.[k]
      const ok = typeof v === 'number' && typeof a === 'number'
        ? Math.abs(a - v) <= 1e-9 * Math.max(1, Math.abs(v))
        : JSON.stringify(a) === JSON.stringify(v)
      if (!ok && mismatches++ < 5) t.fail(`${what}: row ${i} ${k}: aggregate ${JSON.stringify(a)} ≠ raw ${JSON.stringify(v)}`)
    }
  })
  t.equal(mismatches, 0, `${what}: every bucket equals the raw aggregation`)
  t.ok(expected.length > 0, `${what}: compared a non-empty set`)
}


for (const backend of await allBackends()) {
  t.test(backend.name, { skip: backend.skip }, async (t) => {
    t.teardown(() => backend.dispose())
    const store = await openPrepared(backend)
    t.teardown(() => store.close())
    const ids = await seed(store)
    for (const [view, width] of [['metrics_1m', '1 minute'], ['metrics_1h', '1 hour'], ['metrics_1d', '1 day']] as const) {
      t.test(`${view} equals time_bucket('${width}') over raw metrics`, async (t) => {
        const { rows: agg } = await sql<Row>`select bucket, agent_id, metric_type, metric_name, tags, avg, min, max, sum, count, last
          from ${sql.table(view)} where agent_id = any(${ids}::uuid[])
          order by bucket, agent_id, metric_type, metric_name, tags::text`.execute(store.db)
        const { rows: raw } = await sql<Row>`select time_bucket(${width}::interval, time) as bucket, agent_id, metric_type, metric_name, tags,
            avg(value) as avg, min(value) as min, max(value) as max, sum(value) as sum, count(*) as count, last(value, time) as last
          from metrics where agent_id = any(${ids}::uuid[])
          group by 1, agent_id, metric_type, metric_name, tags order by 1, agent_id, metric_type, metric_name, tags::text`.execute(store.db)
        sameRows(t, agg, raw, view)
      })
    }

    t.test('disk_metrics_1h equals the hourly aggregation of raw disk rows', async (t) => {
      const { rows: agg } = await sql<Row>`select bucket, agent_id, mount_point, usage_percent_avg, usage_percent_max, used_bytes,
          inodes_percent_max, read_bytes_per_sec_avg, io_util_percent_avg, count
        from disk_metrics_1h where agent_id = any(${ids}::uuid[]) order by bucket, agent_id, mount_point`.execute(store.db)
      const { rows: raw } = await sql<Row>`select time_bucket('1 hour', time) as bucket, agent_id, mount_point,
          avg(usage_percent) as usage_percent_avg, max(usage_percent) as usage_percent_max, last(used_bytes, time) as used_bytes,
          max(inodes_percent) as inodes_percent_max, avg(read_bytes_per_sec) as read_bytes_per_sec_avg,
          avg(io_util_percent) as io_util_percent_avg, count(*) as count
        from disk_metrics where agent_id = any(${ids}::uuid[]) group by 1, agent_id, mount_point order by 1, agent_id, mount_point`.execute(store.db)
      sameRows(t, agg, raw, 'disk_metrics_1h')
    })

    t.test('network_metrics_1h equals the hourly aggregation of raw network rows', async (t) => {
      const { rows: agg } = await sql<Row>`select bucket, agent_id, interface, bytes_sent_per_sec_avg, bytes_recv_per_sec_max,
          bytes_sent, errors_in_delta, count
        from network_metrics_1h where agent_id = any(${ids}::uuid[]) order by bucket, agent_id, interface`.execute(store.db)
      const { rows: raw } = await sql<Row>`select time_bucket('1 hour', time) as bucket, agent_id, interface,
          avg(bytes_sent_per_sec) as bytes_sent_per_sec_avg, max(bytes_recv_per_sec) as bytes_recv_per_sec_max,
          last(bytes_sent, time) as bytes_sent, max(errors_in) - min(errors_in) as errors_in_delta, count(*) as count
        from network_metrics where agent_id = any(${ids}::uuid[]) group by 1, agent_id, interface order by 1, agent_id, interface`.execute(store.db)
      sameRows(t, agg, raw, 'network_metrics_1h')
    })

    t.test('process_metrics_1h equals the hourly aggregation of raw process rows', async (t) => {
      const { rows: agg } = await sql<Row>`select bucket, agent_id, name, cpu_percent_avg, cpu_percent_max, memory_bytes_avg, memory_bytes_max, count
        from process_metrics_1h where agent_id = any(${ids}::uuid[]) order by bucket, agent_id, name`.execute(store.db)
      const { rows: raw } = await sql<Row>`select time_bucket('1 hour', time) as bucket, agent_id, name,
          avg(cpu_percent) as cpu_percent_avg, max(cpu_percent) as cpu_percent_max, avg(memory_bytes)::float8 as memory_bytes_avg,
          max(memory_bytes) as memory_bytes_max, count(*) as count
        from process_metrics where agent_id = any(${ids}::uuid[]) group by 1, agent_id, name order by 1, agent_id, name`.execute(store.db)
      sameRows(t, agg, raw, 'process_metrics_1h')
    })
  })
}
