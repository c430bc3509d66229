// /api/v1/alerts: alert rule CRUD (seed 001's future endpoints). Any role reads; editors and admins write.
// Rules loaded from the rules file (source 'file') are changed only there: PUT and DELETE answer 409.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { ERRORS, NoContent, WRITE_ERRORS } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { userActor, writeAudit } from '../audit/audit-log.ts'
import { RuleBody, RuleOut, SEVERITIES, ruleView, validatedRuleValues, type RuleValues } from './rule-definition.ts'
import { retireRuleAlerts, ruleNameTaken, selectionChanged } from './rules-repository.ts'

// Any string: a non-uuid id is simply not found (404), never a 500 from the uuid cast.
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) })
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const BODY_LIMIT = 64 * 1024

const ListQuery = Type.Object({
  enabled: Type.Optional(Type.Boolean()),
  severity: Type.Optional(Type.Union(SEVERITIES.map((s) => Type.Literal(s)))),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'default 100' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
}, { additionalProperties: false })

export const alertRulesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  async function ruleOr404(orgId: string, id: string) {
    const rule = UUID.test(id) ? await db.selectFrom('alert_rules').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst() : undefined
    if (!rule) throw new ApiError('NOT_FOUND', `Alert rule ${id} not found`)
    return rule
  }

  async function assertNameFree(orgId: string, name: string, exceptId?: string) {
    if (await ruleNameTaken(db, orgId, name, exceptId)) throw new ApiError('CONFLICT', `An alert rule named "${name}" already exists`, { name: ['is taken'] })
  }

  const fileManaged = (name: string) => new ApiError('CONFLICT', `Alert rule "${name}" is managed by the rules file: change it there and restart`, { source: ['file'] })

  app.get('/api/v1/alerts', {
    onRequest: app.authenticate,
    schema: {
      summary: 'List alert rules', tags: ['alerts'], querystring: ListQuery,
      response: { 200: Type.Object({ rules: Type.Array(RuleOut), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }), ...ERRORS },
    },
  }, async (request) => {
    const { enabled, severity, limit = 100, offset = 0 } = request.query
    let q = db.selectFrom('alert_rules').where('org_id', '=', principalOf(request).orgId)
    if (enabled !== undefined) q = q.where('enabled', '=', enabled)
    if (severity !== undefined) q = q.where('severity', '=', severity)
    const rows = await q.selectAll().orderBy('name').orderBy('id').limit(limit).offset(offset).execute()
    const { total } = await q.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow()
    return { rules: rows.map(ruleView), total: Number(total), limit, offset }
  })

  app.get('/api/v1/alerts/:id', {
    onRequest: app.authenticate,
    schema: { summary: 'One alert rule', tags: ['alerts'], params: IdParams, response: { 200: RuleOut, ...ERRORS } },
  }, async (request) => ruleView(await ruleOr404(principalOf(request).orgId, request.params.id)))

  app.post('/api/v1/alerts', {
    onRequest: app.requireRole('admin', 'editor'), bodyLimit: BODY_LIMIT,
    schema: { summary: 'Create an alert rule', tags: ['alerts'], body: RuleBody, response: { 201: RuleOut, ...WRITE_ERRORS } },
  }, async (request, reply) => {
    const p = principalOf(request)
    const values = await validatedRuleValues(db, p.orgId, request.body)
    await assertNameFree(p.orgId, values.name)
    const rule = await db.insertInto('alert_rules').values({ ...values, org_id: p.orgId, source: 'api', created_by: p.userId })
      .returningAll().executeTakeFirstOrThrow()
    await writeAudit(db, { orgId: p.orgId, action: 'alert_rule.create', actor: userActor(request), target: { type: 'alert_rule', id: rule.id }, ip: request.ip, details: { name: rule.name, metric: rule.metric } })
    return reply.status(201).send(ruleView(rule))
  })

  app.put('/api/v1/alerts/:id', {
    onRequest: app.requireRole('admin', 'editor'), bodyLimit: BODY_LIMIT,
    schema: { summary: 'Replace an alert rule', tags: ['alerts'], params: IdParams, body: RuleBody, response: { 200: RuleOut, ...WRITE_ERRORS } },
  }, async (request) => {
    const p = principalOf(request)
    const current = await ruleOr404(p.orgId, request.params.id)
    if (current.source === 'file') throw fileManaged(current.name)
    const values: RuleValues = await validatedRuleValues(db, p.orgId, request.body)
    await assertNameFree(p.orgId, values.name, current.id)
    const rule = await db.transaction().execute(async (trx) => {
      // Alerts of a rule that stops applying as it was end now rather than stay firing for ever.
      if (!values.enabled || selectionChanged(current, values)) await retireRuleAlerts(trx, current.id, 'rule changed', new Date())
      return trx.updateTable('alert_rules').set({ ...values, updated_at: new Date() })
        .where('id', '=', current.id).where('org_id', '=', p.orgId).returningAll().executeTakeFirstOrThrow()
    })
    await writeAudit(db, { orgId: p.orgId, action: 'alert_rule.update', actor: userActor(request), target: { type: 'alert_rule', id: rule.id }, ip: request.ip, details: { name: rule.name, enabled: rule.enabled } })
    return ruleView(rule)
  })

  app.delete('/api/v1/alerts/:id', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: { summary: 'Delete an alert rule (its history stays)', tags: ['alerts'], params: IdParams, response: { 204: NoContent, ...WRITE_ERRORS } },
  }, async (request, reply) => {
    const p = principalOf(request)
    const current = await ruleOr404(p.orgId, request.params.id)
    if (current.source === 'file') throw fileManaged(current.name)
    await db.transaction().execute(async (trx) => {
      await retireRuleAlerts(trx, current.id, 'rule deleted', new Date())
      await trx.deleteFrom('alert_rules').where('id', '=', current.id).where('org_id', '=', p.orgId).execute()
    })
    await writeAudit(db, { orgId: p.orgId, action: 'alert_rule.delete', actor: userActor(request), target: { type: 'alert_rule', id: current.id }, ip: request.ip, details: { name: current.name } })
    return reply.status(204).send(null)
  })
}
