// Statistics of one series over a window, computed in SQL (seed 004's set): min, max, avg, stddev,
// current, percentiles and count. The source comes from resolutionForRange like every range read: raw
// rows while the scan stays bounded (about six days at a 10 s interval), else the finest aggregate that
// holds the range. From an aggregate (its whole buckets inside the window, raw rows for the partial ones at
// its edges), min, max, avg, current and count are exact; stddev is exact where the aggregate keeps a sum of
// squares (scalar metrics); percentiles are those of the per-bucket averages.
import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { Database } from '../store/database.ts'
import { sourceFor, type SeriesTarget } from './series-catalog.ts'
import { resolutionForRange, type RetentionDays } from './resolution-for-range.ts'
import { readCounterRate } from './read-series.ts'

export interface SeriesStats {
  min: number | null; max: number | null; avg: number | null; stddev: number | null; current: number | null
  p50: number | null; p75: number | null; p90: number | null; p95: number | null; p97_5: number | null; p99: number | null; p100: number | null
  count: number
  /** `raw`, or the aggregate read. */
  source: string
}

const PERCENTILES = [0.5, 0.75, 0.9, 0.95, 0.975, 0.99, 1]

interface StatsRow { min: number | null; max: number | null; avg: number | null; stddev: number | null; current: number | null; p: number[] | null; count: number }

export async function seriesStats(db: Kysely<Database>, req: {
  orgId: string; agentId: string; target: SeriesTarget; start: Date; end: Date; retentionDays?: RetentionDays; now?: Date
}): Promise<SeriesStats> {
  const level = resolutionForRange({ family: req.target.family, start: req.start, end: req.end, stepSeconds: 1, retentionDays: req.retentionDays, now: req.now })
  const raw = level.nativeSeconds === 0
  const where = sql`org_id = ${req.orgId} and agent_id = ${req.agentId} and ${req.target.filter()}`
  let r: StatsRow
  if (raw) {
    const v = sql.ref(req.target.rawColumn)
    r = (await sql<StatsRow>`
      select min(${v})::float8 as min, max(${v})::float8 as max, avg(${v})::float8 as avg, stddev_samp(${v})::float8 as stddev,
             last(${v}, time)::float8 as current, count(${v}) as count,
             percentile_cont(${PERCENTILES}::float8[]) within group (order by ${v}) as p
      from ${sql.table(level.source)}
      where ${where} and time >= ${req.start} and time < ${req.end}`.execute(db)).rows[0]
  } else if (level.source === 'metrics_1m' && req.target.family === 'metrics') {
    r = await minuteStatsOverHours(db, where, req.start, req.end)
  } else {
    r = await statsOverBuckets(db, req.target, where, sourceFor(req.target, level), level.nativeSeconds, req.start, req.end)
  }
  const p = r.p ?? PERCENTILES.map(() => null)
  return {
    min: r.min, max: r.max, avg: r.avg, stddev: r.stddev, current: r.current,
    p50: p[0], p75: p[1], p90: p[2], p95: p[3], p97_5: p[4], p99: p[5], p100: p[6],
    count: Number(r.count), source: raw ? 'raw' : sourceFor(req.target, level),
  }
}

const HOUR_MS = 3_600_000

/** The buckets of `sizeMs` wholly inside [start, end), as [from, to): empty (from = to) when none is. */
function wholeBuckets(start: Date, end: Date, sizeMs: number): { from: Date; to: Date } {
  const from = Math.ceil(start.getTime() / sizeMs) * sizeMs
  return { from: new Date(from), to: new Date(Math.max(from, Math.floor(end.getTime() / sizeMs) * sizeMs)) }
}

/**
 * A scalar metric's statistics over one-minute buckets, read the cheap way: min, max, sum, count, sum of
 * squares and the last value from the hourly aggregate for the whole hours inside [start, end) and from
 * the minute aggregate for the partial hours at either edge (the same totals, exactly, over 60× fewer
 * rows); the percentiles over every one-minute average in the range, as before.
 */
async function minuteStatsOverHours(db: Kysely<Database>, where: RawBuilder<unknown>, start: Date, end: Date): Promise<StatsRow> {
  const { from: hoursFrom, to: hoursTo } = wholeBuckets(start, end, HOUR_MS)
  return (await sql<StatsRow>`
    with parts as (
      select bucket, min, max, sum, count, sumsq, last from metrics_1h
      where ${where} and bucket >= ${hoursFrom} and bucket < ${hoursTo}
      union all
      select bucket, min, max, sum, count, sumsq, last from metrics_1m
      where ${where} and ((bucket >= ${start} and bucket < ${hoursFrom}) or (bucket >= ${hoursTo} and bucket < ${end}))
    ), totals as (
      select min(min) as min, max(max) as max, sum(sum) as total, sum(count) as n, sum(sumsq) as sumsq, last(last, bucket) as current from parts
    )
    select t.min::float8 as min, t.max::float8 as max, (t.total / nullif(t.n, 0))::float8 as avg,
           (case when t.n > 1 then sqrt(greatest(0, (t.sumsq - t.total * t.total / t.n) / (t.n - 1))) end)::float8 as stddev,
           t.current::float8 as current, coalesce(t.n, 0)::int8 as count,
           (select percentile_cont(${PERCENTILES}::float8[]) within group (order by avg) from metrics_1m
            where ${where} and bucket >= ${start} and bucket < ${end}) as p
    from totals t`.execute(db)).rows[0]
}

