// Seed 004 §2: collectors are the organization's agents, named by their integer number.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { PerfAnalysisOptions } from './face-options.ts'
import { PERF_ERRORS } from './perf-errors.ts'
import { CollectorOut, CollectorParam, collectorFor, collectorJson } from './perf-shapes.ts'
import { principalOf } from '../../auth/auth-plugin.ts'
import { agentInventories, listAgents } from '../../agents/agents-repository.ts'

/** A collector list is one page of the organization's agents, this many at most. */
const MAX_COLLECTORS = 10_000

export const collectorsRoutes: FastifyPluginAsyncTypebox<PerfAnalysisOptions> = async (app, opts) => {
  const db = app.store.db
  const tags = ['perfanalysis: collectors']

  app.get('/dashboard/api/collectors/', {
    onRequest: app.authenticate, config: { rateBudget: 'perf_read' },
    schema: { summary: 'The organization\'s collectors (agents), by name (seed 004 §2.1)', tags, response: { 200: Type.Array(CollectorOut), ...PERF_ERRORS } },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const { agents } = await listAgents(db, orgId, { limit: MAX_COLLECTORS, offset: 0 })
    const inventories = await agentInventories(db, orgId, agents.map((a) => a.id))
    return agents.map((a) => collectorJson(a, inventories.get(a.id) ?? {}, opts.onlineWindowSeconds))
  })

  app.get('/dashboard/api/collectors/:id/', {
    onRequest: app.authenticate, config: { rateBudget: 'perf_read' },
    schema: { summary: 'One collector (seed 004 §2.2)', tags, params: CollectorParam, response: { 200: CollectorOut, ...PERF_ERRORS } },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const agent = await collectorFor(db, orgId, request.params.id)
    const inventories = await agentInventories(db, orgId, [agent.id])
    return collectorJson(agent, inventories.get(agent.id) ?? {}, opts.onlineWindowSeconds)
  })
}
