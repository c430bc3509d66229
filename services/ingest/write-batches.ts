// The ingest → store interface: a request's batches are written in one transaction, all or nothing,
// column-wise through unnest() (one statement per table, whatever the row count).
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely'
import type { Database } from '../store/database.ts'
import type { IngestAccepted, IngestBatch } from '../../contract/ingest-batch.ts'

export interface IngestingAgent { id: string; org_id: string }

/** The time span of the rows one request wrote into one table (what the store's late-data refresh needs). */
export interface WrittenSpan { table: string; min: Date; max: Date }

/** Collects each table's oldest and newest row time as the rows are inserted. */
class WrittenSpans {
  private readonly spans = new Map<string, { min: number; max: number }>()

  add(table: string, rows: ReadonlyArray<{ time: string }>): void {
    let min = Infinity
    let max = -Infinity
    for (const r of rows) {
      const t = Date.parse(r.time)
      if (t < min) min = t
      if (t > max) max = t
    }
    if (min > max) return
    const had = this.spans.get(table)
    this.spans.set(table, had ? { min: Math.min(had.min, min), max: Math.max(had.max, max) } : { min, max })
  }

  list(): WrittenSpan[] {
    return [...this.spans].map(([table, s]) => ({ table, min: new Date(s.min), max: new Date(s.max) }))
  }
}

/** One column of a table as ingest writes it: its name, its array type for unnest(), and where its value comes from. */
interface Column<R> {
  name: string
  type: 'timestamptz' | 'text' | 'float8' | 'int8' | 'int4' | 'bool' | 'uuid' | 'jsonb'
  value: (row: R) => unknown
  /** Times are kept to the millisecond: the API speaks JavaScript dates. */
  millis?: boolean
}

/** Each table's columns, stated once; `time`, `org_id` and `agent_id` are added to every row. */
type TableSpec<R> = Array<Column<R>>

/**
 * `insert into <table> (time, org_id, agent_id, <columns>) select … from unnest(<one array per column>)`.
 * Identifiers come from the specs below, never from input; every value is a parameter.
 */
function insertRows<R extends { time: string }>(agent: IngestingAgent, table: string, spec: TableSpec<R>, rows: R[], written: WrittenSpans): RawBuilder<unknown> {
  written.add(table, rows)
  const columns: TableSpec<R> = [{ name: 'time', type: 'timestamptz', value: (r) => r.time, millis: true }, ...spec]
  const arrays = columns.map((c) => {
    const values = new Array(rows.length)
    for (let i = 0; i < rows.length; i++) values[i] = c.value(rows[i]) ?? null
    // jsonb travels as text and is cast per element: pg would send a JS array of objects as one JSON value.
    return c.type === 'jsonb' ? sql`${values.map((v) => v === null ? null : JSON.stringify(v))}::text[]` : sql`${values}::${sql.raw(c.type)}[]`
  })
  const names = columns.map((c) => sql.raw(`"${c.name}"`))
  const selected = columns.map((c) => {
    const ref = sql.raw(`u."${c.name}"`)
    if (c.type === 'jsonb') return sql`${ref}::jsonb`
    return c.millis ? sql`date_trunc('milliseconds', ${ref})` : ref
  })
  return sql`insert into ${sql.raw(table)} (time, org_id, agent_id, ${sql.join(names.slice(1))})
    select ${selected[0]}, ${agent.org_id}::uuid, ${agent.id}::uuid, ${sql.join(selected.slice(1))}
    from unnest(${sql.join(arrays)}) as u(${sql.join(names)})`
}

// Items inherit their batch's time unless they carry their own.
interface Timed<T> { time: string; item: T }
type ItemKey = 'metrics' | 'disks' | 'networks' | 'processes' | 'sessions' | 'containers' | 'logs'
type Item<K extends ItemKey> = Timed<NonNullable<IngestBatch[K]>[number]>
function flatten<K extends ItemKey>(batches: IngestBatch[], key: K): Item<K>[] {
  const out: Item<K>[] = []
  for (const b of batches) {
    for (const item of b[key] ?? []) out.push({ time: ('time' in item ? item.time : undefined) ?? b.time, item })
  }
  return out
}

