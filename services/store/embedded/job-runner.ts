// The embedded engine has no background workers: this runs its due TimescaleDB jobs (aggregate refresh,
// compression, retention, our own actions) on their schedules. On a server TimescaleDB's scheduler does it.
import { sql, type Kysely } from 'kysely'
import type { Database } from '../database.ts'

export interface ScheduledJob { job_id: number; proc_name: string; relation: string | null; interval_ms: number }
export interface JobRun { job_id: number; proc_name: string; relation: string | null; ms: number; error?: string }

// Aggregates first (finest level first, by job id), then compression, then retention.
const RUN_ORDER = ['policy_refresh_continuous_aggregate', 'policy_compression', 'policy_retention']
const rank = (proc: string) => { const i = RUN_ORDER.indexOf(proc); return i === -1 ? RUN_ORDER.length : i }

/** No autovacuum runs in the embedded engine: without statistics the planner guesses badly (seen: 139 s for a 100 ms query). */
export const ANALYZE_INTERVAL_MS = 30 * 60_000
/**
 * The chunks being written grow fastest (an hour's rows appear in a chunk the planner last saw nearly empty,
 * and it then sorts 14,000 rows to answer 1,000); autovacuum would analyze them as they change, so they are
 * analyzed more often. The embedded engine keeps no per-table change counts to decide it by.
 */
export const CURRENT_CHUNKS_ANALYZE_INTERVAL_MS = 5 * 60_000

export class EmbeddedJobRunner {
  private readonly lastRun = new Map<number, number>()
  private lastAnalyze: number | undefined
  private lastCurrentChunksAnalyze: number | undefined
  private timer?: NodeJS.Timeout
  private current: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: (msg: string, run?: JobRun) => void = () => {},
  ) {}

  async scheduledJobs(): Promise<ScheduledJob[]> {
    const { rows } = await sql<ScheduledJob>`
      select j.job_id, j.proc_name,
             j.hypertable_name as relation,
             (extract(epoch from j.schedule_interval) * 1000)::float8 as interval_ms
      from timescaledb_information.jobs j
      where j.scheduled and j.job_id >= 1000`.execute(this.db)
    return rows.sort((a, b) => rank(a.proc_name) - rank(b.proc_name) || a.job_id - b.job_id)
  }

  /** Runs every job whose schedule has come (all of them on the first call). */
  async runDueJobs(now = Date.now()): Promise<JobRun[]> {
    const runs: JobRun[] = []
    for (const job of await this.scheduledJobs()) {
      const last = this.lastRun.get(job.job_id)
      if (last !== undefined && now - last < job.interval_ms) continue
      runs.push(await this.runJob(job, now))
    }
    if (this.lastAnalyze === undefined || now - this.lastAnalyze >= ANALYZE_INTERVAL_MS) {
      runs.push(await this.analyze(now))
      this.lastCurrentChunksAnalyze = now
    } else if (this.lastCurrentChunksAnalyze === undefined || now - this.lastCurrentChunksAnalyze >= CURRENT_CHUNKS_ANALYZE_INTERVAL_MS) {
      runs.push(await this.analyzeCurrentChunks(now))
    }
    return runs
  }

  /**
   * Statistics for the uncompressed chunks rows are arriving in: those whose time range is still open, and
   * those closed within the hour (just after midnight, yesterday's chunk took writes minutes ago).
   */
  async analyzeCurrentChunks(now = Date.now()): Promise<JobRun> {
    const started = performance.now()
    const run: JobRun = { job_id: 0, proc_name: 'analyze current chunks', relation: null, ms: 0 }
    try {
      const { rows } = await sql<{ chunk: string }>`
        select format('%I.%I', chunk_schema, chunk_name) as chunk from timescaledb_information.chunks
        where not is_compressed and range_end > now() - interval '1 hour'`.execute(this.db)
      for (const { chunk } of rows) await sql`analyze ${sql.raw(chunk)}`.execute(this.db)
      run.relation = `${rows.length} chunks`
    } catch (err) {
      run.error = err instanceof Error ? err.message : String(err)
    }
    this.lastCurrentChunksAnalyze = now
    run.ms = Math.round(performance.now() - started)
    this.log(run.error ? `analyze of current chunks failed after ${run.ms} ms: ${run.error}` : `analyzed ${run.relation} in ${run.ms} ms`, run)
    return run
  }

  /** What autovacuum would do on a server: refresh the planner's statistics (a sample per table, seconds at most). */
  private async analyze(now: number): Promise<JobRun> {
    const started = performance.now()
    const run: JobRun = { job_id: 0, proc_name: 'analyze', relation: null, ms: 0 }
    try {
      await sql`analyze`.execute(this.db)
    } catch (err) {
      run.error = err instanceof Error ? err.message : String(err)
    }
    this.lastAnalyze = now
    run.ms = Math.round(performance.now() - started)
    this.log(run.error ? `analyze failed after ${run.ms} ms: ${run.error}` : `analyze done in ${run.ms} ms`, run)
    return run
  }

  private async runJob(job: ScheduledJob, now: number): Promise<JobRun> {
    const started = performance.now()
    const run: JobRun = { job_id: job.job_id, proc_name: job.proc_name, relation: job.relation, ms: 0 }
    try {
      await sql`call run_job(${job.job_id}::int)`.execute(this.db)
    } catch (err) {
      run.error = err instanceof Error ? err.message : String(err)
    }
    // A failed job waits for its next slot too, as TimescaleDB's scheduler would retry it.
    this.lastRun.set(job.job_id, now)
    run.ms = Math.round(performance.now() - started)
    this.log(run.error
      ? `job ${job.job_id} ${job.proc_name} on ${job.relation} failed after ${run.ms} ms: ${run.error}`
      : `job ${job.job_id} ${job.proc_name} on ${job.relation} done in ${run.ms} ms`, run)
    return run
  }

  start(checkIntervalMs: number): void {
    const tick = () => {
      this.current = this.runDueJobs().catch((err: Error) => this.log(`job runner: ${err.message}`))
        .finally(() => { if (this.timer) this.timer = setTimeout(tick, checkIntervalMs) })
    }
    this.timer = setTimeout(tick, 0)
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    await this.current
  }
}
