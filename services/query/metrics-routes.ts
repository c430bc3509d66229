// Seed 001's metric listings: latest, range, disk, network and process rows for one agent, newest first,
// paged back in time with `end`.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ERRORS } from '../http/response-schemas.ts'
import { DiskOut, LatestOut, NetworkOut, ProcessListOut, RangeOut } from './query-responses.ts'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { sql, type RawBuilder, type SelectQueryBuilder } from 'kysely'
import { ApiError } from '../http/errors.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import type { AgentRow } from '../agents/agents-repository.ts'
import type { Database } from '../store/database.ts'
import { parseLimit, parseTimeRange } from './time-range.ts'
import { AgentParams, ProcessRangeQuery, RangeQuery, agentFor } from './query-schemas.ts'

const MAX_LIMIT = 10_000
const MAX_PROCESS_LIMIT = 100
/** How far before the agent's newest sample "latest" looks for each series' last value. */
const LATEST_WINDOW = '15 minutes'

interface MetricRow { time: Date; metric_type: string; metric_name: string; value: number; tags: Record<string, string> }

const metricView = (agent: AgentRow, r: MetricRow) => ({
  time: r.time.toISOString(), agent_id: agent.name, metric_type: r.metric_type, metric_name: r.metric_name, value: r.value, tags: r.tags,
})

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
  throw new ApiError('VALIDATION_ERROR', 'Invalid request: cursor is not one this API issued (use next_cursor as given)', { cursor: ['is malformed'] })
}

/**
 * One page of a listing ordered newest first, then by `keys` ascending (a total order), at most `limit`
 * rows. `next_cursor` continues exactly where the page stopped. `next_end` (seed 001's pagination) is
 * given when the page ends on a whole instant, so `end=<next_end>` neither repeats nor skips a row; a
 * full page is cut back to whole instants for that, unless one instant alone fills it.
 */