const METRIC_COLUMNS: TableSpec<Item<'metrics'>> = [
  { name: 'metric_type', type: 'text', value: (r) => r.item.metric_type },
  { name: 'metric_name', type: 'text', value: (r) => r.item.metric_name },
  { name: 'value', type: 'float8', value: (r) => r.item.value },
  { name: 'tags', type: 'jsonb', value: (r) => r.item.tags ?? {} },
]
const DISK_COLUMNS: TableSpec<Item<'disks'>> = [
  { name: 'device', type: 'text', value: (r) => r.item.device },
  { name: 'mount_point', type: 'text', value: (r) => r.item.mount_point },
  { name: 'filesystem', type: 'text', value: (r) => r.item.filesystem },
  { name: 'total_bytes', type: 'int8', value: (r) => r.item.total_bytes },
  { name: 'used_bytes', type: 'int8', value: (r) => r.item.used_bytes },
  { name: 'available_bytes', type: 'int8', value: (r) => r.item.available_bytes },
  { name: 'usage_percent', type: 'float8', value: (r) => r.item.usage_percent },
  { name: 'inodes_total', type: 'int8', value: (r) => r.item.inodes_total },
  { name: 'inodes_used', type: 'int8', value: (r) => r.item.inodes_used },
  { name: 'inodes_percent', type: 'float8', value: (r) => r.item.inodes_percent },
  { name: 'read_bytes_per_sec', type: 'float8', value: (r) => r.item.read_bytes_per_sec },
  { name: 'write_bytes_per_sec', type: 'float8', value: (r) => r.item.write_bytes_per_sec },
  { name: 'read_ops_per_sec', type: 'float8', value: (r) => r.item.read_ops_per_sec },
  { name: 'write_ops_per_sec', type: 'float8', value: (r) => r.item.write_ops_per_sec },
  { name: 'io_util_percent', type: 'float8', value: (r) => r.item.io_util_percent },
]
const NETWORK_COLUMNS: TableSpec<Item<'networks'>> = [
  { name: 'interface', type: 'text', value: (r) => r.item.interface },
  { name: 'bytes_sent', type: 'int8', value: (r) => r.item.bytes_sent },
  { name: 'bytes_recv', type: 'int8', value: (r) => r.item.bytes_recv },
  { name: 'packets_sent', type: 'int8', value: (r) => r.item.packets_sent },
  { name: 'packets_recv', type: 'int8', value: (r) => r.item.packets_recv },
  { name: 'errors_in', type: 'int8', value: (r) => r.item.errors_in ?? 0 },
  { name: 'errors_out', type: 'int8', value: (r) => r.item.errors_out ?? 0 },
  { name: 'drop_in', type: 'int8', value: (r) => r.item.drop_in ?? 0 },
  { name: 'drop_out', type: 'int8', value: (r) => r.item.drop_out ?? 0 },
  { name: 'is_up', type: 'bool', value: (r) => r.item.is_up ?? true },
  { name: 'bytes_sent_per_sec', type: 'float8', value: (r) => r.item.bytes_sent_per_sec },
  { name: 'bytes_recv_per_sec', type: 'float8', value: (r) => r.item.bytes_recv_per_sec },
  { name: 'packets_sent_per_sec', type: 'float8', value: (r) => r.item.packets_sent_per_sec },
  { name: 'packets_recv_per_sec', type: 'float8', value: (r) => r.item.packets_recv_per_sec },
]
type ProcessRow = Item<'processes'> & { snapshot: number | undefined }
const PROCESS_COLUMNS: TableSpec<ProcessRow> = [
  { name: 'snapshot_id', type: 'int8', value: (r) => r.snapshot },
  { name: 'pid', type: 'int4', value: (r) => r.item.pid },
  { name: 'parent_pid', type: 'int4', value: (r) => r.item.parent_pid },
  { name: 'name', type: 'text', value: (r) => r.item.name },
  { name: 'cmdline', type: 'text', value: (r) => r.item.cmdline ?? '' },
  { name: 'username', type: 'text', value: (r) => r.item.username },
  { name: 'status', type: 'text', value: (r) => r.item.status },
  { name: 'cpu_percent', type: 'float8', value: (r) => r.item.cpu_percent },
  { name: 'memory_bytes', type: 'int8', value: (r) => r.item.memory_bytes },
  { name: 'memory_vms', type: 'int8', value: (r) => r.item.memory_vms },
  { name: 'memory_percent', type: 'float8', value: (r) => r.item.memory_percent },
  { name: 'num_threads', type: 'int4', value: (r) => r.item.num_threads },
  { name: 'create_time', type: 'timestamptz', value: (r) => r.item.create_time, millis: true },
]
const SESSION_COLUMNS: TableSpec<Item<'sessions'>> = [
  { name: 'username', type: 'text', value: (r) => r.item.user },
  { name: 'terminal', type: 'text', value: (r) => r.item.terminal },
  { name: 'host', type: 'text', value: (r) => r.item.host },
  { name: 'pid', type: 'int4', value: (r) => r.item.pid },
  { name: 'login_time', type: 'timestamptz', value: (r) => r.item.login_time, millis: true },
]
const CONTAINER_COLUMNS: TableSpec<Item<'containers'>> = [
  { name: 'container_id', type: 'text', value: (r) => r.item.id },
  { name: 'name', type: 'text', value: (r) => r.item.name },
  { name: 'image', type: 'text', value: (r) => r.item.image },
  { name: 'state', type: 'text', value: (r) => r.item.state },
  { name: 'cpu_percent', type: 'float8', value: (r) => r.item.cpu_percent },
  { name: 'memory_bytes', type: 'int8', value: (r) => r.item.memory_bytes },
  { name: 'memory_limit_bytes', type: 'int8', value: (r) => r.item.memory_limit_bytes },
  { name: 'memory_percent', type: 'float8', value: (r) => r.item.memory_percent },
  { name: 'rx_bytes', type: 'int8', value: (r) => r.item.rx_bytes },
  { name: 'tx_bytes', type: 'int8', value: (r) => r.item.tx_bytes },
]

