// Silences and maintenance windows of one organization: reading, creating, changing and ending them, and
// which firing alerts some matchers would mute. Nothing is erased that took effect: ending an active
// silence sets its end to now (history); only one not yet started is removed.
import { sql, type Kysely } from 'kysely'
import type { Static } from 'typebox'
import { DomainError, invalidField } from '../errors/domain-error.ts'
import type { Database, SilenceMatchers } from '../store/database.ts'
import { isUuid } from '../store/uuid.ts'
import { SILENCE_COLUMNS, checkedMatchers, silenceStatus, silenceWindow, type Matchers, type SilenceBody, type SilenceRow } from './silence-views.ts'
import { selectEvents, type EventRow } from './event-views.ts'
import { silenceMatches } from './silence-matching.ts'

/** Firing alerts a preview looks at (newest first); far more than any organization should have at once. */
const MAX_PREVIEW_SCAN = 10_000

/** A silence of the organization, or not_found. */
export async function getSilence(db: Kysely<Database>, orgId: string, id: string): Promise<SilenceRow> {
  if (!isUuid(id)) throw new DomainError('not_found', `Silence ${id} not found`)
  const s = await db.selectFrom('silences').select(SILENCE_COLUMNS).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst()
  if (!s) throw new DomainError('not_found', `Silence ${id} not found`)
  return s
}

export interface SilenceListFilter {
  /** true: in effect now; false: pending or expired. */
  active?: boolean
  kind?: 'silence' | 'maintenance'
  limit: number
}

/** The organization's silences, latest start first. */
export async function listSilences(db: Kysely<Database>, orgId: string, f: SilenceListFilter): Promise<SilenceRow[]> {
  let query = db.selectFrom('silences').select(SILENCE_COLUMNS).where('org_id', '=', orgId)
  if (f.kind) query = query.where('kind', '=', f.kind)
  const active = sql<boolean>`(starts_at <= now() and ends_at > now())`
  if (f.active !== undefined) query = query.where(f.active ? active : sql<boolean>`not ${active}`)
  return query.orderBy('starts_at', 'desc').orderBy('id').limit(f.limit).execute()
}

/** The user who creates a silence, as it keeps them. */
export interface SilenceAuthor { userId: string; username: string }

/** Creates a silence from a body (matchers and window checked); starts_at defaults to `now`. */
export async function createSilence(db: Kysely<Database>, orgId: string, author: SilenceAuthor, body: SilenceBody, now: Date): Promise<SilenceRow> {
  const matchers = checkedMatchers(body.matchers)
  const { starts, ends } = silenceWindow(body, now)
  await assertRuleOfOrg(db, orgId, matchers)
  return db.insertInto('silences').values({
    org_id: orgId, kind: body.kind ?? 'silence', matchers: JSON.stringify(matchers), starts_at: starts, ends_at: ends,
    comment: body.comment ?? '', created_by: author.userId, created_by_name: author.username,
  }).returning(SILENCE_COLUMNS).executeTakeFirstOrThrow()
}

/**
 * Replaces a pending or active silence's matchers and window; kind, starts_at and comment stay when the body
 * leaves them out. An expired silence is history: a conflict.
 */
export async function updateSilence(db: Kysely<Database>, orgId: string, id: string, body: SilenceBody, now: Date): Promise<SilenceRow> {
  const current = await getSilence(db, orgId, id)
  if (silenceStatus(current, now) === 'expired') {
    throw new DomainError('conflict', `Silence ${current.id} expired at ${current.ends_at.toISOString()}; expired silences are history: create a new one`,
      { details: { status: ['is expired'] } })
  }
  const matchers = checkedMatchers(body.matchers)
  const { starts, ends } = silenceWindow(body, now, current.starts_at)
  await assertRuleOfOrg(db, orgId, matchers)
  return db.updateTable('silences').set({
    kind: body.kind ?? current.kind, matchers: JSON.stringify(matchers), starts_at: starts, ends_at: ends, comment: body.comment ?? current.comment,
  }).where('id', '=', current.id).where('org_id', '=', orgId).returning(SILENCE_COLUMNS).executeTakeFirstOrThrow()
}

/**
 * Ends a silence at `now`: an active one stays as history with its new end (`removed` false), one not yet
 * started is deleted (`removed` true, the row as it was). An expired one is a conflict.
 */
export async function endSilence(db: Kysely<Database>, orgId: string, id: string, now: Date): Promise<{ silence: SilenceRow; removed: boolean }> {
  const current = await getSilence(db, orgId, id)
  const status = silenceStatus(current, now)
  if (status === 'expired') {
    throw new DomainError('conflict', `Silence ${current.id} already expired at ${current.ends_at.toISOString()}`, { details: { status: ['is expired'] } })
  }
  if (status === 'pending') {
    await db.deleteFrom('silences').where('id', '=', current.id).where('org_id', '=', orgId).execute()
    return { silence: current, removed: true }
  }
  // ends_at must stay after starts_at (a CHECK), even for a silence created this very millisecond.
  const ends = new Date(Math.max(now.getTime(), current.starts_at.getTime() + 1))
  const ended = await db.updateTable('silences').set({ ends_at: ends }).where('id', '=', current.id).where('org_id', '=', orgId)
    .returning(SILENCE_COLUMNS).executeTakeFirstOrThrow()
  return { silence: ended, removed: false }
}

/** The alerts firing now (newest first) that these matchers would mute, with the evaluator's own matching. */
export async function firingEventsMatching(db: Kysely<Database>, orgId: string, given: Static<typeof Matchers>): Promise<EventRow[]> {
  const matchers = checkedMatchers(given)
  const firing = await selectEvents(db, orgId).where('e.state', '=', 'firing')
    .orderBy('e.started_at', 'desc').orderBy('e.id', 'desc').limit(MAX_PREVIEW_SCAN).execute()
  const agentIds = [...new Set(firing.map((e) => e.agent_id).filter((id): id is string => id !== null))]
  const labels = new Map(agentIds.length === 0 ? [] : (await db.selectFrom('agents').select(['id', 'labels'])
    .where('org_id', '=', orgId).where('id', 'in', agentIds).execute()).map((a) => [a.id, a.labels]))
  return firing.filter((e) => silenceMatches(matchers, {
    ruleId: e.rule_id ?? '', ruleName: e.rule_name, agentId: e.agent_id ?? '', agentName: e.agent_name, severity: e.severity,
    labels: { ...(e.agent_id ? labels.get(e.agent_id) : undefined), ...e.series_tags },
  }))
}

/** matchers.rule_id names a rule of the caller's organization; another's is as unknown as none. */
async function assertRuleOfOrg(db: Kysely<Database>, orgId: string, matchers: SilenceMatchers): Promise<void> {
  if (matchers.rule_id === undefined) return
  const rule = await db.selectFrom('alert_rules').select('id').where('org_id', '=', orgId).where('id', '=', matchers.rule_id).executeTakeFirst()
  if (!rule) throw invalidField('matchers.rule_id', `is not a rule of your organization (${matchers.rule_id})`)
}
