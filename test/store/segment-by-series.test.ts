// Migration 030: a database migrated up to 029 holds per-core series (told apart by a tag) in compressed
// chunks segmented the old way; after migrating to the latest, those chunks are recompressed with one series
// per segment, and every row reads back exactly as before, through the raw table and a time-ordered read.
import t from 'tap'
import { sql } from 'kysely'
import { migrateToLatest } from '../../services/store/migrations.ts'
import type { Store } from '../../services/store/open-store.ts'
import { allBackends, seedAgent } from './backends.ts'
import { migrateUpTo } from './partial-migrations.ts'

const DAY = 86_400_000
const MIGRATION = '030_segment_metrics_by_series'
const CORES = 4
const SAMPLES = 2_000 // per core and day, every 10 s from midnight

interface Chunk { chunk: string; segmentby: string[]; compressed: boolean }

async function metricsChunks(store: Store): Promise<Chunk[]> {
  return (await sql<Chunk>`
    select format('%I.%I', c.chunk_schema, c.chunk_name) as chunk, coalesce(s.segmentby, '{}') as segmentby, c.is_compressed as compressed
    from timescaledb_information.chunks c
    left join _timescaledb_catalog.compression_settings s on s.relid = format('%I.%I', c.chunk_schema, c.chunk_name)::regclass
    where c.hypertable_name = 'metrics' order by c.range_start`.execute(store.db)).rows
}

type Row = { time: Date; core: string; value: number }
const read = async (store: Store, agentId: string): Promise<Row[]> => (await sql<Row>`
  select time, tags ->> 'core' as core, value from metrics where agent_id = ${agentId}
  order by time desc, tags ->> 'core'`.execute(store.db)).rows

for (const backend of await allBackends()) {
  t.test(`${backend.name}: migration 030 recompresses metrics chunks with one series per segment, rows unchanged`, { skip: backend.skip }, async (t) => {
    t.teardown(() => backend.dispose())
    const store = await backend.open()
    t.teardown(() => store.close())
    const { skip } = await migrateUpTo(store, MIGRATION)
    if (skip) { t.comment(`skipped: ${skip}`); return }

    const agent = await seedAgent(store, 'seg')
    const midnight = Math.floor(Date.now() / DAY) * DAY
    // Two days old enough to compress and today's, each core's values its own (core·1000 + sample).
    for (const days of [10, 9, 0]) {
      await sql`insert into metrics (time, org_id, agent_id, metric_type, metric_name, value, tags)
        select to_timestamp(${(midnight - days * DAY) / 1000}::float8 + g * 10), ${agent.org_id}, ${agent.id}, 'cpu', 'usage_percent',
               c * 1000 + g + 0.25, jsonb_build_object('core', c::text)
        from generate_series(0, ${SAMPLES - 1}) g, generate_series(0, ${CORES - 1}) c`.execute(store.db)
    }
    await sql`select compress_chunk(c, if_not_compressed => true) from show_chunks('metrics', older_than => interval '7 days') c`.execute(store.db)
    const before = await read(store, agent.id)
    const old = (await metricsChunks(store)).filter((c) => c.compressed)
    t.ok(old.length >= 2, `${old.length} metrics chunks compressed before the migration`)
    t.ok(old.every((c) => !c.segmentby.includes('tags')), 'segmented without the tags before')

    const report = await migrateToLatest(store.db)
    t.ok(report.applied.includes(MIGRATION), 'migration 030 ran')

    const after = await metricsChunks(store)
    const compressed = after.filter((c) => c.compressed)
    t.equal(compressed.length, old.length, 'the same chunks are compressed')
    for (const c of compressed) t.same(c.segmentby, ['org_id', 'agent_id', 'metric_type', 'metric_name', 'tags'], `${c.chunk}: one series per segment`)
    const segments = (await sql<{ n: number }>`
      select count(*)::int as n from (select distinct tags from metrics
      where agent_id = ${agent.id} and time < now() - interval '7 days') s`.execute(store.db)).rows[0]
    t.equal(segments.n, CORES, 'every core still reads back from the compressed chunks')

    const rows = await read(store, agent.id)
    t.equal(rows.length, 3 * SAMPLES * CORES, 'no row lost or added')
    t.same(rows, before, 'every row reads back as before, in time order')
    const oneCore = (await sql<{ value: number }>`select value from metrics where agent_id = ${agent.id} and tags = '{"core": "2"}'
      and time >= ${new Date(midnight - 10 * DAY)} and time < ${new Date(midnight - 9 * DAY)} order by time desc limit 3`.execute(store.db)).rows
    t.same(oneCore.map((r) => r.value), [2000 + SAMPLES - 1 + 0.25, 2000 + SAMPLES - 2 + 0.25, 2000 + SAMPLES - 3 + 0.25],
      'the newest samples of one series, from a recompressed chunk')

    const again = await migrateToLatest(store.db)
    t.same(again.applied, [], 'migrating again changes nothing')
  })
}
