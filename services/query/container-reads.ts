// Seed 004's containers, natively: the registry (sql/018) with each container's newest sample, one
// container's series and an agent's totals over a range. Range reads go through resolutionForRange
// (at most 1,000 points): raw rows bucketed, or container_metrics_1h. No HTTP here: callers pass the
// organization and the agent they have already resolved and authorized.
import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { Database } from '../store/database.ts'
import { resolutionForRange, type Resolution, type RetentionDays } from './resolution-for-range.ts'

const MIB = 1024 * 1024
const MAX_POINTS = 1000
/** A container missing from the agent's reports for this long is gone (removed), whatever its last state said. */
const GONE_AFTER_SECONDS = 300

export interface ContainerView {
  /** The small public id: never reused, stable across restarts. */
  id: number
  /** The runtime's (Docker's, Podman's) id. */
  container_id: string
  name: string
  image: string | null
  /** Its newest reported state (running, exited, …). */
  status: string | null
  /** First and last time it was reported. */
  created_at: Date
  updated_at: Date
  /** Its newest sample; null where that sample has no value, or when the sample is past raw retention. */
  cpu_percent: number | null
  memory_percent: number | null
  memory_usage_mb: number | null
  network_rx_bytes: number | null
  network_tx_bytes: number | null
}

async function selectContainers(db: Kysely<Database>, orgId: string, agentId: string, filter: RawBuilder<unknown>, limit?: number): Promise<ContainerView[]> {
  // The registry's last_seen is its newest sample's time exactly (both truncated to the millisecond at ingest).
  const { rows } = await sql<ContainerView>`
    select c.id, c.container_id, c.name, c.image, c.state as status, c.first_seen as created_at, c.last_seen as updated_at,
           s.cpu_percent::float8 as cpu_percent, s.memory_percent::float8 as memory_percent,
           (s.memory_bytes / ${MIB}::float8) as memory_usage_mb, s.rx_bytes as network_rx_bytes, s.tx_bytes as network_tx_bytes
    from containers c
    left join lateral (
      select m.cpu_percent, m.memory_percent, m.memory_bytes, m.rx_bytes, m.tx_bytes
      from container_metrics m
      where m.org_id = c.org_id and m.agent_id = c.agent_id and m.container_id = c.container_id and m.time = c.last_seen
      limit 1) s on true
    where c.org_id = ${orgId} and c.agent_id = ${agentId} and ${filter}
    order by c.id
    ${limit === undefined ? sql`` : sql`limit ${limit}`}`.execute(db)
  return rows
}

/** Every container the agent has reported, by id, with its newest sample. */
export function listContainers(db: Kysely<Database>, orgId: string, agentId: string): Promise<ContainerView[]> {
  return selectContainers(db, orgId, agentId, sql`true`)
}

/**
 * One of the agent's containers by its integer id, its runtime id, or a unique prefix of at least 12 hex
 * characters of that (Docker's short id); undefined when the agent has no such container.
 */
export async function findContainer(db: Kysely<Database>, orgId: string, agentId: string, idOrContainerId: string): Promise<ContainerView | undefined> {
  const key = idOrContainerId.trim()
  if (key === '') return undefined
  if (/^\d{1,10}$/.test(key) && Number(key) <= 2_147_483_647) {
    const [byId] = await selectContainers(db, orgId, agentId, sql`c.id = ${Number(key)}::int4`)
    if (byId) return byId
  }
  const [exact] = await selectContainers(db, orgId, agentId, sql`c.container_id = ${key}`)
  if (exact) return exact
  if (!/^[0-9a-f]{12,}$/i.test(key)) return undefined
  const matches = await selectContainers(db, orgId, agentId, sql`starts_with(c.container_id, ${key.toLowerCase()})`, 2)
  return matches.length === 1 ? matches[0] : undefined
}

export interface ContainerRange {
  orgId: string
  agentId: string
  start: Date
  end: Date
  retentionDays?: RetentionDays
  now?: Date
}

/** The stored column each answered field comes from, and the factor to the answered unit. */
const FIELDS = {
  cpu_percent: { column: 'cpu_percent', scale: 1 },
  memory_percent: { column: 'memory_percent', scale: 1 },
  memory_usage_mb: { column: 'memory_bytes', scale: 1 / MIB },
  network_rx_bytes: { column: 'rx_bytes', scale: 1 },
  network_tx_bytes: { column: 'tx_bytes', scale: 1 },
} as const
type Field = keyof typeof FIELDS

/** One column's per-bucket average at the level read: raw rows, the hourly aggregate as is, or its buckets regrouped. */
function bucketAverage(column: string, level: 'raw' | 'native' | 'rollup'): RawBuilder<number | null> {
  if (level === 'raw') return sql`avg(${sql.ref(column)})::float8`
  const avg = sql.ref(`${column}_avg`)
  if (level === 'native') return sql`${avg}`
  // Weighted by the rows behind each hour; hours without a value weigh nothing.
  return sql`(sum(${avg} * count) / nullif(sum(count) filter (where ${avg} is not null), 0))::float8`
}

