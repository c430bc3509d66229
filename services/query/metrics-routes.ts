// GET /api/v1/metrics/latest/:agent_id and /range/:agent_id, as seed 001 describes them.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { sql } from 'kysely'
import { ApiError } from '../api/errors.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { findAgent, type AgentRow } from '../agents/agents-repository.ts'
import { parseLimit, parseTimeRange } from './time-range.ts'

const AgentParams = Type.Object({ agent_id: Type.String({ minLength: 1, maxLength: 128 }) })
const RangeQuery = Type.Object({
  start: Type.Optional(Type.String({ maxLength: 64 })),
  end: Type.Optional(Type.String({ maxLength: 64 })),
  limit: Type.Optional(Type.String({ maxLength: 12 })),
})
const MAX_LIMIT = 10_000
/** How far before the agent's newest sample "latest" looks for each series' last value. */
const LATEST_WINDOW = '15 minutes'

interface MetricRow { time: Date; metric_type: string; metric_name: string; value: number; tags: Record<string, string> }

const metricView = (agent: AgentRow, r: MetricRow) => ({
  time: r.time.toISOString(), agent_id: agent.name, metric_type: r.metric_type, metric_name: r.metric_name, value: r.value, tags: r.tags,
})

/**
 * A page never splits one instant: a full page is cut back to whole timestamps, so the next page
 * (end = oldest time of this one, exclusive) neither repeats nor skips rows that share a timestamp.
 * When a single instant holds more rows than the limit, the page is that whole instant instead.
 */
async function pageOfWholeTimestamps<T extends { time: Date }>(rows: T[], limit: number, wholeInstant: (time: Date) => Promise<T[]>): Promise<T[]> {
  if (rows.length < limit || rows.length === 0) return rows
  const oldest = rows[rows.length - 1].time.getTime()
  const kept = rows.filter((r) => r.time.getTime() !== oldest)
  return kept.length > 0 ? kept : wholeInstant(rows[0].time)
}

export const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  async function agentFor(orgId: string, idOrName: string): Promise<AgentRow> {
    const agent = await findAgent(db, orgId, idOrName)
    if (!agent) throw new ApiError('NOT_FOUND', `Agent "${idOrName}" not found`)
    return agent
  }

  app.get('/api/v1/metrics/latest/:agent_id', {
    onRequest: app.authenticate,
    schema: { params: AgentParams, querystring: Type.Object({ limit: Type.Optional(Type.String({ maxLength: 12 })) }) },
  }, async (request) => {
    const limit = parseLimit(request.query.limit, 100, MAX_LIMIT)
    const agent = await agentFor(principalOf(request).orgId, request.params.agent_id)
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
    schema: { params: AgentParams, querystring: RangeQuery },
  }, async (request) => {
    const { start, end } = parseTimeRange(request.query)
    const limit = parseLimit(request.query.limit, 1000, MAX_LIMIT)
    const agent = await agentFor(principalOf(request).orgId, request.params.agent_id)
    const query = db.selectFrom('metrics').select(['time', 'metric_type', 'metric_name', 'value', 'tags'])
      .where('org_id', '=', agent.org_id).where('agent_id', '=', agent.id)
      .orderBy('time', 'desc').orderBy('metric_type').orderBy('metric_name')
    const rows = await query.where('time', '>=', start).where('time', '<', end).limit(limit).execute() as MetricRow[]
    const page = await pageOfWholeTimestamps(rows, limit, async (time) => await query.where('time', '=', time).execute() as MetricRow[])
    const full = rows.length === limit
    return {
      agent_id: agent.name, start: start.toISOString(), end: end.toISOString(), count: page.length,
      metrics: page.map((r) => metricView(agent, r)),
      ...(full ? { next_end: page[page.length - 1].time.toISOString() } : {}),
    }
  })
}
