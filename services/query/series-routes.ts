// Series with automatic resolution, statistics and comparison across agents — beyond seed 001.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ERRORS } from '../http/response-schemas.ts'
import { CompareOut, SeriesOut, StatsOut } from './query-responses.ts'
import { Type } from 'typebox'
import { invalidField } from '../errors/domain-error.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { DurationTooLongError, parseDuration } from '../time/duration.ts'
import { agentFor } from './query-schemas.ts'
import { AgentIdParam } from '../http/params.ts'
import { parseTimeRange } from './time-range.ts'
import { SERIES_AGGS, sourceFor, tagsFromQuery, type SeriesAgg, type SeriesTarget } from './series-catalog.ts'
import { checkEmptySeries, resolveSeriesTarget } from './known-series.ts'
import { bucketsTouched, resolutionForRange, DEFAULT_RETENTION_DAYS, type Resolution, type RetentionDays } from './resolution-for-range.ts'
import { readSeries } from './read-series.ts'
import { rateStats, seriesStats } from './series-stats.ts'

/** Prometheus's cap on points per series; more is refused, not truncated. */
export const MAX_POINTS_CAP = 11_000
const MAX_COMPARE_AGENTS = 20

const SeriesQuery = Type.Object({
  metric: Type.String({ minLength: 3, maxLength: 200, description: '<type>.<name>, e.g. cpu.usage_percent or disk.usage_percent' }),
  start: Type.Optional(Type.String({ maxLength: 64 })),
  end: Type.Optional(Type.String({ maxLength: 64 })),
  step: Type.Optional(Type.String({ maxLength: 16, description: 'auto (default) or a duration such as 30s, 5m, 1h' })),
  agg: Type.Optional(Type.Union(SERIES_AGGS.map((a) => Type.Literal(a)), {
    description: 'default avg; rate: a counter\'s per-second increase per bucket, restarts counted as in Prometheus (metrics table series only)',
  })),
  max_points: Type.Optional(Type.String({ maxLength: 8, description: `points at most with step=auto (default 1,000, cap ${MAX_POINTS_CAP})` })),
}, { additionalProperties: true, description: 'tags.<key>=<value> parameters select a series (mount_point, interface, name, core …)' })

/** How to read, from the query alone (before any lookup): range, aggregation, step and point budget. */
interface ReadOptions { agg: SeriesAgg; start: Date; end: Date; maxPoints: number; stepSeconds?: number }

/** Range, step and aggregation → how to read, or a 400 naming the parameter. */
function readOptions(q: Record<string, unknown>): ReadOptions {
  const { start, end } = parseTimeRange(q as { start?: string; end?: string })
  const agg = (q.agg as SeriesAgg | undefined) ?? 'avg'
  let maxPoints = 1000
  if (q.max_points !== undefined) {
    if (!/^\d+$/.test(String(q.max_points)) || Number(q.max_points) < 1) throw invalidField('max_points', `must be a whole number from 1 to ${MAX_POINTS_CAP}`)
    maxPoints = Number(q.max_points)
    if (maxPoints > MAX_POINTS_CAP) throw invalidField('max_points', `must be at most ${MAX_POINTS_CAP}`)
  }
  let stepSeconds: number | undefined
  if (q.step !== undefined && q.step !== 'auto') {
    const text = String(q.step)
    // Plain digits are seconds, held to the same limits as a duration.
    try { stepSeconds = parseDuration(/^\d+$/.test(text) ? `${text}s` : text) / 1000 } catch (err) {
      throw invalidField('step', err instanceof DurationTooLongError ? 'must be at most 100000 years' : 'must be auto or a duration such as 30s, 5m, 1h')
    }
    if (stepSeconds < 1) throw invalidField('step', 'must be at least 1s')
    const points = bucketsTouched(start, end, stepSeconds)
    if (points > MAX_POINTS_CAP) {
      throw invalidField('step', `gives ${points} points over this range; at most ${MAX_POINTS_CAP} (use a larger step or a shorter range)`)
    }
  }
  return { agg, start, end, maxPoints, stepSeconds }
}

/** Where the target's buckets come from for these options, or a 400 for a p95 the kept rows cannot give. */
function resolutionFor(o: ReadOptions, target: SeriesTarget, retentionDays: RetentionDays): Resolution {
  const chosen = resolutionForRange({ family: target.family, start: o.start, end: o.end, stepSeconds: o.stepSeconds, maxPoints: o.maxPoints, retentionDays })
  // The answer names the aggregate actually read (a process's I/O fields have their own).
  const resolution = chosen.nativeSeconds === 0 ? chosen : { ...chosen, label: sourceFor(target, chosen) }
  if (o.agg !== 'p95' || resolution.nativeSeconds === 0) return resolution
  // A percentile cannot be rebuilt from rolled-up buckets: it reads raw rows, while they are kept.
  if ((Date.now() - o.start.getTime()) / 86_400_000 > retentionDays.raw) {
    throw invalidField('agg', `p95 needs raw rows, which are kept ${retentionDays.raw} days; use a later start or another aggregation`)
  }
  return { ...resolution, source: target.rawSource, nativeSeconds: 0, label: 'raw' }
}

