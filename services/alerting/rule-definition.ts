// An alert rule as people write it (JSON through the API, YAML or JSON in the rules file) and as it is
// stored: the schema, the checks a schema cannot express, and the conversions both ways.
import { Type, type Static } from 'typebox'
import type { Insertable, Kysely, Selectable } from 'kysely'
import { DomainError } from '../errors/domain-error.ts'
import { Nullable, Time } from '../http/response-schemas.ts'
import { parseSeriesTarget } from '../query/series-catalog.ts'
import { parseDuration } from '../time/duration.ts'
import type { AlertCondition, AlertRuleKind, AlertRulesTable, Database } from '../store/database.ts'
import { isUuid } from '../store/uuid.ts'

/** One of `values` (typed as their union; a mapped Type.Union of literals loses the type here). */
const lit = <T extends string>(values: readonly T[], description?: string) =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], ...(description ? { description } : {}) })

export const AGGREGATIONS = ['avg', 'min', 'max', 'last', 'count', 'p95', 'rate'] as const
export const CONDITIONS = ['>', '>=', '<', '<=', '==', '!='] as const
export const SEVERITIES = ['info', 'warning', 'critical'] as const
export const RULE_KINDS = ['threshold', 'agent_offline', 'process_absent', 'no_data', 'traffic_quota'] as const
/** The metrics of traffic_quota rules: percent of the quota used in the cycle so far, or forecast for its end. */
export const TRAFFIC_QUOTA_METRICS = ['traffic.quota_used_percent', 'traffic.quota_forecast_percent'] as const

const Duration = (description: string) => Type.String({ minLength: 2, maxLength: 16, description })
const TagMap = (description: string) => Type.Record(Type.String({ minLength: 1, maxLength: 64 }), Type.String({ maxLength: 1024 }), { maxProperties: 32, description })
// One schema with two types, not a union: under ajv's type coercion a number|null union turns null into 0.
const Threshold = Type.Unsafe<number | null>({ type: ['number', 'null'], minimum: -1e300, maximum: 1e300 })

export const RuleBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  metric: Type.String({ minLength: 3, maxLength: 200, description: '<type>.<name> as the series endpoint takes it (cpu.usage_percent, disk.usage_percent …), or agent.offline / process.absent, or traffic.quota_used_percent / traffic.quota_forecast_percent (the billing cycle\'s traffic against the agent\'s quota)' }),
  kind: Type.Optional(lit(RULE_KINDS, 'derived from metric; ask for no_data explicitly')),
  aggregation: Type.Optional(lit(AGGREGATIONS, 'over the window; default avg; rate: a counter\'s per-second increase over the window, restarts handled (metrics table series only)')),
  window: Type.Optional(Duration('aggregation window, e.g. 1m, 5m; default 1m')),
  condition: Type.Optional(lit(CONDITIONS, 'default >')),
  threshold: Type.Optional(Threshold),
  warning_threshold: Type.Optional(Threshold),
  recovery_threshold: Type.Optional(Threshold),
  for: Type.Optional(Duration('how long the condition must hold before firing; default 0s')),
  severity: Type.Optional(lit(SEVERITIES, 'severity at `threshold`; default critical')),
  agents: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 1000, description: 'agent names or ids; empty: every agent' })),
  labels: Type.Optional(TagMap('agent label selector: every pair must match')),
  tags: Type.Optional(TagMap('series filter (mount_point, interface, name, cmdline, metric tags); "*": any value')),
  channels: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 50, description: 'notification channels, by id or name' })),
  repeat_interval: Type.Optional(Type.Union([Duration('repeat while firing and not acknowledged; null: once'), Type.Null()])),
  notify_on_resolve: Type.Optional(Type.Boolean()),
  enabled: Type.Optional(Type.Boolean()),
  annotations: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 64 }), Type.String({ maxLength: 4000 }), {
    maxProperties: 32, description: 'templates: {{agent}} {{value}} {{threshold}} {{severity}} {{rule}} and series tags such as {{mount_point}}',
  })),
  interval: Type.Optional(Duration('evaluation interval; default 15s')),
  group_wait: Type.Optional(Duration('how long a new notification waits to be grouped with others of this rule; default 10s')),
}, { additionalProperties: false })
export type RuleBody = Static<typeof RuleBody>

