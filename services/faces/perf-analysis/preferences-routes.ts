// Seed 004 §6: each user's dashboard preferences, with the document's defaults; a POST changes the fields
// it names and answers the whole set.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from 'typebox'
import type { PerfAnalysisOptions } from './face-options.ts'
import { PERF_ERRORS, PERF_WRITE_ERRORS } from './perf-errors.ts'
import { TIME_RANGES, collectorFor } from './perf-shapes.ts'
import { principalOf } from '../../auth/auth-plugin.ts'
import { listAgents } from '../../agents/agents-repository.ts'
import { DomainError, invalidField } from '../../errors/domain-error.ts'
import { Nullable } from '../../http/response-schemas.ts'
import { setUserPreferences, userPreferences } from '../../users/preferences-repository.ts'

const enumOf = <T extends string>(values: readonly T[], description?: string) => Type.Unsafe<T>({ type: 'string', enum: [...values], description })
const METRICS = ['cpu', 'memory', 'disk', 'network', 'containers'] as const

const Fields = {
  default_time_range: enumOf(Object.keys(TIME_RANGES), 'the appendix\'s ranges: 1h, 6h, 24h, 7d, 30d, all'),
  default_collector_id: Nullable(Type.Integer({ minimum: 1, description: 'a collector of the user\'s organization' })),
  chart_theme: enumOf(['light', 'dark'] as const),
  refresh_interval_seconds: Type.Integer({ minimum: 5, maximum: 3600, description: 'seconds, 5 to 3,600' }),
  show_containers: Type.Boolean(),
  visible_metrics: Type.Array(enumOf(METRICS), { uniqueItems: true, maxItems: METRICS.length }),
}
const PreferencesOut = Type.Object(Fields)
const PreferencesIn = Type.Partial(Type.Object(Fields, { additionalProperties: false }))
type Preferences = Static<typeof PreferencesOut>

export const preferencesRoutes: FastifyPluginAsyncTypebox<PerfAnalysisOptions> = async (app) => {
  const db = app.store.db
  const tags = ['perfanalysis: preferences']

  /** The document's defaults; the default collector is the organization's first one (none yet: null). */
  async function defaults(orgId: string): Promise<Preferences> {
    const { agents } = await listAgents(db, orgId, { limit: 1_000, offset: 0 })
    const first = agents.map((a) => a.number).sort((a, b) => a - b)[0] ?? null
    return {
      default_time_range: '24h', default_collector_id: first, chart_theme: 'light', refresh_interval_seconds: 60, show_containers: true,
      visible_metrics: ['cpu', 'memory', 'disk', 'network'],
    }
  }

  async function current(orgId: string, userId: string): Promise<Preferences> {
    return { ...await defaults(orgId), ...await userPreferences(db, orgId, userId) as Partial<Preferences> }
  }

  app.get('/dashboard/preferences/', {
    onRequest: app.authenticate, config: { rateBudget: 'perf_read' },
    schema: { summary: 'The user\'s dashboard preferences (seed 004 §6.1)', tags, response: { 200: PreferencesOut, ...PERF_ERRORS } },
  }, async (request) => {
    const p = principalOf(request)
    return current(p.orgId, p.userId)
  })

  app.post('/dashboard/preferences/', {
    onRequest: app.authenticate, config: { rateBudget: 'perf_write' }, bodyLimit: 16 * 1024,
    schema: { summary: 'Change some of the user\'s preferences; answers all of them (seed 004 §6.2)', tags, body: PreferencesIn, response: { 200: PreferencesOut, ...PERF_WRITE_ERRORS } },
  }, async (request) => {
    const p = principalOf(request)
    const changes = request.body
    if (changes.default_collector_id != null) {
      try {
        await collectorFor(db, p.orgId, String(changes.default_collector_id))
      } catch (err) {
        if (err instanceof DomainError && err.kind === 'not_found') throw invalidField('default_collector_id', `is not a collector of your organization (${changes.default_collector_id})`)
        throw err
      }
    }
    const stored = { ...await userPreferences(db, p.orgId, p.userId), ...changes }
    await setUserPreferences(db, p.orgId, p.userId, stored)
    return current(p.orgId, p.userId)
  })
}