export const seriesRoutes: FastifyPluginAsyncTypebox<{ retentionDays?: RetentionDays }> = async (app, opts) => {
  const db = app.store.db
  const retentionDays = opts.retentionDays ?? DEFAULT_RETENTION_DAYS

  app.get('/api/v1/metrics/series/:agent_id', {
    onRequest: app.authenticate,
    schema: { summary: 'One series, columnar, at an automatic or given step', tags: ['series'], params: AgentIdParam, querystring: SeriesQuery, response: { 200: SeriesOut, ...ERRORS } },
  }, async (request) => {
    const o = readOptions(request.query)
    const tags = tagsFromQuery(request.query)
    const agent = await agentFor(db, principalOf(request).orgId, request.params.agent_id)
    const scope = { orgId: agent.org_id, agents: [agent] }
    const target = await resolveSeriesTarget(db, scope, request.query.metric, tags)
    const resolution = resolutionFor(o, target, retentionDays)
    const series = await readSeries(db, { orgId: agent.org_id, agentId: agent.id, target, start: o.start, end: o.end, agg: o.agg }, resolution)
    if (series.timestamps.length === 0) await checkEmptySeries(db, scope, target)
    return {
      agent_id: agent.name, metric: target.metric, tags: target.tags, agg: o.agg, step: resolution.bucketSeconds,
      resolution: resolution.label, start: o.start.toISOString(), end: o.end.toISOString(),
      timestamps: series.timestamps.map((t) => new Date(t).toISOString()), values: series.values,
    }
  })

  app.get('/api/v1/metrics/stats/:agent_id', {
    onRequest: app.authenticate,
    schema: {
      summary: 'min, max, avg, stddev, current, percentiles and count of one series', tags: ['series'], params: AgentIdParam,
      querystring: Type.Object({
        metric: SeriesQuery.properties.metric, start: SeriesQuery.properties.start, end: SeriesQuery.properties.end,
        agg: Type.Optional(Type.Literal('rate', { description: 'statistics of a counter\'s per-second rate per bucket instead of the stored values (metrics table series only)' })),
      }, { additionalProperties: true }),
      response: { 200: StatsOut, ...ERRORS },
    },
  }, async (request) => {
    // Statistics are of the stored values, or with agg=rate of a counter's per-second rate; any other agg
    // would be silently ignored, so it is refused.
    const agg = (request.query as Record<string, unknown>).agg
    if (agg !== undefined && agg !== 'rate') {
      throw invalidField('agg', 'must be rate (statistics of a counter\'s per-second rate) or left out (statistics of the stored values)')
    }
    const { start, end } = parseTimeRange(request.query)
    const tags = tagsFromQuery(request.query)
    const agent = await agentFor(db, principalOf(request).orgId, request.params.agent_id)
    const scope = { orgId: agent.org_id, agents: [agent] }
    const target = await resolveSeriesTarget(db, scope, request.query.metric, tags)
    const read = { orgId: agent.org_id, agentId: agent.id, target, start, end, retentionDays }
    const stats = agg === 'rate' ? await rateStats(db, read) : await seriesStats(db, read)
    if (stats.count === 0) await checkEmptySeries(db, scope, target)
    return { agent_id: agent.name, metric: target.metric, tags: target.tags, start: start.toISOString(), end: end.toISOString(), ...stats }
  })

  app.get('/api/v1/metrics/compare', {
    onRequest: app.authenticate,
    schema: {
      summary: 'One aligned series per agent, with each one\'s statistics', tags: ['series'],
      querystring: Type.Object({ ...SeriesQuery.properties, agents: Type.String({ minLength: 1, maxLength: 4000, description: 'comma-separated agent names or ids' }) },
        { additionalProperties: true }),
      response: { 200: CompareOut, ...ERRORS },
    },
  }, async (request) => {
    const names = [...new Set(request.query.agents.split(',').map((s) => s.trim()).filter(Boolean))]
    if (names.length === 0) throw invalidField('agents', 'must name at least one agent')
    if (names.length > MAX_COMPARE_AGENTS) throw invalidField('agents', `must name at most ${MAX_COMPARE_AGENTS} agents`)
    const o = readOptions(request.query)
    const tags = tagsFromQuery(request.query)
    const { orgId } = principalOf(request)
    const agents = []
    for (const name of names) agents.push(await agentFor(db, orgId, name))
    const scope = { orgId, agents }
    const target = await resolveSeriesTarget(db, scope, request.query.metric, tags)
    const resolution = resolutionFor(o, target, retentionDays)
    const all = []
    for (const agent of agents) {
      const req = { orgId, agentId: agent.id, target, start: o.start, end: o.end }
      all.push({ agent, series: await readSeries(db, { ...req, agg: o.agg }, resolution), stats: await seriesStats(db, { ...req, retentionDays }) })
    }
    // An agent without the series gets nulls, as long as one of them has it.
    if (all.every((a) => a.stats.count === 0 && a.series.timestamps.length === 0)) await checkEmptySeries(db, scope, target)
    // One shared time axis; an agent without a value in a bucket gets null there.
    const axis = [...new Set(all.flatMap((a) => a.series.timestamps))].sort((a, b) => a - b)
    const index = new Map(axis.map((t, i) => [t, i]))
    return {
      metric: target.metric, tags: target.tags, agg: o.agg, step: resolution.bucketSeconds, resolution: resolution.label,
      start: o.start.toISOString(), end: o.end.toISOString(), timestamps: axis.map((t) => new Date(t).toISOString()),
      series: all.map(({ agent, series, stats }) => {
        const values: Array<number | null> = axis.map(() => null)
        series.timestamps.forEach((t, i) => { values[index.get(t)!] = series.values[i] })
        return { agent_id: agent.name, values, stats }
      }),
    }
  })
}
