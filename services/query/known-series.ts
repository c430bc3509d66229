// Errors instead of silence for the series, stats and compare reads: an unknown metric or tag is a 400 naming
// the known ones, a well-formed series the agents never reported is a 404 naming what they have. "Known" is
// the series catalog plus what the agents actually have (metrics_latest holds one row per scalar series, the
// hourly aggregates every wide series, the daily aggregate all scalar history), so a metric an agent has data
// for is never refused. The checks run only when a read came back empty: a read that finds data costs nothing.
import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { Database } from '../store/database.ts'
import type { AgentRow } from '../agents/agents-repository.ts'
import { DomainError } from '../errors/domain-error.ts'
import {
  AGENT_METRICS, catalogMetrics, isWideField, parseSeriesTarget, scalarTarget, splitMetric, wideFamily, type SeriesTarget, type WideFamily,
} from './series-catalog.ts'

/** The organization and agents one read covers: one agent, or the agents of a comparison. */
export interface SeriesScope { orgId: string; agents: Array<Pick<AgentRow, 'id' | 'name'>> }

/** Names one message lists at most; the rest are counted. */
const MAX_LISTED = 100
/** How far back a wide series' tag values are listed; whether the asked one exists is checked over all history. */
const VALUES_WINDOW_DAYS = 30

/**
 * The selector → what to read. A disk, network or process name that is no column of the wide table can still
 * be a scalar series of that type (Telegraf writes disk.used_percent): read from the metrics table when the
 * agents have it, else a 400 naming the known metrics.
 */
export async function resolveSeriesTarget(db: Kysely<Database>, scope: SeriesScope, metric: string, tags: Record<string, string>): Promise<SeriesTarget> {
  const { type, name } = splitMetric(metric)
  const wide = wideFamily(type)
  if (wide && !isWideField(wide, name)) {
    if (await scalarMetricStored(db, scope, type, name)) return scalarTarget(metric, tags)
    throw await unknownMetric(db, scope, metric)
  }
  return parseSeriesTarget(metric, tags)
}

/**
 * Call when a read of `target` found nothing: returns when the series exists (it has no data in the window),
 * throws a 400 for an unknown metric or tag and a 404 for a series these agents never reported.
 */
export async function checkEmptySeries(db: Kysely<Database>, scope: SeriesScope, target: SeriesTarget): Promise<void> {
  const wide = target.family === 'metrics' ? undefined : wideFamily(target.metricType)
  return wide ? checkWideSeries(db, scope, target, wide) : checkScalarSeries(db, scope, target)
}

async function checkScalarSeries(db: Kysely<Database>, scope: SeriesScope, target: SeriesTarget): Promise<void> {
  const { rows } = await sql<{ tags: Record<string, string> }>`
    select distinct tags from metrics_latest
    where ${inScope(scope)} and metric_type = ${target.metricType} and metric_name = ${target.metricName}`.execute(db)
  const series = rows.map((r) => r.tags)
  const catalogTags = AGENT_METRICS[`${target.metricType}.${target.metricName}`]
  const asked = Object.keys(target.tags)
  if (series.length === 0 && !catalogTags) {
    if (await scalarMetricStored(db, scope, target.metricType, target.metricName)) return
    throw await unknownMetric(db, scope, target.metric)
  }
  const keys = new Set([...(catalogTags ?? []), ...series.flatMap((t) => Object.keys(t))])
  const unknownKey = asked.find((k) => !keys.has(k))
  if (unknownKey === undefined && series.some((t) => selects(target.tags, t))) return
  // A catalog metric these agents have not sent yet: its untagged series is truly empty, not unknown.
  if (unknownKey === undefined && series.length === 0 && asked.length === 0) return
  const refusal = unknownKey !== undefined ? unknownTag(target.metric, unknownKey, [...keys]) : missingScalarSeries(scope, target, series)
  // Older than metrics_latest (an agent silent since before it existed): the aggregate has every series.
  if (await storedInAggregate(db, 'metrics_1d', scope, target.filter())) return
  throw refusal
}

/** Each tag column in turn (the key first): the first value no row has is the 404, with the values there are. */
async function checkWideSeries(db: Kysely<Database>, scope: SeriesScope, target: SeriesTarget, wide: WideFamily): Promise<void> {
  const keys = [wide.key, ...Object.keys(target.tags).filter((k) => k !== wide.key)]
  let chosen: Record<string, string> = {}
  for (const key of keys) {
    const next = { ...chosen, [key]: target.tags[key] }
    if (await storedInAggregate(db, wide.rollup, scope, columnsEqual(next))) { chosen = next; continue }
    const { rows } = await sql<{ v: string; n: number }>`
      select v, count(*) over () as n from (
        select distinct ${sql.ref(key)} as v from ${sql.table(wide.rollup)}
        where ${inScope(scope)} and ${columnsEqual(chosen)} and bucket > now() - make_interval(days => ${VALUES_WINDOW_DAYS})
      ) d where v is not null order by v limit ${MAX_LISTED}`.execute(db)
    const values = rows.map((r) => r.v).sort(byName)
    const total = rows.length > 0 ? Number(rows[0].n) : 0
    const within = Object.keys(chosen).length > 0 ? ` with ${tagText(chosen)}` : ''
    const known = values.length > 0
      ? `${key} values seen${within} in the last ${VALUES_WINDOW_DAYS} days are ${listed(values, total)}`
      : `no ${key}${within} seen in the last ${VALUES_WINDOW_DAYS} days`
    throw notFound(`tags.${key}`, `No series ${target.metric} with ${tagText(next)} for ${whose(scope)}: ${known}`)
  }
}

