// Seed 003's ResourceThresholdViewSet (/api/thresholds/) over native alert rules: a threshold is a rule on
// cpu.usage_percent, memory.usage_percent or disk.usage_percent, created, checked, replaced, deleted and
// audited by the same functions as POST/PUT/DELETE /api/v1/alerts, so it is evaluated and notified like
// any rule and shows in GET /api/v1/alerts. A native rule shows here when a threshold can say all of it
// (see isThresholdShaped); others are not listed and their number is a 404 here.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { AgentManagementOptions } from './face-options.ts'
import { PageOf, PageQuery, pageOf, pageWindow } from './drf.ts'
import { AgentNumberQuery, DRF_ERRORS, DRF_WRITE_ERRORS, NumberParam, numberFrom } from './seed-shapes.ts'
import { refuseNulls, withFaceFields } from './alert-field-errors.ts'
import { BooleanWord, booleanOf } from './alert-filter-words.ts'
import {
  METRIC_TYPES, SERIES_OF, THRESHOLD_FIELDS, ThresholdBody, ThresholdOut, ThresholdPatch, defaultThresholdName, isThresholdShaped, newThresholdBase,
  thresholdJson, thresholdRuleBody, type MetricType, type ThresholdChange,
} from './threshold-shapes.ts'
import { principalOf } from '../../auth/auth-plugin.ts'
import { DomainError, invalidField } from '../../errors/domain-error.ts'
import { NoContent } from '../../http/response-schemas.ts'
import { findAgent, findAgentByNumber, type AgentRow } from '../../agents/agents-repository.ts'
import { ruleBodyOf, type RuleRow } from '../../alerting/rule-definition.ts'
import { createRule, deleteRule, findRuleByNumber, listThresholdRulesOn, replaceRule, ruleNameTaken } from '../../alerting/rules-repository.ts'
import { auditRuleWrite } from '../../alerting/rules-routes.ts'
import { channelIdsByNumber, channelNumbers, listChannels } from '../../notify/channels-repository.ts'

const BODY_LIMIT = 64 * 1024
const TAGS = ['seed-003']

const ListQuery = Type.Object({
  ...PageQuery,
  agent: Type.Optional(AgentNumberQuery),
  metric_type: Type.Optional(Type.Unsafe<MetricType>({ type: 'string', enum: [...METRIC_TYPES] })),
  is_active: Type.Optional(BooleanWord('true or false')),
})

interface Threshold { rule: RuleRow; agent: AgentRow | null }

// `agent` takes null (every agent); every other field is refused as null rather than read as 0, false or "".
const noNulls = refuseNulls(['name', 'metric_type', 'threshold', 'comparison', 'level', 'is_active', 'enabled', 'notification_channels'])

const notFound = (id: string | number) => new DomainError('not_found', `Threshold ${id} not found.`)
const missing = (field: string, n: number) => invalidField(field, `Invalid pk "${n}" - object does not exist.`)

