// Seed 001's listings as reads: an agent's metric, disk, network and process rows in a time range, newest
// first, one page at a time. No request here: callers pass the organization, agent, range, limit and cursor.
import { sql, type Kysely, type RawBuilder, type Selectable, type SelectQueryBuilder } from 'kysely'
import { DomainError } from '../errors/domain-error.ts'
import type { Database, DiskMetricsTable, NetworkMetricsTable, ProcessMetricsTable } from '../store/database.ts'

export const DISK_COLUMNS = ['time', 'device', 'mount_point', 'filesystem', 'total_bytes', 'used_bytes', 'available_bytes', 'usage_percent',
  'inodes_total', 'inodes_used', 'inodes_percent', 'read_bytes_per_sec', 'write_bytes_per_sec', 'read_ops_per_sec', 'write_ops_per_sec',
  'io_util_percent'] as const
/** The text columns of each listing: their values are escaped as JSON strings in the database. */
const DISK_TEXT: ReadonlySet<string> = new Set(['device', 'mount_point', 'filesystem'])
export type DiskRow = Pick<Selectable<DiskMetricsTable>, (typeof DISK_COLUMNS)[number]>

export const NETWORK_COLUMNS = ['time', 'interface', 'bytes_sent', 'bytes_recv', 'packets_sent', 'packets_recv', 'errors_in', 'errors_out',
  'drop_in', 'drop_out', 'is_up', 'bytes_sent_per_sec', 'bytes_recv_per_sec', 'packets_sent_per_sec', 'packets_recv_per_sec'] as const
const NETWORK_TEXT: ReadonlySet<string> = new Set(['interface'])
export type NetworkRow = Pick<Selectable<NetworkMetricsTable>, (typeof NETWORK_COLUMNS)[number]>

export const PROCESS_COLUMNS = ['time', 'pid', 'parent_pid', 'name', 'cmdline', 'username', 'cpu_percent', 'memory_bytes', 'memory_vms',
  'memory_percent', 'num_threads', 'status', 'create_time', 'read_bytes_per_sec', 'write_bytes_per_sec', 'open_fds'] as const
export type ProcessRow = Pick<Selectable<ProcessMetricsTable>, (typeof PROCESS_COLUMNS)[number]>

/** Which agent's rows, over [start, end), at most `limit` of them; `cursor` is a previous page's next_cursor. */
export interface ListingRequest { orgId: string; agentId: string; start: Date; end: Date; limit: number; cursor?: string }

/**
 * A page of a listing as JSON built in the database (one string crosses from the engine instead of a
 * thousand decoded rows): `json` is the rows of the page, comma-separated, in the page's order.
 * next_end and next_cursor say where the next page starts (absent on the last page).
 */
export interface ListingPage { count: number; json: string; next_cursor?: string; next_end?: string }

type Listing = SelectQueryBuilder<Database, any, any>

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

/** A tie-break column of a listing; `cursorValue` turns its JSON value into the cursor's (jsonb travels as its text). */
interface ListingKey { column: string; cursorValue?: (v: unknown) => string | number }

/** What every listed row's JSON starts with; inside a JSON string a quote is escaped, so it marks row starts only. */
const ROW_START = '{"time":"'

/** Between a column's values: a control character, which JSON text never holds unescaped. */
const SEPARATOR = '\x1f'

/**
 * A column's values over the page, in the page's order, as one string of JSON texts. A text column is
 * escaped in the database (to_json), so no value holds the separator; every other type's text is already
 * its JSON (numbers, booleans, jsonb), but for a float's NaN and infinities, which are quoted in Node.
 */
function columnValues(column: string, isText: boolean, order: RawBuilder<unknown>): RawBuilder<string> {
  const text = isText ? sql`to_json(${sql.ref(column)})::text` : sql`${sql.ref(column)}::text`
  return sql<string>`coalesce(string_agg(coalesce(${text}, 'null'), ${SEPARATOR} order by ${order}), '')`
}

/** A number PostgreSQL writes that JSON has no number for, as to_json writes it: a string. */
const NOT_JSON_NUMBERS: Record<string, string> = { NaN: '"NaN"', Infinity: '"Infinity"', '-Infinity': '"-Infinity"' }

