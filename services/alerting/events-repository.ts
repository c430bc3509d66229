// Alert events as the API reads them: one event, the filtered history (newest first, keyset-paginated),
// and the counts behind page headers. Always inside one organization.
import { sql, type Kysely } from 'kysely'
import { DomainError } from '../errors/domain-error.ts'
import type { AlertSeverity, Database } from '../store/database.ts'
import { findAgent } from '../agents/agents-repository.ts'
import { SEVERITIES, selectEvents, type EventRow } from './event-views.ts'
import { isUuid } from '../store/uuid.ts'


/** An event of the organization with its users' names, or not_found. */
export const eventNotFound = (id: string) => new DomainError('not_found', `Alert event ${id} not found`)

export async function getEvent(db: Kysely<Database>, orgId: string, id: string): Promise<EventRow> {
  if (!isUuid(id)) throw eventNotFound(id)
  const row = await selectEvents(db, orgId).where('e.id', '=', id).executeTakeFirst()
  if (!row) throw eventNotFound(id)
  return row
}

export interface EventFilter {
  state?: 'firing' | 'resolved'
  severities?: AlertSeverity[]
  /** Agent name or uuid; a deleted agent's history is found by its name. */
  agent?: string
  /** Rule name or uuid; a deleted rule's history is found by its name. */
  rule?: string
  /** Only events whose acknowledgement holds now (true) or not (false). */
  acknowledged?: boolean
  /** Events that overlap [start, end): still firing or resolved after start, started before end. */
  start?: Date
  end?: Date
  /** The last event of the previous page: only older ones follow. */
  afterId?: string
  limit: number
}

/** One page of history, newest first; `more` when older events follow the page's last one. */
export async function listEvents(db: Kysely<Database>, orgId: string, f: EventFilter): Promise<{ events: EventRow[]; more: boolean }> {
  let query = selectEvents(db, orgId)
  if (f.state) query = query.where('e.state', '=', f.state)
  if (f.severities !== undefined) query = query.where('e.severity', 'in', f.severities)
  if (f.agent !== undefined) {
    const text = f.agent
    const agent = await findAgent(db, orgId, text)
    // Events keep the agent's name: a deleted agent's history is still found by it.
    if (agent) query = query.where((eb) => eb.or([eb('e.agent_id', '=', agent.id), eb.and([eb('e.agent_id', 'is', null), eb('e.agent_name', '=', agent.name)])]))
    else if (isUuid(text)) query = query.where('e.agent_id', '=', text)
    else query = query.where('e.agent_name', '=', text)
  }
  if (f.rule !== undefined) {
    const text = f.rule
    const rule = await db.selectFrom('alert_rules').select(['id', 'name']).where('org_id', '=', orgId)
      .where((eb) => isUuid(text) ? eb.or([eb('id', '=', text), eb('name', '=', text)]) : eb('name', '=', text)).executeTakeFirst()
    if (rule) query = query.where((eb) => eb.or([eb('e.rule_id', '=', rule.id), eb.and([eb('e.rule_id', 'is', null), eb('e.rule_name', '=', rule.name)])]))
    else if (isUuid(text)) query = query.where('e.rule_id', '=', text)
    else query = query.where('e.rule_name', '=', text)
  }
  if (f.acknowledged !== undefined) {
    const holds = sql<boolean>`(e.acknowledged_at is not null and (e.ack_expires_at is null or e.ack_expires_at > now()))`
    query = query.where(f.acknowledged ? holds : sql<boolean>`not ${holds}`)
  }
  const { start, end } = f
  if (start) query = query.where((eb) => eb.or([eb('e.resolved_at', 'is', null), eb('e.resolved_at', '>=', start)]))
  if (end) query = query.where('e.started_at', '<', end)
  if (f.afterId !== undefined) {
    // Compared with the stored row itself, so timestamps finer than a millisecond page exactly.
    query = query.where(sql<boolean>`(e.started_at, e.id) < (select c.started_at, c.id from alert_events c where c.id = ${f.afterId} and c.org_id = ${orgId})`)
  }
  const rows = await query.orderBy('e.started_at', 'desc').orderBy('e.id', 'desc').limit(f.limit + 1).execute()
  return { events: rows.slice(0, f.limit), more: rows.length > f.limit }
}

