// The embedded engine has no background workers: this runs its due TimescaleDB jobs (aggregate refresh,
// compression, retention, our own actions) on their schedules, what autovacuum would do (vacuum and
// analyze), and the checkpointer's checkpoints. On a server TimescaleDB's scheduler, autovacuum and the
// checkpointer do it.
import { sql, type Kysely } from 'kysely'
import type { Database } from '../database.ts'
import { withRefreshPlanner } from '../aggregate-refresh.ts'

export interface ScheduledJob { job_id: number; proc_name: string; relation: string | null; interval_ms: number }
export interface JobRun {
  job_id: number; proc_name: string; relation: string | null; ms: number; error?: string
  /** A compression job's chunks still due after this run (see COMPRESSION_CHUNKS_PER_RUN for when it comes back). */
  chunks_left?: number
}

// Aggregates first (finest level first, by job id), then retention, then compression: a chunk past its
// retention is dropped, not compressed first.
const RUN_ORDER = ['policy_refresh_continuous_aggregate', 'policy_retention', 'policy_compression']
const rank = (proc: string) => { const i = RUN_ORDER.indexOf(proc); return i === -1 ? RUN_ORDER.length : i }

/** No autovacuum runs in the embedded engine: without statistics the planner guesses badly (seen: 139 s for a 100 ms query). */
export const ANALYZE_INTERVAL_MS = 30 * 60_000
/**
 * The chunks being written grow fastest (an hour's rows appear in a chunk the planner last saw nearly empty,
 * and it then sorts 14,000 rows to answer 1,000); autovacuum would analyze them as they change, so they are
 * analyzed more often. The embedded engine keeps no per-table change counts to decide it by.
 */
export const CURRENT_CHUNKS_ANALYZE_INTERVAL_MS = 5 * 60_000
/**
 * Between those passes, at every check, a chunk being written is analyzed as soon as it has grown by this
 * share of its size at its last analysis (or was never analyzed) and by at least GROWN_CHUNK_MIN_PAGES pages,
 * told by the chunk's size since the embedded engine counts no changes. A new day's chunk is thus analyzed
 * within a check of its first writes, not up to 5 minutes later (an hour's range read of 18,000 rows measured
 * 24 ms before, 4.6 ms after). Autovacuum's rule is a tenth; here an analysis holds the engine's one session,
 * so growth by half, and with a smaller sample (GROWN_CHUNK_STATISTICS_TARGET): at 1,000 agents a tenth and the
 * full sample took 28 s of the session in 4 minutes, 2 s an analysis of the process chunk.
 */
export const GROWN_CHUNK_SHARE = 0.5
export const GROWN_CHUNK_MIN_PAGES = 8
/**
 * default_statistics_target for those analyses and the 5-minute pass: a 3,000-row sample instead of 30,000, about
 * a tenth of the time (a 386 MB process chunk: 457–702 → 48 ms); the half-hourly pass takes the full one.
 */
export const GROWN_CHUNK_STATISTICS_TARGET = 10

/**
 * Tables rewritten row by row all day, whose dead row versions only VACUUM hands back to inserts (the space
 * the hourly prune of ingest_batches frees was never reused: the table doubled with as many rows) and clears
 * from indexes and the visibility map. The embedded engine keeps no dead-row counts to pick them by
 * (pg_stat_user_tables.n_dead_tup stays 0), so the list is fixed; tables another TimescaleDB lacks are skipped.
 */
