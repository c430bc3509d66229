// Process reads: an agent's latest snapshot with its processes, and the processes that used the most CPU or
// memory over a window. No request here: callers pass the organization, agent and parameters.
import { sql, type Kysely, type Selectable } from 'kysely'
import type { Database, ProcessMetricsTable, ProcessSnapshotsTable } from '../store/database.ts'
import { resolutionForRange } from './resolution-for-range.ts'

/** One agent of one organization. */
export interface AgentRef { orgId: string; agentId: string }

export type ProcessSnapshot = Pick<Selectable<ProcessSnapshotsTable>, 'snapshot_id' | 'time' | 'total_processes'>

const SNAPSHOT_PROCESS_COLUMNS = ['pid', 'parent_pid', 'name', 'cmdline', 'username', 'status', 'cpu_percent', 'memory_percent', 'memory_bytes',
  'memory_vms', 'num_threads', 'create_time', 'read_bytes_per_sec', 'write_bytes_per_sec', 'open_fds'] as const
export type SnapshotProcess = Pick<Selectable<ProcessMetricsTable>, (typeof SNAPSHOT_PROCESS_COLUMNS)[number]>

/** The newest snapshot, or with `at` the one taken at or just before it. */
export async function latestProcessSnapshot(db: Kysely<Database>, ref: AgentRef, at?: Date): Promise<ProcessSnapshot | undefined> {
  return db.selectFrom('process_snapshots').select(['snapshot_id', 'time', 'total_processes'])
    .where('org_id', '=', ref.orgId).where('agent_id', '=', ref.agentId).$if(at !== undefined, (q) => q.where('time', '<=', at!))
    .orderBy('time', 'desc').limit(1).executeTakeFirst()
}

/** The newest snapshot (or the one at or just before `at`) and its processes (unordered), or undefined when there is none. */
export async function readLatestSnapshotProcesses(db: Kysely<Database>, ref: AgentRef, at?: Date): Promise<{ snapshot: ProcessSnapshot; processes: SnapshotProcess[] } | undefined> {
  const snapshot = await latestProcessSnapshot(db, ref, at)
  if (!snapshot) return undefined
  // Rows nearly always carry the snapshot's own time: reading just that instant skips a day of
  // (possibly compressed) rows either side; only a snapshot that comes up short is read the wide way.
  const exact = await db.selectFrom('process_metrics').select(SNAPSHOT_PROCESS_COLUMNS)
    .where('org_id', '=', ref.orgId).where('agent_id', '=', ref.agentId).where('time', '=', snapshot.time)
    .where('snapshot_id', '=', snapshot.snapshot_id).execute()
  if (exact.length >= snapshot.total_processes) return { snapshot, processes: exact }
  const [processes] = await readSnapshotsProcesses(db, ref, [snapshot])
  return { snapshot, processes }
}

/** A page of the agent's snapshots, newest first, and how many it has. */
export async function listProcessSnapshots(db: Kysely<Database>, ref: AgentRef, page: { limit: number; offset: number }): Promise<{ snapshots: ProcessSnapshot[]; total: number }> {
  const base = db.selectFrom('process_snapshots').where('org_id', '=', ref.orgId).where('agent_id', '=', ref.agentId)
  const [{ total }] = await base.select((eb) => eb.fn.countAll<number>().as('total')).execute()
  const snapshots = await base.select(['snapshot_id', 'time', 'total_processes'])
    .orderBy('time', 'desc').orderBy('snapshot_id', 'desc').limit(page.limit).offset(page.offset).execute()
  return { snapshots, total: Number(total) }
}

/** The processes of each snapshot (unordered), in the snapshots' order, in one query. */
export async function readSnapshotsProcesses(db: Kysely<Database>, ref: AgentRef, snapshots: ProcessSnapshot[]): Promise<SnapshotProcess[][]> {
  if (snapshots.length === 0) return []
  const times = snapshots.map((s) => s.time.getTime())
  const rows = await db.selectFrom('process_metrics').select(['snapshot_id', ...SNAPSHOT_PROCESS_COLUMNS])
    .where('org_id', '=', ref.orgId).where('agent_id', '=', ref.agentId)
    .where('snapshot_id', 'in', snapshots.map((s) => s.snapshot_id))
    // Rows of one snapshot may carry their own times, within a day of it (ingest enforces that).
    .where('time', '>=', new Date(Math.min(...times) - 86_400_000)).where('time', '<=', new Date(Math.max(...times) + 86_400_000))
    .execute()
  const bySnapshot = new Map<number, SnapshotProcess[]>(snapshots.map((s) => [Number(s.snapshot_id), []]))
  for (const { snapshot_id, ...process } of rows) bySnapshot.get(Number(snapshot_id))?.push(process)
  return snapshots.map((s) => bySnapshot.get(Number(s.snapshot_id)) ?? [])
}

