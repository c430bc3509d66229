// Reads one scalar series as aligned buckets from wherever resolutionForRange says: raw rows or an
// aggregate. The time_bucket SQL for every level lives here, not in routes.
import { sql, type Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import type { Resolution } from './resolution-for-range.ts'

export type SeriesAgg = 'avg' | 'min' | 'max' | 'last'

export interface SeriesRequest {
  orgId: string
  agentId: string
  metricType: string
  metricName: string
  /** Only series whose tags contain these; none means the untagged series. */
  tags?: Record<string, string>
  start: Date
  end: Date
  agg?: SeriesAgg
}

export interface Series { timestamps: number[]; values: number[] }

// Each aggregate keeps sum and count, so a coarser bucket's average is exact, not an average of averages.
const FROM_RAW = { avg: sql`avg(value)`, min: sql`min(value)`, max: sql`max(value)`, last: sql`last(value, time)` }
const FROM_ROLLUP = { avg: sql`sum(sum) / sum(count)`, min: sql`min(min)`, max: sql`max(max)`, last: sql`last(last, bucket)` }

/** Buckets overlapping [start, end): the first one starts at or before `start`, whichever level is read. */
export async function readSeries(db: Kysely<Database>, req: SeriesRequest, resolution: Resolution): Promise<Series> {
  const agg = req.agg ?? 'avg'
  const raw = resolution.nativeSeconds === 0
  const timeCol = sql.ref(raw ? 'time' : 'bucket')
  // An aggregate read at its own granularity needs no regrouping: its rows are the buckets.
  const native = !raw && resolution.bucketSeconds === resolution.nativeSeconds
  const bucket = native ? timeCol : sql`time_bucket(make_interval(secs => ${resolution.bucketSeconds}), ${timeCol})`
  const value = native ? sql.ref(agg) : raw ? FROM_RAW[agg] : FROM_ROLLUP[agg]
  const tagFilter = req.tags && Object.keys(req.tags).length > 0
    ? sql`tags @> ${JSON.stringify(req.tags)}::jsonb` : sql`tags = '{}'::jsonb`
  const { rows } = await sql<{ t: Date; v: number }>`
    select ${bucket} as t, ${value} as v
    from ${sql.table(resolution.source)}
    where org_id = ${req.orgId} and agent_id = ${req.agentId}
      and metric_type = ${req.metricType} and metric_name = ${req.metricName} and ${tagFilter}
      and ${timeCol} >= time_bucket(make_interval(secs => ${resolution.bucketSeconds}), ${req.start}::timestamptz)
      and ${timeCol} < ${req.end}
    ${native ? sql`` : sql`group by 1`} order by 1`.execute(db)
  return { timestamps: rows.map((r) => r.t.getTime()), values: rows.map((r) => r.v) }
}
