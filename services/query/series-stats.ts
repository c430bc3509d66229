// Statistics of one series over a window, computed in SQL (seed 004's set): min, max, avg, stddev,
// current, percentiles and count. The source comes from resolutionForRange like every range read: raw
// rows while the scan stays bounded (about six days at a 10 s interval), else the finest aggregate that
// holds the range. From an aggregate, min, max, avg, current and count are exact; stddev is exact where
// the aggregate keeps a sum of squares (scalar metrics); percentiles are those of the per-bucket averages.
import { sql, type Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import type { SeriesTarget } from './series-catalog.ts'
import { resolutionForRange, type RetentionDays } from './resolution-for-range.ts'

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
  } else {
    const c = req.target.rollup
    const col = (name: string) => sql.ref(name)
    const n = sql`sum(${col(c.count)})`
    const total = c.sum ? sql`sum(${col(c.sum)})` : sql`sum(${col(c.avg)} * ${col(c.count)})`
    const stddev = c.sumsq
      ? sql`sqrt(greatest(0, (sum(${col(c.sumsq)}) - ${total} * ${total} / ${n}) / nullif(${n} - 1, 0)))`
      : sql`stddev_samp(${col(c.avg)})`
    r = (await sql<StatsRow>`
      select min(${col(c.min)})::float8 as min, max(${col(c.max)})::float8 as max, (${total} / nullif(${n}, 0))::float8 as avg,
             (${stddev})::float8 as stddev, last(${col(c.last)}, bucket)::float8 as current, coalesce(${n}, 0)::int8 as count,
             percentile_cont(${PERCENTILES}::float8[]) within group (order by ${col(c.avg)}) as p
      from ${sql.table(level.source)}
      where ${where} and bucket >= ${req.start} and bucket < ${req.end}`.execute(db)).rows[0]
  }
  const p = r.p ?? PERCENTILES.map(() => null)
  return {
    min: r.min, max: r.max, avg: r.avg, stddev: r.stddev, current: r.current,
    p50: p[0], p75: p[1], p90: p[2], p95: p[3], p97_5: p[4], p99: p[5], p100: p[6],
    count: Number(r.count), source: raw ? 'raw' : level.source,
  }
}
