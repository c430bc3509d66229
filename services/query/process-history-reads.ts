// Process history reads (issue 17): the processes that started and exited between an agent's snapshots
// over a window, and each process name's share of the host's CPU or memory over a window. No request
// here: callers pass the organization, agent and parameters.
import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { Database } from '../store/database.ts'
import { latestProcessSnapshot, newestByName, type AgentRef } from './process-reads.ts'
import { resolutionForRange } from './resolution-for-range.ts'

/** Rows of one snapshot may carry their own times, within a day of it (ingest enforces that). */
const ITEM_SKEW = '1 day'
/** A gap between snapshots longer than this many typical gaps counts as that many (the agent was down). */
const MAX_GAP_FACTOR = 5

/** One process's life as the snapshots saw it, when it started or exited (or both) within the window. */
export interface ProcessChange {
  pid: number
  parent_pid: number | null
  name: string
  cmdline: string
  username: string | null
  /** The process's own start time, as the agent read it; null when the agent did not send one. */
  create_time: Date | null
  first_seen: Date
  last_seen: Date
  /** It was absent from the snapshot before first_seen (false: it was already running when the window opened). */
  started: boolean
  /** The first snapshot without it: an upper bound of its exit; null while it still runs at the window's last snapshot. */
  ended_before: Date | null
  peak_cpu_percent: number
  peak_memory_bytes: number
}

interface ChangesPage {
  total: number | null
  rows_read: number | null
  rows_expected: number | null
  page: Array<Omit<ProcessChange, 'create_time' | 'first_seen' | 'last_seen' | 'ended_before'> & {
    create_time: string | null; first_seen: string; last_seen: string; ended_before: string | null
  }> | null
}

/**
 * The processes that appeared or disappeared between consecutive snapshots of [start, end), newest change
 * first (an exit's ended_before, else a start's first_seen), `limit` of them from `offset`, and how many
 * there are. The snapshot just before `start` is the baseline, so a process that started between it and the
 * window's first snapshot counts as started. A process is (pid, create_time), or (pid, name, cmdline)
 * when the agent sent no create time: a pid reused by another command, or a command restarted, is an exit
 * and a start. A process missing from a snapshot in the middle of its life (an agent sending only its top
 * processes) is one life, not an exit and a start.
 */
export async function processChanges(db: Kysely<Database>, req: ChangesRequest): Promise<{ total: number; changes: ProcessChange[] }> {
  const read = await readLives(db, req) ?? await readBySnapshot(db, req)
  const changes = (read.page ?? []).map((c) => ({
    ...c, create_time: c.create_time === null ? null : new Date(c.create_time), first_seen: new Date(c.first_seen),
    last_seen: new Date(c.last_seen), ended_before: c.ended_before === null ? null : new Date(c.ended_before),
  }))
  return { total: Number(read.total ?? 0), changes }
}

type ChangesRequest = AgentRef & { start: Date; end: Date; limit: number; offset: number }

const HOUR_MS = 3_600_000

/** Both readers' answer: the `detailed` page's changes as one JSON array, newest change first. */
const PAGE_JSON = sql`(select json_agg(json_build_object(
    'pid', pid, 'parent_pid', parent_pid, 'name', name, 'cmdline', cmdline, 'username', username, 'create_time', create_time,
    'first_seen', first_seen, 'last_seen', last_seen, 'started', started, 'ended_before', ended_before,
    'peak_cpu_percent', peak_cpu_percent, 'peak_memory_bytes', peak_memory_bytes)
    order by coalesce(ended_before, first_seen) desc, pid, create_time) from detailed)`
/** A process's identity beside its pid and create time, as process_lives_1h keys it (sql/022). */
const commandKey = (m: string) => sql.raw(`case when ${m}.create_time is null then md5(length(${m}.name) || ':' || ${m}.name || ${m}.cmdline) end`)
/** Microseconds since 1970, exact (numeric), as process_lives_1h sums them. */
const micros = (column: string) => sql.raw(`extract(epoch from ${column} - timestamptz '1970-01-01 00:00:00+00') * 1000000`)

/** The window's snapshots, from the baseline one before it: their span, and what their rows should add up to. */
interface SnapshotSpan {
  lo: string | null; hi: string | null; lo_ms: number; hi_ms: number
  snapshots: number; times: number; expected: string; time_sum: string
}

