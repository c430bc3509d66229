// Seed 001's listings as reads: an agent's metric, disk, network and process rows in a time range, newest
// first, one page at a time. No request here: callers pass the organization, agent, range, limit and cursor.
import { sql, type Kysely, type RawBuilder, type Selectable, type SelectQueryBuilder } from 'kysely'
import { DomainError } from '../errors/domain-error.ts'
import { parseRfc3339 } from './time-range.ts'
import { isStorableText } from '../security/reject-unstorable-input.ts'
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

/**
 * Where a page stopped: the time and the tie-break keys of its last row, and how many rows at its end had
 * that very time and keys (rows no key tells apart: the next page skips that many of them). A cursor issued
 * before `n` existed holds every key but the last (value, device) and continues after its keys, as it did.
 * When the keys would make a cursor longer than MAX_CURSOR_LENGTH (tags of hundreds of characters, which the
 * ecosystem's writers send), the cursor is the row's position in its instant instead (`p`: how many rows of
 * that instant, in key order, were given): as exact, unless rows are added to that very instant between pages.
 */
interface KeyCursor { t: string; k: Array<string | number>; n?: number }
interface PositionCursor { t: string; p: number }
type Cursor = KeyCursor | PositionCursor

/** The longest cursor a listing issues, and the longest the range routes accept (a URL stays well under HTTP's header limits). */
export const MAX_CURSOR_LENGTH = 2048

export function encodeCursor(c: Cursor): string { return Buffer.from(JSON.stringify(c)).toString('base64url') }

const isPosition = (c: Cursor): c is PositionCursor => 'p' in c

/** The cursor a listing with these keys issued, or a 400: every value is checked as the database would read it. */
function decodeCursor(text: string, keys: ListingKey[]): Cursor {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString()) as KeyCursor & Partial<PositionCursor>
    if (typeof c.t === 'string' && Object.keys(c).length === 2 && Number.isSafeInteger(c.p) && c.p! >= 1) {
      parseRfc3339('cursor', c.t)
      return { t: c.t, p: c.p! }
    }
    const keyCount = c.n === undefined && keys.length > 1 ? keys.length - 1 : keys.length
    if (typeof c.t === 'string' && c.p === undefined && Array.isArray(c.k) && c.k.length === keyCount
      && (c.n === undefined || (Number.isSafeInteger(c.n) && c.n >= 1))
      && c.k.every((v, i) => keys[i].cursorValue ? isJsonObjectText(v)
        : keys[i].numeric ? Number.isFinite(v) || (typeof v === 'string' && Object.hasOwn(NOT_JSON_NUMBERS, v))
        : typeof v === 'string' && isStorableText(v))) {
      parseRfc3339('cursor', c.t)
      return c
    }
  } catch { /* answered below */ }
  throw new DomainError('invalid', 'Invalid request: cursor is not one this API issued (use next_cursor as given)', { details: { cursor: ['is malformed'] } })
}

/** A tags key's cursor value: the text of a JSON object of strings PostgreSQL can store, as tags are. */
function isJsonObjectText(v: unknown): boolean {
  if (typeof v !== 'string' || v.includes('\\u0000')) return false
  const parsed: unknown = JSON.parse(v)
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    && Object.entries(parsed).every(([name, text]) => isStorableText(name) && typeof text === 'string' && isStorableText(text))
}

/** A tie-break column of a listing; `cursorValue` turns its JSON value into the cursor's (jsonb travels as its text). */
interface ListingKey { column: string; cursorValue?: (v: unknown) => string | number; numeric?: boolean }

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

/** A page as the database hands it over: each row's milliseconds since the epoch, and each column's values as JSON texts. */
interface PageColumns { ms: string[]; columns: Map<string, string[]> }

