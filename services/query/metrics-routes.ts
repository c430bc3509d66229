// Seed 001's metric listings: latest, range, disk, network and process rows for one agent, newest first,
// paged back in time with `end`.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { sql, type SelectQueryBuilder } from 'kysely'
import { principalOf } from '../auth/auth-plugin.ts'
import type { AgentRow } from '../agents/agents-repository.ts'
import type { Database } from '../store/database.ts'
import { parseLimit, parseTimeRange } from './time-range.ts'
import { AgentParams, RangeQuery, agentFor } from './query-schemas.ts'

const MAX_LIMIT = 10_000
const MAX_PROCESS_LIMIT = 100
/** How far before the agent's newest sample "latest" looks for each series' last value. */
const LATEST_WINDOW = '15 minutes'

interface MetricRow { time: Date; metric_type: string; metric_name: string; value: number; tags: Record<string, string> }

const metricView = (agent: AgentRow, r: MetricRow) => ({
  time: r.time.toISOString(), agent_id: agent.name, metric_type: r.metric_type, metric_name: r.metric_name, value: r.value, tags: r.tags,
})

/**
 * A page never splits one instant: a full page is cut back to whole timestamps, so the next page
 * (end = oldest time of this one, exclusive) neither repeats nor skips rows that share a timestamp.
 * When a single instant holds more rows than the limit, the page is that whole instant instead
 * (or, where `capAtLimit`, its first `limit` rows: process listings rank within an instant).
 */
async function pageOfWholeTimestamps<T extends { time: Date }>(
  rows: T[], limit: number, wholeInstant: (time: Date) => Promise<T[]>, capAtLimit = false,
): Promise<T[]> {
  if (rows.length < limit || rows.length === 0) return rows
  const oldest = rows[rows.length - 1].time.getTime()
  const kept = rows.filter((r) => r.time.getTime() !== oldest)
  if (kept.length > 0) return kept
  return capAtLimit ? rows : wholeInstant(rows[0].time)
}

type Listing<T> = SelectQueryBuilder<Database, any, T>

/** One page of a listing ordered newest first, with `next_end` when more may follow. */
async function page<T extends { time: Date }>(query: Listing<T>, range: { start: Date; end: Date }, limit: number, capAtLimit = false) {
  const rows = await query.where('time', '>=', range.start).where('time', '<', range.end).limit(limit).execute() as T[]
  const kept = await pageOfWholeTimestamps(rows, limit, async (time) => await query.where('time', '=', time).execute() as T[], capAtLimit)
  return { rows: kept, next_end: rows.length === limit ? kept[kept.length - 1].time.toISOString() : undefined }
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)

