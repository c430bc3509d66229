// Log lines as reads: an organization's (or one agent's) lines in a time range, filtered by text, level and
// source, newest first, by keyset cursor or by page. No request here: callers pass organization and agent.
import { sql, type Expression, type Kysely, type SqlBool } from 'kysely'
import { DomainError, invalidField } from '../errors/domain-error.ts'
import type { Database, LogLevel } from '../store/database.ts'

export type LogRow = { id: number; time: Date; agent_id: string; source: string; level: LogLevel; message: string; fields: Record<string, unknown> }

export interface LogFilter {
  orgId: string
  agentId?: string
  /** Case-insensitive substring of the message (no wildcards: % and _ match themselves). */
  q?: string
  /** This level and every more severe one. */
  level?: LogLevel
  source?: string
  start: Date
  end: Date
}

/** Least to most severe, as the logs table's CHECK lists them. */
export const LOG_SEVERITY: readonly LogLevel[] = ['debug', 'info', 'notice', 'warning', 'error', 'critical']

/** Longest page either listing returns, whatever the caller asks. */
export const MAX_LOG_PAGE = 1000

const COLUMNS = ['id', 'time', 'agent_id', 'source', 'level', 'message', 'fields'] as const

/** `%`, `_` and the escape character itself stand for themselves in a LIKE pattern. */
export function likeSubstring(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

function filtered(db: Kysely<Database>, f: LogFilter) {
  let q = db.selectFrom('logs').where('org_id', '=', f.orgId).where('time', '>=', f.start).where('time', '<', f.end)
  if (f.agentId !== undefined) q = q.where('agent_id', '=', f.agentId)
  if (f.source !== undefined) q = q.where('source', '=', f.source)
  if (f.level !== undefined) {
    const from = LOG_SEVERITY.indexOf(f.level)
    if (from < 0) throw invalidField('level', `must be one of ${LOG_SEVERITY.join(', ')}`)
    q = q.where('level', 'in', LOG_SEVERITY.slice(from))
  }
  if (f.q !== undefined && f.q !== '') q = q.where(sql<SqlBool>`message ilike ${likeSubstring(f.q)} escape '\\'`)
  return q
}

const bounded = (limit: number) => Math.max(1, Math.min(Math.floor(limit) || 1, MAX_LOG_PAGE))

/** Where a page stopped: its last row's time to the microsecond (as stored) and id. */
interface LogCursor { t: string; id: number }
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

function encodeLogCursor(c: LogCursor): string { return Buffer.from(JSON.stringify(c)).toString('base64url') }

function decodeLogCursor(text: string): LogCursor {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString()) as LogCursor
    if (typeof c.t === 'string' && CURSOR_TIME.test(c.t) && Number.isSafeInteger(c.id)) return c
  } catch { /* answered below */ }
  throw invalidField('cursor', 'is malformed', 'Invalid request: cursor is not one this API issued (use next_cursor as given)')
}

const utcMicros = sql<string>`to_char(time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

/** Newest first; `next_cursor` (absent on the last page) continues exactly after this page's last line. */
export async function listLogs(db: Kysely<Database>, f: LogFilter & { limit: number; cursor?: string }): Promise<{ logs: LogRow[]; next_cursor?: string }> {
  const limit = bounded(f.limit)
  let q = filtered(db, f)
  if (f.cursor !== undefined) {
    const c = decodeLogCursor(f.cursor)
    q = q.where(sql<SqlBool>`(time, id) < (${c.t}::timestamptz, ${c.id}::bigint)` as Expression<SqlBool>)
  }
  // One row more than asked says whether a next page exists.
  const rows = await q.select([...COLUMNS, utcMicros.as('cursor_time')]).orderBy('time', 'desc').orderBy('id', 'desc').limit(limit + 1).execute()
  const more = rows.length > limit
  const page = rows.slice(0, limit)
  const logs = page.map(({ cursor_time: _, ...row }) => row)
  if (!more) return { logs }
  const last = page[page.length - 1]
  return { logs, next_cursor: encodeLogCursor({ t: last.cursor_time, id: last.id }) }
}

/** Newest first, `offset` lines in, and how many lines match in all (page-number pagination). */
export async function listLogsPage(db: Kysely<Database>, f: LogFilter & { limit: number; offset: number }): Promise<{ logs: LogRow[]; total: number }> {
  const offset = Math.max(0, Math.floor(f.offset) || 0)
  const [{ total }] = await filtered(db, f).select((eb) => eb.fn.countAll<number>().as('total')).execute()
  const logs = await filtered(db, f).select(COLUMNS).orderBy('time', 'desc').orderBy('id', 'desc')
    .limit(bounded(f.limit)).offset(offset).execute()
  return { logs, total: Number(total) }
}

/** One line of the organization, or not_found (also for another organization's line). */
export async function getLog(db: Kysely<Database>, orgId: string, id: number): Promise<LogRow> {
  const row = Number.isSafeInteger(id) && id > 0
    ? await db.selectFrom('logs').select(COLUMNS).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst()
    : undefined
  if (!row) throw new DomainError('not_found', `Log line ${id} not found`)
  return row
}
