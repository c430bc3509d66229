// Seed 001's metric listings: latest, range, disk, network and process rows for one agent, newest first,
// paged back in time with `end`.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ERRORS } from '../http/response-schemas.ts'
import { DiskOut, LatestOut, NetworkOut, ProcessListOut, RangeOut } from './query-responses.ts'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { principalOf } from '../auth/auth-plugin.ts'
import { agentNotFound } from '../agents/agents-repository.ts'
import { parseLimit, parseTimeRange } from './time-range.ts'
import { ProcessRangeQuery, RangeQuery, agentFor } from './query-schemas.ts'
import { AgentIdParam } from '../http/params.ts'
import { readDiskRows, readMetricRows, readNetworkRows, readProcessRows, type ListingPage } from './range-reads.ts'
import { readAgentLatest, type LatestMetric } from './latest-reads.ts'

const MAX_LIMIT = 10_000
const MAX_PROCESS_LIMIT = 100

const metricView = (agentName: string, r: LatestMetric) => ({
  time: r.time.toISOString(), agent_id: agentName, metric_type: r.metric_type, metric_name: r.metric_name, value: r.value, tags: r.tags,
})

const iso = (d: Date | null) => (d ? d.toISOString() : null)

/**
 * A listing's answer around the rows' JSON the database built: the head, count, rows and where the next
 * page starts, in the response schema's order. Sent as text, so Fastify does not serialize it again.
 */
function sendListing(reply: FastifyReply, head: Record<string, string>, page: ListingPage): FastifyReply {
  const { count, json, ...next } = page
  const tail = JSON.stringify(next).slice(1, -1)
  const text = `${JSON.stringify({ ...head, count }).slice(0, -1)},"metrics":[${json}]${tail ? `,${tail}` : ''}}`
  return reply.type('application/json; charset=utf-8').send(text)
}

export const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  async function listing(request: FastifyRequest, defaultLimit: number, max: number) {
    const params = request.params as { agent_id: string }
    const query = request.query as { start?: string; end?: string; limit?: string; cursor?: string }
    const range = parseTimeRange(query)
    const limit = parseLimit(query.limit, defaultLimit, max)
    const agent = await agentFor(db, principalOf(request).orgId, params.agent_id)
    const head = { agent_id: agent.name, start: range.start.toISOString(), end: range.end.toISOString() }
    const read = { orgId: agent.org_id, agentId: agent.id, start: range.start, end: range.end, limit }
    return { agent, head, read, cursor: query.cursor }
  }

  app.get('/api/v1/metrics/latest/:agent_id', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Newest value of every series of an agent', tags: ['metrics'],
      params: AgentIdParam, querystring: Type.Object({ limit: Type.Optional(Type.String({ maxLength: 12 })) }),
      response: { 200: LatestOut, ...ERRORS },
    },
  }, async (request) => {
    const limit = parseLimit(request.query.limit, 100, MAX_LIMIT)
    const latest = await readAgentLatest(db, { orgId: principalOf(request).orgId, idOrName: request.params.agent_id, limit })
    if (!latest) throw agentNotFound(request.params.agent_id)
    return { agent_id: latest.agentName, count: latest.rows.length, metrics: latest.rows.map((r) => metricView(latest.agentName, r)) }
  })

  app.get('/api/v1/metrics/range/:agent_id', {
    onRequest: app.authenticate,
    schema: { summary: 'Scalar metric rows in a time range', tags: ['metrics'], params: AgentIdParam, querystring: RangeQuery, response: { 200: RangeOut, ...ERRORS } },
  }, async (request, reply) => {
    const { agent, head, read, cursor } = await listing(request, 1000, MAX_LIMIT)
    return sendListing(reply, head, await readMetricRows(db, { ...read, cursor, agentName: agent.name }))
  })

  // Disk and network listings differ only in their read and response schema.
  const wideListings = [
    { url: '/api/v1/metrics/disk/:agent_id', summary: 'Filesystem usage per mount point', read: readDiskRows, response: DiskOut },
    { url: '/api/v1/metrics/network/:agent_id', summary: 'Network counters and rates per interface', read: readNetworkRows, response: NetworkOut },
  ] as const
  for (const w of wideListings) {
    app.get(w.url, {
      onRequest: app.authenticate,
      schema: { summary: w.summary, tags: ['metrics'], params: AgentIdParam, querystring: RangeQuery, response: { 200: w.response, ...ERRORS } },
    }, async (request, reply) => {
      const { agent, head, read, cursor } = await listing(request, 1000, MAX_LIMIT)
      return sendListing(reply, head, await w.read(db, { ...read, cursor, agentName: agent.name }))
    })
  }

  app.get('/api/v1/metrics/process/:agent_id', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Processes of each snapshot, newest snapshot first, ranked by CPU', tags: ['metrics'],
      params: AgentIdParam, querystring: ProcessRangeQuery, response: { 200: ProcessListOut, ...ERRORS },
    },
  }, async (request) => {
    const { agent, head, read } = await listing(request, 100, MAX_PROCESS_LIMIT)
    const { rows, next_end } = await readProcessRows(db, read)
    return {
      ...head, count: rows.length, ...(next_end ? { next_end } : {}),
      metrics: rows.map((r) => ({ ...r, time: r.time.toISOString(), agent_id: agent.name, create_time: iso(r.create_time) })),
    }
  })
}
