// Seed 004 §3: columnar metrics, statistics and comparison of collectors, each a thin adapter over the
// native host families (services/query/host-families.ts), which the performance report reads too.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from 'typebox'
import type { PerfAnalysisOptions } from './face-options.ts'
import { PERF_ERRORS } from './perf-errors.ts'
import { CollectorParam, HoursQuery, collectorFor, rangeOfHours, seconds, type HoursRange } from './perf-shapes.ts'
import { principalOf } from '../../auth/auth-plugin.ts'
import { agentInventories, type AgentRow } from '../../agents/agents-repository.ts'
import { invalidField } from '../../errors/domain-error.ts'
import { Nullable } from '../../http/response-schemas.ts'
import {
  CPU_FIELDS, DISK_FIELDS, MEMORY_FIELDS, NETWORK_FIELDS, hostColumns, hostDeviceColumns, hostStats, memoryTotalGb,
  type FieldStats, type HostFamily, type HostRange,
} from '../../query/host-families.ts'

const Values = Type.Array(Nullable(Type.Number()))
const Timestamps = Type.Array(Type.String({ format: 'date-time' }))
/** One column per field of a family, each as long as `timestamps`. */
function columnsOf<T extends object>(fields: T): { [K in keyof T]: typeof Values } {
  return Object.fromEntries(Object.keys(fields).map((f) => [f, Values])) as { [K in keyof T]: typeof Values }
}

const CpuOut = Type.Object({ timestamps: Timestamps, ...columnsOf(CPU_FIELDS) })
const MemoryOut = Type.Object({ timestamps: Timestamps, ...columnsOf(MEMORY_FIELDS), total_gb: Nullable(Type.Number()) })
const DiskOut = Type.Object({ timestamps: Timestamps, devices: Type.Array(Type.Object({ name: Type.String(), ...columnsOf(DISK_FIELDS) })) })
const NetworkOut = Type.Object({
  timestamps: Timestamps,
  interfaces: Type.Array(Type.Object({ name: Type.String(), ...columnsOf({ ...NETWORK_FIELDS, utilization: null }) })),
})

const Stat = Nullable(Type.Number())
const StatsOut = Type.Object({
  min: Stat, max: Stat, avg: Stat, stddev: Stat, current: Stat, p50: Stat, p75: Stat, p90: Stat, p95: Stat, p97_5: Stat, p99: Stat, p100: Stat,
})
const FieldsStats = Type.Record(Type.String(), StatsOut)
const HostStatsOut = Type.Object({
  cpu: Type.Optional(FieldsStats), memory: Type.Optional(FieldsStats),
  disk: Type.Optional(Type.Record(Type.String(), FieldsStats)), network: Type.Optional(Type.Record(Type.String(), FieldsStats)),
})

const CompareQuery = Type.Object({
  collectors: Type.String({ minLength: 1, maxLength: 256, description: 'comma-separated collector ids, e.g. 1,2,3 (at most 20)' }),
  ...HoursQuery.properties,
})
const MAX_COMPARED = 20
const CompareOut = Type.Object({
  collectors: Type.Array(Type.Object({ id: Type.Integer(), name: Type.String(), hostname: Type.String() })),
  metrics: Type.Object({ cpu: Type.Record(Type.String(), CpuOut), memory: Type.Record(Type.String(), Type.Omit(MemoryOut, ['total_gb'])) }),
  stats: Type.Record(Type.String(), HostStatsOut),
})

const times = (ts: Date[]) => ts.map((t) => seconds(t))

function statsJson(stats: Record<string, FieldStats>): Record<string, Omit<FieldStats, 'count'>> {
  return Object.fromEntries(Object.entries(stats).map(([field, { count: _count, ...s }]) => [field, s]))
}

