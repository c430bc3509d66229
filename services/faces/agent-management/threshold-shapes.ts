// Seed 003's ResourceThreshold over a native alert rule: the fields, the series each metric type stands for,
// the comparisons, which native rules a threshold can show faithfully, and the rule body a threshold write
// becomes. Validation and storage stay native (rule-definition.ts, rules-repository.ts).
import { Type, type Static } from 'typebox'
import type { AlertCondition } from '../../store/database.ts'
import type { AgentRow } from '../../agents/agents-repository.ts'
import type { RuleBody, RuleRow } from '../../alerting/rule-definition.ts'
import { Nullable, Time } from '../../http/response-schemas.ts'
import { LevelWord, severityOf } from './alert-filter-words.ts'

export const METRIC_TYPES = ['cpu', 'memory', 'disk'] as const
export type MetricType = (typeof METRIC_TYPES)[number]

/**
 * The series the hostpulse agent writes for each metric type: cpu is the whole host (not one core), disk
 * every mount point (one alert per mount).
 */
export const SERIES_OF: Record<MetricType, string> = { cpu: 'cpu.usage_percent', memory: 'memory.usage_percent', disk: 'disk.usage_percent' }
const TYPE_OF_SERIES = new Map(Object.entries(SERIES_OF).map(([type, series]) => [series, type as MetricType]))
export const metricTypeOf = (series: string | null): MetricType | null => (series === null ? null : TYPE_OF_SERIES.get(series) ?? null)

/** DRF's comparison names and the operators themselves, → the native condition. */
const CONDITIONS = {
  gt: '>', gte: '>=', lt: '<', lte: '<=', eq: '==', ne: '!=',
  '>': '>', '>=': '>=', '<': '<', '<=': '<=', '==': '==', '=': '==', '!=': '!=',
} as const satisfies Record<string, AlertCondition>
export type ComparisonWord = keyof typeof CONDITIONS
const COMPARISON_NAMES: Record<AlertCondition, string> = { '>': 'gt', '>=': 'gte', '<': 'lt', '<=': 'lte', '==': 'eq', '!=': 'ne' }

const Comparison = Type.Unsafe<ComparisonWord>({ type: 'string', enum: Object.keys(CONDITIONS), description: 'gt, gte, lt, lte, eq, ne (or > >= < <= == !=); default gt' })
const NumberId = Type.Integer({ minimum: 1, maximum: 2_147_483_647 })
// One schema with two types, not a union: under ajv's type coercion an integer|null union turns null into 0.
const AgentNumber = Type.Unsafe<number | null>({ type: ['integer', 'null'], minimum: 1, maximum: 2_147_483_647, description: "an agent's integer id; null: every agent" })

const Fields = {
  name: Type.String({ minLength: 1, maxLength: 200, pattern: '\\S', description: 'default: made from the metric, comparison, threshold and agent' }),
  agent: AgentNumber,
  metric_type: Type.Unsafe<MetricType>({ type: 'string', enum: [...METRIC_TYPES], description: 'cpu.usage_percent, memory.usage_percent or disk.usage_percent (every mount)' }),
  threshold: Type.Number({ minimum: -1e300, maximum: 1e300 }),
  comparison: Comparison,
  level: LevelWord('info, warning or critical (or low, medium, high, error); default critical'),
  is_active: Type.Boolean(),
  enabled: Type.Boolean({ description: 'the same as is_active' }),
  notification_channels: Type.Array(NumberId, { maxItems: 50, description: 'notification ids; default on create: every enabled notification channel' }),
}
const optional = <K extends keyof typeof Fields>(keys: readonly K[]) => Object.fromEntries(keys.map((k) => [k, Type.Optional(Fields[k])])) as { [P in K]: ReturnType<typeof Type.Optional<(typeof Fields)[P]>> }

/** POST and PUT: metric_type and threshold required; read-only fields sent back (id, uuid, created_at …) are ignored, as DRF does. */
export const ThresholdBody = Type.Object({
  metric_type: Fields.metric_type, threshold: Fields.threshold,
  ...optional(['name', 'agent', 'comparison', 'level', 'is_active', 'enabled', 'notification_channels'] as const),
}, { additionalProperties: true })
/** PATCH: any of them. */
export const ThresholdPatch = Type.Object(optional(['name', 'agent', 'metric_type', 'threshold', 'comparison', 'level', 'is_active', 'enabled', 'notification_channels'] as const), { additionalProperties: true })
export type ThresholdPatch = Static<typeof ThresholdPatch>