export const thresholdsRoutes: FastifyPluginAsyncTypebox<AgentManagementOptions> = async (app) => {
  const db = app.store.db
  const editors = app.requireRole('admin', 'editor')

  /** The organization's rules that are thresholds, oldest first, each with its one agent (null: every agent). */
  async function thresholds(orgId: string): Promise<Threshold[]> {
    const rules = (await listThresholdRulesOn(db, orgId, Object.values(SERIES_OF))).filter(isThresholdShaped)
    const agents = new Map<string, AgentRow | undefined>()
    for (const ref of new Set(rules.flatMap((r) => r.agents))) agents.set(ref, await findAgent(db, orgId, ref))
    // A rule naming an agent that does not exist (any more) selects nothing a threshold can name: left out.
    return rules.flatMap((rule): Threshold[] => {
      if (rule.agents.length === 0) return [{ rule, agent: null }]
      const agent = agents.get(rule.agents[0])
      return agent ? [{ rule, agent }] : []
    })
  }

  async function thresholdOf(orgId: string, id: string): Promise<Threshold> {
    const rule = await findRuleByNumber(db, orgId, numberFrom(id, 'Threshold'))
    if (!rule || !isThresholdShaped(rule)) throw notFound(id)
    const agent = rule.agents.length === 0 ? null : await findAgent(db, orgId, rule.agents[0])
    if (agent === undefined) throw notFound(id)
    return { rule, agent }
  }

  async function json(orgId: string, items: Threshold[]): Promise<ThresholdOut[]> {
    const numbers = await channelNumbers(db, orgId, items.flatMap((i) => i.rule.channels))
    return items.map((i) => thresholdJson(i.rule, i.agent, numbers))
  }

  /** A body → the native change; the agent (undefined: not given) and channels looked up by number, 400 when none has it. */
  async function changeOf(orgId: string, b: ThresholdPatch): Promise<{ change: ThresholdChange; agent: AgentRow | null | undefined }> {
    if (b.is_active !== undefined && b.enabled !== undefined && b.is_active !== b.enabled) throw invalidField('is_active', 'must equal enabled when both are given')
    let agent: AgentRow | null | undefined
    if (b.agent === null) agent = null
    else if (b.agent !== undefined) {
      agent = await findAgentByNumber(db, orgId, b.agent)
      if (!agent) throw missing('agent', b.agent)
    }
    let channelIds: string[] | undefined
    if (b.notification_channels !== undefined) {
      const ids = await channelIdsByNumber(db, orgId, b.notification_channels)
      const unknown = b.notification_channels.find((n) => !ids.has(n))
      if (unknown !== undefined) throw missing('notification_channels', unknown)
      channelIds = [...new Set(b.notification_channels.map((n) => ids.get(n)!))]
    }
    return {
      agent,
      change: {
        name: b.name, agentId: agent === undefined ? undefined : agent?.id ?? null, metricType: b.metric_type, threshold: b.threshold,
        comparison: b.comparison, level: b.level, enabled: b.is_active ?? b.enabled, channelIds,
      },
    }
  }

  /** `name`, or `name (2)`, `name (3)` … whichever no rule of the organization has. */
  async function freeName(orgId: string, name: string): Promise<string> {
    for (let n = 1; n < 100; n++) {
      const candidate = n === 1 ? name : `${name} (${n})`
      if (!await ruleNameTaken(db, orgId, candidate)) return candidate
    }
    return name // createRule answers that it is taken
  }

  app.get('/api/thresholds/', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Seed 003: list thresholds (native alert rules on cpu, memory and disk usage)', tags: TAGS,
      querystring: ListQuery, response: { 200: PageOf(ThresholdOut), ...DRF_ERRORS },
    },
  }, async (request) => {
    const q = request.query
    const orgId = principalOf(request).orgId
    const active = booleanOf(q.is_active)
    const all = (await thresholds(orgId)).filter((t) => (q.agent === undefined || t.agent?.number === q.agent)
      && (q.metric_type === undefined || t.rule.metric === SERIES_OF[q.metric_type]) && (active === undefined || t.rule.enabled === active))
    const { offset, limit } = pageWindow(q)
    return pageOf(request, q, all.length, await json(orgId, all.slice(offset, offset + limit)))
  })

  app.get('/api/thresholds/:id/', {
    onRequest: app.authenticate,
    schema: { summary: 'Seed 003: one threshold', tags: TAGS, params: NumberParam, response: { 200: ThresholdOut, ...DRF_ERRORS } },
  }, async (request) => {
    const orgId = principalOf(request).orgId
    return (await json(orgId, [await thresholdOf(orgId, request.params.id)]))[0]
  })

  app.post('/api/thresholds/', {
    onRequest: editors, preValidation: noNulls, bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Seed 003: create a threshold (a native alert rule)', tags: TAGS,
      description: 'Without notification_channels, every enabled notification channel of the organization is notified.',
      body: ThresholdBody, response: { 201: ThresholdOut, ...DRF_WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const b = request.body
    const { change, agent = null } = await changeOf(p.orgId, b)
    change.channelIds ??= (await listChannels(db, p.orgId)).filter((c) => c.enabled).map((c) => c.id)
    const name = change.name ?? await freeName(p.orgId, defaultThresholdName(b.metric_type, b.comparison, b.threshold, agent))
    const rule = await withFaceFields(THRESHOLD_FIELDS, () => createRule(db, p.orgId, p.userId, thresholdRuleBody(newThresholdBase(name, b.metric_type), change)))
    await auditRuleWrite(db, request, 'alert_rule.create', rule)
    return reply.status(201).send((await json(p.orgId, [{ rule, agent }]))[0])
  })

  /** PUT and PATCH: the given fields over the stored rule (DRF's update keeps what a body leaves out). */
  async function update(request: FastifyRequest, id: string, body: ThresholdPatch): Promise<ThresholdOut> {
    const p = principalOf(request)
    const current = await thresholdOf(p.orgId, id)
    const { change, agent } = await changeOf(p.orgId, body)
    const rule = await withFaceFields(THRESHOLD_FIELDS, () => replaceRule(db, p.orgId, current.rule.id, thresholdRuleBody(ruleBodyOf(current.rule), change)))
    await auditRuleWrite(db, request, 'alert_rule.update', rule)
    return (await json(p.orgId, [{ rule, agent: agent === undefined ? current.agent : agent }]))[0]
  }

  for (const [method, body, what] of [['PUT', ThresholdBody, 'update'], ['PATCH', ThresholdPatch, 'partially update']] as const) {
    app.route({
      method, url: '/api/thresholds/:id/', onRequest: editors, preValidation: noNulls, bodyLimit: BODY_LIMIT,
      schema: { summary: `Seed 003: ${what} a threshold`, tags: TAGS, params: NumberParam, body, response: { 200: ThresholdOut, ...DRF_WRITE_ERRORS } },
      handler: (request) => update(request, request.params.id, request.body),
    })
  }

  app.delete('/api/thresholds/:id/', {
    onRequest: editors,
    schema: { summary: 'Seed 003: delete a threshold (its alerts end; their history stays)', tags: TAGS, params: NumberParam, response: { 204: NoContent, ...DRF_WRITE_ERRORS } },
  }, async (request, reply) => {
    const p = principalOf(request)
    const current = await thresholdOf(p.orgId, request.params.id)
    const deleted = await deleteRule(db, p.orgId, current.rule.id)
    await auditRuleWrite(db, request, 'alert_rule.delete', deleted)
    return reply.status(204).send(null)
  })
}
