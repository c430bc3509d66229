// Seed 001's listings as reads: an agent's metric, disk, network and process rows in a time range, newest
// first, one page at a time. No request here: callers pass the organization, agent, range, limit and cursor.
import { sql, type Kysely, type RawBuilder, type Selectable, type SelectQueryBuilder } from 'kysely'
import { DomainError } from '../errors/domain-error.ts'
import type { Database, DiskMetricsTable, MetricsTable, NetworkMetricsTable, ProcessMetricsTable } from '../store/database.ts'

export type MetricRow = Pick<Selectable<MetricsTable>, 'time' | 'metric_type' | 'metric_name' | 'value' | 'tags'>

export const DISK_COLUMNS = ['time', 'device', 'mount_point', 'filesystem', 'total_bytes', 'used_bytes', 'available_bytes', 'usage_percent',
  'inodes_total', 'inodes_used', 'inodes_percent', 'read_bytes_per_sec', 'write_bytes_per_sec', 'read_ops_per_sec', 'write_ops_per_sec',
  'io_util_percent'] as const
export type DiskRow = Pick<Selectable<DiskMetricsTable>, (typeof DISK_COLUMNS)[number]>

export const NETWORK_COLUMNS = ['time', 'interface', 'bytes_sent', 'bytes_recv', 'packets_sent', 'packets_recv', 'errors_in', 'errors_out',
  'drop_in', 'drop_out', 'is_up', 'bytes_sent_per_sec', 'bytes_recv_per_sec', 'packets_sent_per_sec', 'packets_recv_per_sec'] as const
export type NetworkRow = Pick<Selectable<NetworkMetricsTable>, (typeof NETWORK_COLUMNS)[number]>

export const PROCESS_COLUMNS = ['time', 'pid', 'parent_pid', 'name', 'cmdline', 'username', 'cpu_percent', 'memory_bytes', 'memory_vms',
  'memory_percent', 'num_threads', 'status', 'create_time'] as const
export type ProcessRow = Pick<Selectable<ProcessMetricsTable>, (typeof PROCESS_COLUMNS)[number]>

/** Which agent's rows, over [start, end), at most `limit` of them; `cursor` is a previous page's next_cursor. */
export interface ListingRequest { orgId: string; agentId: string; start: Date; end: Date; limit: number; cursor?: string }

/** A page of rows; next_end and next_cursor say where the next page starts (absent on the last page). */
export interface ListingPage<T> { rows: T[]; next_cursor?: string; next_end?: string }

type Listing<T> = SelectQueryBuilder<Database, any, T>

/** Where a page stopped: the time and the tie-break keys of its last row. */
interface Cursor { t: string; k: Array<string | number> }

export function encodeCursor(c: Cursor): string { return Buffer.from(JSON.stringify(c)).toString('base64url') }

function decodeCursor(text: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString()) as Cursor
    if (typeof c.t === 'string' && !Number.isNaN(Date.parse(c.t)) && Array.isArray(c.k) && c.k.length <= 4
      && c.k.every((v) => typeof v === 'string' || typeof v === 'number')) return c
  } catch { /* answered below */ }
  throw new DomainError('invalid', 'Invalid request: cursor is not one this API issued (use next_cursor as given)', { details: { cursor: ['is malformed'] } })
}

/**
 * One page of a listing ordered newest first, then by `keys` ascending (a total order), at most `limit`
 * rows. `next_cursor` continues exactly where the page stopped. `next_end` (seed 001's pagination) is
 * given when the page ends on a whole instant, so `end=<next_end>` neither repeats nor skips a row; a
 * full page is cut back to whole instants for that, unless one instant alone fills it.
 */