export const ThresholdOut = Type.Object({
  id: Type.Integer({ description: 'the threshold number; the native API names the rule by `uuid`' }),
  uuid: Type.String({ format: 'uuid', description: 'the native alert rule (GET /api/v1/alerts/{uuid})' }),
  name: Type.String(),
  agent: Nullable(Type.Integer({ description: "the agent's id; null: every agent" })), agent_hostname: Nullable(Type.String()),
  metric_type: Type.String(), metric: Type.String({ description: 'the native series' }),
  threshold: Type.Number(), comparison: Type.String(), level: Type.String({ description: 'info, warning or critical' }),
  is_active: Type.Boolean(), enabled: Type.Boolean(),
  notification_channels: Type.Array(Type.Integer()),
  source: Type.String({ description: 'api, or file: loaded from the rules file and changed only there' }),
  created_at: Time, updated_at: Time,
})
export type ThresholdOut = Static<typeof ThresholdOut>

/** Native field names → the face's, for errors of the native checks. */
export const THRESHOLD_FIELDS: Record<string, string> = {
  metric: 'metric_type', condition: 'comparison', severity: 'level', agents: 'agent', enabled: 'is_active', channels: 'notification_channels',
}

/**
 * Whether a native rule says exactly what a threshold can: a value rule on one of the three series, one
 * level, no label or tag selector, every agent or one. Other rules are not thresholds here (not listed, 404).
 */
export function isThresholdShaped(r: RuleRow): boolean {
  return r.kind === 'threshold' && TYPE_OF_SERIES.has(r.metric) && r.threshold !== null && r.warning_threshold === null
    && Object.keys(r.tags).length === 0 && Object.keys(r.labels).length === 0 && r.agents.length <= 1
}

/** A rule as a threshold; `agent` is the rule's one agent (null: every agent), `channels` the channel numbers by id. */
export function thresholdJson(r: RuleRow, agent: AgentRow | null, channels: Map<string, number>): ThresholdOut {
  return {
    id: r.number, uuid: r.id, name: r.name, agent: agent?.number ?? null, agent_hostname: agent ? agent.hostname ?? agent.name : null,
    metric_type: metricTypeOf(r.metric) ?? r.metric, metric: r.metric, threshold: r.threshold ?? 0, comparison: COMPARISON_NAMES[r.condition],
    level: r.severity, is_active: r.enabled, enabled: r.enabled,
    notification_channels: r.channels.flatMap((id) => channels.get(id) ?? []), source: r.source,
    created_at: r.created_at.toISOString(), updated_at: r.updated_at.toISOString(),
  }
}

/** What a write changes, resolved to native values (the agent and channels already looked up by number). */
export interface ThresholdChange {
  name?: string
  /** The agent's uuid; null: every agent. */
  agentId?: string | null
  metricType?: MetricType
  threshold?: number
  comparison?: ComparisonWord
  level?: Static<typeof Fields.level>
  enabled?: boolean
  channelIds?: string[]
}

/** A new threshold's rule before its fields: the last value of the series over one minute (the seed compares each reported value). */
export const newThresholdBase = (name: string, metricType: MetricType): RuleBody => ({ name, metric: SERIES_OF[metricType], aggregation: 'last', window: '1m' })

/**
 * The native rule body of a threshold write over `base`: a new threshold's, or the stored rule's own body,
 * so that native settings the seed has no field for (for, repeat, annotations …) stay. Unset fields keep
 * the base's values or the native defaults.
 */
export function thresholdRuleBody(base: RuleBody, change: ThresholdChange): RuleBody {
  const body: RuleBody = { ...base }
  if (change.name !== undefined) body.name = change.name
  if (change.metricType !== undefined) body.metric = SERIES_OF[change.metricType]
  if (change.threshold !== undefined) body.threshold = change.threshold
  if (change.comparison !== undefined) body.condition = CONDITIONS[change.comparison]
  if (change.level !== undefined) body.severity = severityOf(change.level)
  if (change.agentId !== undefined) body.agents = change.agentId === null ? [] : [change.agentId]
  if (change.enabled !== undefined) body.enabled = change.enabled
  if (change.channelIds !== undefined) body.channels = change.channelIds
  return body
}

/** The name a threshold gets when none is given: "cpu > 90 on web-01", "disk >= 85 (all agents)". */
export function defaultThresholdName(metricType: MetricType, comparison: ComparisonWord | undefined, threshold: number, agent: AgentRow | null): string {
  const op = CONDITIONS[comparison ?? 'gt']
  return `${metricType} ${op} ${threshold} ${agent ? `on ${agent.hostname ?? agent.name}` : '(all agents)'}`
}
