// /api/v1/alerts: alert rule CRUD (seed 001's future endpoints). Any role reads; editors and admins write.
// Rules loaded from the rules file (source 'file') are changed only there: PUT and DELETE answer 409.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import { ERRORS, NoContent, Nullable, WRITE_ERRORS } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { userActor, writeAudit } from '../audit/audit-log.ts'
import type { Database } from '../store/database.ts'
import { RuleBody, RuleOut, SEVERITIES, ruleView, type RuleRow } from './rule-definition.ts'
import { createRule, deleteRule, getRule, listRules, replaceRule } from './rules-repository.ts'
import { IdParam } from '../http/params.ts'
import { previewRule } from './rule-preview.ts'

// Any string: a non-uuid id is simply not found (404), never a 500 from the uuid cast.
const BODY_LIMIT = 64 * 1024

const ListQuery = Type.Object({
  enabled: Type.Optional(Type.Boolean()),
  severity: Type.Optional(Type.Union(SEVERITIES.map((s) => Type.Literal(s)))),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'default 100' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
}, { additionalProperties: false })

/** The audit entry of a rule write, as every API that writes rules records it. */
export async function auditRuleWrite(db: Kysely<Database>, request: FastifyRequest, action: 'alert_rule.create' | 'alert_rule.update' | 'alert_rule.delete', rule: RuleRow): Promise<void> {
  const details: Record<string, string | boolean> = action === 'alert_rule.create' ? { name: rule.name, metric: rule.metric }
    : action === 'alert_rule.update' ? { name: rule.name, enabled: rule.enabled } : { name: rule.name }
  await writeAudit(db, { orgId: principalOf(request).orgId, action, actor: userActor(request), target: { type: 'alert_rule', id: rule.id }, ip: request.ip, details })
}

export const alertRulesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  app.get('/api/v1/alerts', {
    onRequest: app.authenticate,
    schema: {
      summary: 'List alert rules', tags: ['alerts'], querystring: ListQuery,
      response: { 200: Type.Object({ rules: Type.Array(RuleOut), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }), ...ERRORS },
    },
  }, async (request) => {
    const { enabled, severity, limit = 100, offset = 0 } = request.query
    const { rules, total } = await listRules(db, principalOf(request).orgId, { enabled, severity, limit, offset })
    return { rules: rules.map(ruleView), total, limit, offset }
  })

  app.get('/api/v1/alerts/:id', {
    onRequest: app.authenticate,
    schema: { summary: 'One alert rule', tags: ['alerts'], params: IdParam, response: { 200: RuleOut, ...ERRORS } },
  }, async (request) => ruleView(await getRule(db, principalOf(request).orgId, request.params.id)))

  app.post('/api/v1/alerts', {
    onRequest: app.requireRole('admin', 'editor'), bodyLimit: BODY_LIMIT,
    schema: { summary: 'Create an alert rule', tags: ['alerts'], body: RuleBody, response: { 201: RuleOut, ...WRITE_ERRORS } },
  }, async (request, reply) => {
    const p = principalOf(request)
    const rule = await createRule(db, p.orgId, p.userId, request.body)
    await auditRuleWrite(db, request, 'alert_rule.create', rule)
    return reply.status(201).send(ruleView(rule))
  })

  app.post('/api/v1/alerts/preview', {
    onRequest: app.authenticate, bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Evaluate a rule once without storing it: each selected series\' current value and the level it would fire at', tags: ['alerts'],
      body: RuleBody,
      response: {
        200: Type.Object({
          agents: Type.Integer({ description: 'agents the rule selects now' }), source: Type.String({ description: 'raw, or the aggregate read' }),
          series: Type.Array(Type.Object({
            agent: Type.String(), tags: Type.Record(Type.String(), Type.String()), value: Nullable(Type.Number()),
            level: Nullable(Type.String({ description: 'critical, warning or info: the severity the value is at now; null: below the thresholds' })),
            missing: Type.Boolean({ description: 'no sample in the window' }),
          }), { description: 'at most 200' }),
          notice: Type.Optional(Type.String({ description: 'when no selected series has data: why (an unknown metric or tag names the known ones; a rule may still watch a metric not sent yet)' })),
        }),
        ...ERRORS,
      },
    },
  }, async (request) => previewRule(db, principalOf(request).orgId, request.body))

  app.put('/api/v1/alerts/:id', {
    onRequest: app.requireRole('admin', 'editor'), bodyLimit: BODY_LIMIT,
    schema: { summary: 'Replace an alert rule', tags: ['alerts'], params: IdParam, body: RuleBody, response: { 200: RuleOut, ...WRITE_ERRORS } },
  }, async (request) => {
    const p = principalOf(request)
    const rule = await replaceRule(db, p.orgId, request.params.id, request.body)
    await auditRuleWrite(db, request, 'alert_rule.update', rule)
    return ruleView(rule)
  })

  app.delete('/api/v1/alerts/:id', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: { summary: 'Delete an alert rule (its history stays)', tags: ['alerts'], params: IdParam, response: { 204: NoContent, ...WRITE_ERRORS } },
  }, async (request, reply) => {
    const p = principalOf(request)
    const deleted = await deleteRule(db, p.orgId, request.params.id)
    await auditRuleWrite(db, request, 'alert_rule.delete', deleted)
    return reply.status(204).send(null)
  })
}
