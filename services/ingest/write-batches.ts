// The ingest → store interface: a group of requests (one, or every request that arrived while the previous
// group was being written: ingest-group-commit.ts) is written in one transaction, column-wise through
// unnest(): one statement per table for the whole group, whatever the row count or the number of agents.
// Each request's rows carry its agent; what each request stored is answered per request.
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely'
import type { Database } from '../store/database.ts'
import { binaryArray } from '../store/binary-arrays.ts'
import type { HostInfo, IngestAccepted, IngestBatch } from '../../contract/ingest-batch.ts'

export interface IngestingAgent { id: string; org_id: string }

/** The time span of the rows one request wrote into one table (what the store's late-data refresh needs). */
export interface WrittenSpan { table: string; min: Date; max: Date }

/** Collects each table's oldest and newest row time as the rows are inserted. */
/** The earliest and latest `time` of `rows` in ms (min > max when there are none). */
function timeSpan(rows: ReadonlyArray<{ time: string }>): { min: number; max: number } {
  let min = Infinity
  let max = -Infinity
  for (const r of rows) {
    const t = Date.parse(r.time)
    if (t < min) min = t
    if (t > max) max = t
  }
  return { min, max }
}

class WrittenSpans {
  private readonly spans = new Map<string, { min: number; max: number }>()

