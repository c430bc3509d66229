// GET /api/v1/logs: an organization's log lines, or one agent's, newest first, paged by cursor.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { principalOf } from '../auth/auth-plugin.ts'
import { ERRORS, Nullable, Time } from '../http/response-schemas.ts'
import { agentFor } from '../query/query-schemas.ts'
import { agentsByIds } from '../agents/agents-repository.ts'
import { parseLimit, parseTimeRange } from '../query/time-range.ts'
import { listLogs, MAX_LOG_PAGE } from './log-reads.ts'

const DEFAULT_LIMIT = 100
const Level = Type.Union([Type.Literal('debug'), Type.Literal('info'), Type.Literal('notice'), Type.Literal('warning'), Type.Literal('error'), Type.Literal('critical')])

const LogsQuery = Type.Object({
  agent: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'agent uuid or name; all agents of the organization when absent' })),
  q: Type.Optional(Type.String({ maxLength: 256, description: 'case-insensitive substring of the message' })),
  level: Type.Optional(Type.Union(Level.anyOf, { description: 'this level and more severe ones' })),
  source: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'exact source: a file path, a journal identifier or unit' })),
  start: Type.Optional(Type.String({ maxLength: 64, description: 'RFC3339, default end − 24 h' })),
  end: Type.Optional(Type.String({ maxLength: 64, description: 'RFC3339, default now (exclusive)' })),
  limit: Type.Optional(Type.String({ maxLength: 12, description: `lines per page, default ${DEFAULT_LIMIT}, at most ${MAX_LOG_PAGE}` })),
  cursor: Type.Optional(Type.String({ maxLength: 512, description: 'next_cursor of the previous page' })),
})

const LogOut = Type.Object({
  id: Type.Integer(), time: Time, agent_id: Type.String({ format: 'uuid' }), agent_name: Nullable(Type.String()),
  source: Type.String(), level: Level, message: Type.String(),
  fields: Type.Object({}, { additionalProperties: true }),
})

const LogsOut = Type.Object({
  agent: Nullable(Type.String({ description: 'the agent asked for (its name), or null for the whole organization' })),
  start: Time, end: Time, count: Type.Integer(), logs: Type.Array(LogOut), next_cursor: Type.Optional(Type.String()),
})

export const logsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  app.get('/api/v1/logs', {
    onRequest: app.authenticate,
    schema: { summary: 'Log lines shipped by agents, newest first', tags: ['logs'], querystring: LogsQuery, response: { 200: LogsOut, ...ERRORS } },
  }, async (request) => {
    const query = request.query
    const { start, end } = parseTimeRange(query)
    const limit = parseLimit(query.limit, DEFAULT_LIMIT, MAX_LOG_PAGE)
    const { orgId } = principalOf(request)
    const agent = query.agent === undefined ? undefined : await agentFor(db, orgId, query.agent)
    const { logs, next_cursor } = await listLogs(db, {
      orgId, agentId: agent?.id, q: query.q, level: query.level, source: query.source, start, end, limit, cursor: query.cursor,
    })
    const agents = agent ? [agent] : await agentsByIds(db, orgId, logs.map((l) => l.agent_id))
    const names = new Map(agents.map((a) => [a.id, a.name]))
    return {
      agent: agent?.name ?? null, start: start.toISOString(), end: end.toISOString(), count: logs.length,
      logs: logs.map((l) => ({ ...l, time: l.time.toISOString(), agent_name: names.get(l.agent_id) ?? null })),
      ...(next_cursor ? { next_cursor } : {}),
    }
  })
}