async function page<T extends { time: Date }>(
  query: Listing<T>, keys: Array<{ sql: RawBuilder<unknown>; of: (row: T) => string | number }>, req: ListingRequest,
): Promise<ListingPage<T>> {
  let q = query.where('time', '>=', req.start).where('time', '<', req.end)
  if (req.cursor) {
    const c = decodeCursor(req.cursor)
    if (c.k.length !== keys.length) throw new DomainError('invalid', 'Invalid request: cursor belongs to another listing', { details: { cursor: ['is malformed'] } })
    const tuple = (values: unknown[]) => sql`(${sql.join(values.map((v) => sql`${v}`))})`
    q = q.where(sql<boolean>`(time < ${c.t}::timestamptz or (time = ${c.t}::timestamptz and ${sql`(${sql.join(keys.map((k) => k.sql))})`} > ${tuple(c.k)}))`)
  }
  for (const k of keys) q = q.orderBy(k.sql as never)
  const rows = await q.limit(req.limit).execute() as T[]
  if (rows.length < req.limit) return { rows }
  const oldest = rows[rows.length - 1].time.getTime()
  const whole = rows.filter((r) => r.time.getTime() !== oldest)
  const kept = whole.length > 0 ? whole : rows
  const last = kept[kept.length - 1]
  return {
    rows: kept,
    next_cursor: encodeCursor({ t: last.time.toISOString(), k: keys.map((k) => k.of(last)) }),
    ...(whole.length > 0 ? { next_end: last.time.toISOString() } : {}),
  }
}

/** Scalar metric rows; the tie-break orders tags as jsonb and the cursor carries them as JSON, read back as jsonb. */
export async function readMetricRows(db: Kysely<Database>, req: ListingRequest): Promise<ListingPage<MetricRow>> {
  const query = db.selectFrom('metrics').select(['time', 'metric_type', 'metric_name', 'value', 'tags'])
    .where('org_id', '=', req.orgId).where('agent_id', '=', req.agentId).orderBy('time', 'desc')
  return page(query as Listing<MetricRow>, [
    { sql: sql`metric_type`, of: (r) => r.metric_type }, { sql: sql`metric_name`, of: (r) => r.metric_name },
    { sql: sql`tags`, of: (r) => JSON.stringify(r.tags) },
  ], req)
}

/** Filesystem rows, each instant ordered by mount point. */
export async function readDiskRows(db: Kysely<Database>, req: ListingRequest): Promise<ListingPage<DiskRow>> {
  const query = db.selectFrom('disk_metrics').select(DISK_COLUMNS)
    .where('org_id', '=', req.orgId).where('agent_id', '=', req.agentId).orderBy('time', 'desc')
  return page(query as Listing<DiskRow>, [{ sql: sql.ref('mount_point'), of: (r) => r.mount_point }], req)
}

/** Interface rows, each instant ordered by interface name. */
export async function readNetworkRows(db: Kysely<Database>, req: ListingRequest): Promise<ListingPage<NetworkRow>> {
  const query = db.selectFrom('network_metrics').select(NETWORK_COLUMNS)
    .where('org_id', '=', req.orgId).where('agent_id', '=', req.agentId).orderBy('time', 'desc')
  return page(query as Listing<NetworkRow>, [{ sql: sql.ref('interface'), of: (r) => r.interface }], req)
}

/**
 * Process rows, each snapshot ranked by CPU, then memory, then pid, and cut at the limit: the next page
 * (end = next_end) starts at the next older snapshot, so a page never holds part of a snapshot's top and
 * the rest later. Paged by `end` only.
 */
export async function readProcessRows(db: Kysely<Database>, req: Omit<ListingRequest, 'cursor'>): Promise<Omit<ListingPage<ProcessRow>, 'next_cursor'>> {
  const rows = await db.selectFrom('process_metrics').select(PROCESS_COLUMNS)
    .where('org_id', '=', req.orgId).where('agent_id', '=', req.agentId)
    .where('time', '>=', req.start).where('time', '<', req.end)
    .orderBy('time', 'desc').orderBy('cpu_percent', 'desc').orderBy('memory_bytes', 'desc').orderBy('pid')
    .limit(req.limit).execute()
  return rows.length === req.limit ? { rows, next_end: rows[rows.length - 1].time.toISOString() } : { rows }
}