  add(table: string, rows: ReadonlyArray<{ time: string }>): void {
    const { min, max } = timeSpan(rows)
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
 * In the one-statement write, which of the rows are kept: those whose batch the statement claimed (the CTE
 * `claimed`), or, for process rows, those whose batch's snapshot it inserted (the CTE `snapshots`, which
 * also gives their snapshot_id).
 */
type ClaimFilter = 'claimed' | 'snapshots'

/**
 * `insert into <table> (time, org_id, agent_id, <columns>) select … from unnest(<one array per column>)`.
 * Identifiers come from the specs below, never from input; every value is a parameter.
 */
function insertRows<R extends { time: string; agent: IngestingAgent; batch: string }>(table: string, spec: TableSpec<R>, rows: R[],
  filter?: ClaimFilter): RawBuilder<unknown> {
  const columns: TableSpec<R> = [
    { name: 'time', type: 'timestamptz', value: (r) => r.time, millis: true },
    { name: 'org_id', type: 'uuid', value: (r) => r.agent.org_id },
    { name: 'agent_id', type: 'uuid', value: (r) => r.agent.id },
    ...spec,
  ]
  // With the snapshots filter, snapshot_id comes from the join rather than from an array.
  const fromJoin = (c: Column<R>) => filter === 'snapshots' && c.name === 'snapshot_id'
  const carried: TableSpec<R> = [
    ...columns.filter((c) => !fromJoin(c)),
    ...filter ? [{ name: '_batch', type: 'uuid', value: (r: R) => r.batch } as Column<R>] : [],
  ]
  const arrays = carried.map((c) => {
    const values = new Array(rows.length)
    for (let i = 0; i < rows.length; i++) values[i] = c.value(rows[i]) ?? null
    // jsonb travels as text and is cast per element: pg would send a JS array of objects as one JSON value.
    if (c.type === 'jsonb') {
      const texts = values.map((v) => v === null ? null : JSON.stringify(v))
      return sql`${binaryArray('text', texts) ?? texts}::text[]`
    }
    // In binary when every value encodes exactly: the engine then parses no element (binary-arrays.ts).
    return sql`${binaryArray(c.type, values) ?? values}::${sql.raw(c.type)}[]`
  })
  const names = columns.map((c) => sql.raw(`"${c.name}"`))
  const selected = columns.map((c) => {
    if (fromJoin(c)) return sql.raw('s.snapshot_id')
    const ref = sql.raw(`u."${c.name}"`)
    if (c.type === 'jsonb') return sql`${ref}::jsonb`
    return c.millis ? sql`date_trunc('milliseconds', ${ref})` : ref
  })
  const source = sql`unnest(${sql.join(arrays)}) as u(${sql.join(carried.map((c) => sql.raw(`"${c.name}"`)))})`
  const kept = filter === 'claimed' ? sql`${source} where exists (select 1 from claimed c where c.agent_id = u.agent_id and c.batch_id = u._batch)`
    : filter === 'snapshots' ? sql`${source} join snapshots s on s.agent_id = u.agent_id and s.batch_id = u._batch`
    : source
  return sql`insert into ${sql.raw(table)} (${sql.join(names)})
    select ${sql.join(selected)}
    from ${kept}`
}

// Items inherit their batch's time unless they carry their own, and their request's agent.
interface Timed<T> { time: string; item: T; agent: IngestingAgent; request: number; batch: string }
type ItemKey = 'metrics' | 'disks' | 'networks' | 'processes' | 'sessions' | 'containers' | 'logs'
type Item<K extends ItemKey> = Timed<NonNullable<IngestBatch[K]>[number]>
function flatten<K extends ItemKey>(requests: PendingRequest[], key: K): Item<K>[] {
  const out: Item<K>[] = []
  for (const r of requests) {
    for (const b of r.todo) {
      for (const item of b[key] ?? []) out.push({ time: ('time' in item ? item.time : undefined) ?? b.time, item, agent: r.agent, request: r.index, batch: b.batch_id })
    }
  }
  return out
}

/** A request of the group: its agent, its batches not stored before (`todo`), and what it wrote. */
interface PendingRequest {
  index: number
  agent: IngestingAgent
  batches: IngestBatch[]
  options: WriteOptions
  todo: IngestBatch[]
  written: WrittenSpans
  rows: StoredBatches['rows']
  snapshots: Map<string, number>
}

/** Adds `rows` to the row count and written span of the request each came from. */
function count<R extends { time: string; request: number }>(requests: PendingRequest[], table: string, key: keyof StoredBatches['rows'], rows: R[]): void {
  const byRequest = new Map<number, R[]>()
  for (const r of rows) {
    const list = byRequest.get(r.request)
    if (list) list.push(r)
    else byRequest.set(r.request, [r])
  }
  for (const [i, list] of byRequest) {
    requests[i].rows[key] += list.length
    requests[i].written.add(table, list)
  }
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
  { name: 'read_bytes_per_sec', type: 'float8', value: (r) => r.item.read_bytes_per_sec },
  { name: 'write_bytes_per_sec', type: 'float8', value: (r) => r.item.write_bytes_per_sec },
  { name: 'open_fds', type: 'int4', value: (r) => r.item.open_fds },
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

/** One point: an agent's series (type, name, tags in any key order) at one millisecond. */
function pointKey(r: Item<'metrics'>): string {
  const tags = r.item.tags ?? {}
  const sorted = Object.keys(tags).sort().map((k) => [k, tags[k]])
  return `${r.agent.id}\u0000${Date.parse(r.time)}\u0000${r.item.metric_type}\u0000${r.item.metric_name}\u0000${JSON.stringify(sorted)}`
}

/** The unnest() of points' (agent, time, type, name, tags), each column one array parameter. */
function pointColumns(points: Item<'metrics'>[]): RawBuilder<unknown> {
  return sql`unnest(${points.map((r) => r.agent.id)}::uuid[], ${points.map((r) => r.time)}::timestamptz[], ${points.map((r) => r.item.metric_type)}::text[],
    ${points.map((r) => r.item.metric_name)}::text[], ${points.map((r) => JSON.stringify(r.item.tags ?? {}))}::text[])`
}

/**
 * Last write wins, as InfluxDB keeps points: of the rows for one point (the requests of a group in the order
 * they arrived) only the last is kept, and the rows already stored for those points are deleted in the same
 * transaction. Only a point at or before its agent's newest stored sample (agents.last_metrics_at, which every
 * write raises) can have a stored row: new points, nearly all of them, cost nothing more (it is read with the
 * batch claim); the others an index probe each on metrics_series_time, only in the chunks their span touches
 * (compressed chunks included). Rows of requests without last write wins are kept as they come.
 */
async function replaceStoredPoints(trx: Transaction<Database>, rows: Item<'metrics'>[], lww: (r: Item<'metrics'>) => boolean,
  newestStored: Map<string, number>): Promise<Item<'metrics'>[]> {
  const last = new Map<string, Item<'metrics'>>()
  const plain: Item<'metrics'>[] = []
  for (const r of rows) {
    if (!lww(r)) { plain.push(r); continue }
    const key = pointKey(r)
    last.delete(key)
    last.set(key, r)
  }
  const points = [...last.values()]
  const again = points.filter((r) => Date.parse(r.time) <= (newestStored.get(r.agent.id) ?? Infinity))
  if (again.length > 0) {
    const { min, max } = timeSpan(again)
    // The span as literals, so the planner leaves every other chunk out before it runs.
    const from = sql.lit(new Date(min - 1).toISOString())
    const to = sql.lit(new Date(max + 1).toISOString())
    await sql`delete from metrics m using ${pointColumns(again)} as p(agent_id, time, metric_type, metric_name, tags)
      where m.agent_id = p.agent_id and m.time > ${from}::timestamptz and m.time < ${to}::timestamptz
        and m.metric_type = p.metric_type and m.metric_name = p.metric_name and m.time = date_trunc('milliseconds', p.time)
        and m.tags = p.tags::jsonb`.execute(trx)
  }
  return plain.length === 0 ? points : [...plain, ...points]
}

async function insertMetrics(trx: Transaction<Database>, requests: PendingRequest[], newestStored: Map<string, number>): Promise<void> {
  const flat = flatten(requests, 'metrics')
  if (flat.length === 0) return
  const rows = requests.some((r) => r.options.lastWriteWins)
    ? await replaceStoredPoints(trx, flat, (r) => requests[r.request].options.lastWriteWins === true, newestStored)
    : flat
  count(requests, 'metrics', 'metrics', rows)
  // One statement: the rows go into the hypertable, and each series' newest into metrics_latest.
  await sql`with inserted as (${insertRows('metrics', METRIC_COLUMNS, rows)}
      returning time, org_id, agent_id, metric_type, metric_name, value, tags)
    ${upsertLatest('inserted')}`.execute(trx)
}

/** Each series' newest of the metric rows a CTE (`source`) inserted into metrics_latest; an older one never overwrites a newer value. */
function upsertLatest(source: string): RawBuilder<unknown> {
  return sql`insert into metrics_latest (org_id, agent_id, metric_type, metric_name, tags, time, value)
    select distinct on (agent_id, metric_type, metric_name, tags) org_id, agent_id, metric_type, metric_name, tags, time, value
    from ${sql.table(source)} order by agent_id, metric_type, metric_name, tags, time desc
    on conflict (agent_id, metric_type, metric_name, tags)
      do update set time = excluded.time, value = excluded.value where excluded.time >= metrics_latest.time`
}

type PlainKey = 'disks' | 'networks' | 'sessions' | 'containers' | 'logs'
/** Disks, networks, sessions, containers and logs: rows as they come, one statement each; stated once for both write paths. */
const PLAIN_TABLES: Array<{ key: PlainKey; table: string; spec: TableSpec<any> }> = [
  { key: 'disks', table: 'disk_metrics', spec: DISK_COLUMNS },
  { key: 'networks', table: 'network_metrics', spec: NETWORK_COLUMNS },
  { key: 'sessions', table: 'user_sessions', spec: SESSION_COLUMNS },
  { key: 'containers', table: 'container_metrics', spec: CONTAINER_COLUMNS },
  { key: 'logs', table: 'logs', spec: LOG_COLUMNS },
]

async function insertPlain(trx: Transaction<Database>, requests: PendingRequest[]): Promise<void> {
  for (const { key, table, spec } of PLAIN_TABLES) {
    const rows = flatten(requests, key)
    if (rows.length === 0) continue
    count(requests, table, key, rows)
    await insertRows(table, spec, rows).execute(trx)
  }
}

/** Newest values of each container a group reports, with its first and last sample time. */
interface SeenContainer { first: Item<'containers'>; last: Item<'containers'>; image?: string; state?: string }

/**
 * Keeps the containers registry (sql/018) up to date: one statement for the whole group. Rows already
 * registered are updated and only new ones inserted, so the identity (a container's public id) is drawn
 * once per new container: ON CONFLICT DO UPDATE alone would draw one per container per batch.
 */
async function registerContainers(trx: Transaction<Database>, requests: PendingRequest[]): Promise<void> {
  const seen = new Map<string, SeenContainer>()
  for (const row of flatten(requests, 'containers')) {
    const at = Date.parse(row.time)
    const key = `${row.agent.id}\u0000${row.item.id}`
    const s = seen.get(key)
    if (!s) { seen.set(key, { first: row, last: row, image: row.item.image, state: row.item.state }); continue }
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
  await sql`with incoming as (
      select u.org_id, u.agent_id, u.container_id, u.name, u.image, u.state,
             date_trunc('milliseconds', u.first_seen) as first_seen, date_trunc('milliseconds', u.last_seen) as last_seen
      from unnest(${list.map((c) => c.last.agent.org_id)}::uuid[], ${list.map((c) => c.last.agent.id)}::uuid[],
        ${list.map((c) => c.last.item.id)}::text[], ${list.map((c) => c.last.item.name)}::text[],
        ${list.map((c) => c.image ?? null)}::text[], ${list.map((c) => c.state ?? null)}::text[],
        ${list.map((c) => c.first.time)}::timestamptz[], ${list.map((c) => c.last.time)}::timestamptz[])
        as u(org_id, agent_id, container_id, name, image, state, first_seen, last_seen)),
    ${mergeContainers('incoming', 'containers_updated')}
    ${insertNewContainers('incoming')}`.execute(trx)
}

/**
 * `excluded` names the incoming row in both the update and the insert's conflict, so one SET list serves both:
 * the newest sample's name, image and state, the earliest first and the latest last sighting.
 */
const CONTAINER_SET = sql`name = case when excluded.last_seen >= containers.last_seen then excluded.name else containers.name end,
      image = case when excluded.last_seen >= containers.last_seen then coalesce(excluded.image, containers.image) else containers.image end,
      state = case when excluded.last_seen >= containers.last_seen then coalesce(excluded.state, containers.state) else containers.state end,
      first_seen = least(containers.first_seen, excluded.first_seen),
      last_seen = greatest(containers.last_seen, excluded.last_seen)`

/** The CTE `name` updating the registered containers among those of the CTE `incoming`. */
function mergeContainers(incoming: string, name: string): RawBuilder<unknown> {
  return sql`${sql.raw(name)} as (
      update containers set ${CONTAINER_SET}
      from ${sql.table(incoming)} as excluded
      where containers.agent_id = excluded.agent_id and containers.container_id = excluded.container_id)`
}

/** Inserts the containers of the CTE `incoming` not registered yet (one registered meanwhile is merged). */
function insertNewContainers(incoming: string): RawBuilder<unknown> {
  return sql`insert into containers (org_id, agent_id, container_id, name, image, state, first_seen, last_seen)
    select i.org_id, i.agent_id, i.container_id, i.name, i.image, i.state, i.first_seen, i.last_seen
    from ${sql.table(incoming)} i
    where not exists (select 1 from containers c where c.agent_id = i.agent_id and c.container_id = i.container_id)
    order by i.first_seen, i.container_id
    on conflict (agent_id, container_id) do update set ${CONTAINER_SET}`
}

/**
 * The one-statement write's containers registry: as registerContainers, from the container rows of the
 * batches the statement claimed, summed up per container in SQL (the claim is only known there).
 */
function registerClaimedContainers(rows: Item<'containers'>[]): RawBuilder<unknown> {
  return sql`container_samples as (
      select u.org_id, u.agent_id, u.container_id, u.name, u.image, u.state, u.time, u.n
      from unnest(${rows.map((r) => r.agent.org_id)}::uuid[], ${rows.map((r) => r.agent.id)}::uuid[], ${rows.map((r) => r.item.id)}::text[],
        ${rows.map((r) => r.item.name)}::text[], ${rows.map((r) => r.item.image ?? null)}::text[], ${rows.map((r) => r.item.state ?? null)}::text[],
        ${rows.map((r) => r.time)}::timestamptz[], ${rows.map((r) => r.batch)}::uuid[])
        with ordinality as u(org_id, agent_id, container_id, name, image, state, time, batch, n)
      where exists (select 1 from claimed c where c.agent_id = u.agent_id and c.batch_id = u.batch)),
    container_incoming as (
      select org_id, agent_id, container_id,
        (array_agg(name order by time desc, n desc))[1] as name,
        (array_agg(image order by time desc, n desc) filter (where image is not null))[1] as image,
        (array_agg(state order by time desc, n desc) filter (where state is not null))[1] as state,
        date_trunc('milliseconds', min(time)) as first_seen, date_trunc('milliseconds', max(time)) as last_seen
      from container_samples group by org_id, agent_id, container_id),
    ${mergeContainers('container_incoming', 'container_updated')},
    container_registered as (${insertNewContainers('container_incoming')})`
}

/** Stores each batch's process list as one snapshot; each request learns the snapshot id of its batches. */
async function insertProcesses(trx: Transaction<Database>, requests: PendingRequest[]): Promise<void> {
  const withProcesses = requests.flatMap((r) => r.todo.filter((b) => (b.processes?.length ?? 0) > 0).map((b) => ({ r, b })))
  if (withProcesses.length === 0) return
  // One snapshot per collected process list: its id ties the rows of one tree together.
  const snaps = await sql<{ agent_id: string; batch_id: string; snapshot_id: number }>`
    insert into process_snapshots (time, org_id, agent_id, batch_id, total_processes)
    select date_trunc('milliseconds', t), o, a, b, n
    from unnest(${withProcesses.map(({ b }) => b.time)}::timestamptz[], ${withProcesses.map(({ r }) => r.agent.org_id)}::uuid[],
      ${withProcesses.map(({ r }) => r.agent.id)}::uuid[], ${withProcesses.map(({ b }) => b.batch_id)}::uuid[],
      ${withProcesses.map(({ b }) => b.processes!.length)}::int4[]) as u(t, o, a, b, n)
    returning agent_id, batch_id, snapshot_id`.execute(trx)
  const snapshotOf = new Map(snaps.rows.map((s) => [`${s.agent_id}\u0000${s.batch_id}`, s.snapshot_id]))
  const rows: ProcessRow[] = withProcesses.flatMap(({ r, b }) => {
    const snapshot = snapshotOf.get(`${r.agent.id}\u0000${b.batch_id}`)
    if (snapshot !== undefined) r.snapshots.set(b.batch_id, snapshot)
    return b.processes!.map((item) => ({ time: item.time ?? b.time, snapshot, item, agent: r.agent, request: r.index, batch: b.batch_id }))
  })
  count(requests, 'process_metrics', 'processes', rows)
  await insertRows('process_metrics', PROCESS_COLUMNS, rows).execute(trx)
}

const rowCount = (b: IngestBatch) => (b.metrics?.length ?? 0) + (b.disks?.length ?? 0) + (b.networks?.length ?? 0)
  + (b.processes?.length ?? 0) + (b.sessions?.length ?? 0) + (b.containers?.length ?? 0) + (b.logs?.length ?? 0)

/** The newest sample time of batches: batch times and the metrics' own times (ms). */
function latestMetricTime(batches: IngestBatch[]): number {
  let max = 0
  for (const b of batches) {
    max = Math.max(max, Date.parse(b.time))
    for (const m of b.metrics ?? []) if (m.time) max = Math.max(max, Date.parse(m.time))
  }
  return max
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

/** One request of a group. */
export interface WriteRequest { agent: IngestingAgent; batches: IngestBatch[]; options?: WriteOptions }

/** One request's batches in a transaction of their own (a group of one). */
export async function writeBatches(db: Kysely<Database>, agent: IngestingAgent, batches: IngestBatch[], options: WriteOptions = {}): Promise<StoredBatches> {
  return (await writeBatchGroup(db, [{ agent, batches, options }]))[0]
}

/**
 * Several requests written together, all or nothing (the caller retries them one by one should the group
 * fail); answers what each request stored, in the order given. A batch id already stored for its agent, or
 * sent by an earlier request of the group, is acknowledged and stores nothing twice.
 * - Usually in one statement: the claim of the batch ids, the agents' update and every table's rows as
 *   data-modifying CTEs, each table's rows kept only where their batch was claimed. One statement is its own
 *   transaction: no BEGIN and COMMIT, one round trip to a server and one call into the embedded engine.
 * - When a request asks for last write wins, in a transaction of several statements: which stored rows it
 *   replaces depends on what the claim read.
 */
export async function writeBatchGroup(db: Kysely<Database>, group: WriteRequest[]): Promise<StoredBatches[]> {
  const requests = pendingRequests(group)
  const batches = requests.reduce((n, r) => n + r.todo.length, 0)
  if (requests.some((r) => r.options.lastWriteWins) || batches > ONE_STATEMENT_MAX_BATCHES) {
    return db.transaction().execute((trx) => writeInTransaction(trx, requests))
  }
  return writeInOneStatement(db, requests)
}

/**
 * Groups of more batches take the transaction. The limit came from a WebAssembly trap seen with 150 batches in
 * one statement over the wire bridge the tests use: the cause was the bridge (it passed a protocol message of
 * over 64 KiB to PGlite in two pieces; test/store/backends.ts now joins them), not the statement. The limit
 * stays until a larger one is measured to be no slower; agents send one batch per request, so groups this
 * large are rare (a replay, a big fleet).
 */
const ONE_STATEMENT_MAX_BATCHES = 64

/** The group's requests, each batch id kept once (its first sending) in one spelling. */
function pendingRequests(group: WriteRequest[]): PendingRequest[] {
  const claimedBefore = new Set<string>()
  return group.map((g, index) => {
    // Batch ids are compared in one spelling (uuids arrive in either case).
    const unique = [...new Map(g.batches.map((b) => [b.batch_id.toLowerCase(), { ...b, batch_id: b.batch_id.toLowerCase() }])).values()]
      .filter((b) => {
        const key = `${g.agent.id}\u0000${b.batch_id}`
        if (claimedBefore.has(key)) return false
        claimedBefore.add(key)
        return true
      })
    return {
      index, agent: g.agent, batches: g.batches, options: g.options ?? {}, todo: unique, written: new WrittenSpans(), snapshots: new Map(),
      rows: { metrics: 0, disks: 0, networks: 0, processes: 0, sessions: 0, containers: 0, logs: 0 },
    }
  })
}

/**
 * The claim, as CTEs `locked`, `claimed`, `newest` and `touched`. The group's agents are locked first, in one
 * order (a concurrent group touching the same agents waits here, never in a cycle), with their newest stored
 * sample (last write wins needs it). Then the batch ids are claimed: one already stored is acknowledged
 * again and stores nothing twice. The agents are marked seen, their newest sample and inventory updated.
 */
function claimBatches(requests: PendingRequest[]): RawBuilder<unknown> {
  const candidates = requests.flatMap((r) => r.todo.map((b) => ({ r, b })))
  const agentIds = [...new Set(requests.map((r) => r.agent.id))].sort()
  return sql`locked as materialized (select id, last_metrics_at from agents where id = any(${agentIds}::uuid[]) order by id for update),
    claimed as (
      insert into ingest_batches (batch_id, org_id, agent_id, batch_time, row_count)
      select b, o, a, date_trunc('milliseconds', t), n
      from unnest(${candidates.map(({ b }) => b.batch_id)}::uuid[], ${candidates.map(({ r }) => r.agent.org_id)}::uuid[],
        ${candidates.map(({ r }) => r.agent.id)}::uuid[], ${candidates.map(({ b }) => b.time)}::timestamptz[],
        ${candidates.map(({ b }) => rowCount(b))}::int4[]) as u(b, o, a, t, n)
      where (select count(*) from locked) >= 0
      on conflict (agent_id, batch_id) do nothing
      returning agent_id, batch_id),
    newest as (
      select u.a as agent_id, max(u.latest) as latest
      from claimed c join unnest(${candidates.map(({ r }) => r.agent.id)}::uuid[], ${candidates.map(({ b }) => b.batch_id)}::uuid[],
        ${candidates.map(({ b }) => new Date(latestMetricTime([b])).toISOString())}::timestamptz[]) as u(a, b, latest)
        on u.a = c.agent_id and u.b = c.batch_id
      group by u.a),
    touched as (${touchAgents(agentTouches(requests))})`
}

/** Keeps each request's batches the claim took (`fresh`: agent and batch id). */
function keepFresh(requests: PendingRequest[], fresh: Set<string>): void {
  for (const r of requests) r.todo = r.todo.filter((b) => fresh.has(`${r.agent.id}\u0000${b.batch_id}`))
}

function answers(requests: PendingRequest[]): StoredBatches[] {
  return requests.map((r) => ({
    accepted_batches: r.todo.length, duplicate_batches: r.batches.length - r.todo.length, rows: r.rows,
    batch_ids: r.todo.map((b) => b.batch_id), snapshots: r.snapshots, written: r.written.list(),
  }))
}

async function writeInTransaction(trx: Transaction<Database>, requests: PendingRequest[]): Promise<StoredBatches[]> {
  const claimed = await sql<{ agent_id: string; batch_id: string | null; newest: Date | null }>`
    with ${claimBatches(requests)}
    select agent_id, batch_id, null::timestamptz as newest from claimed
    union all select id, null, last_metrics_at from locked`.execute(trx)
  const newestStored = new Map<string, number>()
  const fresh = new Set<string>()
  for (const row of claimed.rows) {
    if (row.agent_id === null) continue
    if (row.batch_id === null) newestStored.set(row.agent_id, row.newest ? row.newest.getTime() : Infinity)
    else fresh.add(`${row.agent_id}\u0000${row.batch_id}`)
  }
  keepFresh(requests, fresh)
  await insertProcesses(trx, requests)
  await registerContainers(trx, requests)
  await insertMetrics(trx, requests, newestStored)
  await insertPlain(trx, requests)
  return answers(requests)
}

/**
 * The whole group in one statement (see writeBatchGroup). Every candidate row is sent; the statement keeps
 * those of the batches it claimed, and answers which it claimed and the snapshot id of each claimed process
 * list. What each request stored is then counted from its claimed batches.
 */
async function writeInOneStatement(db: Kysely<Database>, requests: PendingRequest[]): Promise<StoredBatches[]> {
  const ctes: RawBuilder<unknown>[] = [claimBatches(requests)]
  const withProcesses = requests.flatMap((r) => r.todo.filter((b) => (b.processes?.length ?? 0) > 0).map((b) => ({ r, b })))
  if (withProcesses.length > 0) {
    ctes.push(sql`snapshots as (
      insert into process_snapshots (time, org_id, agent_id, batch_id, total_processes)
      select date_trunc('milliseconds', t), o, a, b, n
      from unnest(${withProcesses.map(({ b }) => b.time)}::timestamptz[], ${withProcesses.map(({ r }) => r.agent.org_id)}::uuid[],
        ${withProcesses.map(({ r }) => r.agent.id)}::uuid[], ${withProcesses.map(({ b }) => b.batch_id)}::uuid[],
        ${withProcesses.map(({ b }) => b.processes!.length)}::int4[]) as u(t, o, a, b, n)
      where exists (select 1 from claimed c where c.agent_id = u.a and c.batch_id = u.b)
      returning agent_id, batch_id, snapshot_id)`)
    const rows: ProcessRow[] = withProcesses.flatMap(({ r, b }) =>
      b.processes!.map((item) => ({ time: item.time ?? b.time, snapshot: undefined, item, agent: r.agent, request: r.index, batch: b.batch_id })))
    ctes.push(sql`process_rows as (${insertRows('process_metrics', PROCESS_COLUMNS, rows, 'snapshots')})`)
  }
  const containers = flatten(requests, 'containers')
  if (containers.length > 0) ctes.push(registerClaimedContainers(containers))
  const metrics = flatten(requests, 'metrics')
  if (metrics.length > 0) {
    ctes.push(sql`metric_rows as (${insertRows('metrics', METRIC_COLUMNS, metrics, 'claimed')}
        returning time, org_id, agent_id, metric_type, metric_name, value, tags),
      latest as (${upsertLatest('metric_rows')})`)
  }
  for (const { key, table, spec } of PLAIN_TABLES) {
    const rows = flatten(requests, key)
    if (rows.length > 0) ctes.push(sql`${sql.raw(`${table}_rows`)} as (${insertRows(table, spec, rows, 'claimed')})`)
  }
  const answer = await sql<{ agent_id: string; batch_id: string; snapshot_id: number | null }>`
    with ${sql.join(ctes)}
    select agent_id, batch_id, null::int8 as snapshot_id from claimed
    ${withProcesses.length > 0 ? sql`union all select agent_id, batch_id, snapshot_id from snapshots` : sql``}`.execute(db)
  const fresh = new Set<string>()
  const snapshotOf = new Map<string, number>()
  for (const row of answer.rows) {
    const key = `${row.agent_id}\u0000${row.batch_id}`
    if (row.snapshot_id === null) fresh.add(key)
    else snapshotOf.set(key, row.snapshot_id)
  }
  keepFresh(requests, fresh)
  for (const r of requests) {
    for (const b of r.todo) {
      const snapshot = snapshotOf.get(`${r.agent.id}\u0000${b.batch_id}`)
      if (snapshot !== undefined) r.snapshots.set(b.batch_id, snapshot)
    }
  }
  count(requests, 'process_metrics', 'processes', requests.flatMap((r) => r.todo.flatMap((b) =>
    (b.processes ?? []).map((item) => ({ time: item.time ?? b.time, request: r.index })))))
  count(requests, 'metrics', 'metrics', flatten(requests, 'metrics'))
  for (const { key, table } of PLAIN_TABLES) count(requests, table, key, flatten(requests, key))
  return answers(requests)
}

/** Each agent of the group, and the host inventory of its last request that sent one. */
function agentTouches(requests: PendingRequest[]): Array<[string, HostInfo | undefined]> {
  const agents = new Map<string, HostInfo | undefined>()
  for (const r of requests) {
    const host = [...r.batches].reverse().find((b) => b.host)?.host
    if (host || !agents.has(r.agent.id)) agents.set(r.agent.id, host ?? agents.get(r.agent.id))
  }
  return [...agents]
}

/**
 * The claim statement's update of the group's agents: seen now, the newest sample of their batches just
 * claimed (`newest`: batch times and the metrics' own) raised into last_metrics_at, the inventory replaced
 * when a request sent one.
 */
function touchAgents(list: Array<[string, HostInfo | undefined]>): RawBuilder<unknown> {
  const host = (f: (h: HostInfo) => string | null | undefined) => list.map(([, h]) => (h ? f(h) ?? null : null))
  const now = new Date()
  return sql`update agents a set
      last_seen_at = ${now}::timestamptz,
      last_metrics_at = case when n.latest is null then a.last_metrics_at else greatest(a.last_metrics_at, n.latest) end,
      hostname = case when u.has_host then u.hostname else a.hostname end,
      ip_address = case when u.has_host then u.ip_address else a.ip_address end,
      os = case when u.has_host then u.os else a.os end,
      os_version = case when u.has_host then u.os_version else a.os_version end,
      agent_version = case when u.has_host then u.agent_version else a.agent_version end,
      inventory = case when u.has_host then u.inventory::jsonb else a.inventory end,
      updated_at = case when u.has_host then ${now}::timestamptz else a.updated_at end
    from unnest(${list.map(([id]) => id)}::uuid[], ${list.map(([, h]) => h !== undefined)}::bool[], ${host((h) => h.hostname)}::text[],
      ${host((h) => h.ip_address)}::text[], ${host((h) => h.os)}::text[], ${host((h) => h.os_version)}::text[],
      ${host((h) => h.agent_version)}::text[], ${list.map(([, h]) => (h ? JSON.stringify(h) : null))}::text[])
      as u(id, has_host, hostname, ip_address, os, os_version, agent_version, inventory)
      left join newest n on n.agent_id = u.id
    where a.id = u.id
    returning a.id`
}