const LOG_COLUMNS: TableSpec<Item<'logs'>> = [
  { name: 'source', type: 'text', value: (r) => r.item.source },
  { name: 'level', type: 'text', value: (r) => r.item.level },
  { name: 'message', type: 'text', value: (r) => r.item.message },
  { name: 'fields', type: 'jsonb', value: (r) => r.item.fields ?? {} },
]

/** One point: a series (type, name, tags in any key order) at one millisecond. */
function pointKey(r: Item<'metrics'>): string {
  const tags = r.item.tags ?? {}
  const sorted = Object.keys(tags).sort().map((k) => [k, tags[k]])
  return `${Date.parse(r.time)}\u0000${r.item.metric_type}\u0000${r.item.metric_name}\u0000${JSON.stringify(sorted)}`
}

/** The unnest() of points' (time, type, name, tags), each column one array parameter. */
function pointColumns(points: Item<'metrics'>[]): RawBuilder<unknown> {
  return sql`unnest(${points.map((r) => r.time)}::timestamptz[], ${points.map((r) => r.item.metric_type)}::text[],
    ${points.map((r) => r.item.metric_name)}::text[], ${points.map((r) => JSON.stringify(r.item.tags ?? {}))}::text[])`
}

/**
 * Last write wins, as InfluxDB keeps points: of the request's rows for one point only the last is kept, and
 * the rows already stored for those points are deleted in the same transaction. Only a point at or before
 * the agent's newest stored sample (agents.last_metrics_at, which every write raises) can have a stored
 * row: new points, nearly all of them, cost nothing more (it is read with the batch claim); the others an index probe
 * each on metrics_series_time, only in the chunks their span touches (compressed chunks included).
 */
