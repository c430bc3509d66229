// Bytes per stored sample after compression (issue 15): a day of simulated fleet data in the metrics
// hypertable, compressed as the policy would, measured with hypertable_compression_stats and on disk.
//   npm run bench:storage        (AGENTS=10; 64 scalar series per agent, one sample every 10 s for a day)
// Series move like a host's: percentages with two decimals that wander, byte gauges that drift in whole
// pages, counters that only grow, load averages, rates, constants, and eight per-core CPU series told apart
// by a tag (as the agent sends cpu.usage_percent{core}). Then the same data segmented as before migration 030
// (the per-core series interleaving in one segment) and with values as integer hundredths, for comparison. Where Prometheus's promtool
// is installed (Debian's `prometheus`, 2.42), the same samples are written to Prometheus TSDB blocks
// (`promtool tsdb create-blocks-from openmetrics`) and measured beside ours.
import { spawnSync } from 'node:child_process'
import { createWriteStream, existsSync, mkdtempSync, rmSync, readdirSync, statSync } from 'node:fs'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { openStore, type Store } from '../services/store/open-store.ts'
import { prepareStore } from '../services/store/prepare-store.ts'
import { dirBytes, fmt, progress, say, seedFleet, timed } from './fleet-data.ts'

const AGENTS = Number(process.env.AGENTS ?? 10)
const SAMPLES = 8640 // a day at 10 s
const TARGET_BYTES = 2
/** Prometheus's published figure for its TSDB: 1–2 bytes per sample (its documentation's storage section). */
const PROMETHEUS_PUBLISHED = '1–2'

/** Every series kind: its metric type, how many series, and the SQL of sample g (0 … SAMPLES-1) of series k. */
const KINDS: Array<{ type: string; series: number; value: string; tags?: string }> = [
  // Percentages that wander (a slow wave, a faster one, noise), two decimals as the agent rounds them.
  { type: 'cpu', series: 12, value: `round((50 + 30 * sin(g / (200.0 + k * 17)) + 10 * sin(g / 13.0 + k) + random() * 4)::numeric, 2)` },
  // Per-core CPU: one metric name, the core in a tag.
  { type: 'cpu_core', series: 8, value: `round((40 + 35 * sin(g / (150.0 + k * 11)) + random() * 8)::numeric, 2)`, tags: `jsonb_build_object('core', k::text)` },
  // Byte gauges: memory and filesystem use, drifting by whole 4 KiB pages.
  { type: 'memory', series: 12, value: `(2e9 + k * 1e8 + 4096 * floor(50000 * sin(g / (900.0 + k * 37)) + random() * 64))` },
  // Counters: bytes and packets that only grow, by a varying amount each sample.
  { type: 'net', series: 12, value: `(k * 1e9 + g * (5000 + k * 300) + floor(1000 * sin(g / 40.0)) + 1000)` },
  // Load averages: smooth, two decimals.
  { type: 'load', series: 6, value: `round((1.5 + sin(g / (400.0 + k * 50)) + random() * 0.05)::numeric, 2)` },
  // Rates per second: noisy, two decimals.
  { type: 'diskio', series: 8, value: `round((random() * 2e6 * (1 + sin(g / 60.0)))::numeric, 2)` },
  // Constants: cores, totals.
  { type: 'host', series: 6, value: `(k * 1024 + 8)` },
]
const SERIES = KINDS.reduce((n, k) => n + k.series, 0)

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find(existsSync)

/**
 * The same samples in Prometheus's TSDB: exported as OpenMetrics (one series after another, seconds with
 * millisecond precision as the rows hold), turned into blocks by promtool, measured as its chunk files
 * (the samples) and its indexes. promtool 2.42 writes 2-hour blocks; Prometheus compacts them later into
 * larger ones, which merges indexes but keeps the chunks as they are.
 */