export const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  async function listing(request: FastifyRequest, defaultLimit: number, max: number) {
    const params = request.params as { agent_id: string }
    const query = request.query as { start?: string; end?: string; limit?: string }
    const range = parseTimeRange(query)
    const limit = parseLimit(query.limit, defaultLimit, max)
    const agent = await agentFor(db, principalOf(request).orgId, params.agent_id)
    const head = { agent_id: agent.name, start: range.start.toISOString(), end: range.end.toISOString() }
    return { agent, range, limit, head }
  }

  app.get('/api/v1/metrics/latest/:agent_id', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Newest value of every series of an agent', tags: ['metrics'],
      params: AgentParams, querystring: Type.Object({ limit: Type.Optional(Type.String({ maxLength: 12 })) }),
    },
  }, async (request) => {
    const limit = parseLimit(request.query.limit, 100, MAX_LIMIT)
    const agent = await agentFor(db, principalOf(request).orgId, request.params.agent_id)
    let rows: MetricRow[] = []
    if (agent.last_metrics_at) {
      // The newest value of every series (type, name, tags), newest first.
      const res = await sql<MetricRow>`
        select * from (
          select distinct on (metric_type, metric_name, tags) time, metric_type, metric_name, value, tags
          from metrics
          where org_id = ${agent.org_id} and agent_id = ${agent.id}
            and time > ${agent.last_metrics_at}::timestamptz - ${LATEST_WINDOW}::interval
          order by metric_type, metric_name, tags, time desc
        ) latest
        order by time desc, metric_type, metric_name
        limit ${limit}`.execute(db)
      rows = res.rows
    }
    return { agent_id: agent.name, count: rows.length, metrics: rows.map((r) => metricView(agent, r)) }
  })

  app.get('/api/v1/metrics/range/:agent_id', {
    onRequest: app.authenticate,
    schema: { summary: 'Scalar metric rows in a time range', tags: ['metrics'], params: AgentParams, querystring: RangeQuery },
  }, async (request) => {
    const { agent, range, limit, head } = await listing(request, 1000, MAX_LIMIT)
    const query = db.selectFrom('metrics').select(['time', 'metric_type', 'metric_name', 'value', 'tags'])
      .where('org_id', '=', agent.org_id).where('agent_id', '=', agent.id)
      .orderBy('time', 'desc').orderBy('metric_type').orderBy('metric_name')
    const { rows, next_end } = await page(query, range, limit)
    return { ...head, count: rows.length, metrics: rows.map((r) => metricView(agent, r as MetricRow)), ...(next_end ? { next_end } : {}) }
  })

  // Disk and network listings differ only in table, columns and the per-instant order.
  const wideListings = [
    {
      url: '/api/v1/metrics/disk/:agent_id', summary: 'Filesystem usage per mount point', table: 'disk_metrics', key: 'mount_point',
      columns: ['time', 'device', 'mount_point', 'filesystem', 'total_bytes', 'used_bytes', 'available_bytes', 'usage_percent', 'inodes_total',
        'inodes_used', 'inodes_percent', 'read_bytes_per_sec', 'write_bytes_per_sec', 'read_ops_per_sec', 'write_ops_per_sec', 'io_util_percent'],
    },
    {
      url: '/api/v1/metrics/network/:agent_id', summary: 'Network counters and rates per interface', table: 'network_metrics', key: 'interface',
      columns: ['time', 'interface', 'bytes_sent', 'bytes_recv', 'packets_sent', 'packets_recv', 'errors_in', 'errors_out', 'drop_in',
        'drop_out', 'is_up', 'bytes_sent_per_sec', 'bytes_recv_per_sec', 'packets_sent_per_sec', 'packets_recv_per_sec'],
    },
  ] as const
  for (const w of wideListings) {
    app.get(w.url, {
      onRequest: app.authenticate,
      schema: { summary: w.summary, tags: ['metrics'], params: AgentParams, querystring: RangeQuery },
    }, async (request) => {
      const { agent, range, limit, head } = await listing(request, 1000, MAX_LIMIT)
      const query = db.selectFrom(w.table).select([...w.columns] as never[])
        .where('org_id', '=', agent.org_id).where('agent_id', '=', agent.id).orderBy('time', 'desc').orderBy(w.key)
      const { rows, next_end } = await page(query as unknown as Listing<{ time: Date }>, range, limit)
      return {
        ...head, count: rows.length, ...(next_end ? { next_end } : {}),
        metrics: rows.map((r) => ({ ...r, time: r.time.toISOString(), agent_id: agent.name })),
      }
    })
  }

  app.get('/api/v1/metrics/process/:agent_id', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Processes of each snapshot, newest snapshot first, ranked by CPU', tags: ['metrics'],
      params: AgentParams, querystring: RangeQuery,
    },
  }, async (request) => {
    const { agent, range, limit, head } = await listing(request, 100, MAX_PROCESS_LIMIT)
    const query = db.selectFrom('process_metrics').select(['time', 'pid', 'parent_pid', 'name', 'cmdline', 'username', 'cpu_percent',
      'memory_bytes', 'memory_vms', 'memory_percent', 'num_threads', 'status', 'create_time'])
      .where('org_id', '=', agent.org_id).where('agent_id', '=', agent.id)
      .orderBy('time', 'desc').orderBy('cpu_percent', 'desc').orderBy('memory_bytes', 'desc').orderBy('pid')
    const { rows, next_end } = await page(query, range, limit, true)
    return {
      ...head, count: rows.length, ...(next_end ? { next_end } : {}),
      metrics: rows.map((r) => ({ ...r, time: r.time.toISOString(), agent_id: agent.name, create_time: iso(r.create_time) })),
    }
  })
}