export interface EventsSummary {
  /** Firing events by severity. */
  firing: Record<AlertSeverity, number>
  /** Firing events whose acknowledgement holds now. */
  acknowledged: number
  /** Silences and maintenance windows in effect now. */
  activeSilences: number
}

export async function eventsSummary(db: Kysely<Database>, orgId: string): Promise<EventsSummary> {
  const firing = await db.selectFrom('alert_events').select(['severity', (eb) => eb.fn.countAll<number>().as('n')])
    .where('org_id', '=', orgId).where('state', '=', 'firing').groupBy('severity').execute()
  const acked = await db.selectFrom('alert_events').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('org_id', '=', orgId).where('state', '=', 'firing').where('acknowledged_at', 'is not', null)
    .where((eb) => eb.or([eb('ack_expires_at', 'is', null), eb('ack_expires_at', '>', sql<Date>`now()`)])).executeTakeFirstOrThrow()
  const silences = await db.selectFrom('silences').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('org_id', '=', orgId).where('starts_at', '<=', sql<Date>`now()`).where('ends_at', '>', sql<Date>`now()`).executeTakeFirstOrThrow()
  return {
    firing: Object.fromEntries(SEVERITIES.map((s) => [s, Number(firing.find((f) => f.severity === s)?.n ?? 0)])) as Record<AlertSeverity, number>,
    acknowledged: Number(acked.n), activeSilences: Number(silences.n),
  }
}

/**
 * An event with the integer numbers seed 003's face shows (its own, its agent's, its rule's), the agent's
 * reported hostname and the rule's metric (null once the agent or the rule is deleted).
 */
export interface NumberedEventRow extends EventRow {
  number: number
  agent_number: number | null
  agent_hostname: string | null
  rule_number: number | null
  rule_metric: string | null
}

export interface EventPageFilter {
  state?: 'firing' | 'resolved'
  severities?: AlertSeverity[]
  agentId?: string
  offset: number
  limit: number
}

function selectNumberedEvents(db: Kysely<Database>, orgId: string) {
  return selectEvents(db, orgId)
    .leftJoin('agents as a', (j) => j.onRef('a.id', '=', 'e.agent_id').on('a.org_id', '=', orgId))
    .leftJoin('alert_rules as r', (j) => j.onRef('r.id', '=', 'e.rule_id').on('r.org_id', '=', orgId))
    .select(['e.number', 'a.number as agent_number', 'a.hostname as agent_hostname', 'r.number as rule_number', 'r.metric as rule_metric'])
}

/** One offset page of history, newest first, and how many events match in all (page-number pagination). */
export async function pageEvents(db: Kysely<Database>, orgId: string, f: EventPageFilter): Promise<{ events: NumberedEventRow[]; total: number }> {
  let query = selectNumberedEvents(db, orgId)
  if (f.state) query = query.where('e.state', '=', f.state)
  if (f.severities !== undefined) query = query.where('e.severity', 'in', f.severities)
  if (f.agentId !== undefined) query = query.where('e.agent_id', '=', f.agentId)
  const events = await query.orderBy('e.started_at', 'desc').orderBy('e.id', 'desc').limit(f.limit).offset(f.offset).execute()
  const { n } = await query.clearSelect().select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  return { events, total: Number(n) }
}

/** An event of the organization by its integer number, or undefined. */
export async function findEventByNumber(db: Kysely<Database>, orgId: string, number: number): Promise<NumberedEventRow | undefined> {
  if (!Number.isSafeInteger(number) || number < 1 || number > 2147483647) return undefined
  return selectNumberedEvents(db, orgId).where('e.number', '=', number).executeTakeFirst()
}
