// The latest process snapshot as a tree, and the processes that used the most CPU or memory over a window.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ERRORS } from '../http/response-schemas.ts'
import { ProcessTreeOut, TopProcessesOut } from './query-responses.ts'
import { Type } from 'typebox'
import { sql } from 'kysely'
import { principalOf } from '../auth/auth-plugin.ts'
import { AgentParams, agentFor } from './query-schemas.ts'
import { parseLimit, parseTimeRange } from './time-range.ts'
import { buildProcessTree } from './process-tree.ts'
import { resolutionForRange } from './resolution-for-range.ts'

interface TopRow {
  name: string; avg_cpu_percent: number; max_cpu_percent: number; avg_memory_bytes: number; max_memory_bytes: number
  avg_memory_percent: number; samples: number
}

export const processRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  app.get('/api/v1/agents/:id/processes', {
    onRequest: app.authenticate,
    schema: {
      summary: 'The latest process snapshot as a tree', tags: ['processes'],
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }),
      querystring: Type.Object({ q: Type.Optional(Type.String({ maxLength: 256, description: 'filter by name, pid or cmdline; ancestors are kept' })) }),
      response: { 200: ProcessTreeOut, ...ERRORS },
    },
  }, async (request) => {
    const agent = await agentFor(db, principalOf(request).orgId, request.params.id)
    const snapshot = await db.selectFrom('process_snapshots').select(['snapshot_id', 'time', 'total_processes'])
      .where('org_id', '=', agent.org_id).where('agent_id', '=', agent.id).orderBy('time', 'desc').limit(1).executeTakeFirst()
    if (!snapshot) {
      return { agent_id: agent.name, hostname: agent.hostname, snapshot_id: null, timestamp: null, total_processes: 0, process_tree: [] }
    }
    const rows = await db.selectFrom('process_metrics')
      .select(['pid', 'parent_pid', 'name', 'cmdline', 'username', 'status', 'cpu_percent', 'memory_percent', 'memory_bytes', 'memory_vms',
        'num_threads', 'create_time'])
      .where('org_id', '=', agent.org_id).where('agent_id', '=', agent.id)
      // Rows of one snapshot may carry their own times, within a day of it (ingest enforces that).
      .where('snapshot_id', '=', snapshot.snapshot_id)
      .where('time', '>=', new Date(snapshot.time.getTime() - 86_400_000)).where('time', '<=', new Date(snapshot.time.getTime() + 86_400_000))
      .execute()
    const flat = rows.map((r) => ({
      id: r.pid, pid: r.pid, parent_pid: r.parent_pid, name: r.name, cmdline: r.cmdline, username: r.username, status: r.status,
      cpu_percent: r.cpu_percent, memory_percent: r.memory_percent, memory_rss: r.memory_bytes, memory_vms: r.memory_vms,
      num_threads: r.num_threads, create_time: r.create_time?.toISOString() ?? null,
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
      summary: 'Processes ranked by their CPU or memory over a window', tags: ['processes'], params: AgentParams,
      querystring: Type.Object({
        by: Type.Optional(Type.Union([Type.Literal('cpu'), Type.Literal('memory')], { description: 'default cpu' })),
        stat: Type.Optional(Type.Union([Type.Literal('avg'), Type.Literal('max')], { description: 'rank by the average (default) or the peak' })),
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
    // Raw rows rank short windows exactly; a process list adds ~100 rows per sample, so longer windows rank
    // from the hourly aggregate. Either way the command line and user shown are the newest in the window.
    const latest = await db.selectFrom('process_snapshots').select('total_processes')
      .where('org_id', '=', agent.org_id).where('agent_id', '=', agent.id).orderBy('time', 'desc').limit(1).executeTakeFirst()
    const level = resolutionForRange({ family: 'process', start, end, rowsPerSample: Math.max(1, latest?.total_processes ?? 1) })
    const useRaw = level.nativeSeconds === 0
    const field = by === 'cpu' ? 'cpu_percent' : 'memory_bytes'
    const order = sql.ref(`${stat}_${field}`)
    const ranked = useRaw
      ? await sql<TopRow>`
          select name, avg(cpu_percent)::float8 as avg_cpu_percent, max(cpu_percent)::float8 as max_cpu_percent,
                 avg(memory_bytes)::float8 as avg_memory_bytes, max(memory_bytes)::float8 as max_memory_bytes,
                 avg(memory_percent)::float8 as avg_memory_percent, count(*) as samples
          from process_metrics
          where org_id = ${agent.org_id} and agent_id = ${agent.id} and time >= ${start} and time < ${end}
          group by name order by ${order} desc nulls last, name limit ${limit}`.execute(db)
      : await sql<TopRow>`
          select name, (sum(cpu_percent_avg * count) / sum(count))::float8 as avg_cpu_percent, max(cpu_percent_max) as max_cpu_percent,
                 (sum(memory_bytes_avg * count) / sum(count))::float8 as avg_memory_bytes, max(memory_bytes_max) as max_memory_bytes,
                 (sum(memory_percent_avg * count) / sum(count))::float8 as avg_memory_percent, sum(count)::int8 as samples
          from process_metrics_1h
          where org_id = ${agent.org_id} and agent_id = ${agent.id} and bucket >= time_bucket('1 hour', ${start}::timestamptz) and bucket < ${end}
          group by name order by ${order} desc nulls last, name limit ${limit}`.execute(db)
    const names = ranked.rows.map((r) => r.name)
    const details = names.length === 0 ? [] : (await sql<{ name: string; cmdline: string; username: string | null; pid: number; time: Date }>`
      select distinct on (name) name, cmdline, username, pid, time from process_metrics
      where org_id = ${agent.org_id} and agent_id = ${agent.id} and name = any(${names}::text[])
        and time >= ${start} and time < ${end} and time >= ${end}::timestamptz - interval '2 hours'
      order by name, time desc`.execute(db)).rows
    const detailOf = new Map(details.map((d) => [d.name, d]))
    const processes = ranked.rows.map((r) => ({
      name: r.name, cmdline: detailOf.get(r.name)?.cmdline ?? null, username: detailOf.get(r.name)?.username ?? null,
      last_pid: detailOf.get(r.name)?.pid ?? null, last_seen: detailOf.get(r.name)?.time.toISOString() ?? null,
      avg_cpu_percent: r.avg_cpu_percent, max_cpu_percent: r.max_cpu_percent, avg_memory_bytes: r.avg_memory_bytes,
      max_memory_bytes: r.max_memory_bytes, avg_memory_percent: r.avg_memory_percent, samples: r.samples,
    }))
    return {
      agent_id: agent.name, by, stat, start: start.toISOString(), end: end.toISOString(),
      resolution: level.label, count: processes.length, processes,
    }
  })
}