export const RuleOut = Type.Object({
  id: Type.String({ format: 'uuid' }), name: Type.String(), description: Type.String(), kind: Type.String(), metric: Type.String(),
  aggregation: Type.String(), window: Type.String(), condition: Type.String(),
  threshold: Nullable(Type.Number()), warning_threshold: Nullable(Type.Number()), recovery_threshold: Nullable(Type.Number()),
  for: Type.String(), severity: Type.String(), agents: Type.Array(Type.String()),
  labels: Type.Record(Type.String(), Type.String()), tags: Type.Record(Type.String(), Type.String()),
  channels: Type.Array(Type.String()), repeat_interval: Nullable(Type.String()), notify_on_resolve: Type.Boolean(), enabled: Type.Boolean(),
  annotations: Type.Record(Type.String(), Type.String()), interval: Type.String(), group_wait: Type.String(),
  source: Type.String({ description: 'api, or file: loaded from the rules file and changed only there' }),
  created_at: Time, updated_at: Time, last_evaluated_at: Nullable(Time), last_evaluation_error: Nullable(Type.String()),
})

export type RuleRow = Selectable<AlertRulesTable>
/** The columns a rule definition sets (everything but identity, ownership and evaluation bookkeeping). */
export type RuleValues = Omit<Insertable<AlertRulesTable>, 'id' | 'org_id' | 'created_by' | 'created_at' | 'updated_at' | 'last_evaluated_at' | 'last_evaluation_error' | 'source'>

/** A definition problem: the field as the caller wrote it and what is wrong with it. */
export class RuleProblem extends Error {
  constructor(readonly field: string, readonly problem: string) {
    super(`${field} ${problem}`)
    this.name = 'RuleProblem'
  }
}