/**
 * Lives from process_lives_1h for the hours wholly inside the snapshots' span, and from raw rows for the part
 * hours at its edges. Exact when every row sits at its snapshot's time (the rows counted and their summed
 * times say so) and no two snapshots share a time; otherwise undefined, and the caller reads by snapshot.
 */
async function readLives(db: Kysely<Database>, req: ChangesRequest): Promise<ChangesPage | undefined> {
  const { orgId, agentId, start, end } = req
  // The baseline by itself: a lower bound known only at run time would have every older chunk decompressed.
  const { rows: [span] } = await sql<SnapshotSpan>`
    with snaps as (
      select time, total_processes from process_snapshots
      where org_id = ${orgId} and agent_id = ${agentId} and time >= ${start} and time < ${end}
      union all
      select time, total_processes from process_snapshots
      where org_id = ${orgId} and agent_id = ${agentId} and time < ${start}
        and time = (select max(time) from process_snapshots where org_id = ${orgId} and agent_id = ${agentId} and time < ${start})
    )
    select min(time)::text as lo, max(time)::text as hi,
           (extract(epoch from min(time)) * 1000)::float8 as lo_ms, (extract(epoch from max(time)) * 1000)::float8 as hi_ms,
           count(*)::int4 as snapshots, count(distinct time)::int4 as times,
           coalesce(sum(total_processes), 0)::text as expected, coalesce(sum(total_processes * ${micros('time')}), 0)::text as time_sum
    from snaps`.execute(db)
  if (span.lo === null || span.hi === null) return { total: 0, rows_read: 0, rows_expected: 0, page: [] }
  if (span.times !== span.snapshots) return undefined
  const lo = sql`${span.lo}::timestamptz`
  const hi = sql`${span.hi}::timestamptz`
  // Whole hours [first, last): every row of them is inside the span.
  const first = Math.ceil(span.lo_ms / HOUR_MS) * HOUR_MS
  const last = Math.floor(span.hi_ms / HOUR_MS) * HOUR_MS
  const whole = first < last
  const edges = whole
    ? [...(span.lo_ms < first ? [sql`m.time >= ${lo} and m.time < ${new Date(first)}`] : []), sql`m.time >= ${new Date(last)} and m.time <= ${hi}`]
    : [sql`m.time >= ${lo} and m.time <= ${hi}`]
  const raw = edges.map((range) => sql`
    select m.pid, m.create_time, ${commandKey('m')} as command_key, min(m.time) as first_seen, max(m.time) as last_seen, count(*) as n,
           sum(${micros('m.time')}) as time_sum, max(m.cpu_percent) as peak_cpu_percent, max(m.memory_bytes) as peak_memory_bytes
    from process_metrics m
    where m.org_id = ${orgId} and m.agent_id = ${agentId} and ${range}
    group by 1, 2, 3`)
  const hourly = whole ? [sql`
    select pid, create_time, command_key, first_seen, last_seen, count as n, time_sum, peak_cpu_percent, peak_memory_bytes
    from process_lives_1h
    where org_id = ${orgId} and agent_id = ${agentId} and bucket >= ${new Date(first)} and bucket < ${new Date(last)}`] : []
  const { rows: [read] } = await sql<ChangesPage & { exact: boolean }>`
    with parts as (${sql.join([...hourly, ...raw], sql` union all `)}),
    lives as (
      select pid, create_time, command_key, min(first_seen) as first_seen, max(last_seen) as last_seen, sum(n) as n,
             sum(time_sum) as time_sum, max(peak_cpu_percent) as peak_cpu_percent, max(peak_memory_bytes) as peak_memory_bytes
      from parts group by 1, 2, 3
    ),
    -- The first snapshot after each life's last one, in one sorted pass rather than a join the planner
    -- (counting on the aggregate's sparse statistics) would run as a nested loop.
    timeline as (
      select false as is_snapshot, last_seen as time, l.* from lives l where l.first_seen > ${lo} or l.last_seen < ${hi}
      union all
      select true, time, null, null, null, null, null, null, null, null, null
      from process_snapshots where org_id = ${orgId} and agent_id = ${agentId} and time >= ${lo} and time <= ${hi}
    ),
    changed as (
      select pid, create_time, command_key, first_seen, last_seen, peak_cpu_percent, peak_memory_bytes, first_seen > ${lo} as started,
             case when last_seen < ${hi} then next_snapshot end as ended_before
      from (select *, min(time) filter (where is_snapshot) over (order by time desc, is_snapshot) as next_snapshot from timeline) t
      where not is_snapshot
    ),
    page as (
      select * from changed order by coalesce(ended_before, first_seen) desc, pid, create_time limit ${req.limit} offset ${req.offset}
    ),
    detailed as (
      -- Name, command line, user and parent as last seen: one row each, read at its own time.
      select p.*, d.name, d.cmdline, d.username, d.parent_pid
      from page p cross join lateral (
        select name, cmdline, username, parent_pid from process_metrics d
        where d.org_id = ${orgId} and d.agent_id = ${agentId} and d.time = p.last_seen and d.pid = p.pid
          and d.create_time is not distinct from p.create_time
          and (p.create_time is not null or ${commandKey('d')} = p.command_key)
          -- Known bounds let the planner leave out every other chunk (a plan over all of them took 50 ms).
          and d.time >= ${lo} and d.time <= ${hi}
        limit 1) d
    )
    select (select count(*) from changed) as total,
      coalesce((select sum(n) = ${span.expected}::numeric and sum(time_sum) = ${span.time_sum}::numeric from lives), false) as exact,
      ${PAGE_JSON} as page`.execute(db)
  return read.exact ? read : undefined
}

