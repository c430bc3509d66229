// Late rows (an agent replaying its buffer after an outage) land below what a continuous aggregate has
// materialized, where its real-time union no longer looks: they stay invisible through it until its policy
// next runs (every 15 minutes for the hourly levels). Ingest tells the store which time span it wrote per
// hypertable; a span reaching below an aggregate's watermark gets its buckets refreshed, parents before
// children, in passes at most one per interval (each refreshes an aggregate at most once). Traffic per 15
// minutes (network_traffic, sql/025_traffic.sql) is derived from network_metrics the same way: late rows get
// its buckets recomputed in the same pass (the store's function clamps the span to what is materialized).
import { sql, type Kysely } from 'kysely'
import type { Database } from './database.ts'
import { withRefreshPlanner } from './aggregate-refresh.ts'

/** What ingest tells the store after its transaction committed: rows of `hypertable` with times in [min, max]. */
export interface WrittenRowsSink {
  written(hypertable: string, min: Date, max: Date): void
}

/** One continuous aggregate, as the catalog describes it. */
export interface AggregateLevel {
  /** Schema-qualified, as refresh_continuous_aggregate takes it. */
  view: string
  name: string
  /** The raw hypertable it is built from, through its parent aggregates (metrics for metrics_1d). */
  root: string
  matHypertableId: number
  /** 0 on a raw hypertable, 1 on an aggregate of it, and so on: refreshes go in this order. */
  depth: number
  bucketMs: number
  /** Where buckets start: time_bucket's origin (Monday 2000-01-03 unless set) plus its offset. */
  originMs: number
  /** The refresh policy's start_offset: older buckets are left alone (their raw rows may be gone). */
  startOffsetMs: number | null
}

export interface LateDataOptions {
  /** Least time between two passes; 0 turns late refreshes off. Default 5 s. */
  intervalMs?: number
  /** Told of every refresh (`failed` false) and every failure; the store's owner decides what to print. */
  log?: (msg: string, failed: boolean) => void
}

export const DEFAULT_LATE_DATA_INTERVAL_MS = 5_000
/** How long a span that may race a running policy refresh is looked at again (the visibility promise). */
const WATCH_MS = 60_000
const MAX_FAILURES = 3

interface Span { min: number; max: number; watchUntil: number; failures: number }
interface Marks { watermark: number | null; threshold: number | null }

const floorTo = (t: number, level: AggregateLevel) => level.originMs + Math.floor((t - level.originMs) / level.bucketMs) * level.bucketMs
const ceilTo = (t: number, level: AggregateLevel) => level.originMs + Math.ceil((t - level.originMs) / level.bucketMs) * level.bucketMs

/**
 * The buckets of `level` to refresh for rows in [span.min, span.max]: rounded out to whole buckets, never past
 * the watermark (above it the real-time union shows raw rows already) nor before the policy's window.
 */
export function refreshWindow(level: AggregateLevel, span: { min: number; max: number }, watermark: number | null, now: number): { start: number; end: number } | undefined {
  if (watermark === null) return undefined
  const oldest = level.startOffsetMs === null ? -Infinity : ceilTo(now - level.startOffsetMs, level)
  const start = Math.max(floorTo(span.min, level), oldest)
  const end = Math.min(floorTo(span.max, level) + level.bucketMs, watermark)
  return start < end ? { start, end } : undefined
}

interface LevelRow {
  view: string; name: string; mat_hypertable_id: number; parent_mat_hypertable_id: number | null
  source_schema: string; source: string; current_schema: string
  bucket_ms: number; origin_ms: number; start_offset_ms: number | null
}

/** Every time-bucketed continuous aggregate of the current schema, parents before children. */
export async function aggregateLevels(db: Kysely<Database>): Promise<AggregateLevel[]> {
  // The information views name neither the bucket width nor the parent: the catalog does.
  const { rows } = await sql<LevelRow>`
    select format('%I.%I', c.user_view_schema, c.user_view_name) as view, c.user_view_name as name,
           c.mat_hypertable_id, c.parent_mat_hypertable_id, h.schema_name as source_schema, h.table_name as source,
           current_schema() as current_schema,
           (extract(epoch from b.bucket_width::interval) * 1000)::float8 as bucket_ms,
           (extract(epoch from coalesce(b.bucket_origin::timestamptz, '2000-01-03 00:00:00+00'::timestamptz)
             + coalesce(b.bucket_offset::interval, '0'::interval)) * 1000)::float8 as origin_ms,
           (select (extract(epoch from (j.config ->> 'start_offset')::interval) * 1000)::float8
              from timescaledb_information.jobs j
              where j.proc_name = 'policy_refresh_continuous_aggregate' and (j.config ->> 'mat_hypertable_id')::int = c.mat_hypertable_id
              limit 1) as start_offset_ms
    from _timescaledb_catalog.continuous_agg c
    join _timescaledb_catalog.hypertable h on h.id = c.raw_hypertable_id
    join _timescaledb_catalog.continuous_aggs_bucket_function b on b.mat_hypertable_id = c.mat_hypertable_id
    where b.bucket_fixed_width and b.bucket_timezone is null
      and b.bucket_func::text like '%timestamp with time zone)'`.execute(db)
  const byMat = new Map(rows.map((r) => [r.mat_hypertable_id, r]))
  const levels: AggregateLevel[] = []
  for (const row of rows) {
    let root: LevelRow | undefined = row
    let depth = 0
    while (root?.parent_mat_hypertable_id != null && depth <= rows.length) { root = byMat.get(root.parent_mat_hypertable_id); depth++ }
    if (!root || root.source_schema !== row.current_schema) continue
    levels.push({
      view: row.view, name: row.name, root: root.source, matHypertableId: row.mat_hypertable_id, depth,
      bucketMs: row.bucket_ms, originMs: row.origin_ms, startOffsetMs: row.start_offset_ms,
    })
  }
  return levels.sort((a, b) => a.depth - b.depth || a.name.localeCompare(b.name))
}

