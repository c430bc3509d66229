// Reads one series as aligned buckets from wherever resolutionForRange says: raw rows or an aggregate.
// The time_bucket SQL for every level lives here, not in routes.
import { sql, type Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import type { Resolution } from './resolution-for-range.ts'
import type { SeriesAgg, SeriesTarget } from './series-catalog.ts'

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
  const raw = resolution.nativeSeconds === 0
  const timeCol = sql.ref(raw ? 'time' : 'bucket')
  // An aggregate read at its own granularity needs no regrouping: its rows are the buckets.
  const native = !raw && resolution.bucketSeconds === resolution.nativeSeconds
  const bucket = native ? timeCol : sql`time_bucket(make_interval(secs => ${resolution.bucketSeconds}), ${timeCol})`
  const value = req.target.value(agg, raw ? 'raw' : native ? 'native' : 'rollup')
  const { rows } = await sql<{ t: Date; v: number | null }>`
    select ${bucket} as t, ${value} as v
    from ${sql.table(resolution.source)}
    where org_id = ${req.orgId} and agent_id = ${req.agentId} and ${req.target.filter()}
      and ${timeCol} >= time_bucket(make_interval(secs => ${resolution.bucketSeconds}), ${req.start}::timestamptz)
      and ${timeCol} < ${req.end}
    ${native ? sql`` : sql`group by 1`} order by 1`.execute(db)
  const out: Series = { timestamps: [], values: [] }
  for (const r of rows) {
    if (r.v === null) continue
    out.timestamps.push(r.t.getTime())
    out.values.push(r.v)
  }
  return out
}
