// The latest process snapshot (or the one at an instant) as a tree, and the processes that used the most CPU or memory over a window.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ERRORS } from '../http/response-schemas.ts'
import { ProcessTreeOut, TopProcessesOut } from './query-responses.ts'
import { Type } from 'typebox'
import { principalOf } from '../auth/auth-plugin.ts'
import { agentFor } from './query-schemas.ts'
import { AgentIdParam } from '../http/params.ts'
import { parseLimit, parseRfc3339, parseTimeRange } from './time-range.ts'
import { buildProcessTree } from './process-tree.ts'
import { readLatestSnapshotProcesses, topProcesses } from './process-reads.ts'

export const processRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  app.get('/api/v1/agents/:id/processes', {
    onRequest: app.authenticate,
    schema: {
      summary: 'The latest process snapshot (or the one at or just before ?at=) as a tree', tags: ['processes'],
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }),
      querystring: Type.Object({
        q: Type.Optional(Type.String({ maxLength: 256, description: 'filter by name, pid or cmdline; ancestors are kept' })),
        at: Type.Optional(Type.String({ maxLength: 64, description: 'RFC3339: the snapshot taken at or just before this instant (default: the latest)' })),
      }),
      response: { 200: ProcessTreeOut, ...ERRORS },
    },
  }, async (request) => {
    const at = request.query.at === undefined ? undefined : parseRfc3339('at', request.query.at)
    const agent = await agentFor(db, principalOf(request).orgId, request.params.id)
    const latest = await readLatestSnapshotProcesses(db, { orgId: agent.org_id, agentId: agent.id }, at)
    if (!latest) {
      return { agent_id: agent.name, hostname: agent.hostname, snapshot_id: null, timestamp: null, total_processes: 0, process_tree: [] }
    }
    const { snapshot, processes } = latest
    const flat = processes.map((r) => ({
      id: r.pid, pid: r.pid, parent_pid: r.parent_pid, name: r.name, cmdline: r.cmdline, username: r.username, status: r.status,
      cpu_percent: r.cpu_percent, memory_percent: r.memory_percent, memory_rss: r.memory_bytes, memory_vms: r.memory_vms,
      num_threads: r.num_threads, create_time: r.create_time?.toISOString() ?? null,
      read_bytes_per_sec: r.read_bytes_per_sec, write_bytes_per_sec: r.write_bytes_per_sec, open_fds: r.open_fds,
    }))
    const tree = buildProcessTree(flat, request.query.q)
    return {
      agent_id: agent.name, hostname: agent.hostname, snapshot_id: snapshot.snapshot_id, timestamp: snapshot.time.toISOString(),
      total_processes: snapshot.total_processes, ...(request.query.q ? { q: request.query.q } : {}), process_tree: tree,
    }
  })

  app.get('/api/v1/processes/top/:agent_id', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Processes (by pid and start time, or grouped by name) ranked by their CPU, memory or disk I/O over a window', tags: ['processes'], params: AgentIdParam,
      querystring: Type.Object({
        by: Type.Optional(Type.Union([Type.Literal('cpu'), Type.Literal('memory'), Type.Literal('disk_io')], {
          description: 'default cpu; disk_io: bytes read plus written per second (processes whose I/O the agent could not read rank last)',
        })),
        stat: Type.Optional(Type.Union([Type.Literal('avg'), Type.Literal('max')], { description: 'rank by the average (default) or the peak' })),
        group: Type.Optional(Type.Union([Type.Literal('process'), Type.Literal('name')], {
          description: 'process (default): each process by pid and start time; name: every process of a name together. Windows long enough '
            + 'to read the hourly aggregate are by name whatever is asked (the answer\'s group says which)',
        })),
        start: Type.Optional(Type.String({ maxLength: 64 })),
        end: Type.Optional(Type.String({ maxLength: 64 })),
        limit: Type.Optional(Type.String({ maxLength: 12, description: 'default 10, at most 100' })),
      }),
      response: { 200: TopProcessesOut, ...ERRORS },
    },
  }, async (request) => {
    const { start, end } = parseTimeRange(request.query)
    const limit = parseLimit(request.query.limit, 10, 100)
    const by = request.query.by ?? 'cpu'
    const stat = request.query.stat ?? 'avg'
    const agent = await agentFor(db, principalOf(request).orgId, request.params.agent_id)
    const top = await topProcesses(db, { orgId: agent.org_id, agentId: agent.id, by, stat, start, end, limit, group: request.query.group ?? 'process' })
    const processes = top.processes.map((p) => ({
      name: p.name, pid: p.pid, started_at: p.started_at?.toISOString() ?? null, first_seen: p.first_seen?.toISOString() ?? null,
      cmdline: p.cmdline, username: p.username, last_pid: p.last_pid, last_seen: p.last_seen?.toISOString() ?? null,
      avg_cpu_percent: p.avg_cpu_percent, max_cpu_percent: p.max_cpu_percent, avg_memory_bytes: p.avg_memory_bytes,
      max_memory_bytes: p.max_memory_bytes, avg_memory_percent: p.avg_memory_percent, samples: p.samples,
      avg_io_bytes_per_sec: p.avg_io_bytes_per_sec, max_io_bytes_per_sec: p.max_io_bytes_per_sec,
      avg_read_bytes_per_sec: p.avg_read_bytes_per_sec, avg_write_bytes_per_sec: p.avg_write_bytes_per_sec,
    }))
    return {
      agent_id: agent.name, by, stat, group: top.group, start: start.toISOString(), end: end.toISOString(),
      resolution: top.resolution, count: processes.length, processes,
    }
  })
}
