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

    // Wide tables: every numeric field rolled up as avg, min, max and last per hour.
    const wide = [
      { view: 'disk_metrics_1h', table: 'disk_metrics', key: 'mount_point', fields: ['usage_percent', 'used_bytes', 'available_bytes', 'total_bytes',
        'inodes_percent', 'read_bytes_per_sec', 'write_bytes_per_sec', 'read_ops_per_sec', 'write_ops_per_sec', 'io_util_percent'] },
      { view: 'network_metrics_1h', table: 'network_metrics', key: 'interface', fields: ['bytes_sent_per_sec', 'bytes_recv_per_sec',
        'packets_sent_per_sec', 'packets_recv_per_sec', 'bytes_sent', 'bytes_recv', 'errors_in', 'errors_out', 'drop_in', 'drop_out'] },
      { view: 'process_metrics_1h', table: 'process_metrics', key: 'name', fields: ['cpu_percent', 'memory_bytes', 'memory_percent', 'num_threads'] },
    ]
    for (const { view, table, key, fields } of wide) {
      t.test(`${view} equals the hourly aggregation of raw ${table} rows`, async (t) => {
        const aggCols = fields.flatMap((f) => [`${f}_avg`, `${f}_min`, `${f}_max`, `${f}_last`]).join(', ')
        const rawCols = fields.flatMap((f) => [`avg(${f})::float8 as ${f}_avg`, `min(${f})::float8 as ${f}_min`,
          `max(${f})::float8 as ${f}_max`, `last(${f}, time)::float8 as ${f}_last`]).join(', ')
        const { rows: agg } = await sql<Row>`select bucket, agent_id, ${sql.ref(key)}, ${sql.raw(aggCols)}, count
          from ${sql.table(view)} where agent_id = any(${ids}::uuid[]) order by bucket, agent_id, ${sql.ref(key)}`.execute(store.db)
        const { rows: raw } = await sql<Row>`select time_bucket('1 hour', time) as bucket, agent_id, ${sql.ref(key)}, ${sql.raw(rawCols)},
            count(*) as count
          from ${sql.table(table)} where agent_id = any(${ids}::uuid[]) group by 1, agent_id, ${sql.ref(key)}
          order by 1, agent_id, ${sql.ref(key)}`.execute(store.db)
        sameRows(t, agg, raw, view)
      })
    }
  })
}