export const HOT_TABLES = [
  'agents', // every ingest request: last_seen_at, last_metrics_at
  'metrics_latest', // every ingest request: each series' newest value
  'containers', // every request reporting containers: last_seen, state
  'ingest_batches', // a row per batch, deleted by the hourly prune
  'alert_states', // every evaluation: upserted, deleted when inactive
  'alert_rules', // every evaluation: last_evaluated_at
  // Each write of rows behind an aggregate's watermark adds a row, each refresh deletes them.
  '_timescaledb_catalog.continuous_aggs_hypertable_invalidation_log',
  '_timescaledb_catalog.continuous_aggs_materialization_invalidation_log',
]
/**
 * A pass takes milliseconds (about 40 ms with 100,000 dead rows in metrics_latest). Minutes between passes cost
 * little: in-place updates do not grow a table meanwhile (a page's dead versions are pruned as it fills); the
 * space deletes free waits that long to be reused.
 */
export const HOT_TABLES_VACUUM_INTERVAL_MS = 5 * 60_000

/**
 * Chunks a compression job compresses per run. Compressing holds the engine's one session for the whole
 * statement (a chunk per table a day normally, about 5 s per host of data: `npm run bench:agent-day`), and the
 * policy's own run takes every due chunk in one call: a backlog (the first start with a shorter
 * HOSTPULSE_COMPRESS_AFTER, or days without the API) would hold it for all of them. So the runner carries out
 * compression jobs itself, a chunk a run: the oldest chunk never compressed first, else the oldest partly
 * compressed one (rows written into it since, which compress_chunk recompresses). A job runs again at the next
 * check while the chunks it left are fewer than it found, ingest and reads getting the session in between; a
 * chunk rewritten as fast as it is recompressed waits for the job's schedule. On a server, TimescaleDB's
 * background workers run the policies.
 */
export const COMPRESSION_CHUNKS_PER_RUN = 1

/**
 * The embedded engine has no checkpointer either, and PostgreSQL alone (single-user mode) never starts a
 * checkpoint for WAL volume: WAL grew without bound (1.6 GB for 15,000 fleet batches, 110 kB each, with
 * max_wal_size at 1 GB), and so would the replay after a crash. The runner checkpoints as a server's
 * checkpointer would: after checkpoint_timeout's default, or once WAL since the last checkpoint reaches half of
 * max_wal_size. A checkpoint writes the dirty shared buffers and holds the engine's one session meanwhile
 * (about 0.3 s after 500 MB of WAL, measured here); PostgreSQL then recycles the WAL files behind it.
 */
export const CHECKPOINT_INTERVAL_MS = 5 * 60_000
/** Time-based checkpoints are skipped when less WAL than this was written since the last one. */
export const CHECKPOINT_MIN_WAL_BYTES = 16 * 2 ** 20

/**
 * ANALYZE of `table` (a quoted name) with GROWN_CHUNK_STATISTICS_TARGET. Parameterless, so one simple query,
 * which PostgreSQL runs as an implicit transaction: SET LOCAL holds for this analysis only, and a failure rolls
 * it all back. (An explicit BEGIN … COMMIT would leave the embedded engine's one session in an aborted
 * transaction when the ANALYZE fails, and every later statement would fail with it.)
 */
export async function analyzeWithSmallSample(db: Kysely<Database>, table: string): Promise<void> {
  await sql.raw(`set local default_statistics_target = ${GROWN_CHUNK_STATISTICS_TARGET}; analyze ${table}`).execute(db)
}

/**
 * A run worth a line at the default log level: a failure, or a compression that held the session for a second
 * or more or has chunks left (a backlog's progress, as on the first start with a shorter HOSTPULSE_COMPRESS_AFTER).
 */
export function isNotable(run: JobRun): boolean {
  return Boolean(run.error) || (run.proc_name === 'policy_compression' && (Boolean(run.chunks_left) || run.ms >= 1000))
}

export interface JobRunnerOptions {
  /** WAL bytes since the last checkpoint that make one due; default half of the engine's max_wal_size. */
  checkpointWalBytes?: number
}