/**
 * The page's rows as JSON objects' text, comma-separated: `time` (from milliseconds since the epoch, as
 * toISOString writes it), the agent's name, then `columns`, in that order. Built in Node from one string per
 * column: the engine formats no row (in WebAssembly that was 6 of a 1,000-row page's 8.5 ms).
 */
function rowsJson(n: number, times: string, values: string[], columns: readonly string[], textColumns: ReadonlySet<string>, agentName: string): string {
  if (n === 0) return ''
  const ms = times.split(',')
  const cols = columns.filter((c) => c !== 'time').map((c, i) => {
    const list = values[i].split(SEPARATOR)
    if (list.length !== n || ms.length !== n) throw new Error(`listing column ${c}: ${list.length} values for ${n} rows`)
    if (!textColumns.has(c)) for (let j = 0; j < n; j++) list[j] = NOT_JSON_NUMBERS[list[j]] ?? list[j]
    return { key: `,${JSON.stringify(c)}:`, list }
  })
  const agent = `","agent_id":${JSON.stringify(agentName)}`
  const out = new Array<string>(n)
  let lastMs = ''
  let head = ''
  for (let j = 0; j < n; j++) {
    // Rows of one instant are adjacent: each instant is formatted once.
    if (ms[j] !== lastMs) { lastMs = ms[j]; head = ROW_START + new Date(Number(lastMs)).toISOString() + agent }
    let row = head
    for (const c of cols) row += c.key + c.list[j]
    out[j] = row + '}'
  }
  return out.join(',')
}

/**
 * One page of a listing ordered newest first, then by `keys` ascending (a total order), at most `limit`
 * rows. `next_cursor` continues exactly where the page stopped. `next_end` (seed 001's pagination) is
 * given when the page ends on a whole instant, so `end=<next_end>` neither repeats nor skips a row; a
 * full page is cut back to whole instants for that, unless one instant alone fills it. The rows' JSON is
 * built from one string per column; the cut and the cursor are taken from its text.
 */
async function page(db: Kysely<Database>, query: Listing, columns: readonly string[], textColumns: ReadonlySet<string>, keys: ListingKey[], req: ListingRequest & { agentName: string }): Promise<ListingPage> {
  let q = query.where('time', '>=', req.start).where('time', '<', req.end)
  if (req.cursor) {
    const c = decodeCursor(req.cursor)
    if (c.k.length !== keys.length) throw new DomainError('invalid', 'Invalid request: cursor belongs to another listing', { details: { cursor: ['is malformed'] } })
    const keyList = sql.join(keys.map((k) => sql.ref(k.column)))
    q = q.where(sql<boolean>`(time < ${c.t}::timestamptz or (time = ${c.t}::timestamptz and (${keyList}) > (${sql.join(c.k.map((v) => sql`${v}`))})))`)
  }
  for (const k of keys) q = q.orderBy(sql.ref(k.column))
  const order = sql.join([sql`time desc`, ...keys.map((k) => sql`${sql.ref(k.column)} asc`)])
  const valueColumns = columns.filter((c) => c !== 'time')
  const { rows: [r] } = await sql<{ n: number; oldest: Date | null; newest: Date | null; times: string } & Record<string, string>>`
    select count(*)::int as n, min(time) as oldest, max(time) as newest,
           coalesce(string_agg(floor(extract(epoch from time) * 1000)::int8::text, ',' order by ${order}), '') as times,
           ${sql.join(valueColumns.map((c, i) => sql`${columnValues(c, textColumns.has(c), order)} as ${sql.ref(`c${i}`)}`))}
    from (${q.limit(req.limit)}) as page`.execute(db)
  const all = rowsJson(r.n, r.times, valueColumns.map((_, i) => r[`c${i}`]), columns, textColumns, req.agentName)
  if (r.n < req.limit || !r.oldest || !r.newest) return { count: r.n, json: all }
  // Rows come newest first: the oldest instant's rows are the tail, and are left for the next page.
  const cut = r.oldest.getTime() === r.newest.getTime() ? -1 : all.indexOf(`,${ROW_START}${r.oldest.toISOString()}"`)
  const whole = cut > 0
  const json = whole ? all.slice(0, cut) : all
  const count = whole ? json.split(ROW_START).length - 1 : r.n
  const last = JSON.parse(json.slice(json.lastIndexOf(ROW_START))) as Record<string, unknown>
  return {
    count, json,
    next_cursor: encodeCursor({ t: last.time as string, k: keys.map((k) => (k.cursorValue ?? ((v) => v as string | number))(last[k.column])) }),
    ...(whole ? { next_end: last.time as string } : {}),
  }
}