/** Each aggregate's watermark and its source's invalidation threshold now (ms; null while unset). */
async function readMarks(db: Kysely<Database>, levels: AggregateLevel[]): Promise<Map<number, Marks>> {
  const { rows } = await sql<{ id: number; watermark: number | null; threshold: number | null }>`
    select c.mat_hypertable_id as id,
           (extract(epoch from _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(c.mat_hypertable_id))) * 1000)::float8 as watermark,
           (select (extract(epoch from _timescaledb_functions.to_timestamp(t.watermark)) * 1000)::float8
              from _timescaledb_catalog.continuous_aggs_invalidation_threshold t where t.hypertable_id = c.raw_hypertable_id) as threshold
    from _timescaledb_catalog.continuous_agg c
    where c.mat_hypertable_id = any(${levels.map((l) => l.matHypertableId)}::int[])`.execute(db)
  return new Map(rows.map((r) => [r.id, { watermark: r.watermark, threshold: r.threshold }]))
}

const errorText = (err: unknown) => err instanceof Error ? err.message : String(err)
const iso = (ms: number) => new Date(ms).toISOString()

export class LateDataRefresh implements WrittenRowsSink {
  readonly intervalMs: number
  private readonly log: (msg: string, failed: boolean) => void
  private levels?: Promise<AggregateLevel[]>
  /** Spans written since the last pass, per hypertable. */
  private pending = new Map<string, Span>()
  private timer?: NodeJS.Timeout
  private running?: Promise<void>
  private lastPassAt = -Infinity
  private waiters: Array<() => void> = []
  private closed = false
  private passCount = 0
  private readonly refreshCounts = new Map<string, number>()
  private failureCount = 0

  constructor(private readonly db: Kysely<Database>, options: LateDataOptions = {}) {
    this.intervalMs = options.intervalMs ?? DEFAULT_LATE_DATA_INTERVAL_MS
    this.log = options.log ?? ((msg, failed) => { if (failed) process.stderr.write(`hostpulse: ${msg}\n`) })
  }

  /** Cheap and synchronous: remembers the span; a pass decides later whether it needs a refresh. */
  written(hypertable: string, min: Date, max: Date): void {
    if (this.closed || this.intervalMs <= 0) return
    const lo = min.getTime()
    const hi = max.getTime()
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return
    this.merge(hypertable, { min: Math.min(lo, hi), max: Math.max(lo, hi), watchUntil: Date.now() + WATCH_MS, failures: 0 })
    this.schedule()
  }

  /** Passes run, refreshes done per aggregate (by view name), failures, tables waiting for a pass: for tests and operators. */
  stats(): { passes: number; refreshes: Record<string, number>; failures: number; pending: number } {
    return { passes: this.passCount, refreshes: Object.fromEntries(this.refreshCounts), failures: this.failureCount, pending: this.pending.size }
  }

  /** Resolves once everything written before the call has been through a pass (at once when nothing is waiting). */
  caughtUp(): Promise<void> {
    if (this.pending.size > 0) return new Promise((resolve) => this.waiters.push(resolve))
    return this.running ?? Promise.resolve()
  }