/**
 * Statistics from an aggregate's buckets of `seconds` that lie wholly inside [start, end), and from raw rows
 * for the partial buckets at either edge, so no row outside the window counts and none inside is left out
 * (as far as raw rows are kept: past their retention an edge has only what the aggregate holds whole). An
 * edge counts as one bucket of its own among the percentiles, which are those of the per-bucket averages.
 */
async function statsOverBuckets(db: Kysely<Database>, target: SeriesTarget, where: RawBuilder<unknown>, source: string, seconds: number,
  start: Date, end: Date): Promise<StatsRow> {
  const { from: wholeFrom, to: wholeTo } = wholeBuckets(start, end, seconds * 1000)
  const c = target.rollup
  const col = (name: string) => sql.ref(name)
  // As float8: a bigint field (used bytes) squared would overflow bigint.
  const v = sql`${sql.ref(target.rawColumn)}::float8`
  const total = c.sum ? col(c.sum) : sql`${col(c.avg)} * ${col(c.count)}`
  const stddev = c.sumsq
    ? sql`case when sum(n) > 1 then sqrt(greatest(0, (sum(sumsq) - sum(total) * sum(total) / sum(n)) / (sum(n) - 1))) end`
    : sql`stddev_samp(avg)`
  return (await sql<StatsRow>`
    with parts as (
      select bucket as b, ${col(c.min)} as min, ${col(c.max)} as max, ${total} as total, ${col(c.count)} as n,
             ${c.sumsq ? col(c.sumsq) : sql`null::float8`} as sumsq, ${col(c.last)} as last, ${col(c.avg)} as avg
      from ${sql.table(source)}
      where ${where} and bucket >= ${wholeFrom} and bucket < ${wholeTo}
      union all
      select time_bucket(make_interval(secs => ${seconds}), time), min(${v}), max(${v}), sum(${v}), count(${v}), sum(${v} * ${v}), last(${v}, time), avg(${v})
      from ${sql.table(target.rawSource)}
      where ${where} and ((time >= ${start} and time < least(${wholeFrom}::timestamptz, ${end}::timestamptz))
        or (time >= greatest(${wholeTo}::timestamptz, ${start}::timestamptz) and time < ${end}))
      group by 1
    )
    select min(min)::float8 as min, max(max)::float8 as max, (sum(total) / nullif(sum(n), 0))::float8 as avg,
           (${stddev})::float8 as stddev, last(last, b)::float8 as current, coalesce(sum(n), 0)::int8 as count,
           percentile_cont(${PERCENTILES}::float8[]) within group (order by avg) as p
    from parts`.execute(db)).rows[0]
}

/** Rate buckets read for statistics at most (the series endpoint's cap). */
const RATE_STATS_POINTS = 11_000

/**
 * Statistics of a counter's per-second rate (agg=rate): the rate per bucket as the series endpoint gives it
 * (readCounterRate: restarts counted as in Prometheus), at the finest step that keeps the window within
 * 11,000 buckets, then min, max, mean, stddev, the last bucket's rate and the percentiles (interpolated as
 * percentile_cont does) over those bucket rates; count is the number of buckets with a rate.
 */
export async function rateStats(db: Kysely<Database>, req: {
  orgId: string; agentId: string; target: SeriesTarget; start: Date; end: Date; retentionDays?: RetentionDays; now?: Date
}): Promise<SeriesStats> {
  const level = resolutionForRange({ family: req.target.family, start: req.start, end: req.end, maxPoints: RATE_STATS_POINTS, retentionDays: req.retentionDays, now: req.now })
  const { values } = await readCounterRate(db, { orgId: req.orgId, agentId: req.agentId, target: req.target, start: req.start, end: req.end, agg: 'rate' }, level)
  const n = values.length
  const none = { min: null, max: null, avg: null, stddev: null, current: null, p50: null, p75: null, p90: null, p95: null, p97_5: null, p99: null, p100: null }
  if (n === 0) return { ...none, count: 0, source: level.label }
  const sorted = [...values].sort((a, b) => a - b)
  const avg = values.reduce((a, b) => a + b, 0) / n
  const stddev = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - avg) ** 2, 0) / (n - 1)) : null
  const at = (p: number) => {
    const i = p * (n - 1)
    const lo = Math.floor(i)
    return lo === i ? sorted[lo] : sorted[lo] + (sorted[lo + 1] - sorted[lo]) * (i - lo)
  }
  const [p50, p75, p90, p95, p97_5, p99, p100] = PERCENTILES.map(at)
  return { min: sorted[0], max: sorted[n - 1], avg, stddev, current: values[n - 1], p50, p75, p90, p95, p97_5, p99, p100, count: n, source: level.label }
}