const METRIC_COLUMNS = ['time', 'metric_type', 'metric_name', 'value', 'tags'] as const
const METRIC_TEXT: ReadonlySet<string> = new Set(['metric_type', 'metric_name'])

/** Scalar metric rows; the tie-break orders tags as jsonb and the cursor carries them as JSON, read back as jsonb. */
export async function readMetricRows(db: Kysely<Database>, req: ListingRequest & { agentName: string }): Promise<ListingPage> {
  const query = db.selectFrom('metrics').select(METRIC_COLUMNS)
    .where('org_id', '=', req.orgId).where('agent_id', '=', req.agentId).orderBy('time', 'desc')
  return page(db, query, METRIC_COLUMNS, METRIC_TEXT, [
    { column: 'metric_type' }, { column: 'metric_name' }, { column: 'tags', cursorValue: (v) => JSON.stringify(v) },
  ], req)
}

/** Filesystem rows, each instant ordered by mount point. */
export async function readDiskRows(db: Kysely<Database>, req: ListingRequest & { agentName: string }): Promise<ListingPage> {
  const query = db.selectFrom('disk_metrics').select(DISK_COLUMNS)
    .where('org_id', '=', req.orgId).where('agent_id', '=', req.agentId).orderBy('time', 'desc')
  return page(db, query, DISK_COLUMNS, DISK_TEXT, [{ column: 'mount_point' }], req)
}

/** Interface rows, each instant ordered by interface name. */
export async function readNetworkRows(db: Kysely<Database>, req: ListingRequest & { agentName: string }): Promise<ListingPage> {
  const query = db.selectFrom('network_metrics').select(NETWORK_COLUMNS)
    .where('org_id', '=', req.orgId).where('agent_id', '=', req.agentId).orderBy('time', 'desc')
  return page(db, query, NETWORK_COLUMNS, NETWORK_TEXT, [{ column: 'interface' }], req)
}

/** An interface's newest row in [start, end), if any: the counters a rate is taken against. */
export async function newestNetworkRow(db: Kysely<Database>, req: { orgId: string; agentId: string; interface: string; start: Date; end: Date }): Promise<NetworkRow | undefined> {
  return db.selectFrom('network_metrics').select(NETWORK_COLUMNS)
    .where('org_id', '=', req.orgId).where('agent_id', '=', req.agentId).where('interface', '=', req.interface)
    .where('time', '>=', req.start).where('time', '<', req.end).orderBy('time', 'desc').limit(1).executeTakeFirst()
}

/**
 * Process rows, each snapshot ranked by CPU, then memory, then pid, and cut at the limit: the next page
 * (end = next_end) starts at the next older snapshot, so a page never holds part of a snapshot's top and
 * the rest later. Paged by `end` only.
 */
export async function readProcessRows(db: Kysely<Database>, req: Omit<ListingRequest, 'cursor'>): Promise<{ rows: ProcessRow[]; next_end?: string }> {
  const rows = await db.selectFrom('process_metrics').select(PROCESS_COLUMNS)
    .where('org_id', '=', req.orgId).where('agent_id', '=', req.agentId)
    .where('time', '>=', req.start).where('time', '<', req.end)
    .orderBy('time', 'desc').orderBy('cpu_percent', 'desc').orderBy('memory_bytes', 'desc').orderBy('pid')
    .limit(req.limit).execute()
  return rows.length === req.limit ? { rows, next_end: rows[rows.length - 1].time.toISOString() } : { rows }
}