function missingScalarSeries(scope: SeriesScope, target: SeriesTarget, series: Array<Record<string, string>>): DomainError {
  const where = `for ${whose(scope)}`
  if (series.length === 0) {
    return notFound(`tags.${Object.keys(target.tags)[0]}`, `No series ${target.metric} with ${tagText(target.tags)} ${where}: it has reported no ${target.metric} series`)
  }
  if (Object.keys(target.tags).length === 0) {
    const keys = [...new Set(series.flatMap((t) => Object.keys(t)))].sort(byName)
    const carried = keys.map((k) => `tags.${k} (${listed(distinctValues(series, k))})`).join(', ')
    return notFound('tags', `No untagged series ${target.metric} ${where}: its series carry ${carried}; name one with tags.<key>=<value>`)
  }
  let matching = series
  let chosen: Record<string, string> = {}
  for (const [key, value] of Object.entries(target.tags)) {
    const next = matching.filter((t) => t[key] === value)
    if (next.length === 0) {
      const values = distinctValues(matching, key)
      const within = Object.keys(chosen).length > 0 ? ` with ${tagText(chosen)}` : ''
      const known = values.length > 0 ? `${key} values${within} are ${listed(values)}` : `its series${within} carry no tags.${key}`
      return notFound(`tags.${key}`, `No series ${target.metric} with ${tagText({ ...chosen, [key]: value })} ${where}: ${known}`)
    }
    matching = next
    chosen = { ...chosen, [key]: value }
  }
  return notFound('tags', `No series ${target.metric} with ${tagText(target.tags)} ${where}`)
}

async function unknownMetric(db: Kysely<Database>, scope: SeriesScope, metric: string): Promise<DomainError> {
  const { rows } = await sql<{ metric: string }>`
    select distinct metric_type || '.' || metric_name as metric from metrics_latest where ${inScope(scope)}`.execute(db)
  const known = [...new Set([...catalogMetrics(), ...rows.map((r) => r.metric)])].sort(byName)
  // A known type lists its own metrics and names the other types; an unknown type lists every metric.
  const type = `${metric.split('.')[0]}.`
  const sameType = known.filter((k) => k.startsWith(type))
  const near = closest(metric, known)
  const otherTypes = [...new Set(known.filter((k) => !k.startsWith(type)).map((k) => k.split('.')[0]))]
  const message = `Unknown metric "${metric}": known metrics are ${listed(sameType.length > 0 ? sameType : known)}`
    + (sameType.length > 0 ? `; other types: ${otherTypes.join(', ')}` : '') + (near ? `. Did you mean ${near}?` : '')
  return new DomainError('invalid', message, { details: { metric: [message] } })
}

function unknownTag(metric: string, key: string, known: string[]): DomainError {
  const message = `Unknown tag "${key}" for ${metric}: ${known.length > 0 ? `known tags are ${listed(known.sort(byName))}` : 'its series carry no tags'}`
  return new DomainError('invalid', message, { details: { [`tags.${key}`]: [message] } })
}

const notFound = (field: string, message: string) => new DomainError('not_found', message, { details: { [field]: [message] } })

async function scalarMetricStored(db: Kysely<Database>, scope: SeriesScope, type: string, name: string): Promise<boolean> {
  const { rows } = await sql`select 1 from metrics_latest where ${inScope(scope)} and metric_type = ${type} and metric_name = ${name} limit 1`.execute(db)
  return rows.length > 0 || storedInAggregate(db, 'metrics_1d', scope, sql`metric_type = ${type} and metric_name = ${name}`)
}

/** Any row ever, through an aggregate (real-time ones include the rows not yet rolled up). */
async function storedInAggregate(db: Kysely<Database>, table: string, scope: SeriesScope, filter: RawBuilder<unknown>): Promise<boolean> {
  const { rows } = await sql`select 1 from ${sql.table(table)} where ${inScope(scope)} and ${filter} limit 1`.execute(db)
  return rows.length > 0
}

const inScope = (scope: SeriesScope) => sql`org_id = ${scope.orgId} and agent_id = any(${scope.agents.map((a) => a.id)}::uuid[])`

/** Tag columns of a wide table (names the catalog checked) equal to the given values; true for none. */
const columnsEqual = (tags: Record<string, string>) =>
  Object.keys(tags).length === 0 ? sql`true` : sql.join(Object.entries(tags).map(([k, v]) => sql`${sql.ref(k)} = ${v}`), sql` and `)

/** `tags @>` semantics of the scalar filter: the asked tags all present, or no tags for an untagged ask. */
const selects = (asked: Record<string, string>, tags: Record<string, string>) =>
  Object.keys(asked).length === 0 ? Object.keys(tags).length === 0 : Object.entries(asked).every(([k, v]) => tags[k] === v)

const distinctValues = (series: Array<Record<string, string>>, key: string) =>
  [...new Set(series.map((t) => t[key]).filter((v): v is string => v !== undefined))].sort(byName)

const whose = (scope: SeriesScope) =>
  scope.agents.length === 1 ? `agent "${scope.agents[0].name}"` : `agents ${scope.agents.map((a) => `"${a.name}"`).join(', ')}`

const tagText = (tags: Record<string, string>) => Object.entries(tags).map(([k, v]) => `tags.${k}=${v}`).join(', ')

const byName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true })

function listed(names: string[], total = names.length): string {
  const shown = names.slice(0, MAX_LISTED)
  return total > shown.length ? `${shown.join(', ')} and ${total - shown.length} more` : shown.join(', ')
}

/** The known name nearest to a typo (at most 3 edits, and fewer than half its length), if any. */
function closest(name: string, known: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.min(3, Math.floor(name.length / 2) - 1) + 1
  for (const k of known) {
    const d = editDistance(name, k)
    if (d < bestDistance) { best = k; bestDistance = d }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    row = next
  }
  return row[b.length]
}