async function replaceStoredPoints(trx: Transaction<Database>, agent: IngestingAgent, rows: Item<'metrics'>[], newestStored: number): Promise<Item<'metrics'>[]> {
  const last = new Map<string, Item<'metrics'>>()
  for (const r of rows) {
    const key = pointKey(r)
    last.delete(key)
    last.set(key, r)
  }
  const points = [...last.values()]
  const again = points.filter((r) => Date.parse(r.time) <= newestStored)
  if (again.length === 0) return points
  let min = Infinity
  let max = -Infinity
  for (const r of again) {
    const t = Date.parse(r.time)
    if (t < min) min = t
    if (t > max) max = t
  }
  // The span as literals, so the planner leaves every other chunk out before it runs.
  const from = sql.lit(new Date(min - 1).toISOString())
  const to = sql.lit(new Date(max + 1).toISOString())
  await sql`delete from metrics m using ${pointColumns(again)} as p(time, metric_type, metric_name, tags)
    where m.agent_id = ${agent.id}::uuid and m.time > ${from}::timestamptz and m.time < ${to}::timestamptz
      and m.metric_type = p.metric_type and m.metric_name = p.metric_name and m.time = date_trunc('milliseconds', p.time)
      and m.tags = p.tags::jsonb`.execute(trx)
  return points
}

/** `newestStored`: with last write wins, the agent's newest stored sample time (ms; Infinity when unknown); null without. */
async function insertMetrics(trx: Transaction<Database>, agent: IngestingAgent, batches: IngestBatch[], written: WrittenSpans,
  newestStored: number | null): Promise<number> {
  const flat = flatten(batches, 'metrics')
  if (flat.length === 0) return 0
  const rows = newestStored !== null ? await replaceStoredPoints(trx, agent, flat, newestStored) : flat
  // One statement: the rows go into the hypertable, and each series' newest into metrics_latest (a replayed
  // older batch never overwrites a newer value).
  await sql`with inserted as (${insertRows(agent, 'metrics', METRIC_COLUMNS, rows, written)}
      returning time, metric_type, metric_name, value, tags)
    insert into metrics_latest (org_id, agent_id, metric_type, metric_name, tags, time, value)
    select distinct on (metric_type, metric_name, tags) ${agent.org_id}::uuid, ${agent.id}::uuid, metric_type, metric_name, tags, time, value
    from inserted order by metric_type, metric_name, tags, time desc
    on conflict (agent_id, metric_type, metric_name, tags)
      do update set time = excluded.time, value = excluded.value where excluded.time >= metrics_latest.time`.execute(trx)
  return rows.length
}

/** Disks, networks, sessions and containers: rows as they come, one statement each. */
async function insertPlain<K extends 'disks' | 'networks' | 'sessions' | 'containers' | 'logs'>(
  trx: Transaction<Database>, agent: IngestingAgent, batches: IngestBatch[], key: K, table: string, spec: TableSpec<Item<K>>,
  written: WrittenSpans,
): Promise<number> {
  const rows = flatten(batches, key)
  if (rows.length > 0) await insertRows(agent, table, spec, rows, written).execute(trx)
  return rows.length
}

/** Newest values of each container a request reports, with its first and last sample time. */
interface SeenContainer { first: Item<'containers'>; last: Item<'containers'>; image?: string; state?: string }

/**
 * Keeps the containers registry (sql/018) up to date: one statement for the whole request. Rows already
 * registered are updated and only new ones inserted, so the identity (a container's public id) is drawn
 * once per new container: ON CONFLICT DO UPDATE alone would draw one per container per batch.
 */