/**
 * Lives from raw rows joined to their snapshots: exact whatever times the rows carry. Rows are read at their
 * snapshots' times; a snapshot whose rows carry other times comes up short, and then the window is read again
 * a day wider on each side.
 */
async function readBySnapshot(db: Kysely<Database>, req: ChangesRequest): Promise<ChangesPage> {
  const read = await readChanges(db, req, '0 seconds')
  return (read.rows_read ?? 0) < (read.rows_expected ?? 0) ? readChanges(db, req, ITEM_SKEW) : read
}

async function readChanges(db: Kysely<Database>, req: ChangesRequest, skew: string): Promise<ChangesPage> {
  const { orgId, agentId, start, end } = req
  const { rows } = await sql<ChangesPage>`
    with snaps as (
      select snapshot_id, time, total_processes, row_number() over (order by time, snapshot_id) as seq,
             lead(time) over (order by time, snapshot_id) as next_time
      from process_snapshots
      where org_id = ${orgId} and agent_id = ${agentId} and time < ${end}
        and time >= coalesce((select max(time) from process_snapshots
                              where org_id = ${orgId} and agent_id = ${agentId} and time < ${start}), ${start}::timestamptz)
    ),
    edge as (select min(time) as lo, max(time) as hi, max(seq) as last_seq, sum(total_processes) as expected from snaps),
    lives as (
      select m.pid, m.create_time, case when m.create_time is null then m.name end as k_name,
             case when m.create_time is null then m.cmdline end as k_cmdline,
             min(s.seq) as first_seq, max(s.seq) as last_seq, max(m.time) as last_row_time, count(*) as n,
             max(m.cpu_percent) as peak_cpu_percent, max(m.memory_bytes) as peak_memory_bytes
      from process_metrics m join snaps s on s.snapshot_id = m.snapshot_id
      where m.org_id = ${orgId} and m.agent_id = ${agentId}
        and m.time >= (select lo from edge) - ${skew}::interval and m.time <= (select hi from edge) + ${skew}::interval
      group by 1, 2, 3, 4
    ),
    changed as (
      select l.*, f.time as first_seen, la.time as last_seen, l.first_seq > 1 as started,
             case when l.last_seq < e.last_seq then la.next_time end as ended_before
      from lives l cross join edge e join snaps f on f.seq = l.first_seq join snaps la on la.seq = l.last_seq
      where l.first_seq > 1 or l.last_seq < e.last_seq
    ),
    page as (
      select * from changed order by coalesce(ended_before, first_seen) desc, pid, create_time limit ${req.limit} offset ${req.offset}
    ),
    detailed as (
      -- Name, command line, user and parent as last seen: one row each, read at its own time.
      select p.*, d.name, d.cmdline, d.username, d.parent_pid
      from page p cross join lateral (
        select name, cmdline, username, parent_pid from process_metrics d
        where d.org_id = ${orgId} and d.agent_id = ${agentId} and d.time = p.last_row_time and d.pid = p.pid
          and d.create_time is not distinct from p.create_time
          and (p.create_time is not null or (d.name = p.k_name and d.cmdline = p.k_cmdline))
        limit 1) d
    )
    select (select count(*) from changed) as total, (select sum(n) from lives) as rows_read, (select expected from edge) as rows_expected,
      ${PAGE_JSON} as page`.execute(db)
  return rows[0]
}

