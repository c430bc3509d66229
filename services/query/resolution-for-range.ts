// The one decision of where a range query reads: raw rows or which continuous aggregate, so that a
// 30-day query never scans 30 days of raw rows. Every range endpoint asks this function.

export type Family = 'metrics' | 'disk' | 'network' | 'process' | 'container'

export interface Resolution {
  /** The relation to read. */
  source: string
  /** Its native granularity in seconds (0 for raw rows). */
  nativeSeconds: number
  /** The bucket to group by, a multiple of the native granularity. */
  bucketSeconds: number
  /** `raw` or the aggregate's name, as the API reports it. */
  label: string
}

interface Level { source: string; seconds: number; retentionDays: number }

export interface RetentionDays { raw: number; minute: number; hour: number; day: number }
export const DEFAULT_RETENTION_DAYS: RetentionDays = { raw: 30, minute: 90, hour: 90, day: 365 }

function levels(family: Family, r: RetentionDays): Level[] {
  const raw: Record<Family, string> = {
    metrics: 'metrics', disk: 'disk_metrics', network: 'network_metrics', process: 'process_metrics', container: 'container_metrics',
  }
  const out: Level[] = [{ source: raw[family], seconds: 0, retentionDays: r.raw }]
  if (family === 'metrics') {
    out.push({ source: 'metrics_1m', seconds: 60, retentionDays: r.minute })
    out.push({ source: 'metrics_1h', seconds: 3600, retentionDays: r.hour })
    out.push({ source: 'metrics_1d', seconds: 86400, retentionDays: r.day })
  } else {
    out.push({ source: `${raw[family]}_1h`, seconds: 3600, retentionDays: r.hour })
  }
  return out
}

/** Rows a raw read may scan per series (at the default 10 s agent interval, about 5.8 days). */
const MAX_RAW_SCAN_PER_SERIES = 50_000
const AGENT_INTERVAL_SECONDS = 10

// Steps people read well; the automatic step is rounded up to one of these.
const NICE_STEPS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800]

/** time_bucket's default origin for sub-month intervals (Monday 2000-01-03 UTC): buckets align to it. */
const BUCKET_ORIGIN_MS = Date.UTC(2000, 0, 3)

/** How many `stepSeconds` buckets [start, end) touches, counting the partial first one. */
export function bucketsTouched(start: Date, end: Date, stepSeconds: number): number {
  const stepMs = stepSeconds * 1000
  const firstBucket = BUCKET_ORIGIN_MS + Math.floor((start.getTime() - BUCKET_ORIGIN_MS) / stepMs) * stepMs
  return Math.ceil((end.getTime() - firstBucket) / stepMs)
}

export interface ResolutionRequest {
  family: Family
  start: Date
  end: Date
  /** Wanted step in seconds; omitted or 0 means automatic. */
  stepSeconds?: number
  /** Upper bound on points per series when the step is automatic (default 1,000). */
  maxPoints?: number
  now?: Date
  retentionDays?: RetentionDays
  /** Rows one sample adds to the scan (a process list is ~100 rows per sample); default 1. */
  rowsPerSample?: number
}

/** The first of start, start + unit, … that fits (alignment can add one bucket to an even division). */
function firstFitting(start: number, unit: number, fits: (step: number) => boolean): number {
  let step = start
  while (!fits(step)) step += unit
  return step
}

export function resolutionForRange(req: ResolutionRequest): Resolution {
  // An invalid time would never fit any step (firstFitting would loop forever): a caller's bug, not a range.
  if (!Number.isFinite(req.start.getTime()) || !Number.isFinite(req.end.getTime())) throw new RangeError('resolutionForRange: start and end must be valid times')
  const maxPoints = req.maxPoints ?? 1000
  const spanSeconds = Math.max(1, (req.end.getTime() - req.start.getTime()) / 1000)
  const auto = !(req.stepSeconds && req.stepSeconds > 0)
  const fits = (step: number) => bucketsTouched(req.start, req.end, step) <= maxPoints
  const wanted = !auto ? req.stepSeconds! : NICE_STEPS.find(fits) ?? firstFitting(Math.ceil(spanSeconds / maxPoints), 1, fits)
  const now = (req.now ?? new Date()).getTime()
  const ageDays = (now - req.start.getTime()) / 86_400_000
  const all = levels(req.family, req.retentionDays ?? DEFAULT_RETENTION_DAYS)
  // Among the levels that still hold the range's start (or else the longest-kept one), the coarsest
  // that is not coarser than the step; if every such level is coarser, the finest of them.
  const kept = all.filter((l) => l.retentionDays >= ageDays)
  const candidates = kept.length > 0 ? kept : [[...all].sort((a, b) => b.retentionDays - a.retentionDays)[0]]
  let level = candidates.filter((l) => l.seconds <= wanted).at(-1) ?? candidates[0]
  // Families without a minute aggregate would scan raw rows for days: past a bounded scan, take the
  // next aggregate even though its bucket is coarser than asked.
  if (level.seconds === 0 && (spanSeconds / AGENT_INTERVAL_SECONDS) * (req.rowsPerSample ?? 1) > MAX_RAW_SCAN_PER_SERIES) {
    level = candidates.find((l) => l.seconds > 0) ?? level
  }
  // A step the level cannot give is rounded up to a whole number of its buckets.
  const unit = Math.max(1, level.seconds)
  let bucketSeconds = Math.max(unit, Math.ceil(wanted / unit) * unit)
  if (auto) bucketSeconds = firstFitting(bucketSeconds, unit, fits)
  return { source: level.source, nativeSeconds: level.seconds, bucketSeconds, label: level.seconds === 0 ? 'raw' : level.source }
}