async function registerContainers(trx: Transaction<Database>, agent: IngestingAgent, batches: IngestBatch[]): Promise<void> {
  const seen = new Map<string, SeenContainer>()
  for (const row of flatten(batches, 'containers')) {
    const at = Date.parse(row.time)
    const s = seen.get(row.item.id)
    if (!s) { seen.set(row.item.id, { first: row, last: row, image: row.item.image, state: row.item.state }); continue }
    if (at < Date.parse(s.first.time)) s.first = row
    if (at >= Date.parse(s.last.time)) {
      s.last = row
      s.image = row.item.image ?? s.image
      s.state = row.item.state ?? s.state
    }
  }
  if (seen.size === 0) return
  const list = [...seen.values()]
  // Times truncated like the samples' own, so that a container's last_seen is the time of its newest sample.
  // `excluded` names the incoming row in both statements, so the one SET list serves both.
  const set = sql`name = case when excluded.last_seen >= containers.last_seen then excluded.name else containers.name end,
      image = case when excluded.last_seen >= containers.last_seen then coalesce(excluded.image, containers.image) else containers.image end,
      state = case when excluded.last_seen >= containers.last_seen then coalesce(excluded.state, containers.state) else containers.state end,
      first_seen = least(containers.first_seen, excluded.first_seen),
      last_seen = greatest(containers.last_seen, excluded.last_seen)`
  await sql`with incoming as (
      select u.container_id, u.name, u.image, u.state,
             date_trunc('milliseconds', u.first_seen) as first_seen, date_trunc('milliseconds', u.last_seen) as last_seen
      from unnest(${list.map((c) => c.last.item.id)}::text[], ${list.map((c) => c.last.item.name)}::text[],
        ${list.map((c) => c.image ?? null)}::text[], ${list.map((c) => c.state ?? null)}::text[],
        ${list.map((c) => c.first.time)}::timestamptz[], ${list.map((c) => c.last.time)}::timestamptz[])
        as u(container_id, name, image, state, first_seen, last_seen)),
    updated as (
      update containers set ${set}
      from incoming as excluded
      where containers.agent_id = ${agent.id}::uuid and containers.container_id = excluded.container_id)
    insert into containers (org_id, agent_id, container_id, name, image, state, first_seen, last_seen)
    select ${agent.org_id}::uuid, ${agent.id}::uuid, i.container_id, i.name, i.image, i.state, i.first_seen, i.last_seen
    from incoming i
    where not exists (select 1 from containers c where c.agent_id = ${agent.id}::uuid and c.container_id = i.container_id)
    order by i.first_seen, i.container_id
    on conflict (agent_id, container_id) do update set ${set}`.execute(trx)
}

/** Stores each batch's process list as one snapshot; answers the snapshot id of each batch id. */
async function insertProcesses(trx: Transaction<Database>, agent: IngestingAgent, batches: IngestBatch[], written: WrittenSpans): Promise<Map<string, number>> {
  const withProcesses = batches.filter((b) => (b.processes?.length ?? 0) > 0)
  if (withProcesses.length === 0) return new Map()
  // One snapshot per collected process list: its id ties the rows of one tree together.
  const snaps = await sql<{ batch_id: string; snapshot_id: number }>`
    insert into process_snapshots (time, org_id, agent_id, batch_id, total_processes)
    select date_trunc('milliseconds', t), ${agent.org_id}::uuid, ${agent.id}::uuid, b, n
    from unnest(${withProcesses.map((b) => b.time)}::timestamptz[], ${withProcesses.map((b) => b.batch_id)}::uuid[],
      ${withProcesses.map((b) => b.processes!.length)}::int4[]) as u(t, b, n)
    returning batch_id, snapshot_id`.execute(trx)
  const snapshotOf = new Map(snaps.rows.map((r) => [r.batch_id, r.snapshot_id]))
  const rows: ProcessRow[] = withProcesses.flatMap((b) => b.processes!.map((item) => ({ time: item.time ?? b.time, snapshot: snapshotOf.get(b.batch_id), item })))
  await insertRows(agent, 'process_metrics', PROCESS_COLUMNS, rows, written).execute(trx)
  return snapshotOf
}

const rowCount = (b: IngestBatch) => (b.metrics?.length ?? 0) + (b.disks?.length ?? 0) + (b.networks?.length ?? 0)
  + (b.processes?.length ?? 0) + (b.sessions?.length ?? 0) + (b.containers?.length ?? 0) + (b.logs?.length ?? 0)

/** The newest sample time of a request: batch times and the metrics' own times. */
function latestMetricTime(batches: IngestBatch[]): Date {
  let max = 0
  for (const b of batches) {
    max = Math.max(max, Date.parse(b.time))
    for (const m of b.metrics ?? []) if (m.time) max = Math.max(max, Date.parse(m.time))
  }
  return new Date(max)
}

/**
 * What was stored, the process snapshot each fresh batch's process list became (for the faces that answer it),
 * and the time span written per table.
 */