export type BlameMetric = 'cpu' | 'memory' | 'disk_io'

/** Per raw row, what one second of it adds: CPU-seconds, resident bytes, or bytes read plus written. */
const RAW_BLAME: Record<BlameMetric, RawBuilder<unknown>> = {
  cpu: sql`m.cpu_percent / 100`,
  memory: sql`m.memory_bytes::float8`,
  disk_io: sql`(coalesce(m.read_bytes_per_sec, 0) + coalesce(m.write_bytes_per_sec, 0))`,
}
/** The same from an hour's averages (process_metrics_1h; process_io_1h for disk I/O). */
const HOURLY_BLAME: Record<BlameMetric, RawBuilder<unknown>> = {
  cpu: sql`a.cpu_percent_avg / 100`,
  memory: sql`a.memory_bytes_avg`,
  disk_io: sql`(coalesce(a.read_bytes_per_sec_avg, 0) + coalesce(a.write_bytes_per_sec_avg, 0))`,
}

export interface BlameEntry {
  name: string
  /** CPU-seconds, byte-seconds of memory, or bytes read and written, of every process of this name over the window. */
  value: number
  share_percent: number
  /** Rows behind the value (one per process per snapshot; summed counts of the aggregate). */
  samples: number
  cmdline: string | null
  username: string | null
  last_pid: number | null
}

export interface Blame {
  resolution: string
  /** The span actually summed: the window itself, or the whole hours of the aggregate that cover it. */
  start: Date
  end: Date
  total: number
  entries: BlameEntry[]
  /** Every name below the first `limit`, together, so that the shares add up to 100. */
  other: { names: number; value: number; share_percent: number }
}

interface BlameRow { name: string; value: number; samples: number; total: number; names: number }

/**
 * Process names ranked by their part of the host's CPU time or memory over [start, end): each snapshot
 * counts for the time since the snapshot before it (what the agent's CPU % was measured over), at most
 * MAX_GAP_FACTOR typical gaps. CPU: cpu_percent / 100 × seconds, in CPU-seconds (100 % is one core busy).
 * Memory: resident bytes × seconds. The host's total is the sum over every process it reported. Short
 * windows read raw snapshots; longer ones the hourly aggregate, whose whole hours then bound the window.
 */
/**
 * Blame from the hourly aggregate: each hour's rows weighted by the seconds one of its snapshots stands for
 * (a bucket's gaps add up to its span plus the gap into it). The weights come first (720 rows of
 * process_snapshots_1h for 30 days) and go back as one array indexed by hour: no join the planner could
 * get wrong (it has no row counts for a fresh aggregate, and looped 33,000 rows over 720 weights: 7 s seen).
 */
async function hourlyBlame(db: Kysely<Database>, q: AgentRef & { start: Date; end: Date; limit: number; metric: BlameMetric }): Promise<{ rows: BlameRow[] }> {
  const { orgId, agentId, start, end } = q
  const { rows: weights } = await sql<{ hour: number; seconds: number }>`
    with spans as (
      select bucket, snapshots as n, extract(epoch from last - first)::float8 as inside,
             extract(epoch from first - coalesce(lag(last) over (order by bucket), (select max(time) from process_snapshots
               where org_id = ${orgId} and agent_id = ${agentId} and time < ${start})))::float8 as lead_in
      from process_snapshots_1h where org_id = ${orgId} and agent_id = ${agentId} and bucket >= ${start} and bucket < ${end}
    ),
    typical as (select percentile_cont(0.5) within group (order by inside / (n - 1)) as gap from spans where n > 1)
    select (extract(epoch from s.bucket - ${start}::timestamptz) / 3600)::int as hour,
           coalesce((s.inside + case when s.lead_in is null then t.gap else least(s.lead_in, ${MAX_GAP_FACTOR} * t.gap) end) / s.n, 0)::float8 as seconds
    from spans s cross join typical t`.execute(db)
  const hours = Math.round((end.getTime() - start.getTime()) / 3_600_000)
  const perHour = new Array<number>(hours).fill(0)
  for (const w of weights) if (w.hour >= 0 && w.hour < hours) perHour[w.hour] = Number(w.seconds)
  return sql<BlameRow>`
    with by_name as (
      select a.name, sum(${HOURLY_BLAME[q.metric]} * a.count * coalesce((${perHour}::float8[])[(extract(epoch from a.bucket - ${start}::timestamptz) / 3600)::int + 1], 0)) as value,
             sum(a.count)::int8 as samples
      from ${sql.table(q.metric === 'disk_io' ? 'process_io_1h' : 'process_metrics_1h')} a
      where a.org_id = ${orgId} and a.agent_id = ${agentId} and a.bucket >= ${start} and a.bucket < ${end}
      group by a.name
    )
    select name, value, samples, sum(value) over () as total, count(*) over () as names
    from by_name order by value desc, name limit ${q.limit}`.execute(db)
}

