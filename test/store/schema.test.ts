// Migrations on a fresh database: every hypertable, continuous aggregate, compression setting and policy
// exists (read back through timescaledb_information), and re-running them changes nothing.
import t from 'tap'
import { sql } from 'kysely'
import type { Store } from '../../services/store/open-store.ts'
import { prepareStore } from '../../services/store/prepare-store.ts'
import { SQL_DIR } from '../../services/store/migrations.ts'
import { readdir } from 'node:fs/promises'
import { allBackends, openPrepared, RETENTION } from './backends.ts'

const RAW = ['metrics', 'disk_metrics', 'network_metrics', 'process_metrics', 'process_snapshots', 'user_sessions', 'container_metrics', 'logs']
/** Kept like daily data: traffic per 15 minutes (compressed) and per day, derived from network_metrics (billing history). */
const DERIVED = ['network_traffic', 'network_traffic_daily']
const AGGREGATES = ['metrics_1m', 'metrics_1h', 'metrics_1d', 'disk_metrics_1h', 'network_metrics_1h', 'process_metrics_1h', 'process_io_1h', 'process_lives_1h', 'process_snapshots_1h', 'container_metrics_1h']

async function catalog(store: Store) {
  const q = async <T>(query: ReturnType<typeof sql<T>>) => (await query.execute(store.db)).rows
  return {
    hypertables: await q<{ hypertable_name: string }>(sql`select hypertable_name from timescaledb_information.hypertables
      where hypertable_schema = 'public' order by 1`),
    aggregates: await q<{ view_name: string; materialized_only: boolean }>(sql`select view_name, materialized_only
      from timescaledb_information.continuous_aggregates order by 1`),
    compression: await q<{ hypertable_name: string; attname: string; segmentby_column_index: number | null; orderby_column_index: number | null; orderby_asc: boolean | null }>(sql`
      select hypertable_name, attname, segmentby_column_index, orderby_column_index, orderby_asc
      from timescaledb_information.compression_settings where hypertable_schema = 'public' order by 1, 2`),
    jobs: await q<{ job_id: number; proc_name: string; hypertable_name: string | null; schedule_interval: unknown; config: unknown }>(sql`
      select job_id, proc_name, hypertable_name, schedule_interval::text as schedule_interval, config
      from timescaledb_information.jobs where job_id >= 1000 order by job_id`),
    migrations: await q<{ name: string }>(sql`select name from hostpulse_migrations order by name`),
  }
}