export interface StoredBatches extends IngestAccepted { snapshots: Map<string, number>; written: WrittenSpan[] }

export interface WriteOptions {
  /** One point per series and instant: a metrics row already stored for it is replaced (see IngestOptions). */
  lastWriteWins?: boolean
}

export async function writeBatches(db: Kysely<Database>, agent: IngestingAgent, batches: IngestBatch[], options: WriteOptions = {}): Promise<StoredBatches> {
  return db.transaction().execute(async (trx) => {
    // Claim the batch ids first: one already stored is acknowledged again and stores nothing twice.
    // Batch ids are compared in one spelling (uuids arrive in either case).
    const unique = [...new Map(batches.map((b) => [b.batch_id.toLowerCase(), { ...b, batch_id: b.batch_id.toLowerCase() }])).values()]
    const claim = sql`insert into ingest_batches (batch_id, org_id, agent_id, batch_time, row_count)
      select b, ${agent.org_id}::uuid, ${agent.id}::uuid, date_trunc('milliseconds', t), n
      from unnest(${unique.map((b) => b.batch_id)}::uuid[], ${unique.map((b) => b.time)}::timestamptz[],
        ${unique.map(rowCount)}::int4[]) as u(b, t, n)
      on conflict (agent_id, batch_id) do nothing
      returning batch_id`
    // Last write wins needs the agent's newest stored sample, read in the same statement and locked: a
    // concurrent write of this agent (a retry racing its original) waits here, then sees what it committed.
    const claimed = options.lastWriteWins
      ? await sql<{ batch_id: string | null; newest: Date | null }>`
          with newest as (select last_metrics_at from agents where id = ${agent.id}::uuid for update), claimed as (${claim})
          select batch_id, null::timestamptz as newest from claimed union all select null, last_metrics_at from newest`.execute(trx)
      : await sql<{ batch_id: string | null; newest: Date | null }>`${claim}`.execute(trx)
    const newestRow = claimed.rows.find((r) => r.batch_id === null)
    const newestStored = newestRow?.newest ? newestRow.newest.getTime() : Infinity
    const fresh = new Set(claimed.rows.flatMap((r) => (r.batch_id === null ? [] : [r.batch_id])))
    const todo = unique.filter((b) => fresh.has(b.batch_id))
    const written = new WrittenSpans()
    const snapshots = await insertProcesses(trx, agent, todo, written)
    await registerContainers(trx, agent, todo)
    const rows = {
      metrics: await insertMetrics(trx, agent, todo, written, options.lastWriteWins ? newestStored : null),
      disks: await insertPlain(trx, agent, todo, 'disks', 'disk_metrics', DISK_COLUMNS, written),
      networks: await insertPlain(trx, agent, todo, 'networks', 'network_metrics', NETWORK_COLUMNS, written),
      processes: todo.reduce((n, b) => n + (snapshots.has(b.batch_id) ? b.processes!.length : 0), 0),
      sessions: await insertPlain(trx, agent, todo, 'sessions', 'user_sessions', SESSION_COLUMNS, written),
      containers: await insertPlain(trx, agent, todo, 'containers', 'container_metrics', CONTAINER_COLUMNS, written),
      logs: await insertPlain(trx, agent, todo, 'logs', 'logs', LOG_COLUMNS, written),
    }
    const host = [...batches].reverse().find((b) => b.host)?.host
    const now = new Date()
    await trx.updateTable('agents').set({
      last_seen_at: now,
      ...(todo.length > 0 ? { last_metrics_at: sql<Date>`greatest(last_metrics_at, ${latestMetricTime(todo)}::timestamptz)` } : {}),
      ...(host ? {
        hostname: host.hostname, ip_address: host.ip_address ?? null, os: host.os ?? null,
        os_version: host.os_version ?? null, agent_version: host.agent_version ?? null, inventory: JSON.stringify(host),
        updated_at: now,
      } : {}),
    }).where('id', '=', agent.id).execute()
    return {
      accepted_batches: todo.length, duplicate_batches: batches.length - todo.length, rows,
      batch_ids: todo.map((b) => b.batch_id), snapshots, written: written.list(),
    }
  })
}