async function page<T extends { time: Date }>(
  query: Listing<T>, keys: Array<{ sql: RawBuilder<unknown>; of: (row: T) => string | number }>,
  range: { start: Date; end: Date }, limit: number, cursorText?: string,
) {
  let q = query.where('time', '>=', range.start).where('time', '<', range.end)
  if (cursorText) {
    const c = decodeCursor(cursorText)
    if (c.k.length !== keys.length) throw new ApiError('VALIDATION_ERROR', 'Invalid request: cursor belongs to another listing', { cursor: ['is malformed'] })
    const tuple = (values: unknown[]) => sql`(${sql.join(values.map((v) => sql`${v}`))})`
    q = q.where(sql<boolean>`(time < ${c.t}::timestamptz or (time = ${c.t}::timestamptz and ${sql`(${sql.join(keys.map((k) => k.sql))})`} > ${tuple(c.k)}))`)
  }
  for (const k of keys) q = q.orderBy(k.sql as never)
  const rows = await q.limit(limit).execute() as T[]
  if (rows.length < limit) return { rows }
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

const iso = (d: Date | null) => (d ? d.toISOString() : null)

export const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  async function listing(request: FastifyRequest, defaultLimit: number, max: number) {
    const params = request.params as { agent_id: string }
    const query = request.query as { start?: string; end?: string; limit?: string; cursor?: string }
    const range = parseTimeRange(query)
    const limit = parseLimit(query.limit, defaultLimit, max)
    const agent = await agentFor(db, principalOf(request).orgId, params.agent_id)
    const head = { agent_id: agent.name, start: range.start.toISOString(), end: range.end.toISOString() }
    return { agent, range, limit, head, cursor: query.cursor }
  }

  app.get('/api/v1/metrics/latest/:agent_id', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Newest value of every series of an agent', tags: ['metrics'],
      params: AgentParams, querystring: Type.Object({ limit: Type.Optional(Type.String({ maxLength: 12 })) }),
      response: { 200: LatestOut, ...ERRORS },
    },
  }, async (request) => {
    const limit = parseLimit(request.query.limit, 100, MAX_LIMIT)
    const agent = await agentFor(db, principalOf(request).orgId, request.params.agent_id)
    // The newest value of every series (kept by ingest), newest first; series silent for LATEST_WINDOW
    // before the agent's newest sample are gone from "latest" (a removed disk, a stopped process).
    const rows: MetricRow[] = !agent.last_metrics_at ? [] : await db.selectFrom('metrics_latest')
      .select(['time', 'metric_type', 'metric_name', 'value', 'tags'])
      .where('org_id', '=', agent.org_id).where('agent_id', '=', agent.id)
      .where('time', '>', sql<Date>`${agent.last_metrics_at}::timestamptz - ${LATEST_WINDOW}::interval`)
      .orderBy('time', 'desc').orderBy('metric_type').orderBy('metric_name').limit(limit).execute() as MetricRow[]
    return { agent_id: agent.name, count: rows.length, metrics: rows.map((r) => metricView(agent, r)) }
  })

  app.get('/api/v1/metrics/range/:agent_id', {
    onRequest: app.authenticate,
    schema: { summary: 'Scalar metric rows in a time range', tags: ['metrics'], params: AgentParams, querystring: RangeQuery, response: { 200: RangeOut, ...ERRORS } },
  }, async (request) => {
    const { agent, range, limit, head, cursor } = await listing(request, 1000, MAX_LIMIT)
    // The tie-break orders tags as jsonb; the cursor carries them as JSON, read back as jsonb.
    const query = db.selectFrom('metrics').select(['time', 'metric_type', 'metric_name', 'value', 'tags'])
      .where('org_id', '=', agent.org_id).where('agent_id', '=', agent.id).orderBy('time', 'desc')
    const { rows, ...next } = await page(query as Listing<MetricRow>, [
      { sql: sql`metric_type`, of: (r) => r.metric_type }, { sql: sql`metric_name`, of: (r) => r.metric_name },
      { sql: sql`tags`, of: (r) => JSON.stringify(r.tags) },
    ], range, limit, cursor)
    return { ...head, count: rows.length, metrics: rows.map((r) => metricView(agent, r)), ...next }
  })

  // Disk and network listings differ only in table, columns and the per-instant order.
  const wideListings = [
    {
      url: '/api/v1/metrics/disk/:agent_id', summary: 'Filesystem usage per mount point', table: 'disk_metrics', key: 'mount_point', response: DiskOut,
      columns: ['time', 'device', 'mount_point', 'filesystem', 'total_bytes', 'used_bytes', 'available_bytes', 'usage_percent', 'inodes_total',
        'inodes_used', 'inodes_percent', 'read_bytes_per_sec', 'write_bytes_per_sec', 'read_ops_per_sec', 'write_ops_per_sec', 'io_util_percent'],
    },
    {
      url: '/api/v1/metrics/network/:agent_id', summary: 'Network counters and rates per interface', table: 'network_metrics', key: 'interface', response: NetworkOut,
      columns: ['time', 'interface', 'bytes_sent', 'bytes_recv', 'packets_sent', 'packets_recv', 'errors_in', 'errors_out', 'drop_in',
        'drop_out', 'is_up', 'bytes_sent_per_sec', 'bytes_recv_per_sec', 'packets_sent_per_sec', 'packets_recv_per_sec'],
    },
  ] as const
  for (const w of wideListings) {
    app.get(w.url, {
      onRequest: app.authenticate,
      schema: { summary: w.summary, tags: ['metrics'], params: AgentParams, querystring: RangeQuery, response: { 200: w.response, ...ERRORS } },
    }, async (request) => {
      const { agent, range, limit, head, cursor } = await listing(request, 1000, MAX_LIMIT)
      const query = db.selectFrom(w.table).select([...w.columns] as never[])
        .where('org_id', '=', agent.org_id).where('agent_id', '=', agent.id).orderBy('time', 'desc')
      const { rows, ...next } = await page(query as unknown as Listing<{ time: Date } & Record<string, string>>,
        [{ sql: sql.ref(w.key), of: (r) => r[w.key] }], range, limit, cursor)
      // Typed per table by the response schema; the rows come from that table's column list.
      return {
        ...head, count: rows.length, ...next,
        metrics: rows.map((r) => ({ ...r, time: r.time.toISOString(), agent_id: agent.name })),
      } as never
    })
  }

  app.get('/api/v1/metrics/process/:agent_id', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Processes of each snapshot, newest snapshot first, ranked by CPU', tags: ['metrics'],
      params: AgentParams, querystring: ProcessRangeQuery, response: { 200: ProcessListOut, ...ERRORS },
    },
  }, async (request) => {
    const { agent, range, limit, head } = await listing(request, 100, MAX_PROCESS_LIMIT)
    const rows = await db.selectFrom('process_metrics').select(['time', 'pid', 'parent_pid', 'name', 'cmdline', 'username', 'cpu_percent',
      'memory_bytes', 'memory_vms', 'memory_percent', 'num_threads', 'status', 'create_time'])
      .where('org_id', '=', agent.org_id).where('agent_id', '=', agent.id)
      .where('time', '>=', range.start).where('time', '<', range.end)
      .orderBy('time', 'desc').orderBy('cpu_percent', 'desc').orderBy('memory_bytes', 'desc').orderBy('pid')
      .limit(limit).execute()
    // Each snapshot is ranked by CPU and cut at the limit: the next page (end = next_end) starts at the
    // next older snapshot, so a page never holds part of a snapshot's top and the rest later.
    const next_end = rows.length === limit ? rows[rows.length - 1].time.toISOString() : undefined
    return {
      ...head, count: rows.length, ...(next_end ? { next_end } : {}),
      metrics: rows.map((r) => ({ ...r, time: r.time.toISOString(), agent_id: agent.name, create_time: iso(r.create_time) })),
    }
  })
}