export type TopProcessesBy = 'cpu' | 'memory' | 'disk_io'
export type TopProcessesStat = 'avg' | 'max'
/** `process`: each process on its own (pid and start time); `name`: every process of a name together. */
export type TopProcessesGroup = 'process' | 'name'

interface RankedRow {
  name: string; avg_cpu_percent: number; max_cpu_percent: number; avg_memory_bytes: number; max_memory_bytes: number
  avg_memory_percent: number; samples: number
  /** Bytes read plus written per second (null where the agent could not read the process's I/O). */
  avg_io_bytes_per_sec: number | null; max_io_bytes_per_sec: number | null
  avg_read_bytes_per_sec: number | null; avg_write_bytes_per_sec: number | null
}

/** The raw-row I/O statistics of a group of rows. */
const RAW_IO = sql`avg(read_bytes_per_sec + write_bytes_per_sec)::float8 as avg_io_bytes_per_sec,
  max(read_bytes_per_sec + write_bytes_per_sec)::float8 as max_io_bytes_per_sec,
  avg(read_bytes_per_sec)::float8 as avg_read_bytes_per_sec, avg(write_bytes_per_sec)::float8 as avg_write_bytes_per_sec`

/** A process (or a name's processes) with its statistics over the window; pid and start time for one process. */
export interface TopProcess extends RankedRow {
  cmdline: string | null; username: string | null; last_pid: number | null; last_seen: Date | null
  pid: number | null; started_at: Date | null; first_seen: Date | null
}

/**
 * The `limit` processes (or names) ranked by `stat` of `by` over [start, end), highest first. Short windows
 * read raw rows, where each process is itself (pid and create time, or pid and command when the agent sends
 * no create time); longer ones the hourly aggregate, which keeps names only: there `group` is `name` whatever
 * was asked, and the answer says so.
 */
