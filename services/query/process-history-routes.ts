// What started and exited between an agent's process snapshots, and which processes used the host's CPU
// or memory over a window (issue 17). The tree at an instant is ?at= on process-routes.ts's tree.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ERRORS } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { DomainError } from '../errors/domain-error.ts'
import { agentFor } from './query-schemas.ts'
import { parseLimit, parseTimeRange } from './time-range.ts'
import { processBlame, processChanges } from './process-history-reads.ts'
import { ProcessBlameOut, ProcessChangesOut } from './process-history-responses.ts'

const CHANGES_LIMIT = { default: 100, max: 1000 }
const MAX_OFFSET = 1_000_000
/** Starts and exits are read from raw snapshots: a wider window is asked for a piece at a time. */
const MAX_CHANGES_DAYS = 7
const BLAME_LIMIT = { default: 10, max: 100 }
const BLAME_UNITS = { cpu: 'cpu_seconds', memory: 'byte_seconds', disk_io: 'bytes' } as const

const params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) })
const window = {
  start: Type.Optional(Type.String({ maxLength: 64, description: 'RFC3339, default end − 24 h' })),
  end: Type.Optional(Type.String({ maxLength: 64, description: 'RFC3339, default now (exclusive)' })),
}

function parseOffset(text: string | undefined): number {
  if (text === undefined || text === '') return 0
  if (!/^\d+$/.test(text) || Number(text) > MAX_OFFSET) {
    throw new DomainError('invalid', `Invalid request: offset must be a whole number from 0 to ${MAX_OFFSET} (got "${text}")`,
      { details: { offset: [`must be an integer between 0 and ${MAX_OFFSET}`] } })
  }
  return Number(text)
}

export const processHistoryRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  app.get('/api/v1/agents/:id/processes/changes', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Processes that started or exited between snapshots over a window, newest change first', tags: ['processes'], params,
      querystring: Type.Object({
        ...window,
        limit: Type.Optional(Type.String({ maxLength: 12, description: `default ${CHANGES_LIMIT.default}, at most ${CHANGES_LIMIT.max}` })),
        offset: Type.Optional(Type.String({ maxLength: 12, description: 'changes to skip (default 0)' })),
      }),
      response: { 200: ProcessChangesOut, ...ERRORS },
    },
  }, async (request) => {
    const { start, end } = parseTimeRange(request.query)
    if (end.getTime() - start.getTime() > MAX_CHANGES_DAYS * 86_400_000) {
      throw new DomainError('invalid', `Invalid request: the window may span at most ${MAX_CHANGES_DAYS} days; ask for a longer one a piece at a time`,
        { details: { start: [`at most ${MAX_CHANGES_DAYS} days before end`] } })
    }
    const limit = parseLimit(request.query.limit, CHANGES_LIMIT.default, CHANGES_LIMIT.max)
    const offset = parseOffset(request.query.offset)
    const agent = await agentFor(db, principalOf(request).orgId, request.params.id)
    const { total, changes } = await processChanges(db, { orgId: agent.org_id, agentId: agent.id, start, end, limit, offset })
    return {
      agent_id: agent.name, start: start.toISOString(), end: end.toISOString(), total, limit, offset, count: changes.length,
      changes: changes.map((c) => ({
        pid: c.pid, parent_pid: c.parent_pid, name: c.name, cmdline: c.cmdline, username: c.username,
        start_time: c.create_time?.toISOString() ?? null, first_seen: c.first_seen.toISOString(), last_seen: c.last_seen.toISOString(),
        started: c.started, exited: c.ended_before !== null, end: c.ended_before?.toISOString() ?? null,
        peak_cpu_percent: c.peak_cpu_percent, peak_memory_bytes: c.peak_memory_bytes,
      })),
    }
  })

  app.get('/api/v1/agents/:id/processes/blame', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Process names ranked by their share of the host\'s CPU time, memory or disk I/O over a window', tags: ['processes'], params,
      description: 'cpu: CPU-seconds; memory: byte-seconds of resident memory; disk_io: bytes read plus written (from processes whose '
        + 'I/O the agent could read: run it as root to see all). Shares are of the host\'s total over every process reported.',
      querystring: Type.Object({
        metric: Type.Optional(Type.Union([Type.Literal('cpu'), Type.Literal('memory'), Type.Literal('disk_io')], { description: 'default cpu' })),
        ...window,
        limit: Type.Optional(Type.String({ maxLength: 12, description: `default ${BLAME_LIMIT.default}, at most ${BLAME_LIMIT.max}` })),
      }),
      response: { 200: ProcessBlameOut, ...ERRORS },
    },
  }, async (request) => {
    const metric = request.query.metric ?? 'cpu'
    const { start, end } = parseTimeRange(request.query)
    const limit = parseLimit(request.query.limit, BLAME_LIMIT.default, BLAME_LIMIT.max)
    const agent = await agentFor(db, principalOf(request).orgId, request.params.id)
    const blame = await processBlame(db, { orgId: agent.org_id, agentId: agent.id, metric, start, end, limit })
    return {
      agent_id: agent.name, metric, unit: BLAME_UNITS[metric], resolution: blame.resolution,
      start: blame.start.toISOString(), end: blame.end.toISOString(), total: blame.total, count: blame.entries.length,
      processes: blame.entries, other: blame.other,
    }
  })
}
