// Seed 003's AlertViewSet (/api/alerts/) over native alert events: the history filtered by `resolved`,
// `level` and `agent` (its integer id), one alert, and `resolve` — the native manual resolve
// (resolveEvent, as POST /api/v1/alerts/events/{uuid}/resolve does): the event, its lifecycle and the
// resolved notifications, queued for whoever heard of the firing, in one transaction; audited the same way.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { AgentManagementOptions } from './face-options.ts'
import { PageOf, PageQuery, pageOf, pageWindow } from './drf.ts'
import { AgentNumberQuery, DRF_ERRORS, DRF_WRITE_ERRORS, NumberParam, numberFrom } from './seed-shapes.ts'
import { AlertOut, alertJson } from './alert-shapes.ts'
import { BooleanWord, LevelWord, booleanOf, severityOf } from './alert-filter-words.ts'
import { principalOf } from '../../auth/auth-plugin.ts'
import { DomainError } from '../../errors/domain-error.ts'
import { findAgentByNumber } from '../../agents/agents-repository.ts'
import { findEventByNumber, pageEvents, type NumberedEventRow } from '../../alerting/events-repository.ts'
import { resolveEvent } from '../../alerting/event-actions.ts'
import { auditEventAction, commentOf, emptyBodyIsEmptyObject } from '../../alerting/events-routes.ts'

const BODY_LIMIT = 16 * 1024
const TAGS = ['seed-003']

const ListQuery = Type.Object({
  ...PageQuery,
  resolved: Type.Optional(BooleanWord('true: resolved alerts only; false: firing ones')),
  level: Type.Optional(LevelWord('info, warning or critical (low, medium, high and error are accepted: low → info, medium → warning, high/error → critical)')),
  agent: Type.Optional(AgentNumberQuery),
})
const ResolveBody = Type.Object({ comment: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: true })

const notFound = (id: string) => new DomainError('not_found', `Alert ${id} not found.`)

export const alertsRoutes: FastifyPluginAsyncTypebox<AgentManagementOptions> = async (app) => {
  const db = app.store.db

  async function alertOf(orgId: string, id: string): Promise<NumberedEventRow> {
    const event = await findEventByNumber(db, orgId, numberFrom(id, 'Alert'))
    if (!event) throw notFound(id)
    return event
  }

  app.get('/api/alerts/', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Seed 003: list alerts, newest first', tags: TAGS,
      description: 'Filters: resolved (true/false), level, agent (its integer id; an id no agent has matches nothing).',
      querystring: ListQuery, response: { 200: PageOf(AlertOut), ...DRF_ERRORS },
    },
  }, async (request) => {
    const q = request.query
    const orgId = principalOf(request).orgId
    const page = pageWindow(q)
    const resolved = booleanOf(q.resolved)
    let agentId: string | undefined
    if (q.agent !== undefined) {
      const agent = await findAgentByNumber(db, orgId, q.agent)
      if (!agent) return pageOf(request, q, 0, [])
      agentId = agent.id
    }
    const { events, total } = await pageEvents(db, orgId, {
      state: resolved === undefined ? undefined : resolved ? 'resolved' : 'firing',
      severities: q.level === undefined ? undefined : [severityOf(q.level)], agentId, offset: page.offset, limit: page.limit,
    })
    const now = new Date()
    return pageOf(request, q, total, events.map((e) => alertJson(e, now)))
  })

  app.get('/api/alerts/:id/', {
    onRequest: app.authenticate,
    schema: { summary: 'Seed 003: one alert', tags: TAGS, params: NumberParam, response: { 200: AlertOut, ...DRF_ERRORS } },
  }, async (request) => alertJson(await alertOf(principalOf(request).orgId, request.params.id)))

  app.post('/api/alerts/:id/resolve/', {
    onRequest: app.requireRole('admin', 'editor'), preValidation: emptyBodyIsEmptyObject, bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Seed 003: resolve an alert by hand (the native manual resolve)', tags: TAGS,
      description: 'Resolved notifications go out as natively (to the channels that were told of the firing, if the rule asks); '
        + 'its lifecycle starts over, so a condition that still holds fires a new alert. An alert already resolved answers 409.',
      params: NumberParam, body: ResolveBody, response: { 200: AlertOut, ...DRF_WRITE_ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    const event = await alertOf(p.orgId, request.params.id)
    const { queued } = await resolveEvent(db, p.orgId, event.id, { userId: p.userId, comment: commentOf(request.body.comment), now: new Date() })
    await auditEventAction(db, request, 'alert.resolve', event.id, { resolved_notifications: queued })
    return alertJson(await alertOf(p.orgId, request.params.id))
  })
}
