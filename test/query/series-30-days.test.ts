// A series over 30 days reads a continuous aggregate and agrees with the same aggregation over raw rows
// to 1e-9; stats over 30 days agree with the raw values. Thirty days of backdated one-minute rows are
// inserted in SQL (generate_series) and the aggregates refreshed, as the policies would.
import t from 'tap'
import { sql } from 'kysely'
import { assertError, startClient } from '../test-client.ts'
import { DAY, HOUR, expectedStats, floorTo, near } from './query-helpers.ts'

const enc = encodeURIComponent
const STAT_KEYS = ['min', 'max', 'avg', 'stddev', 'current', 'p50', 'p75', 'p90', 'p95', 'p97_5', 'p99', 'p100', 'count'] as const

t.test('30 days of one-minute data', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('month-a')
  const db = api.store.db
  // [S, E): 30 whole days ending at the last whole hour; rows from an hour before S up to E.
  const E = new Date(floorTo(HOUR))
  const S = new Date(E.getTime() - 30 * DAY)
  const first = new Date(S.getTime() - HOUR)
  const minutes = 30 * 1440 + 60
  await sql`insert into metrics (time, org_id, agent_id, metric_type, metric_name, value, tags)
    select ${first}::timestamptz + n * interval '1 minute', ${api.orgId}::uuid, ${agent.id}::uuid, 'cpu', 'usage_percent',
           ((n * 7919) % 1000) / 7.0 + sin(n), '{}'::jsonb
    from generate_series(0, ${minutes - 1}) as n`.execute(db)
  // A disk every 10 minutes on /data.
  await sql`insert into disk_metrics (time, org_id, agent_id, device, mount_point, filesystem, total_bytes, used_bytes, available_bytes, usage_percent)
    select ${first}::timestamptz + n * interval '10 minutes', ${api.orgId}::uuid, ${agent.id}::uuid, '/dev/sdb1', '/data', 'xfs',
           1000, 500, 500, ((n * 31) % 100) + cos(n)
    from generate_series(0, ${minutes / 10 - 1}) as n`.execute(db)
  for (const view of ['metrics_1m', 'metrics_1h', 'metrics_1d', 'disk_metrics_1h']) {
    await sql`call refresh_continuous_aggregate(${view}, null, null)`.execute(db)
  }
  const { rows: [{ n }] } = await sql<{ n: number }>`select count(*)::int as n from metrics_1h where agent_id = ${agent.id}`.execute(db)
  t.equal(n, 30 * 24 + 1, 'the hourly aggregate is materialized')
  // Compressed as the policies leave them: raw chunks after 7 days, the minute aggregate's after 8.
  const { rows: jobs } = await sql<{ job_id: number; hypertable_name: string }>`
    select job_id, hypertable_name from timescaledb_information.jobs where proc_name = 'policy_compression'`.execute(db)
  t.ok(jobs.some((j) => j.hypertable_name === 'metrics_1m'), 'the minute aggregate has a compression policy')
  for (const j of jobs) await sql`call run_job(${j.job_id}::int)`.execute(db)
  const { rows: [{ compressed }] } = await sql<{ compressed: number }>`
    select count(*)::int as compressed from timescaledb_information.chunks where hypertable_name = (
      select materialization_hypertable_name from timescaledb_information.continuous_aggregates where view_name = 'metrics_1m') and is_compressed`.execute(db)
  t.ok(compressed > 0, `${compressed} chunks of the minute aggregate are compressed`)

  const range = `start=${enc(S.toISOString())}&end=${enc(E.toISOString())}`
  const rawBuckets = async (bucket: string, agg: string, source = 'metrics', column = 'value', filter = sql`metric_type = 'cpu' and metric_name = 'usage_percent'`) => {
    const expr = agg === 'last' ? sql`last(${sql.ref(column)}, time)` : sql`${sql.raw(agg)}(${sql.ref(column)})`
    const { rows } = await sql<{ b: Date; v: number }>`
      select time_bucket(${bucket}::interval, time) as b, ${expr}::float8 as v from ${sql.table(source)}
      where agent_id = ${agent.id} and ${filter}
        and time >= time_bucket(${bucket}::interval, ${S}::timestamptz) and time < ${E}
      group by 1 order by 1`.execute(db)
    return rows
  }

  t.test('step=auto over 30 days: the hourly aggregate, equal to raw hourly averages to 1e-9', async (t) => {
    const res = await api.get(`/api/v1/metrics/series/month-a?metric=cpu.usage_percent&${range}`)
    t.equal(res.status, 200)
    t.equal(res.body.resolution, 'metrics_1h', 'an aggregate, not raw rows')
    t.equal(res.body.step, 3600)
    const raw = await rawBuckets('1 hour', 'avg')
    t.equal(raw.length, 720)
    t.same(res.body.timestamps, raw.map((r) => r.b.toISOString()), '720 hourly buckets')
    let worst = 0
    raw.forEach((r, i) => { worst = Math.max(worst, Math.abs(res.body.values[i] - r.v) / Math.max(1, Math.abs(r.v))) })
    t.ok(worst <= 1e-9, `largest relative difference ${worst}`)
  })

  t.test('min, max and last from the aggregate equal raw min, max and last', async (t) => {
    for (const agg of ['min', 'max', 'last']) {
      const res = await api.get(`/api/v1/metrics/series/month-a?metric=cpu.usage_percent&${range}&agg=${agg}`)
      t.equal(res.body.resolution, 'metrics_1h', agg)
      const raw = await rawBuckets('1 hour', agg)
      t.equal(res.body.values.length, raw.length)
      let worst = 0
      raw.forEach((r, i) => { worst = Math.max(worst, Math.abs(res.body.values[i] - r.v)) })
      t.ok(worst <= 1e-9, `${agg}: largest difference ${worst}`)
    }
  })

  t.test('step=1d over 30 days: the daily aggregate, equal to raw daily averages', async (t) => {
    const res = await api.get(`/api/v1/metrics/series/month-a?metric=cpu.usage_percent&${range}&step=1d`)
    t.equal(res.body.resolution, 'metrics_1d')
    t.equal(res.body.step, 86400)
    const raw = await rawBuckets('1 day', 'avg')
    t.same(res.body.timestamps, raw.map((r) => r.b.toISOString()))
    raw.forEach((r, i) => near(t, res.body.values[i], r.v, `day ${i}`))
  })

  t.test('max_points 100 over 30 days: 12-hour buckets from the hourly aggregate', async (t) => {
    const res = await api.get(`/api/v1/metrics/series/month-a?metric=cpu.usage_percent&${range}&max_points=100`)
    t.equal(res.status, 200)
    t.ok(res.body.values.length <= 100, `${res.body.values.length} points`)
    t.equal(res.body.step, 43200)
    const raw = await rawBuckets('12 hours', 'avg')
    t.same(res.body.timestamps, raw.map((r) => r.b.toISOString()))
    raw.forEach((r, i) => near(t, res.body.values[i], r.v, `12 h bucket ${i}`))
  })

  t.test('disk over 30 days: the hourly disk aggregate equals raw hourly averages', async (t) => {
    const res = await api.get(`/api/v1/metrics/series/month-a?metric=disk.usage_percent&tags.mount_point=/data&${range}`)
    t.equal(res.status, 200)
    t.equal(res.body.resolution, 'disk_metrics_1h')
    const raw = await rawBuckets('1 hour', 'avg', 'disk_metrics', 'usage_percent', sql`mount_point = '/data'`)
    t.equal(res.body.values.length, 720)
    t.same(res.body.timestamps, raw.map((r) => r.b.toISOString()))
    let worst = 0
    raw.forEach((r, i) => { worst = Math.max(worst, Math.abs(res.body.values[i] - r.v) / Math.max(1, Math.abs(r.v))) })
    t.ok(worst <= 1e-9, `largest relative difference ${worst}`)
  })

  t.test('stats over 30 days agree with the raw values', async (t) => {
    const res = await api.get(`/api/v1/metrics/stats/month-a?metric=cpu.usage_percent&${range}`)
    t.equal(res.status, 200)
    const { rows } = await sql<{ v: number }>`select value as v from metrics where agent_id = ${agent.id} and time >= ${S} and time < ${E} order by time`.execute(db)
    t.equal(rows.length, 30 * 1440)
    const exp = expectedStats(rows.map((r) => r.v))
    for (const k of STAT_KEYS) near(t, res.body[k], exp[k], k)
  })

  t.test('stats over a window not on whole hours: whole hours from the hourly aggregate, the edges from minutes, exact', async (t) => {
    // 30 days less 35 minutes, starting 17 min 23 s past an hour: both edges are partial hours.
    const s = new Date(S.getTime() + 17 * 60_000 + 23_000)
    const e = new Date(E.getTime() - 18 * 60_000)
    const res = await api.get(`/api/v1/metrics/stats/month-a?metric=cpu.usage_percent&start=${enc(s.toISOString())}&end=${enc(e.toISOString())}`)
    t.equal(res.status, 200)
    t.equal(res.body.source, 'metrics_1m', 'per-minute statistics')
    // One row a minute on the minute: the minute buckets in [s, e) hold exactly the rows in [s, e).
    const { rows } = await sql<{ v: number }>`select value as v from metrics where agent_id = ${agent.id} and time >= ${s} and time < ${e} order by time`.execute(db)
    t.equal(rows.length, 30 * 1440 - 35 - 1, 'the window holds every minute from :18 to :41')
    const exp = expectedStats(rows.map((r) => r.v))
    for (const k of STAT_KEYS) near(t, res.body[k], exp[k], k)
  })

  t.test('over 30 days: p95 beyond raw retention and a step giving > 11,000 points are 400', async (t) => {
    const p95 = await api.get(`/api/v1/metrics/series/month-a?metric=cpu.usage_percent&${range}&agg=p95`)
    assertError(t, p95, 400, 'VALIDATION_ERROR', 'p95 over 30 days')
    t.ok(p95.body?.details?.agg, 'names agg')
    const fine = await api.get(`/api/v1/metrics/series/month-a?metric=cpu.usage_percent&${range}&step=1m`)
    assertError(t, fine, 400, 'VALIDATION_ERROR', '43,200 points')
    t.ok(fine.body?.details?.step, 'names step')
    t.equal((await api.get(`/api/v1/metrics/series/month-a?metric=cpu.usage_percent&${range}&step=5m`)).status, 200, '8,640 points is allowed')
  })
})