  /** Stops the timer and waits for a running pass; later writes are ignored. */
  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    this.timer = undefined
    await this.running
    for (const resolve of this.waiters.splice(0)) resolve()
  }

  private merge(hypertable: string, span: Span): void {
    const had = this.pending.get(hypertable)
    this.pending.set(hypertable, had ? {
      min: Math.min(had.min, span.min), max: Math.max(had.max, span.max),
      watchUntil: Math.max(had.watchUntil, span.watchUntil), failures: Math.max(had.failures, span.failures),
    } : span)
  }

  private schedule(): void {
    if (this.closed || this.timer || this.running || this.pending.size === 0) return
    const wait = Math.max(0, this.lastPassAt + this.intervalMs - Date.now())
    this.timer = setTimeout(() => {
      this.timer = undefined
      const waiters = this.waiters.splice(0)
      this.running = this.pass()
        .catch((err) => { this.failureCount++; this.log(`late rows: cannot read the aggregates' watermarks: ${errorText(err)}`, true) })
        .finally(() => {
          this.running = undefined
          this.passCount++
          for (const resolve of waiters) resolve()
          this.schedule()
        })
    }, wait)
    // Never what keeps a process alive: close() stops it, and an exiting process owes it nothing.
    this.timer.unref()
  }

  private async pass(): Promise<void> {
    this.lastPassAt = Date.now()
    const spans = this.pending
    this.pending = new Map()
    const network = spans.get('network_metrics')
    if (network && !this.closed) await this.refreshTraffic(network)
    let levels: AggregateLevel[]
    let marks: Map<number, Marks>
    try {
      this.levels ??= aggregateLevels(this.db)
      const all = await this.levels
      // A store not migrated yet has none: look again next time.
      if (all.length === 0) this.levels = undefined
      levels = all.filter((l) => spans.has(l.root))
      if (levels.length === 0) return
      marks = await readMarks(this.db, levels)
    } catch (err) {
      this.levels = undefined
      this.retry(spans, new Set(spans.keys()))
      throw err
    }
    const now = Date.now()
    const failed = new Set<string>()
    for (const level of levels) {
      // A parent that failed leaves its children nothing new to read; closing leaves the rest to the policies.
      if (this.closed || failed.has(level.root)) continue
      const window = refreshWindow(level, spans.get(level.root)!, marks.get(level.matHypertableId)?.watermark ?? null, now)
      if (window && !await this.refresh(level, window)) failed.add(level.root)
    }
    this.retry(spans, failed)
    for (const [root, span] of spans) {
      if (!failed.has(root)) this.watch(root, span, levels.filter((l) => l.root === root && l.depth === 0), marks, now)
    }
  }

  /** Spans whose refresh failed go round again, a few times. */
  private retry(spans: Map<string, Span>, roots: Set<string>): void {
    for (const root of roots) {
      const span = spans.get(root)!
      if (span.failures + 1 < MAX_FAILURES) this.merge(root, { ...span, failures: span.failures + 1 })
    }
  }

  /**
   * On a server a policy refresh may be running: it moved the invalidation threshold first and will move the
   * watermark when done, past rows committed after its snapshot. Rows between the two are looked at again
   * (for a minute at most) so that they are refreshed once the watermark has passed them.
   */
  private watch(root: string, span: Span, roots: AggregateLevel[], marks: Map<number, Marks>, now: number): void {
    if (now >= span.watchUntil) return
    for (const level of roots) {
      const mark = marks.get(level.matHypertableId)
      const from = Math.max(span.min, mark?.watermark ?? -Infinity)
      if (mark?.threshold != null && from <= span.max && from < mark.threshold) {
        this.merge(root, { ...span, min: from })
        return
      }
    }
  }

  /** Recomputes the traffic buckets late rows changed (none when the span is above what is materialized). */
  private async refreshTraffic(span: Span): Promise<void> {
    const started = performance.now()
    const what = `network_traffic [${iso(span.min)}, ${iso(span.max)}]`
    try {
      const { rows: [r] } = await sql<{ buckets: number }>`
        select hostpulse_refresh_traffic(${iso(span.min)}::timestamptz, ${iso(span.max)}::timestamptz) as buckets`.execute(this.db)
      if (!r || r.buckets === 0) return
      this.refreshCounts.set('network_traffic', (this.refreshCounts.get('network_traffic') ?? 0) + 1)
      this.log(`late rows: recounted ${r.buckets} traffic buckets for ${what} in ${Math.round(performance.now() - started)} ms`, false)
    } catch (err) {
      // A store whose migrations have not reached traffic yet has no such function: nothing to recount.
      if (/hostpulse_refresh_traffic.*does not exist/.test(errorText(err))) return
      this.failureCount++
      this.log(`late rows: recounting ${what} failed: ${errorText(err)}`, true)
    }
  }

  private async refresh(level: AggregateLevel, window: { start: number; end: number }): Promise<boolean> {
    const started = performance.now()
    const what = `${level.name} [${iso(window.start)}, ${iso(window.end)})`
    try {
      // Outside any transaction, as TimescaleDB requires; on the embedded engine the one session serializes it
      // with the job runner's policy runs and with ingest.
      await withRefreshPlanner(this.db, (conn) =>
        sql`call refresh_continuous_aggregate(${level.view}::regclass, ${iso(window.start)}::timestamptz, ${iso(window.end)}::timestamptz)`.execute(conn))
    } catch (err) {
      this.failureCount++
      this.log(`late rows: refreshing ${what} failed after ${Math.round(performance.now() - started)} ms: ${errorText(err)}`, true)
      return false
    }
    this.refreshCounts.set(level.name, (this.refreshCounts.get(level.name) ?? 0) + 1)
    this.log(`late rows: refreshed ${what} in ${Math.round(performance.now() - started)} ms`, false)
    return true
  }
}