export const metricsRoutes: FastifyPluginAsyncTypebox<PerfAnalysisOptions> = async (app, opts) => {
  const db = app.store.db
  const tags = ['perfanalysis: metrics']
  const read = { onRequest: app.authenticate, config: { rateBudget: 'perf_read' as const } }

  /** The collector of the path, and the range `hours` names, as a native host range. */
  async function scope(request: { params: { id: string }; query: { hours?: string } } & Parameters<typeof principalOf>[0]): Promise<{ agent: AgentRow; range: HostRange & HoursRange }> {
    const { orgId } = principalOf(request)
    const agent = await collectorFor(db, orgId, request.params.id)
    const hours = rangeOfHours(request.query.hours, agent.created_at)
    return { agent, range: { ...hours, orgId, agentId: agent.id, retentionDays: opts.retentionDays, now: hours.end } }
  }

  app.get('/dashboard/api/collectors/:id/cpu/', {
    ...read, schema: { summary: 'CPU time by state, % (seed 004 §3.1)', tags, params: CollectorParam, querystring: HoursQuery, response: { 200: CpuOut, ...PERF_ERRORS } },
  }, async (request) => {
    const { range } = await scope(request)
    const { timestamps, columns } = await hostColumns(db, range, 'cpu')
    return { timestamps: times(timestamps), ...columns } as Static<typeof CpuOut>
  })

  app.get('/dashboard/api/collectors/:id/memory/', {
    ...read, schema: { summary: 'Memory in MiB, used in %, total in GiB (seed 004 §3.2)', tags, params: CollectorParam, querystring: HoursQuery, response: { 200: MemoryOut, ...PERF_ERRORS } },
  }, async (request) => {
    const { range } = await scope(request)
    const { timestamps, columns } = await hostColumns(db, range, 'memory')
    return { timestamps: times(timestamps), ...columns, total_gb: await memoryTotalGb(db, range.orgId, range.agentId) } as Static<typeof MemoryOut>
  })

  app.get('/dashboard/api/collectors/:id/disk/', {
    ...read, schema: { summary: 'Per block device: bytes/s, operations/s, utilization % (seed 004 §3.3)', tags, params: CollectorParam, querystring: HoursQuery, response: { 200: DiskOut, ...PERF_ERRORS } },
  }, async (request) => {
    const { range } = await scope(request)
    const { timestamps, items } = await hostDeviceColumns(db, range, 'disk')
    return { timestamps: times(timestamps), devices: items.map((d) => ({ name: d.name, ...d.columns })) } as Static<typeof DiskOut>
  })

  app.get('/dashboard/api/collectors/:id/network/', {
    ...read, schema: { summary: 'Per interface: bytes/s, packets/s, link utilization % (seed 004 §3.4)', tags, params: CollectorParam, querystring: HoursQuery, response: { 200: NetworkOut, ...PERF_ERRORS } },
  }, async (request) => {
    const { agent, range } = await scope(request)
    const inventory = (await agentInventories(db, range.orgId, [agent.id])).get(agent.id) ?? {}
    const speeds = (inventory.link_speed_bits_per_sec ?? {}) as Record<string, number>
    const { timestamps, items } = await hostDeviceColumns(db, range, 'network', speeds)
    return { timestamps: times(timestamps), interfaces: items.map((i) => ({ name: i.name, ...i.columns })) } as Static<typeof NetworkOut>
  })

  app.get('/dashboard/api/collectors/:id/stats/', {
    ...read, schema: { summary: 'min, max, avg, stddev, current and percentiles of every field (seed 004 §3.5)', tags, params: CollectorParam, querystring: HoursQuery, response: { 200: HostStatsOut, ...PERF_ERRORS } },
  }, async (request) => {
    const { range } = await scope(request)
    const stats = await hostStats(db, range)
    return {
      cpu: statsJson(stats.cpu!), memory: statsJson(stats.memory!),
      disk: Object.fromEntries(Object.entries(stats.disk!).map(([name, s]) => [name, statsJson(s)])),
      network: Object.fromEntries(Object.entries(stats.network!).map(([name, s]) => [name, statsJson(s)])),
    }
  })

  app.get('/dashboard/api/compare/', {
    ...read,
    schema: {
      summary: 'CPU and memory of several collectors side by side, with their statistics (seed 004 §3.6)', tags, querystring: CompareQuery,
      response: { 200: CompareOut, ...PERF_ERRORS },
    },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const ids = request.query.collectors.split(',').map((s) => s.trim())
    if (ids.some((id) => !/^\d{1,10}$/.test(id))) throw invalidField('collectors', 'must be comma-separated collector ids, e.g. 1,2,3')
    const unique = [...new Set(ids)]
    if (unique.length > MAX_COMPARED) throw invalidField('collectors', `must name at most ${MAX_COMPARED} collectors`)
    const agents = []
    for (const id of unique) agents.push(await collectorFor(db, orgId, id))
    const out: Static<typeof CompareOut> = { collectors: [], metrics: { cpu: {}, memory: {} }, stats: {} }
    const families: HostFamily[] = ['cpu', 'memory']
    for (const agent of agents) {
      const hours = rangeOfHours(request.query.hours, agent.created_at)
      const range = { ...hours, orgId, agentId: agent.id, retentionDays: opts.retentionDays, now: hours.end }
      const key = String(agent.number)
      out.collectors.push({ id: agent.number, name: agent.name, hostname: agent.hostname ?? agent.name })
      for (const family of ['cpu', 'memory'] as const) {
        const { timestamps, columns } = await hostColumns(db, range, family)
        out.metrics[family][key] = { timestamps: times(timestamps), ...columns } as Static<typeof CpuOut> & Static<typeof MemoryOut>
      }
      const stats = await hostStats(db, range, families)
      out.stats[key] = { cpu: statsJson(stats.cpu!), memory: statsJson(stats.memory!) }
    }
    return out
  })
}
