// Seed 004 §4: a collector's containers (the native container registry and series), by the container's
// integer id or its runtime id.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { PerfAnalysisOptions } from './face-options.ts'
import { PERF_ERRORS } from './perf-errors.ts'
import { HoursQuery, Time, collectorFor, rangeOfHours, seconds } from './perf-shapes.ts'
import { principalOf } from '../../auth/auth-plugin.ts'
import { DomainError } from '../../errors/domain-error.ts'
import { Nullable } from '../../http/response-schemas.ts'
import { containerAggregate, containerSeries, findContainer, listContainers, type ContainerView } from '../../query/container-reads.ts'

const Num = Nullable(Type.Number())
const Values = Type.Array(Num)
const Timestamps = Type.Array(Type.String({ format: 'date-time' }))

const ContainerOut = Type.Object({
  id: Type.Integer({ description: 'stable for the container\'s life' }), container_id: Type.String({ description: 'the runtime\'s id' }),
  name: Type.String(), image: Nullable(Type.String()), status: Nullable(Type.String()), collector_id: Type.Integer(),
  cpu_percent: Num, memory_percent: Num, memory_usage_mb: Num, network_rx_bytes: Num, network_tx_bytes: Num,
  created_at: Time, updated_at: Time,
})
const SeriesOut = Type.Object({
  timestamps: Timestamps, cpu_percent: Values, memory_percent: Values, memory_usage_mb: Values, network_rx_bytes: Values, network_tx_bytes: Values,
})
const AggregateOut = Type.Object({
  total_containers: Type.Integer(), running_containers: Type.Integer(), timestamps: Timestamps, total_cpu_percent: Values, total_memory_mb: Values,
})

function containerJson(c: ContainerView, collectorId: number) {
  return { ...c, collector_id: collectorId, created_at: seconds(c.created_at), updated_at: seconds(c.updated_at) }
}

export const containersRoutes: FastifyPluginAsyncTypebox<PerfAnalysisOptions> = async (app, opts) => {
  const db = app.store.db
  const tags = ['perfanalysis: containers']
  const read = { onRequest: app.authenticate, config: { rateBudget: 'perf_read' as const } }

  app.get('/dashboard/api/collectors/:id/containers/', {
    ...read, schema: { summary: 'The collector\'s containers with their newest sample (seed 004 §4.1)', tags, params: Type.Object({ id: Type.String({ maxLength: 64 }) }), response: { 200: Type.Array(ContainerOut), ...PERF_ERRORS } },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const agent = await collectorFor(db, orgId, request.params.id)
    return (await listContainers(db, orgId, agent.id)).map((c) => containerJson(c, agent.number))
  })

  app.get('/dashboard/api/collectors/:id/containers/aggregate/', {
    ...read, schema: { summary: 'Container counts and the total CPU and memory of the collector\'s containers (seed 004 §4.3)', tags, params: Type.Object({ id: Type.String({ maxLength: 64 }) }), querystring: HoursQuery, response: { 200: AggregateOut, ...PERF_ERRORS } },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const agent = await collectorFor(db, orgId, request.params.id)
    const hours = rangeOfHours(request.query.hours, agent.created_at)
    const agg = await containerAggregate(db, { orgId, agentId: agent.id, start: hours.start, end: hours.end, retentionDays: opts.retentionDays, now: hours.end })
    return { ...agg, timestamps: agg.timestamps.map((t) => seconds(t)) }
  })

  app.get('/dashboard/api/collectors/:id/containers/:container_id/cpu/', {
    ...read,
    schema: {
      summary: 'One container\'s CPU, memory and network over the range (seed 004 §4.2)', tags,
      params: Type.Object({ id: Type.String({ maxLength: 64 }), container_id: Type.String({ maxLength: 128 }) }), querystring: HoursQuery,
      response: { 200: SeriesOut, ...PERF_ERRORS },
    },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const agent = await collectorFor(db, orgId, request.params.id)
    const hours = rangeOfHours(request.query.hours, agent.created_at)
    const container = await findContainer(db, orgId, agent.id, request.params.container_id)
    if (!container) throw new DomainError('not_found', `Container ${JSON.stringify(request.params.container_id)} not found on collector ${agent.number}`)
    const series = await containerSeries(db, {
      orgId, agentId: agent.id, containerId: container.container_id, start: hours.start, end: hours.end, retentionDays: opts.retentionDays, now: hours.end,
    })
    return { ...series, timestamps: series.timestamps.map((t) => seconds(t)) }
  })
}