function splitColumns(n: number, times: string, values: string[], valueColumns: readonly string[], textColumns: ReadonlySet<string>): PageColumns {
  const ms = n === 0 ? [] : times.split(',')
  const columns = new Map<string, string[]>()
  for (const [i, c] of valueColumns.entries()) {
    const list = n === 0 ? [] : values[i].split(SEPARATOR)
    if (list.length !== n || ms.length !== n) throw new Error(`listing column ${c}: ${list.length} values and ${ms.length} times for ${n} rows`)
    if (!textColumns.has(c)) for (let j = 0; j < n; j++) list[j] = NOT_JSON_NUMBERS[list[j]] ?? list[j]
    columns.set(c, list)
  }
  return { ms, columns }
}

const isoOf = (ms: string) => new Date(Number(ms)).toISOString()

/**
 * The page's first `count` rows as JSON objects' text, comma-separated: `time` (as toISOString writes it),
 * the agent's name, then the columns, in the listing's order. The engine formats no row (in WebAssembly that
 * was 6 of a 1,000-row page's 8.5 ms); each instant is formatted once.
 */
function rowsJson(page: PageColumns, count: number, agentName: string): string {
  const cols = [...page.columns].map(([c, list]) => ({ key: `,${JSON.stringify(c)}:`, list }))
  const agent = `","agent_id":${JSON.stringify(agentName)}`
  const out = new Array<string>(count)
  let lastMs = ''
  let head = ''
  for (let j = 0; j < count; j++) {
    // Rows of one instant are adjacent.
    if (page.ms[j] !== lastMs) { lastMs = page.ms[j]; head = `{"time":"${isoOf(lastMs)}${agent}` }
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
 * full page is cut back to whole instants for that, unless one instant alone fills it. The database hands
 * over one string per column; the rows' JSON, the cut and the cursor are made from them in Node.
 */
async function page(db: Kysely<Database>, query: Listing, columns: readonly string[], textColumns: ReadonlySet<string>, keys: ListingKey[], req: ListingRequest & { agentName: string }): Promise<ListingPage> {
  let q = query.where('time', '>=', req.start).where('time', '<', req.end)
  const c = req.cursor ? decodeCursor(req.cursor, keys) : undefined
  // Skipping counts rows of the cursor's instant, so it applies only when that instant is in the range (a
  // client may send `end=<next_end>` with the cursor: the instant is then out, and so are its rows).
  const instantInRange = c !== undefined && Date.parse(c.t) >= req.start.getTime() && Date.parse(c.t) < req.end.getTime()
  if (c && isPosition(c)) {
    // The instant's rows sort first, in key order: the ones given are skipped.
    q = q.where('time', '<=', sql<Date>`${c.t}::timestamptz`)
    if (instantInRange) q = q.offset(c.p)
  } else if (c) {
    q = q.where(sql<boolean>`(time < ${c.t}::timestamptz or (time = ${c.t}::timestamptz and ${keysCompared(keys, c.k, c.n === undefined ? '>' : '>=')}))`)
    // The rows tied with the last one sort first: the ones the previous page gave are skipped.
    if (c.n !== undefined && instantInRange) q = q.offset(c.n)
  }
  for (const k of keys) q = q.orderBy(sql.ref(k.column))
  const order = sql.join([sql`time desc`, ...keys.map((k) => sql`${sql.ref(k.column)} asc`)])
  const valueColumns = columns.filter((c) => c !== 'time')
  const { rows: [r] } = await sql<{ n: number; times: string } & Record<string, string>>`
    select count(*)::int as n,
           coalesce(string_agg(floor(extract(epoch from time) * 1000)::int8::text, ',' order by ${order}), '') as times,
           ${sql.join(valueColumns.map((c, i) => sql`${columnValues(c, textColumns.has(c), order)} as ${sql.ref(`c${i}`)}`))}
    from (${q.limit(req.limit)}) as page`.execute(db)
  const rows = splitColumns(r.n, r.times, valueColumns.map((_, i) => r[`c${i}`]), valueColumns, textColumns)
  if (r.n < req.limit || r.n === 0) return { count: r.n, json: rowsJson(rows, r.n, req.agentName) }
  // Rows come newest first: the oldest instant's rows are the tail, and are left for the next page.
  const oldest = rows.ms[r.n - 1]
  const whole = rows.ms[0] !== oldest
  const count = whole ? rows.ms.indexOf(oldest) : r.n
  const lastTime = isoOf(rows.ms[count - 1])
  const keyTexts = keys.map((k) => rows.columns.get(k.column)!)
  const k = keys.map((key, i) => (key.cursorValue ?? ((v) => v as string | number))(JSON.parse(keyTexts[i][count - 1])))
  let tied = 1
  while (tied < count && rows.ms[count - 1 - tied] === rows.ms[count - 1] && keyTexts.every((col) => col[count - 1 - tied] === col[count - 1])) tied++
  // A page of nothing but rows tied with where the last one stopped: those count too.
  if (tied === count && c && !isPosition(c) && c.n !== undefined && Date.parse(c.t) === Date.parse(lastTime) && JSON.stringify(c.k) === JSON.stringify(k)) tied += c.n
  let next = encodeCursor({ t: lastTime, k, n: tied })
  if (next.length > MAX_CURSOR_LENGTH) {
    let inPage = 0
    for (let j = count - 1; j >= 0 && rows.ms[j] === rows.ms[count - 1]; j--) inPage++
    next = encodeCursor({ t: lastTime, p: await givenBefore(db, query, keys, c, lastTime) + inPage })
  }
  return {
    count, json: rowsJson(rows, count, req.agentName),
    next_cursor: next,
    ...(whole ? { next_end: lastTime } : {}),
  }
}

/** `(key columns) op (values)`, the values as many leading keys as given. */
function keysCompared(keys: ListingKey[], values: Array<string | number>, op: '>' | '>=' | '<' | '<='): RawBuilder<boolean> {
  const keyList = sql.join(keys.slice(0, values.length).map((k) => sql.ref(k.column)))
  return sql<boolean>`(${keyList}) ${sql.raw(op)} (${sql.join(values.map((v) => sql`${v}`))})`
}

/** How many rows of the instant `t` pages before this one gave (0 unless the page started inside that instant). */
async function givenBefore(db: Kysely<Database>, query: Listing, keys: ListingKey[], c: Cursor | undefined, t: string): Promise<number> {
  if (!c || Date.parse(c.t) !== Date.parse(t)) return 0
  if (isPosition(c)) return c.p
  // A key cursor gave the instant's rows before its keys, and `n` tied with them (an older cursor: all up to its keys).
  const before = query.where('time', '=', sql<Date>`${t}::timestamptz`).where(keysCompared(keys, c.k, c.n === undefined ? '<=' : '<'))
  const { rows: [r] } = await sql<{ n: number }>`select count(*)::int as n from (${before}) as given`.execute(db)
  return r.n + (c.n ?? 0)
}

const METRIC_COLUMNS = ['time', 'metric_type', 'metric_name', 'value', 'tags'] as const
const METRIC_TEXT: ReadonlySet<string> = new Set(['metric_type', 'metric_name'])

/** Scalar metric rows; the tie-break orders tags as jsonb and the cursor carries them as JSON, read back as jsonb. */
export async function readMetricRows(db: Kysely<Database>, req: ListingRequest & { agentName: string }): Promise<ListingPage> {
  const query = db.selectFrom('metrics').select(METRIC_COLUMNS)
    .where('org_id', '=', req.orgId).where('agent_id', '=', req.agentId).orderBy('time', 'desc')
  return page(db, query, METRIC_COLUMNS, METRIC_TEXT, [
    { column: 'metric_type' }, { column: 'metric_name' }, { column: 'tags', cursorValue: (v) => JSON.stringify(v) }, { column: 'value', numeric: true },
  ], req)
}

/** Filesystem rows, each instant ordered by mount point (then device: stacked mounts share a mount point). */
export async function readDiskRows(db: Kysely<Database>, req: ListingRequest & { agentName: string }): Promise<ListingPage> {
  const query = db.selectFrom('disk_metrics').select(DISK_COLUMNS)
    .where('org_id', '=', req.orgId).where('agent_id', '=', req.agentId).orderBy('time', 'desc')
  return page(db, query, DISK_COLUMNS, DISK_TEXT, [{ column: 'mount_point' }, { column: 'device' }], req)
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