export async function processBlame(db: Kysely<Database>, req: AgentRef & { metric: BlameMetric; start: Date; end: Date; limit: number }): Promise<Blame> {
  const { orgId, agentId, limit } = req
  const latest = await latestProcessSnapshot(db, req)
  const level = resolutionForRange({ family: 'process', start: req.start, end: req.end, rowsPerSample: Math.max(1, latest?.total_processes ?? 1) })
  const raw = level.nativeSeconds === 0
  const HOUR = 3_600_000
  const start = raw ? req.start : new Date(Math.floor(req.start.getTime() / HOUR) * HOUR)
  const end = raw ? req.end : new Date(Math.ceil(req.end.getTime() / HOUR) * HOUR)
  // The baseline snapshot gives the first one in the window its gap.
  const gaps = sql`
    snaps as (
      select snapshot_id, time, extract(epoch from time - lag(time) over (order by time, snapshot_id))::float8 as gap
      from process_snapshots
      where org_id = ${orgId} and agent_id = ${agentId} and time < ${end}
        and time >= coalesce((select max(time) from process_snapshots
                              where org_id = ${orgId} and agent_id = ${agentId} and time < ${start}), ${start}::timestamptz)
    ),
    typical as (select percentile_cont(0.5) within group (order by gap) as gap from snaps),
    weights as (
      select s.snapshot_id, s.time, coalesce(case when s.gap is null then t.gap else least(s.gap, ${MAX_GAP_FACTOR} * t.gap) end, 0) as seconds
      from snaps s cross join typical t where s.time >= ${start}
    )`
  const ranked = raw
    ? await sql<BlameRow>`
        with ${gaps},
        by_name as (
          select m.name, sum(${RAW_BLAME[req.metric]} * w.seconds) as value, count(*) as samples
          from process_metrics m join weights w on w.snapshot_id = m.snapshot_id
          where m.org_id = ${orgId} and m.agent_id = ${agentId} and m.time >= ${start} and m.time < ${end}
          group by m.name
        )
        select name, value, samples, sum(value) over () as total, count(*) over () as names
        from by_name order by value desc, name limit ${limit}`.execute(db)
    : await hourlyBlame(db, { orgId, agentId, start, end, limit, metric: req.metric })
  const rows = ranked.rows
  const total = rows.length > 0 ? Number(rows[0].total) : 0
  const names = rows.length > 0 ? Number(rows[0].names) : 0
  const share = (v: number) => (total > 0 ? (v / total) * 100 : 0)
  const detailOf = await newestByName(db, { orgId, agentId, start, end }, rows.map((r) => r.name))
  const entries = rows.map((r) => {
    const d = detailOf.get(r.name)
    return {
      name: r.name, value: Number(r.value), share_percent: share(Number(r.value)), samples: Number(r.samples),
      cmdline: d?.cmdline ?? null, username: d?.username ?? null, last_pid: d?.pid ?? null,
    }
  })
  const otherValue = Math.max(0, total - entries.reduce((s, e) => s + e.value, 0))
  return {
    resolution: level.label, start, end, total, entries,
    other: { names: names - entries.length, value: otherValue, share_percent: names > entries.length ? share(otherValue) : 0 },
  }
}
