// Seed 003's Alert over a native alert event: its JSON (integer ids for the event, its agent and its rule,
// and the uuids to cross to the native API), the seed's `resolved` boolean over the native state.
import { Type, type Static } from 'typebox'
import type { NumberedEventRow } from '../../alerting/events-repository.ts'
import { isAcknowledged } from '../../alerting/event-views.ts'
import { Nullable, Time } from '../../http/response-schemas.ts'
import { metricTypeOf } from './threshold-shapes.ts'

const Id = (description: string) => Nullable(Type.Integer({ description }))
const Uuid = (description: string) => Nullable(Type.String({ format: 'uuid', description }))

export const AlertOut = Type.Object({
  id: Type.Integer({ description: 'the alert number; the native API names the event by `uuid`' }),
  uuid: Type.String({ format: 'uuid', description: 'the native event (GET /api/v1/alerts/events/{uuid})' }),
  agent: Id("the agent's id; null once the agent is deleted"), agent_hostname: Type.String(), agent_uuid: Uuid('the native agent'),
  rule: Id('the alert rule: its threshold id (GET /api/thresholds/{rule}/) when it is a threshold; null once deleted'),
  rule_uuid: Uuid('the native alert rule'),
  level: Type.String({ description: 'info, warning or critical' }),
  title: Type.String({ description: 'the rule name' }), message: Type.String({ description: 'the summary' }),
  metric: Nullable(Type.String({ description: 'the native series; null once the rule is deleted' })),
  metric_type: Nullable(Type.String({ description: 'cpu, memory or disk for those series, else null' })),
  series: Type.Record(Type.String(), Type.String(), { description: 'the series tags, e.g. {"mount_point": "/"}' }),
  value: Nullable(Type.Number()), threshold: Nullable(Type.Number()),
  resolved: Type.Boolean(), created_at: Time, resolved_at: Nullable(Time),
  resolved_by: Nullable(Type.String({ description: 'the user who resolved it by hand; null when the evaluator did' })),
  acknowledged: Type.Boolean(),
})
export type AlertOut = Static<typeof AlertOut>

export function alertJson(e: NumberedEventRow, now = new Date()): AlertOut {
  return {
    id: e.number, uuid: e.id, agent: e.agent_number, agent_hostname: e.agent_hostname ?? e.agent_name, agent_uuid: e.agent_id,
    rule: e.rule_number, rule_uuid: e.rule_id, level: e.severity, title: e.rule_name, message: e.summary,
    metric: e.rule_metric, metric_type: metricTypeOf(e.rule_metric), series: e.series_tags, value: e.value, threshold: e.threshold,
    resolved: e.state === 'resolved', created_at: e.started_at.toISOString(), resolved_at: e.resolved_at?.toISOString() ?? null,
    resolved_by: e.resolved_by_name, acknowledged: isAcknowledged(e, now),
  }
}