for (const backend of await allBackends()) {
  t.test(backend.name, { skip: backend.skip }, async (t) => {
    t.teardown(() => backend.dispose())
    const store = await openPrepared(backend)
    t.teardown(() => store.close())
    const before = await catalog(store)

    t.test('migrations are recorded in order', async (t) => {
      const files = (await readdir(SQL_DIR)).filter((f) => /^\d{3}_.*\.(sql|ts)$/.test(f)).sort().map((f) => f.replace(/\.(sql|ts)$/, ''))
      t.ok(files.length >= 8, `${files.length} migration files`)
      t.same(before.migrations.map((m) => m.name), files)
    })

    t.test('every raw table is a hypertable', async (t) => {
      const names = before.hypertables.map((h) => h.hypertable_name)
      for (const table of RAW) t.ok(names.includes(table), `${table} is a hypertable`)
    })

    t.test('continuous aggregates exist with real-time aggregation on', async (t) => {
      t.same(before.aggregates.map((a) => a.view_name).sort(), [...AGGREGATES].sort())
      for (const a of before.aggregates) t.equal(a.materialized_only, false, `${a.view_name} shows fresh data`)
    })

    t.test('compression is segmented by series and ordered by time', async (t) => {
      const settings = (table: string) => before.compression.filter((c) => c.hypertable_name === table)
      const segmentby = (table: string) => settings(table).filter((c) => c.segmentby_column_index !== null)
        .sort((a, b) => a.segmentby_column_index! - b.segmentby_column_index!).map((c) => c.attname)
      t.same(segmentby('metrics'), ['org_id', 'agent_id', 'metric_type', 'metric_name', 'tags'], 'metrics: one series per segment (migration 030)')
      t.same(segmentby('disk_metrics'), ['org_id', 'agent_id', 'mount_point'])
      t.same(segmentby('network_metrics'), ['org_id', 'agent_id', 'interface'])
      // The minute aggregate too, by its materialized hypertable: one series per segment, newest bucket first.
      const minute = (await sql<{ attname: string; segmentby_column_index: number | null; orderby_asc: boolean | null }>`
        select s.attname, s.segmentby_column_index, s.orderby_asc from timescaledb_information.compression_settings s
        join timescaledb_information.continuous_aggregates a on a.materialization_hypertable_name = s.hypertable_name
        where a.view_name = 'metrics_1m' order by s.segmentby_column_index nulls last`.execute(store.db)).rows
      t.same(minute.filter((c) => c.segmentby_column_index !== null).map((c) => c.attname), ['org_id', 'agent_id', 'metric_type', 'metric_name', 'tags'])
      t.same(minute.find((c) => c.attname === 'bucket')?.orderby_asc, false, 'the minute aggregate is ordered newest bucket first')
      for (const table of RAW) {
        const time = settings(table).find((c) => c.attname === 'time')
        t.equal(time?.orderby_column_index, 1, `${table} ordered by time first`)
        t.equal(time?.orderby_asc, false, `${table} ordered newest first`)
      }
    })

    t.test('the minute aggregate keeps the indexes its reads use, and no per-column ones (migration 031)', async (t) => {
      const { rows } = await sql<{ cols: string }>`
        select regexp_replace(i.indexdef, '^.*btree ', '') as cols
        from timescaledb_information.continuous_aggregates ca
        join pg_indexes i on i.schemaname = ca.materialization_hypertable_schema and i.tablename = ca.materialization_hypertable_name
        where ca.view_name = 'metrics_1m' order by 1`.execute(store.db)
      t.same(rows.map((r) => r.cols), [
        '(agent_id, metric_type, metric_name, bucket DESC)',
        '(bucket DESC)',
        '(metric_type, metric_name, bucket DESC)',
      ])
    })

    t.test('policies: refresh for every aggregate, raw rows compressed after the configured age (1 day by default; the minute and hourly process aggregates after 8 days), configured retention', async (t) => {
      const jobs = (proc: string) => before.jobs.filter((j) => j.proc_name === proc)
      t.same(jobs('policy_refresh_continuous_aggregate').map((j) => j.hypertable_name).sort(), [...AGGREGATES].sort())
      const compression = jobs('policy_compression')
      t.same(compression.map((j) => j.hypertable_name).sort(), [...RAW, 'network_traffic', 'metrics_1m', 'process_metrics_1h'].sort())
      for (const j of compression) {
        // The minute and hourly process aggregates' refresh windows are 7 days: their compression starts after
        // it. Traffic buckets are read for the current and the previous cycle all the time: compressed after 45 days.
        // Raw rows: HOSTPULSE_COMPRESS_AFTER, applied at start (services/store/compression-policies.ts).
        const after = ['metrics_1m', 'process_metrics_1h'].includes(j.hypertable_name ?? '') ? '8 days' : j.hypertable_name === 'network_traffic' ? '45 days' : '1 day'
        t.match(JSON.stringify(j.config), new RegExp(`"compress_after":"${after}"`), `${j.hypertable_name} compresses after ${after}`)
      }
      const retention = Object.fromEntries(jobs('policy_retention').map((j) => [j.hypertable_name, (j.config as { drop_after: string }).drop_after]))
      const days = async (table: string) => (await sql<{ d: number }>`
        select extract(epoch from ${retention[table]}::interval)::float8 / 86400 as d`.execute(store.db)).rows[0].d
      t.same({ raw: await days('metrics'), minute: await days('metrics_1m'), hour: await days('metrics_1h'), day: await days('metrics_1d'),
        snapshots: await days('process_snapshots'), net_hour: await days('network_metrics_1h'), traffic: await days('network_traffic') },
      { raw: 30, minute: 90, hour: 90, day: 365, snapshots: 30, net_hour: 90, traffic: 365 })
      t.equal(Object.keys(retention).length, RAW.length + DERIVED.length + AGGREGATES.length, 'every raw table, derived table and aggregate has a retention policy')
    })

    t.test('every customer table carries an organization id', async (t) => {
      const { rows } = await sql<{ table_name: string }>`select table_name from information_schema.columns
        where table_schema = 'public' and column_name = 'org_id'`.execute(store.db)
      const withOrg = new Set(rows.map((r) => r.table_name))
      for (const table of ['agents', 'users', 'auth_sessions', 'ingest_batches', ...RAW, ...AGGREGATES]) t.ok(withOrg.has(table), `${table}.org_id`)
    })

    t.test('Grafana role reads metrics, not credentials', async (t) => {
      const { rows: [p] } = await sql<Record<string, boolean>>`select
        has_table_privilege('hostpulse_grafana', 'metrics', 'select') as metrics,
        has_table_privilege('hostpulse_grafana', 'metrics_1h', 'select') as hourly,
        has_table_privilege('hostpulse_grafana', 'users', 'select') as users,
        has_table_privilege('hostpulse_grafana', 'metrics', 'insert') as write,
        has_column_privilege('hostpulse_grafana', 'agents', 'name', 'select') as agent_name,
        has_column_privilege('hostpulse_grafana', 'agents', 'api_key_hash', 'select') as agent_key`.execute(store.db)
      t.same(p, { metrics: true, hourly: true, users: false, write: false, agent_name: true, agent_key: false })
    })

    t.test('re-running migrations changes nothing', async (t) => {
      const report = await prepareStore(store, { retention: RETENTION })
      t.same(report.applied, [])
      t.same(await catalog(store), before)
    })

    t.test('a changed retention setting replaces the policy, and only that one', async (t) => {
      await prepareStore(store, { retention: { ...RETENTION, raw: '14d' } })
      const after = await catalog(store)
      const dropAfter = (c: typeof after, table: string) =>
        (c.jobs.find((j) => j.proc_name === 'policy_retention' && j.hypertable_name === table)?.config as { drop_after: string }).drop_after
      const { rows: [{ days }] } = await sql<{ days: number }>`
        select extract(epoch from ${dropAfter(after, 'metrics')}::interval)::float8 / 86400 as days`.execute(store.db)
      t.equal(days, 14)
      t.equal(dropAfter(after, 'metrics_1d'), dropAfter(before, 'metrics_1d'), 'daily retention untouched')
      await prepareStore(store, { retention: RETENTION })
    })
  })
}