export async function topProcesses(db: Kysely<Database>, req: AgentRef & {
  by: TopProcessesBy; stat: TopProcessesStat; start: Date; end: Date; limit: number; group: TopProcessesGroup
}): Promise<{ resolution: string; group: TopProcessesGroup; processes: TopProcess[] }> {
  const { orgId, agentId, start, end, limit } = req
  const latest = await latestProcessSnapshot(db, req)
  const level = resolutionForRange({ family: 'process', start, end, rowsPerSample: Math.max(1, latest?.total_processes ?? 1) })
  const field = req.by === 'cpu' ? 'cpu_percent' : req.by === 'memory' ? 'memory_bytes' : 'io_bytes_per_sec'
  const order = sql.ref(`${req.stat}_${field}`)
  if (level.nativeSeconds === 0 && req.group === 'process') {
    const { rows } = await sql<RankedRow & { pid: number; started_at: Date | null; first_seen: Date; last_seen: Date; cmdline: string; username: string | null }>`
      select pid, create_time as started_at, last(name, time) as name, last(cmdline, time) as cmdline, last(username, time) as username,
             min(time) as first_seen, max(time) as last_seen,
             avg(cpu_percent)::float8 as avg_cpu_percent, max(cpu_percent)::float8 as max_cpu_percent,
             avg(memory_bytes)::float8 as avg_memory_bytes, max(memory_bytes)::float8 as max_memory_bytes,
             avg(memory_percent)::float8 as avg_memory_percent, count(*) as samples, ${RAW_IO}
      from process_metrics
      where org_id = ${orgId} and agent_id = ${agentId} and time >= ${start} and time < ${end}
      group by pid, create_time, case when create_time is null then name || ' ' || cmdline end
      order by ${order} desc nulls last, pid limit ${limit}`.execute(db)
    return {
      resolution: level.label, group: 'process',
      processes: rows.map((r) => ({ ...r, samples: Number(r.samples), last_pid: r.pid, cmdline: r.cmdline || null })),
    }
  }
  // Raw rows rank short windows exactly; a process list adds ~100 rows per sample, so longer windows rank
  // from the hourly aggregate. Either way the command line and user shown are the newest in the window.
  const ranked = level.nativeSeconds === 0
    ? await sql<RankedRow>`
        select name, avg(cpu_percent)::float8 as avg_cpu_percent, max(cpu_percent)::float8 as max_cpu_percent,
               avg(memory_bytes)::float8 as avg_memory_bytes, max(memory_bytes)::float8 as max_memory_bytes,
               avg(memory_percent)::float8 as avg_memory_percent, count(*) as samples, ${RAW_IO}
        from process_metrics
        where org_id = ${orgId} and agent_id = ${agentId} and time >= ${start} and time < ${end}
        group by name order by ${order} desc nulls last, name limit ${limit}`.execute(db)
    // I/O from process_io_1h, by the same hours and names, when ranking by it (the join is not paid otherwise:
    // the I/O figures are then null); an hour's peak is its read peak plus its write peak (an upper bound).
    : await sql<RankedRow>`
        select p.name, (sum(p.cpu_percent_avg * p.count) / sum(p.count))::float8 as avg_cpu_percent, max(p.cpu_percent_max) as max_cpu_percent,
               (sum(p.memory_bytes_avg * p.count) / sum(p.count))::float8 as avg_memory_bytes, max(p.memory_bytes_max) as max_memory_bytes,
               (sum(p.memory_percent_avg * p.count) / sum(p.count))::float8 as avg_memory_percent, sum(p.count)::int8 as samples,
               ${req.by === 'disk_io' ? sql`
               (sum((i.read_bytes_per_sec_avg + i.write_bytes_per_sec_avg) * i.count) / nullif(sum(i.count), 0))::float8 as avg_io_bytes_per_sec,
               max(i.read_bytes_per_sec_max + i.write_bytes_per_sec_max)::float8 as max_io_bytes_per_sec,
               (sum(i.read_bytes_per_sec_avg * i.count) / nullif(sum(i.count), 0))::float8 as avg_read_bytes_per_sec,
               (sum(i.write_bytes_per_sec_avg * i.count) / nullif(sum(i.count), 0))::float8 as avg_write_bytes_per_sec` : sql`
               null::float8 as avg_io_bytes_per_sec, null::float8 as max_io_bytes_per_sec, null::float8 as avg_read_bytes_per_sec,
               null::float8 as avg_write_bytes_per_sec`}
        from process_metrics_1h p
        ${req.by === 'disk_io' ? sql`left join process_io_1h i on i.org_id = p.org_id and i.agent_id = p.agent_id and i.bucket = p.bucket and i.name = p.name` : sql``}
        where p.org_id = ${orgId} and p.agent_id = ${agentId} and p.bucket >= time_bucket('1 hour', ${start}::timestamptz) and p.bucket < ${end}
        group by p.name order by ${order} desc nulls last, p.name limit ${limit}`.execute(db)
  const detailOf = await newestByName(db, { orgId, agentId, start, end }, ranked.rows.map((r) => r.name))
  const processes = ranked.rows.map((r) => {
    const d = detailOf.get(r.name)
    return {
      ...r, cmdline: d?.cmdline ?? null, username: d?.username ?? null, last_pid: d?.pid ?? null, last_seen: d?.time ?? null,
      pid: null, started_at: null, first_seen: null,
    }
  })
  return { resolution: level.label, group: 'name', processes }
}

export interface NewestOfName { name: string; cmdline: string; username: string | null; pid: number; time: Date }

/** For each name, the command line, user and pid of its newest row in the window's last two hours (names not seen then are absent). */
export async function newestByName(db: Kysely<Database>, req: AgentRef & { start: Date; end: Date }, names: string[]): Promise<Map<string, NewestOfName>> {
  if (names.length === 0) return new Map()
  const { rows } = await sql<NewestOfName>`
    select distinct on (name) name, cmdline, username, pid, time from process_metrics
    where org_id = ${req.orgId} and agent_id = ${req.agentId} and name = any(${names}::text[])
      and time >= ${req.start} and time < ${req.end} and time >= ${req.end}::timestamptz - interval '2 hours'
    order by name, time desc`.execute(db)
  return new Map(rows.map((d) => [d.name, d]))
}