const UNITS: Array<[string, number]> = [['w', 604_800], ['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]]

/** Seconds as the shortest exact duration people write: 60 → "1m", 90 → "90s", 86400 → "1d". */
export function formatSeconds(seconds: number): string {
  for (const [unit, size] of UNITS) if (seconds > 0 && seconds % size === 0) return `${seconds / size}${unit}`
  return `${seconds}s`
}

function seconds(field: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback
  let ms: number
  try { ms = parseDuration(text) } catch { throw new RuleProblem(field, `must be a duration such as 30s, 5m, 1h (got "${text}")`) }
  if (ms % 1000 !== 0) throw new RuleProblem(field, `must be whole seconds (got "${text}")`)
  const s = ms / 1000
  if (s < min) throw new RuleProblem(field, `must be at least ${formatSeconds(min)} (got "${text}")`)
  if (s > max) throw new RuleProblem(field, `must be at most ${formatSeconds(max)} (got "${text}")`)
  return s
}

/** Series tag keys the wide tables select by; scalar metrics take any tag of theirs. */
const WIDE_TAGS: Record<string, readonly string[]> = { disk: ['mount_point', 'device'], network: ['interface'], process: ['name'] }
const SERIES_KEY: Record<string, string> = { disk: 'mount_point', network: 'interface', process: 'name' }
const TAG_KEY = /^[A-Za-z0-9_.-]{1,64}$/

/** What kind of rule a metric makes (agent.offline and process.absent are their own kinds). */
function kindOf(metric: string, asked: AlertRuleKind | undefined): AlertRuleKind {
  const special: AlertRuleKind | undefined = metric === 'agent.offline' ? 'agent_offline' : metric === 'process.absent' ? 'process_absent'
    : (TRAFFIC_QUOTA_METRICS as readonly string[]).includes(metric) ? 'traffic_quota' : undefined
  if (special) {
    if (asked !== undefined && asked !== special) throw new RuleProblem('kind', `must be ${special} (or left out) for metric ${metric}`)
    return special
  }
  if (asked === 'agent_offline' || asked === 'process_absent' || asked === 'traffic_quota') {
    const takes = { agent_offline: 'agent.offline', process_absent: 'process.absent', traffic_quota: TRAFFIC_QUOTA_METRICS.join(' or ') }[asked]
    throw new RuleProblem('kind', `${asked} takes metric ${takes}`)
  }
  return asked ?? 'threshold'
}

/** Checks the series selector the way the series endpoint does (same `<type>.<name>` and fields). */
function checkSeries(metric: string, tags: Record<string, string>): void {
  const type = metric.split('.')[0]
  for (const key of Object.keys(tags)) if (!TAG_KEY.test(key)) throw new RuleProblem(`tags.${key}`, 'is not a tag name (letters, digits, _ . -)')
  const wide = WIDE_TAGS[type]
  if (wide) for (const key of Object.keys(tags)) {
    if (!wide.includes(key)) throw new RuleProblem(`tags.${key}`, `is not a ${type} series tag; ${type} rules take tags.${wide.join(' or tags.')}`)
  }
  // Wide rules cover every series when the key is left out; the catalog wants one named, so name one to check the field.
  const probe = wide ? { ...tags, [SERIES_KEY[type]]: tags[SERIES_KEY[type]] ?? '*' } : tags
  try {
    parseSeriesTarget(metric, probe)
  } catch (err) {
    if (err instanceof DomainError && err.kind === 'invalid') {
      const [field, messages] = Object.entries(err.details ?? {})[0] ?? ['metric', [err.message]]
      throw new RuleProblem(field, String((messages as string[])[0] ?? err.message).replace(/^metric /, ''))
    }
    throw err
  }
}

const ORDERED: Record<AlertCondition, 'up' | 'down' | null> = { '>': 'up', '>=': 'up', '<': 'down', '<=': 'down', '==': null, '!=': null }

/** A rule body → column values, or a RuleProblem naming the first bad field. Channel ids are checked by the caller. */
export function ruleValues(body: RuleBody): RuleValues {
  const metric = body.metric.trim()
  const kind = kindOf(metric, body.kind)
  const tags = body.tags ?? {}
  const condition = body.condition ?? '>'
  const has = (v: number | null | undefined): v is number => v !== undefined && v !== null
  if (kind === 'agent_offline') {
    if (Object.keys(tags).length > 0) throw new RuleProblem(`tags.${Object.keys(tags)[0]}`, 'does not apply to agent.offline rules')
  } else if (kind === 'process_absent') {
    for (const key of Object.keys(tags)) if (key !== 'name' && key !== 'cmdline') throw new RuleProblem(`tags.${key}`, 'is not allowed: process.absent rules take tags.name and/or tags.cmdline')
    if (!tags.name && !tags.cmdline) throw new RuleProblem('tags.name', 'is required: process.absent rules need tags.name (process name) or tags.cmdline (a pattern, * matches anything)')
  } else if (kind === 'traffic_quota') {
    if (Object.keys(tags).length > 0) throw new RuleProblem(`tags.${Object.keys(tags)[0]}`, 'does not apply to traffic quota rules: they judge the host\'s total against its quota')
    if (body.aggregation !== undefined) throw new RuleProblem('aggregation', 'does not apply to traffic quota rules: the value is the billing cycle\'s total')
    if (body.window !== undefined) throw new RuleProblem('window', 'does not apply to traffic quota rules: the window is the billing cycle')
  } else {
    if (!/^[a-z][a-z0-9_]*\.[a-z0-9_]+$/.test(metric)) throw new RuleProblem('metric', `must look like <type>.<name>, e.g. cpu.usage_percent (got "${metric}")`)
    checkSeries(metric, tags)
    if (body.aggregation === 'rate' && WIDE_TAGS[metric.split('.')[0]]) {
      throw new RuleProblem('aggregation', `rate is for counters of the metrics table (prom.*, otel.* …); ${metric} is already a per-second value or a gauge`)
    }
  }
  if (kind === 'threshold' || kind === 'traffic_quota') {
    if (!has(body.threshold) && !has(body.warning_threshold)) {
      throw new RuleProblem('threshold', 'is required for a threshold rule (or warning_threshold alone, for a rule that only warns)')
    }
    const dir = ORDERED[condition]
    if (has(body.recovery_threshold) && !has(body.threshold)) {
      throw new RuleProblem('recovery_threshold', 'needs threshold: it is the hysteresis of the level set by threshold')
    }
    if (has(body.warning_threshold) && has(body.threshold)) {
      if (!dir) throw new RuleProblem('warning_threshold', `needs an ordering condition (> >= < <=), not ${condition}`)
      if (dir === 'up' && !(body.warning_threshold < body.threshold)) throw new RuleProblem('warning_threshold', `must be below threshold (${body.threshold}) with condition ${condition}`)
      if (dir === 'down' && !(body.warning_threshold > body.threshold)) throw new RuleProblem('warning_threshold', `must be above threshold (${body.threshold}) with condition ${condition}`)
    }
    if (has(body.recovery_threshold) && has(body.threshold)) {
      if (!dir) throw new RuleProblem('recovery_threshold', `needs an ordering condition (> >= < <=), not ${condition}`)
      if (dir === 'up' && body.recovery_threshold > body.threshold) throw new RuleProblem('recovery_threshold', `must be at or below threshold (${body.threshold}) with condition ${condition}: the alert resolves once the value falls past it`)
      if (dir === 'down' && body.recovery_threshold < body.threshold) throw new RuleProblem('recovery_threshold', `must be at or above threshold (${body.threshold}) with condition ${condition}: the alert resolves once the value rises past it`)
    }
  } else {
    for (const field of ['threshold', 'warning_threshold', 'recovery_threshold'] as const) {
      if (has(body[field])) throw new RuleProblem(field, `does not apply to ${kind} rules (they fire on absence, not on a value)`)
    }
  }
  const agents = [...new Set((body.agents ?? []).map((a) => a.trim()).filter(Boolean))]
  for (const [key, value] of Object.entries(body.labels ?? {})) if (!TAG_KEY.test(key)) throw new RuleProblem(`labels.${key}`, `is not a label name (value "${value.slice(0, 40)}")`)
  return {
    name: body.name.trim(),
    description: body.description ?? '',
    kind, metric,
    aggregation: body.aggregation ?? 'avg',
    window_seconds: seconds('window', body.window, 60, 1, 7 * 86_400),
    condition,
    threshold: body.threshold ?? null,
    warning_threshold: body.warning_threshold ?? null,
    recovery_threshold: body.recovery_threshold ?? null,
    for_seconds: seconds('for', body.for, 0, 0, 7 * 86_400),
    severity: body.severity ?? 'critical',
    agents,
    labels: JSON.stringify(body.labels ?? {}),
    tags: JSON.stringify(tags),
    channels: [...new Set(body.channels ?? [])],
    repeat_interval_seconds: body.repeat_interval == null ? null : seconds('repeat_interval', body.repeat_interval, 0, 10, 30 * 86_400),
    notify_on_resolve: body.notify_on_resolve ?? true,
    enabled: body.enabled ?? true,
    annotations: JSON.stringify(body.annotations ?? {}),
    // A cycle's total moves slowly and costs a month of buckets to sum: quota rules look every 5 minutes by default.
    interval_seconds: seconds('interval', body.interval, kind === 'traffic_quota' ? 300 : 15, 1, 86_400),
    group_wait_seconds: seconds('group_wait', body.group_wait, 10, 0, 3_600),
  }
}


/**
 * Channels by id or by name (a rules file cannot know ids) → their ids; each must be a channel of the
 * organization (disabled ones count: they can be re-enabled).
 */
export async function resolveChannels(db: Kysely<Database>, orgId: string, channels: readonly string[]): Promise<string[]> {
  if (channels.length === 0) return []
  const ids = channels.filter((c) => isUuid(c))
  const names = channels.filter((c) => !isUuid(c))
  let query = db.selectFrom('notification_channels').select(['id', 'name']).where('org_id', '=', orgId)
  query = query.where((eb) => eb.or([
    ...(ids.length > 0 ? [eb('id', 'in', ids)] : []),
    ...(names.length > 0 ? [eb('name', 'in', names)] : []),
  ]))
  const found = await query.execute()
  const byId = new Map(found.map((c) => [c.id.toLowerCase(), c.id]))
  const byName = new Map(found.map((c) => [c.name, c.id]))
  const resolved = channels.map((c, i) => {
    const id = isUuid(c) ? byId.get(c.toLowerCase()) : byName.get(c)
    if (!id) throw new RuleProblem(`channels[${i}]`, `("${c.slice(0, 64)}") is not a notification channel of this organization (give its id or name)`)
    return id
  })
  return [...new Set(resolved)]
}

/** A rule body → column values, as a 400 naming the field. */
export async function validatedRuleValues(db: Kysely<Database>, orgId: string, body: RuleBody): Promise<RuleValues> {
  try {
    const values = ruleValues(body)
    return { ...values, channels: await resolveChannels(db, orgId, body.channels ?? []) }
  } catch (err) {
    if (err instanceof RuleProblem) throw new DomainError('invalid', `Invalid request: ${err.message}`, { details: { [err.field]: [err.problem] } })
    throw err
  }
}

/** A stored rule as the API shows it: durations as strings, as they are written. */
export function ruleView(r: RuleRow): Static<typeof RuleOut> {
  return {
    id: r.id, name: r.name, description: r.description, kind: r.kind, metric: r.metric, aggregation: r.aggregation,
    window: formatSeconds(r.window_seconds), condition: r.condition, threshold: r.threshold, warning_threshold: r.warning_threshold,
    recovery_threshold: r.recovery_threshold, for: formatSeconds(r.for_seconds), severity: r.severity,
    agents: r.agents, labels: r.labels, tags: r.tags, channels: r.channels,
    repeat_interval: r.repeat_interval_seconds === null ? null : formatSeconds(r.repeat_interval_seconds),
    notify_on_resolve: r.notify_on_resolve, enabled: r.enabled, annotations: r.annotations,
    interval: formatSeconds(r.interval_seconds), group_wait: formatSeconds(r.group_wait_seconds), source: r.source,
    created_at: r.created_at.toISOString(), updated_at: r.updated_at.toISOString(),
    last_evaluated_at: r.last_evaluated_at?.toISOString() ?? null, last_evaluation_error: r.last_evaluation_error,
  }
}

/** The body that recreates a stored rule as it is: a change to some fields sends it back with those replaced. */
export function ruleBodyOf(r: RuleRow): RuleBody {
  const v = ruleView(r)
  // A quota rule's window is its billing cycle: it takes neither field.
  const windowed = r.kind === 'traffic_quota' ? {} : { aggregation: r.aggregation, window: v.window }
  return {
    name: v.name, description: v.description, metric: v.metric, kind: r.kind, ...windowed,
    condition: r.condition, threshold: r.threshold, warning_threshold: r.warning_threshold, recovery_threshold: r.recovery_threshold,
    for: v.for, severity: r.severity, agents: [...r.agents], labels: { ...r.labels }, tags: { ...r.tags }, channels: [...r.channels],
    repeat_interval: v.repeat_interval, notify_on_resolve: r.notify_on_resolve, enabled: r.enabled, annotations: { ...r.annotations },
    interval: v.interval, group_wait: v.group_wait,
  }
}