async function prometheusBytes(store: Store, dir: string, samples: number): Promise<{ chunks: number; index: number } | undefined> {
  if (!PROMTOOL) {
    say('Prometheus: promtool is not installed (apt-get install prometheus), so its figure is not measured here')
    return undefined
  }
  const file = join(dir, 'samples.om.txt')
  const out = createWriteStream(file)
  const series = (await sql<{ agent_id: string; metric_type: string; metric_name: string; tags: Record<string, string> }>`
    select distinct agent_id, metric_type, metric_name, tags from metrics order by 1, 2, 3`.execute(store.db)).rows
  const tick = progress('series exported', series.length)
  let written = 0
  // Grouped by metric name (OpenMetrics wants a metric family's lines together), then by series, in time order.
  series.sort((a, b) => `${a.metric_type}_${a.metric_name}`.localeCompare(`${b.metric_type}_${b.metric_name}`))
  for (const [i, s] of series.entries()) {
    const { rows } = await sql<{ line: string }>`
      select string_agg(value::text || ' ' || to_char(extract(epoch from time), 'FM9999999999990.000'), E'\n' order by time) as line
      from metrics where agent_id = ${s.agent_id} and metric_type = ${s.metric_type} and metric_name = ${s.metric_name} and tags = ${JSON.stringify(s.tags)}::jsonb`.execute(store.db)
    const labels = [`agent="${s.agent_id}"`, ...Object.entries(s.tags).map(([k, v]) => `${k}="${v}"`)].join(',')
    const prefix = `${s.metric_type}_${s.metric_name}{${labels}} `
    const lines = rows[0].line.split('\n')
    written += lines.length
    if (!out.write(lines.map(l => prefix + l).join('\n') + '\n')) await once(out, 'drain')
    tick(i + 1)
  }
  out.end('# EOF\n')
  await once(out, 'finish')
  if (written !== samples) throw new Error(`exported ${written} samples for Prometheus, expected ${samples}`)
  const blocks = join(dir, 'prometheus')
  const started = performance.now()
  const r = spawnSync(PROMTOOL, ['tsdb', 'create-blocks-from', 'openmetrics', '--quiet', file, blocks], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`promtool failed on ${file}: ${r.stderr || r.stdout}`)
  let chunks = 0
  let index = 0
  const ulids = readdirSync(blocks).filter(b => statSync(join(blocks, b)).isDirectory())
  for (const b of ulids) {
    chunks += dirBytes(join(blocks, b, 'chunks'))
    index += statSync(join(blocks, b, 'index')).size
  }
  say(`Prometheus (promtool ${spawnSync(PROMTOOL, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].replace(/^promtool, version /, '')}): `
    + `${fmt(written)} samples in ${ulids.length} blocks in ${((performance.now() - started) / 1000).toFixed(1)} s; chunks ${fmt(chunks)} bytes `
    + `(${(chunks / samples).toFixed(2)} per sample), indexes ${fmt(index)} bytes (${(index / samples).toFixed(2)} per sample)`)
  rmSync(file, { force: true })
  return { chunks: chunks / samples, index: index / samples }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hostpulse-bench-storage-'))
  const pgDir = join(dir, 'pg')
  const store = await openStore({ backend: 'embedded', dataDir: pgDir })
  try {
    await prepareStore(store, { retention: { raw: '30d', minute: '90d', hour: '90d', day: '365d' } })
    const agents = await seedFleet(store, AGENTS)
    // Yesterday, midnight to midnight UTC: one daily chunk.
    const day = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000)
    const rows = AGENTS * SERIES * SAMPLES
    say(`loading ${AGENTS} agents × ${SERIES} series × ${fmt(SAMPLES)} samples (a day at 10 s) = ${fmt(rows)} samples …`)
    const tick = progress('agents', AGENTS)
    const before = dirBytes(pgDir)
    const [, loadMs] = await timed(async () => {
      for (const [i, a] of agents.entries()) {
        for (const kind of KINDS) {
          await sql`insert into metrics (time, org_id, agent_id, metric_type, metric_name, value, tags)
            select ${day}::timestamptz + g * interval '10 seconds', ${a.org_id}::uuid, ${a.id}::uuid, ${kind.type},
                   ${sql.raw(kind.tags ? `'usage_percent'` : `'m' || lpad(k::text, 2, '0')`)}, (${sql.raw(kind.value)})::float8,
                   ${sql.raw(kind.tags ?? `'{}'::jsonb`)}
            from generate_series(0, ${SAMPLES - 1}) g cross join generate_series(0, ${kind.series - 1}) k`.execute(store.db)
        }
        tick(i + 1)
      }
    })
    say(`  loaded in ${(loadMs / 1000).toFixed(1)} s`)
    const stored = Number((await sql<{ n: string }>`select count(*) as n from metrics`.execute(store.db)).rows[0].n)
    if (stored !== rows) throw new Error(`expected ${rows} rows, found ${stored}`)

    /** Where the compressed bytes are: per kind of series, the time, value and tags columns of the compressed chunks. */
    const breakdown = async () => {
      const chunks = (await sql<{ t: string }>`
        select format('%I.%I', cc.schema_name, cc.table_name) as t
        from _timescaledb_catalog.chunk c join _timescaledb_catalog.chunk cc on cc.id = c.compressed_chunk_id
        join _timescaledb_catalog.hypertable h on h.id = c.hypertable_id where h.table_name = 'metrics'`.execute(store.db)).rows
      for (const { t } of chunks) {
        const { rows: kinds } = await sql<{ metric_type: string; n: string; time: string; value: string; tags: string; batches: string }>`
          select metric_type, sum(_ts_meta_count) as n, sum(pg_column_size("time")) as time, sum(pg_column_size(value)) as value,
                 sum(pg_column_size(tags)) as tags, count(*) as batches
          from ${sql.raw(t)} group by metric_type order by metric_type`.execute(store.db)
        for (const k of kinds) {
          const n = Number(k.n)
          say(`    ${k.metric_type.padEnd(9)} ${fmt(n).padStart(9)} samples in ${k.batches} batches: time ${(Number(k.time) / n).toFixed(2)}, `
            + `value ${(Number(k.value) / n).toFixed(2)}, tags ${(Number(k.tags) / n).toFixed(2)} bytes per sample`)
        }
      }
    }

    const measure = async (label: string) => {
      const [, ms] = await timed(() => sql`select compress_chunk(c, if_not_compressed => true) from show_chunks('metrics') c`.execute(store.db))
      const s = (await sql<{ before: string; after: string; heap: string; index: string; toast: string }>`
        select sum(before_compression_total_bytes) as before, sum(after_compression_total_bytes) as after,
               sum(after_compression_table_bytes) as heap, sum(after_compression_index_bytes) as index,
               sum(after_compression_toast_bytes) as toast
        from hypertable_compression_stats('metrics')`.execute(store.db)).rows[0]
      const beforeBytes = Number(s.before)
      const afterBytes = Number(s.after)
      const perSample = afterBytes / rows
      await breakdown()
      say(`    compressed chunks per sample: rows ${(Number(s.heap) / rows).toFixed(2)}, TOAST ${(Number(s.toast) / rows).toFixed(2)}, `
        + `indexes ${(Number(s.index) / rows).toFixed(2)} bytes`)
      say(`${label}: compressed in ${(ms / 1000).toFixed(1)} s; ${fmt(beforeBytes)} → ${fmt(afterBytes)} bytes `
        + `(${(beforeBytes / afterBytes).toFixed(1)}×): ${perSample.toFixed(2)} bytes per sample `
        + `(target ≤ ${TARGET_BYTES}: ${(perSample / TARGET_BYTES).toFixed(2)}× of it; Prometheus publishes ${PROMETHEUS_PUBLISHED})`)
      return perSample
    }

    say('')
    say(`uncompressed, in the hypertable: ${(Number((await sql<{ b: string }>`select hypertable_size('metrics') as b`.execute(store.db)).rows[0].b) / rows).toFixed(1)} bytes per sample`)
    const current = await measure('segmented by series (org, agent, type, name, tags); ordered by time (the schema today, migration 030)')
    await sql`checkpoint`.execute(store.db)
    say(`  the data directory grew by ${fmt(dirBytes(pgDir) - before)} bytes (${((dirBytes(pgDir) - before) / rows).toFixed(2)} per sample, WAL and free space included)`)

    const prometheus = await prometheusBytes(store, dir, rows)

    await sql`select decompress_chunk(c) from show_chunks('metrics') c`.execute(store.db)
    await sql`alter table metrics set (timescaledb.compress_segmentby = 'org_id, agent_id, metric_type, metric_name')`.execute(store.db)
    const previous = await measure('segmented by org, agent, type and name; ordered by time (the schema before migration 030: per-core series interleave)')
    // What values kept as integers would take: every series here is whole or has two decimals, so hundredths
    // as bigint hold them exactly, and TimescaleDB compresses integers by delta of delta instead of XOR.
    await sql`create table metrics_centi (like metrics)`.execute(store.db)
    await sql`alter table metrics_centi alter column value type bigint using round(value * 100)::bigint`.execute(store.db)
    await sql`select create_hypertable('metrics_centi', 'time', chunk_time_interval => interval '1 day')`.execute(store.db)
    await sql`insert into metrics_centi (time, org_id, agent_id, metric_type, metric_name, value, tags) select time, org_id, agent_id, metric_type, metric_name, round(value * 100)::bigint, tags from metrics`.execute(store.db)
    await sql`alter table metrics_centi set (timescaledb.compress, timescaledb.compress_segmentby = 'org_id, agent_id, metric_type, metric_name, tags',
      timescaledb.compress_orderby = 'time DESC')`.execute(store.db)
    await sql`select compress_chunk(c) from show_chunks('metrics_centi') c`.execute(store.db)
    const centi = Number((await sql<{ after: string }>`
      select sum(after_compression_total_bytes) as after from hypertable_compression_stats('metrics_centi')`.execute(store.db)).rows[0].after) / rows
    say(`values as hundredths in bigint, segmented by series: ${centi.toFixed(2)} bytes per sample`)

    say('')
    say(`bytes per scalar sample: ${current.toFixed(2)} (schema), ${previous.toFixed(2)} (the schema before migration 030), ${centi.toFixed(2)} (hundredths as integers); target ≤ ${TARGET_BYTES}; Prometheus ${PROMETHEUS_PUBLISHED} (published)`
      + (prometheus ? `, ${(prometheus.chunks + prometheus.index).toFixed(2)} on the same samples (chunks and indexes of 2-hour blocks; `
        + `ratio ${(current / (prometheus.chunks + prometheus.index)).toFixed(2)}×)` : ''))
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err) => { console.error(err); process.exit(1) })
