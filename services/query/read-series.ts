// Reads one series as aligned buckets from wherever resolutionForRange says: raw rows or an aggregate.
// The time_bucket SQL for every level lives here, not in routes.
import { sql, type Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import { DomainError } from '../errors/domain-error.ts'
import type { Resolution } from './resolution-for-range.ts'
import { sourceFor, type SeriesAgg, type SeriesTarget } from './series-catalog.ts'

export interface SeriesRequest {
  orgId: string
  agentId: string
  target: SeriesTarget
  start: Date
  end: Date
  agg?: SeriesAgg
}

export interface Series { timestamps: number[]; values: number[] }

/** Buckets overlapping [start, end): the first one starts at or before `start`, whichever level is read. */
export async function readSeries(db: Kysely<Database>, req: SeriesRequest, resolution: Resolution): Promise<Series> {
  const agg = req.agg ?? 'avg'
  if (agg === 'rate') return readCounterRate(db, req, resolution)
  const raw = resolution.nativeSeconds === 0
  const timeCol = sql.ref(raw ? 'time' : 'bucket')
  // An aggregate read at its own granularity needs no regrouping when one series is read: its rows are the
  // buckets. Several series (tags held by more than one) are merged per bucket at every level.
  const native = !raw && resolution.bucketSeconds === resolution.nativeSeconds && req.target.oneSeries
  const bucket = native ? timeCol : sql`time_bucket(make_interval(secs => ${resolution.bucketSeconds}), ${timeCol})`
  const value = req.target.value(agg, raw ? 'raw' : native ? 'native' : 'rollup')
  return toSeries((await sql<{ t: Date; v: number | null }>`
    select ${bucket} as t, ${value} as v
    from ${sql.table(sourceFor(req.target, resolution))}
    where org_id = ${req.orgId} and agent_id = ${req.agentId} and ${req.target.filter()}
      and ${timeCol} >= time_bucket(make_interval(secs => ${resolution.bucketSeconds}), ${req.start}::timestamptz)
      and ${timeCol} < ${req.end}
    ${native ? sql`` : sql`group by 1`} order by 1`.execute(db)).rows)
}

function toSeries(rows: Array<{ t: Date; v: number | null }>): Series {
  const out: Series = { timestamps: [], values: [] }
  for (const r of rows) {
    if (r.v === null) continue
    out.timestamps.push(r.t.getTime())
    out.values.push(r.v)
  }
  return out
}

/** How far before the window's first bucket a rate looks for the point its first increase starts from. */
const RATE_LOOKBACK_MIN_SECONDS = 300

/**
 * A counter's per-second rate per bucket, Prometheus-style. The points are the raw samples (time, value)
 * or, from an aggregate, its buckets (bucket start, last, min). Each point's increase over the one before
 * it is the difference, or, when the counter restarted (a value, or an aggregate bucket's min, below the
 * previous point's value), the point's own value. A bucket's rate is the sum of its points' increases
 * divided by the seconds from the last point before the bucket to its own last point; a bucket after a
 * gap therefore gets the average rate across the gap. The first bucket starts from the last point within
 * one bucket (at least 5 minutes) before the window; a bucket with no earlier point has no value. Tags that
 * select several counters give the sum of their rates, as Prometheus's sum(rate(…)): each series' points
 * are taken against its own.
 */
export async function readCounterRate(db: Kysely<Database>, req: SeriesRequest, resolution: Resolution): Promise<Series> {
  if (req.target.family !== 'metrics') {
    throw new DomainError('invalid', `Invalid request: agg=rate is for counters of the metrics table; ${req.target.metric} is already a per-second value or a gauge`,
      { details: { agg: [`rate is for counters (prom.*, otel.* and other <type>.<name> series), not ${req.target.metricType} fields`] } })
  }
  const raw = resolution.nativeSeconds === 0
  const step = sql`make_interval(secs => ${resolution.bucketSeconds})`
  const lookback = Math.max(resolution.bucketSeconds, resolution.nativeSeconds, RATE_LOOKBACK_MIN_SECONDS)
  const first = sql`time_bucket(${step}, ${req.start}::timestamptz)`
  const points = raw
    ? sql`select tags as s, time as t, value as v, value as lo from metrics`
    : sql`select tags as s, bucket as t, last as v, min as lo from ${sql.table(resolution.source)}`
  const timeCol = sql.ref(raw ? 'time' : 'bucket')
  return toSeries((await sql<{ t: Date; v: number | null }>`
    with pts as (
      ${points}
      where org_id = ${req.orgId} and agent_id = ${req.agentId} and ${req.target.filter()}
        and ${timeCol} >= ${first} - make_interval(secs => ${lookback}) and ${timeCol} < ${req.end}
    ), steps as (
      select s, t, v, lo, lag(v) over w as pv, lag(t) over w as pt from pts window w as (partition by s order by t)
    ), rates as (
      select time_bucket(${step}, t) as b,
             sum(case when lo < pv then v else v - pv end) / nullif(extract(epoch from max(t) - min(pt)), 0) as r
      from steps
      where pt is not null and t >= ${first}
      group by 1, s
    )
    select b as t, sum(r)::float8 as v from rates group by 1 order by 1`.execute(db)).rows)
}
