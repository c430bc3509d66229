// Statistics of one series over a window, computed in SQL (seed 004's set): min, max, avg, stddev,
// current, percentiles and count. Raw rows while they are kept; beyond raw retention, the finest
// aggregate's per-bucket averages (and the answer says so).
import { sql, type Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import type { SeriesTarget } from './series-catalog.ts'
import { resolutionForRange, type RetentionDays } from './resolution-for-range.ts'

export interface SeriesStats {
  min: number | null; max: number | null; avg: number | null; stddev: number | null; current: number | null
  p50: number | null; p75: number | null; p90: number | null; p95: number | null; p97_5: number | null; p99: number | null; p100: number | null
  count: number
  /** `raw`, or the aggregate whose averages were used. */
  source: string
}

const PERCENTILES = [0.5, 0.75, 0.9, 0.95, 0.975, 0.99, 1]

export async function seriesStats(db: Kysely<Database>, req: {
  orgId: string; agentId: string; target: SeriesTarget; start: Date; end: Date; retentionDays?: RetentionDays; now?: Date
}): Promise<SeriesStats> {
  const ageDays = ((req.now ?? new Date()).getTime() - req.start.getTime()) / 86_400_000
  const useRaw = ageDays <= (req.retentionDays?.raw ?? 30)
  // Beyond raw retention: the finest aggregate that still holds the start.
  const level = useRaw ? undefined : resolutionForRange({ family: req.target.family, start: req.start, end: req.end, stepSeconds: 1, retentionDays: req.retentionDays, now: req.now })
  const source = useRaw ? req.target.rawSource : level!.source
  const timeCol = sql.ref(useRaw ? 'time' : 'bucket')
  const v = sql.ref(useRaw ? req.target.rawColumn : req.target.rollupAvgColumn)
  const { rows: [r] } = await sql<{ min: number | null; max: number | null; avg: number | null; stddev: number | null; current: number | null; p: number[] | null; count: number }>`
    select min(${v})::float8 as min, max(${v})::float8 as max, avg(${v})::float8 as avg, stddev_samp(${v})::float8 as stddev,
           last(${v}, ${timeCol})::float8 as current, count(${v}) as count,
           percentile_cont(${PERCENTILES}::float8[]) within group (order by ${v}) as p
    from ${sql.table(source)}
    where org_id = ${req.orgId} and agent_id = ${req.agentId} and ${req.target.filter()}
      and ${timeCol} >= ${req.start} and ${timeCol} < ${req.end}`.execute(db)
  const p = r.p ?? PERCENTILES.map(() => null)
  return {
    min: r.min, max: r.max, avg: r.avg, stddev: r.stddev, current: r.current,
    p50: p[0], p75: p[1], p90: p[2], p95: p[3], p97_5: p[4], p99: p[5], p100: p[6],
    count: r.count, source: useRaw ? 'raw' : source,
  }
}