export class EmbeddedJobRunner {
  private readonly lastRun = new Map<number, number>()
  private lastAnalyze: number | undefined
  private lastCurrentChunksAnalyze: number | undefined
  private lastVacuum: number | undefined
  private timer?: NodeJS.Timeout
  private current: Promise<unknown> = Promise.resolve()
  private lastCheckpoint: number | undefined

  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: (msg: string, run?: JobRun) => void = () => {},
    private readonly opts: JobRunnerOptions = {},
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
    // Before analyzing, as autovacuum does: the statistics then see the pages cleaned.
    if (this.lastVacuum === undefined || now - this.lastVacuum >= HOT_TABLES_VACUUM_INTERVAL_MS) runs.push(await this.vacuumHotTables(now))
    if (this.lastAnalyze === undefined || now - this.lastAnalyze >= ANALYZE_INTERVAL_MS) {
      runs.push(await this.analyze(now))
      this.lastCurrentChunksAnalyze = now
    } else if (this.lastCurrentChunksAnalyze === undefined || now - this.lastCurrentChunksAnalyze >= CURRENT_CHUNKS_ANALYZE_INTERVAL_MS) {
      runs.push(await this.analyzeCurrentChunks(now))
    } else {
      const grown = await this.analyzeGrownChunks()
      if (grown) runs.push(grown)
    }
    const checkpoint = await this.checkpointIfDue(now)
    if (checkpoint) runs.push(checkpoint)
    return runs
  }

  /**
   * CHECKPOINT when CHECKPOINT_INTERVAL_MS passed since the last one this runner made (or since it started)
   * with at least CHECKPOINT_MIN_WAL_BYTES written, or when the WAL since the last checkpoint reached
   * checkpointWalBytes; undefined when not due.
   */
  async checkpointIfDue(now = Date.now()): Promise<JobRun | undefined> {
    this.lastCheckpoint ??= now
    const started = performance.now()
    const run: JobRun = { job_id: 0, proc_name: 'checkpoint', relation: null, ms: 0 }
    try {
      const { rows: [wal] } = await sql<{ since: string; limit: string }>`
        select pg_wal_lsn_diff(pg_current_wal_lsn(), (pg_control_checkpoint()).redo_lsn)::int8::text as since,
               (pg_size_bytes(current_setting('max_wal_size')) / 2)::int8::text as limit`.execute(this.db)
      const since = Number(wal.since)
      const limit = this.opts.checkpointWalBytes ?? Number(wal.limit)
      const timed = now - this.lastCheckpoint >= CHECKPOINT_INTERVAL_MS && since >= CHECKPOINT_MIN_WAL_BYTES
      if (since < limit && !timed) return undefined
      await sql`checkpoint`.execute(this.db)
      run.relation = `${(since / 2 ** 20).toFixed(0)} MiB of WAL`
    } catch (err) {
      run.error = err instanceof Error ? err.message : String(err)
    }
    this.lastCheckpoint = now
    run.ms = Math.round(performance.now() - started)
    this.log(run.error ? `checkpoint failed after ${run.ms} ms: ${run.error}` : `checkpoint after ${run.relation} in ${run.ms} ms`, run)
    return run
  }

  /**
   * Analyzes the chunks being written that grew by GROWN_CHUNK_SHARE since their last analysis (or were never
   * analyzed); undefined when none did.
   */
  async analyzeGrownChunks(): Promise<JobRun | undefined> {
    const started = performance.now()
    const run: JobRun = { job_id: 0, proc_name: 'analyze grown chunks', relation: null, ms: 0 }
    let chunks: string[] = []
    try {
      chunks = await this.currentChunks({ grownOnly: true })
      for (const chunk of chunks) await analyzeWithSmallSample(this.db, chunk)
      run.relation = chunks.join(', ')
    } catch (err) {
      run.error = err instanceof Error ? err.message : String(err)
    }
    if (chunks.length === 0 && !run.error) return undefined
    run.ms = Math.round(performance.now() - started)
    this.log(run.error ? `analyze of grown chunks failed after ${run.ms} ms: ${run.error}` : `analyzed ${chunks.length} chunk${chunks.length === 1 ? '' : 's'} that grew (${run.relation}) in ${run.ms} ms`, run)
    return run
  }

  /**
   * The uncompressed chunks rows are arriving in (range still open, or closed within the hour), as quoted names;
   * `grownOnly`: those at least GROWN_CHUNK_MIN_PAGES big that grew by GROWN_CHUNK_SHARE since their last
   * analysis (relpages is the size ANALYZE or VACUUM last saw) or were never analyzed (reltuples < 0).
   */
  private async currentChunks({ grownOnly }: { grownOnly: boolean }): Promise<string[]> {
    const { rows } = await sql<{ chunk: string }>`
      select c.oid::regclass::text as chunk
      from timescaledb_information.chunks ch
      join pg_class c on c.oid = format('%I.%I', ch.chunk_schema, ch.chunk_name)::regclass
      cross join lateral (select pg_relation_size(c.oid) / current_setting('block_size')::int8 as pages) size
      where not ch.is_compressed and ch.range_end > now() - interval '1 hour'
        ${grownOnly ? sql`and size.pages >= ${GROWN_CHUNK_MIN_PAGES}
          and (c.reltuples < 0 or size.pages >= c.relpages * ${1 + GROWN_CHUNK_SHARE}::float8 + ${GROWN_CHUNK_MIN_PAGES})` : sql``}`.execute(this.db)
    return rows.map((r) => r.chunk)
  }

  /**
   * Statistics for the uncompressed chunks rows are arriving in: those whose time range is still open, and
   * those closed within the hour (just after midnight, yesterday's chunk took writes minutes ago).
   */
  async analyzeCurrentChunks(now = Date.now()): Promise<JobRun> {
    const started = performance.now()
    const run: JobRun = { job_id: 0, proc_name: 'analyze current chunks', relation: null, ms: 0 }
    try {
      const chunks = await this.currentChunks({ grownOnly: false })
      // The smaller sample, as for grown chunks: the half-hourly pass takes the full one.
      for (const chunk of chunks) await analyzeWithSmallSample(this.db, chunk)
      run.relation = `${chunks.length} chunks`
    } catch (err) {
      run.error = err instanceof Error ? err.message : String(err)
    }
    this.lastCurrentChunksAnalyze = now
    run.ms = Math.round(performance.now() - started)
    this.log(run.error ? `analyze of current chunks failed after ${run.ms} ms: ${run.error}` : `analyzed ${run.relation} in ${run.ms} ms`, run)
    return run
  }

  /**
   * Plain VACUUM of HOT_TABLES (never FULL: it holds off no reads or writes, save a moment to cut empty end pages,
   * which it skips when another session holds the table), one statement per table so
   * that ingest waiting for the one session gets it between them. Parameterless SQL runs as a simple query,
   * outside a transaction block, as VACUUM requires.
   */
  async vacuumHotTables(now = Date.now()): Promise<JobRun> {
    const started = performance.now()
    const run: JobRun = { job_id: 0, proc_name: 'vacuum hot tables', relation: null, ms: 0 }
    const failed: string[] = []
    try {
      const { rows } = await sql<{ table: string }>`
        select to_regclass(t)::text as table from unnest(${HOT_TABLES}::text[]) t where to_regclass(t) is not null`.execute(this.db)
      for (const { table } of rows) {
        try {
          await sql`vacuum ${sql.raw(table)}`.execute(this.db)
        } catch (err) {
          failed.push(`${table}: ${err instanceof Error ? err.message : String(err)}`)
        }
      }
      run.relation = `${rows.length - failed.length} tables`
    } catch (err) {
      failed.push(err instanceof Error ? err.message : String(err))
    }
    if (failed.length > 0) run.error = failed.join('; ')
    this.lastVacuum = now
    run.ms = Math.round(performance.now() - started)
    this.log(run.error ? `vacuum of hot tables failed after ${run.ms} ms: ${run.error}` : `vacuumed ${run.relation} in ${run.ms} ms`, run)
    return run
  }

  /**
   * What autovacuum would do on a server: refresh the planner's statistics (a sample per table), one statement
   * per table so that ingest waiting for the one session gets it between them (one ANALYZE of everything held
   * it for seconds with a fleet's chunks).
   */
  private async analyze(now: number): Promise<JobRun> {
    const started = performance.now()
    const run: JobRun = { job_id: 0, proc_name: 'analyze', relation: null, ms: 0 }
    try {
      const { rows } = await sql<{ table: string }>`
        select c.oid::regclass::text as table from pg_class c
        where c.relkind in ('r', 'm', 'p') and c.relpersistence <> 't' and c.relnamespace <> 'pg_toast'::regnamespace
        order by c.oid`.execute(this.db)
      for (const { table } of rows) await sql`analyze ${sql.raw(table)}`.execute(this.db)
      run.relation = `${rows.length} tables`
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
    const refresh = job.proc_name === 'policy_refresh_continuous_aggregate'
    let backlog = false
    try {
      if (job.proc_name === 'policy_compression') {
        const due = await this.chunksToCompress(job)
        for (const chunk of due.slice(0, COMPRESSION_CHUNKS_PER_RUN)) {
          await sql`select compress_chunk(${chunk}::regclass, if_not_compressed => true)`.execute(this.db)
        }
        run.chunks_left = (await this.chunksToCompress(job)).length
        backlog = run.chunks_left > 0 && run.chunks_left < due.length
      } else {
        const runJob = (db: Kysely<Database>) => sql`call run_job(${job.job_id}::int)`.execute(db)
        await (refresh ? withRefreshPlanner(this.db, runJob) : runJob(this.db))
      }
    } catch (err) {
      run.error = err instanceof Error ? err.message : String(err)
    }
    // A failed job waits for its next slot too, as TimescaleDB's scheduler would retry it; a compression job
    // working through a backlog comes back at the next check.
    if (!backlog) this.lastRun.set(job.job_id, now)
    run.ms = Math.round(performance.now() - started)
    const left = run.chunks_left ? ` (${run.chunks_left} more chunk${run.chunks_left === 1 ? '' : 's'} to compress: ${backlog ? 'again at the next check' : 'at its next run'})` : ''
    this.log(run.error
      ? `job ${job.job_id} ${job.proc_name} on ${job.relation} failed after ${run.ms} ms: ${run.error}`
      : `job ${job.job_id} ${job.proc_name} on ${job.relation} done in ${run.ms} ms${left}`, run)
    return run
  }

  /**
   * The chunks a compression job would compress now, as quoted names, in the order the runner takes them: those
   * never compressed, oldest first, then those partly compressed, oldest first. A chunk is due once its end is
   * compress_after old (show_chunks' older_than, as the policy asks). Chunk status bits: 1 compressed, 4 frozen,
   * 8 partly compressed. The job names its hypertable, or its continuous aggregate.
   */
  private async chunksToCompress(job: ScheduledJob): Promise<string[]> {
    const { rows } = await sql<{ chunk: string }>`
      select sc.chunk::text as chunk
      from timescaledb_information.jobs j
      cross join lateral show_chunks(format('%I.%I', j.hypertable_schema, j.hypertable_name)::regclass,
        older_than => (j.config ->> 'compress_after')::interval) as sc(chunk)
      join _timescaledb_catalog.chunk c on format('%I.%I', c.schema_name, c.table_name)::regclass = sc.chunk
      join timescaledb_information.chunks ch on ch.chunk_schema = c.schema_name and ch.chunk_name = c.table_name
      where j.job_id = ${job.job_id}::int and not c.dropped and c.status & 4 = 0 and (c.status & 1 = 0 or c.status & 8 <> 0)
      order by c.status & 1, ch.range_start`.execute(this.db)
    return rows.map((r) => r.chunk)
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
