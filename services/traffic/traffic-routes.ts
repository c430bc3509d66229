// Traffic totals against a monthly quota (issue 17, part 5): one agent's billing cycle, every agent's total
// for the fleet page, an agent's cycle and quota settings, and quotas by label.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ERRORS, NoContent, Nullable, Time, WRITE_ERRORS } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { userActor, writeAudit } from '../audit/audit-log.ts'
import { getAgent } from '../agents/agents-repository.ts'
import { agentTraffic, fleetTraffic } from './traffic-reads.ts'
import { deleteLabelQuota, labelQuotas, setLabelQuota, trafficSettings, updateTrafficSettings } from './traffic-settings.ts'

const Cycle = Type.Union([Type.Literal('current'), Type.Literal('previous')], { description: 'default current' })
const Direction = Type.Union([Type.Literal('total'), Type.Literal('sent'), Type.Literal('received')])
const ByteCount = Type.Integer({ minimum: 0 })
const BytesOut = { received_bytes: ByteCount, sent_bytes: ByteCount, total_bytes: ByteCount }
const QuotaOut = Nullable(Type.Object({
  bytes: ByteCount, direction: Type.String({ description: 'what the quota counts: total (received + sent), sent or received' }),
  source: Type.String({ description: 'agent (its own quota) or "label <key>=<value>"' }),
  used_bytes: ByteCount, used_percent: Type.Number(),
}))
const InterfaceName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\s/]+$' })
const LabelPart = (what: string) => Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$', description: what })

const SettingsOut = Type.Object({
  cycle_start_day: Type.Integer(), time_zone: Type.String(),
  interfaces: Nullable(Type.Array(Type.String())), quota_bytes: Nullable(ByteCount), quota_direction: Type.String(),
})
const SettingsBody = Type.Object({
  cycle_start_day: Type.Optional(Type.Integer({ minimum: 1, maximum: 31, description: 'day of the month the cycle starts; 29–31 mean the last day in shorter months' })),
  time_zone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA name (Europe/Berlin): days and cycles start at its midnight' })),
  interfaces: Type.Optional(Nullable(Type.Array(InterfaceName, { maxItems: 64, description: 'the interfaces the host total counts; null: all but loopback and virtual ones' }))),
  // One schema with two types, not a union: under ajv's type coercion a union would turn 0 into null.
  quota_bytes: Type.Optional(Type.Unsafe<number | null>({ type: ['integer', 'null'], minimum: 1, maximum: 9_000_000_000_000_000_000, description: 'bytes per cycle; null: none of its own (a label quota may apply)' })),
  quota_direction: Type.Optional(Direction),
}, { additionalProperties: false, minProperties: 1 })

const TrafficOut = Type.Object({
  agent_id: Type.String({ format: 'uuid' }), agent_name: Type.String(),
  cycle: Type.Object({
    which: Type.String(), start: Time, end: Time, start_day: Type.Integer(), time_zone: Type.String(),
    complete: Type.Boolean({ description: 'the cycle has ended' }),
  }),
  ...BytesOut,
  interfaces: Type.Array(Type.Object({ interface: Type.String(), counted: Type.Boolean({ description: 'part of the host total' }), ...BytesOut })),
  days: Type.Array(Type.Object({
    date: Type.String({ description: 'YYYY-MM-DD in the agent\'s time zone' }), ...BytesOut,
    interfaces: Type.Record(Type.String(), Type.Object({ received_bytes: ByteCount, sent_bytes: ByteCount })),
  })),
  quota: QuotaOut,
  forecast: Nullable(Type.Object({
    bytes: ByteCount, percent: Nullable(Type.Number()), exhausted_at: Nullable(Time), exhausted_on: Nullable(Type.String()), text: Type.String(),
  }, { description: 'the cycle under way at its pace so far; null in its first hour and for a finished cycle' })),
  unit: Type.Literal('bytes'),
})

const LabelQuotaOut = Type.Object({ label_key: Type.String(), label_value: Type.String(), quota_bytes: ByteCount, direction: Type.String(), updated_at: Time })

/** The changed settings as plain audit facts (the interface list as one line). */
function auditDetails(body: Record<string, unknown>): Record<string, string | number | null> {
  return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v as string | number | null]))
}