/**
 * `select t, container_id, <field>…`: each container's average per bucket over [start, end), the first bucket
 * starting at or before `start` (as read-series.ts does), from the relation `resolution` names.
 */
function perContainerBuckets(range: ContainerRange, resolution: Resolution, fields: readonly Field[], containerId?: string): RawBuilder<Record<string, unknown>> {
  const raw = resolution.nativeSeconds === 0
  const native = !raw && resolution.bucketSeconds === resolution.nativeSeconds
  const level = raw ? 'raw' : native ? 'native' : 'rollup'
  const timeCol = sql.ref(raw ? 'time' : 'bucket')
  const bucket = native ? timeCol : sql`time_bucket(make_interval(secs => ${resolution.bucketSeconds}), ${timeCol})`
  const values = fields.map((f) => sql`${bucketAverage(FIELDS[f].column, level)} as ${sql.ref(f)}`)
  return sql`
    select ${bucket} as t, container_id, ${sql.join(values)}
    from ${sql.table(resolution.source)}
    where org_id = ${range.orgId} and agent_id = ${range.agentId}
      ${containerId === undefined ? sql`` : sql`and container_id = ${containerId}`}
      and ${timeCol} >= time_bucket(make_interval(secs => ${resolution.bucketSeconds}), ${range.start}::timestamptz)
      and ${timeCol} < ${range.end}
    ${native ? sql`` : sql`group by 1, 2`}`
}

const scaled = (v: unknown, scale: number): number | null => (v === null || v === undefined ? null : Number(v) * scale)

export type ContainerSeries = { timestamps: Date[] } & Record<Field, Array<number | null>>

/**
 * One container's series (`containerId` is the runtime id, as findContainer answers it): bucket averages,
 * every array as long as `timestamps` (null where a bucket has no value for that field).
 */
export async function containerSeries(db: Kysely<Database>, req: ContainerRange & { containerId: string }): Promise<ContainerSeries> {
  const resolution = resolutionForRange({
    family: 'container', start: req.start, end: req.end, maxPoints: MAX_POINTS, retentionDays: req.retentionDays, now: req.now,
  })
  const fields = Object.keys(FIELDS) as Field[]
  const { rows } = await sql<{ t: Date } & Record<Field, number | null>>`
    ${perContainerBuckets(req, resolution, fields, req.containerId)} order by 1`.execute(db)
  const out = { timestamps: rows.map((r) => r.t) } as ContainerSeries
  for (const f of fields) out[f] = rows.map((r) => scaled(r[f], FIELDS[f].scale))
  return out
}

export interface ContainerAggregate {
  total_containers: number
  running_containers: number
  timestamps: Date[]
  /** Per bucket, the sum over containers of each one's average in that bucket. */
  total_cpu_percent: Array<number | null>
  total_memory_mb: Array<number | null>
}

/**
 * An agent's containers together over [start, end). total_containers counts the registry's containers
 * reported at some time in the range; running_containers those of them whose newest state is `running`
 * and that are still in the agent's reports (reported within GONE_AFTER_SECONDS of its newest container
 * report): it is the state now, not at the range's end.
 */
export async function containerAggregate(db: Kysely<Database>, req: ContainerRange): Promise<ContainerAggregate> {
  const { rows: [counts] } = await sql<{ total: number; running: number; registered: number }>`
    select count(*) filter (where c.first_seen < ${req.end} and c.last_seen >= ${req.start})::int as total,
           count(*) filter (where c.first_seen < ${req.end} and c.last_seen >= ${req.start} and c.state = 'running'
             and c.last_seen >= n.newest - make_interval(secs => ${GONE_AFTER_SECONDS}))::int as running,
           count(*)::int as registered
    from containers c,
      (select max(last_seen) as newest from containers where org_id = ${req.orgId} and agent_id = ${req.agentId}) n
    where c.org_id = ${req.orgId} and c.agent_id = ${req.agentId}`.execute(db)
  // Each sample time holds one row per container: the raw scan grows with their number.
  const resolution = resolutionForRange({
    family: 'container', start: req.start, end: req.end, maxPoints: MAX_POINTS, retentionDays: req.retentionDays, now: req.now,
    rowsPerSample: Math.max(1, counts.registered),
  })
  const { rows } = await sql<{ t: Date; cpu: number | null; memory: number | null }>`
    select t, sum(cpu_percent)::float8 as cpu, sum(memory_usage_mb)::float8 as memory
    from (${perContainerBuckets(req, resolution, ['cpu_percent', 'memory_usage_mb'])}) per_container
    group by t order by t`.execute(db)
  return {
    total_containers: counts.total,
    running_containers: counts.running,
    timestamps: rows.map((r) => r.t),
    total_cpu_percent: rows.map((r) => scaled(r.cpu, FIELDS.cpu_percent.scale)),
    total_memory_mb: rows.map((r) => scaled(r.memory, FIELDS.memory_usage_mb.scale)),
  }
}