export const trafficRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  app.get('/api/v1/agents/:id/traffic', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Bytes received and sent in a billing cycle: host total, per interface, per day, against the quota, with a forecast',
      tags: ['traffic'], params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }),
      querystring: Type.Object({ cycle: Type.Optional(Cycle) }),
      response: { 200: TrafficOut, ...ERRORS },
    },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const agent = await getAgent(db, orgId, request.params.id)
    const settings = await trafficSettings(db, orgId, agent.id)
    const traffic = await agentTraffic(db, orgId, agent.id, settings, request.query.cycle ?? 'current', new Date())
    return { agent_id: agent.id, agent_name: agent.name, ...traffic, unit: 'bytes' as const }
  })

  app.get('/api/v1/traffic', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Every agent\'s bytes in its billing cycle, with its quota and pace', tags: ['traffic'],
      querystring: Type.Object({ cycle: Type.Optional(Cycle) }),
      response: {
        200: Type.Object({
          cycle: Type.String(), unit: Type.Literal('bytes'),
          agents: Type.Array(Type.Object({
            agent_id: Type.String({ format: 'uuid' }), name: Type.String(), cycle_start: Time, cycle_end: Time, ...BytesOut,
            quota: QuotaOut, forecast_bytes: Nullable(ByteCount),
          })),
        }),
        ...ERRORS,
      },
    },
  }, async (request) => {
    const cycle = request.query.cycle ?? 'current'
    return { cycle, unit: 'bytes' as const, agents: await fleetTraffic(db, principalOf(request).orgId, cycle, new Date()) }
  })

  app.get('/api/v1/agents/:id/traffic/settings', {
    onRequest: app.authenticate,
    schema: {
      summary: 'An agent\'s billing cycle, time zone, counted interfaces and quota', tags: ['traffic'],
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }), response: { 200: SettingsOut, ...ERRORS },
    },
  }, async (request) => {
    const { orgId } = principalOf(request)
    return trafficSettings(db, orgId, (await getAgent(db, orgId, request.params.id)).id)
  })

  app.put('/api/v1/agents/:id/traffic/settings', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: {
      summary: 'Change an agent\'s billing cycle, time zone, counted interfaces or quota (fields not sent are kept)', tags: ['traffic'],
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }), body: SettingsBody, response: { 200: SettingsOut, ...WRITE_ERRORS },
    },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const agent = await getAgent(db, orgId, request.params.id)
    const settings = await updateTrafficSettings(db, orgId, agent.id, request.body)
    await writeAudit(db, { orgId, action: 'traffic.settings_update', actor: userActor(request), target: { type: 'agent', id: agent.id }, ip: request.ip, details: auditDetails(request.body) })
    return settings
  })

  app.get('/api/v1/traffic/quotas', {
    onRequest: app.authenticate,
    schema: { summary: 'Traffic quotas by agent label', tags: ['traffic'], response: { 200: Type.Object({ quotas: Type.Array(LabelQuotaOut) }), ...ERRORS } },
  }, async (request) => {
    const quotas = await labelQuotas(db, principalOf(request).orgId)
    return { quotas: quotas.map((q) => ({ ...q, updated_at: q.updated_at.toISOString() })) }
  })

  app.put('/api/v1/traffic/quotas/:label_key/:label_value', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: {
      summary: 'Set the quota of every agent labelled key=value (an agent\'s own quota comes first; of several label quotas the smallest applies)',
      tags: ['traffic'],
      params: Type.Object({ label_key: LabelPart('label name'), label_value: Type.String({ minLength: 1, maxLength: 256, description: 'label value' }) }),
      body: Type.Object({
        quota_bytes: Type.Integer({ minimum: 1, maximum: 9_000_000_000_000_000_000, description: 'bytes per cycle' }),
        direction: Type.Optional(Direction),
      }, { additionalProperties: false }),
      response: { 200: LabelQuotaOut, 201: LabelQuotaOut, ...WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const { orgId } = principalOf(request)
    const { label_key, label_value } = request.params
    const quota = { label_key, label_value, quota_bytes: request.body.quota_bytes, direction: request.body.direction ?? 'total' as const }
    const { quota: stored, created } = await setLabelQuota(db, orgId, quota)
    await writeAudit(db, { orgId, action: 'traffic_quota.set', actor: userActor(request), target: { type: 'traffic_quota', id: `${label_key}=${label_value}` }, ip: request.ip, details: { quota_bytes: quota.quota_bytes, direction: quota.direction } })
    return reply.status(created ? 201 : 200).send({ ...stored, updated_at: stored.updated_at.toISOString() })
  })

  app.delete('/api/v1/traffic/quotas/:label_key/:label_value', {
    onRequest: app.requireRole('admin', 'editor'),
    schema: {
      summary: 'Remove a label\'s traffic quota', tags: ['traffic'],
      params: Type.Object({ label_key: LabelPart('label name'), label_value: Type.String({ minLength: 1, maxLength: 256 }) }),
      response: { 204: NoContent, ...WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const { orgId } = principalOf(request)
    await deleteLabelQuota(db, orgId, request.params.label_key, request.params.label_value)
    await writeAudit(db, { orgId, action: 'traffic_quota.delete', actor: userActor(request), target: { type: 'traffic_quota', id: `${request.params.label_key}=${request.params.label_value}` }, ip: request.ip })
    return reply.status(204).send(null)
  })
}
