// Rule rows shared by the API and the rules file: reading, creating, replacing and deleting API rules,
// name checks, and ending a rule's alerts when the rule is deleted, disabled or made to select something
// else, or when an agent is deleted (so nothing stays firing for ever).
import { sql, type Kysely, type UpdateQueryBuilder, type UpdateResult } from 'kysely'
import { DomainError } from '../errors/domain-error.ts'
import type { AlertSeverity, Database } from '../store/database.ts'
import { validatedRuleValues, type RuleBody, type RuleRow, type RuleValues } from './rule-definition.ts'
import { alertNotice, sendAlertNotice } from '../bus/alert-bus.ts'
import { AGENT_DELETION_NAMESPACE, lockRuleAlerts } from './evaluate-rule.ts'
import { queueResolvedNotifications } from './event-actions.ts'
import { isUuid } from '../store/uuid.ts'


/** A rule of the organization, or not_found; any id is accepted (a non-uuid is not found, never a uuid cast error). */
export async function getRule(db: Kysely<Database>, orgId: string, id: string): Promise<RuleRow> {
  const rule = isUuid(id) ? await db.selectFrom('alert_rules').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst() : undefined
  if (!rule) throw new DomainError('not_found', `Alert rule ${id} not found`)
  return rule
}

export interface RuleListFilter { enabled?: boolean; severity?: AlertSeverity; limit: number; offset: number }

/** One page of the organization's rules by name, and how many match the filter in all. */
export async function listRules(db: Kysely<Database>, orgId: string, filter: RuleListFilter): Promise<{ rules: RuleRow[]; total: number }> {
  let q = db.selectFrom('alert_rules').where('org_id', '=', orgId)
  if (filter.enabled !== undefined) q = q.where('enabled', '=', filter.enabled)
  if (filter.severity !== undefined) q = q.where('severity', '=', filter.severity)
  const rules = await q.selectAll().orderBy('name').orderBy('id').limit(filter.limit).offset(filter.offset).execute()
  const { total } = await q.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow()
  return { rules, total: Number(total) }
}

/** Creates an API rule from a body (checked, channels resolved); invalid or conflict (a taken name) otherwise. */
export async function createRule(db: Kysely<Database>, orgId: string, userId: string, body: RuleBody): Promise<RuleRow> {
  const values = await validatedRuleValues(db, orgId, body)
  await assertRuleNameFree(db, orgId, values.name)
  return db.insertInto('alert_rules').values({ ...values, org_id: orgId, source: 'api', created_by: userId })
    .returningAll().executeTakeFirstOrThrow()
}

/**
 * Replaces an API rule's definition. Alerts of a rule that stops applying as it was (disabled, or selecting
 * other series) end first, in the same transaction. Rules of the rules file are a conflict.
 */
export async function replaceRule(db: Kysely<Database>, orgId: string, id: string, body: RuleBody): Promise<RuleRow> {
  const current = await getRule(db, orgId, id)
  refuseFileManaged(current)
  const values: RuleValues = await validatedRuleValues(db, orgId, body)
  await assertRuleNameFree(db, orgId, values.name, current.id)
  return db.transaction().execute(async (trx) => {
    // Alerts of a rule that stops applying as it was end now rather than stay firing for ever.
    if (!values.enabled || selectionChanged(current, values)) await retireRuleAlerts(trx, current.id, 'rule changed', new Date())
    return trx.updateTable('alert_rules').set({ ...values, updated_at: new Date() })
      .where('id', '=', current.id).where('org_id', '=', orgId).returningAll().executeTakeFirstOrThrow()
  })
}

/** Deletes an API rule after retiring its alerts (its history stays); returns the rule as it was. */
export async function deleteRule(db: Kysely<Database>, orgId: string, id: string): Promise<RuleRow> {
  const current = await getRule(db, orgId, id)
  refuseFileManaged(current)
  await db.transaction().execute(async (trx) => {
    await retireRuleAlerts(trx, current.id, 'rule deleted', new Date())
    await trx.deleteFrom('alert_rules').where('id', '=', current.id).where('org_id', '=', orgId).execute()
  })
  return current
}

/** Rules loaded from the rules file are changed only there. */
function refuseFileManaged(rule: RuleRow): void {
  if (rule.source === 'file') {
    throw new DomainError('conflict', `Alert rule "${rule.name}" is managed by the rules file: change it there and restart`, { details: { source: ['file'] } })
  }
}

async function assertRuleNameFree(db: Kysely<Database>, orgId: string, name: string, exceptId?: string): Promise<void> {
  if (await ruleNameTaken(db, orgId, name, exceptId)) {
    throw new DomainError('conflict', `An alert rule named "${name}" already exists`, { details: { name: ['is taken'] } })
  }
}

export async function ruleNameTaken(db: Kysely<Database>, orgId: string, name: string, exceptId?: string): Promise<boolean> {
  let q = db.selectFrom('alert_rules').select('id').where('org_id', '=', orgId).where('name', '=', name)
  if (exceptId) q = q.where('id', '!=', exceptId)
  return (await q.executeTakeFirst()) !== undefined
}

/** JSON with sorted keys; `text` is JSON already (jsonb reorders keys, so objects compare by content). */
export function canonicalJson(v: unknown, text = false): string {
  const value = text && typeof v === 'string' ? JSON.parse(v) as unknown : v
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return JSON.stringify(value)
  const obj = value as Record<string, unknown>
  return `{${Object.keys(obj).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`
}

/** True when new values select other series than the stored rule (its states no longer mean anything). */
export function selectionChanged(current: RuleRow, next: RuleValues): boolean {
  const same = (stored: unknown, written: unknown) => canonicalJson(stored) === canonicalJson(written ?? '{}', true)
  return current.metric !== next.metric || current.kind !== (next.kind ?? 'threshold') || !same(current.tags, next.tags)
    || !same(current.labels, next.labels) || [...current.agents].sort().join('\n') !== [...(next.agents ?? [])].sort().join('\n')
    || current.aggregation !== (next.aggregation ?? 'avg') || current.window_seconds !== (next.window_seconds ?? 60)
}

/**
 * Resolves the rule's open events (with `reason` as the resolve comment), queues their resolved
 * notifications as a manual resolve does, and forgets its states. Call it before the rule row changes
 * or goes: the notifications follow the rule as it was. Pending firing/repeat rows are left to the
 * dispatcher, which drops rows of resolved events.
 */
export async function retireRuleAlerts(db: Kysely<Database>, ruleId: string, reason: string, now: Date): Promise<number> {
  await lockRuleAlerts(db, ruleId) // no evaluation of the rule runs in between (it would see half-retired alerts)
  const closed = await closeFiringEvents(db, db.updateTable('alert_events').where('rule_id', '=', ruleId), reason, now)
  await db.deleteFrom('alert_states').where('rule_id', '=', ruleId).execute()
  return closed
}

/**
 * The same for an agent about to be deleted: its open events of every rule are resolved (announced as
 * for a retired rule) and its states forgotten. First the organization's agent-deletion lock: evaluations
 * running now finish, and no new one of the organization's rules starts (they try it and skip) until the
 * deletion commits, so none opens an alert for the agent meanwhile. Then the evaluation lock of every rule
 * with alerts of the agent, in id order (as the rules file takes several), against a manual resolve or a
 * rule change in progress.
 */
export async function retireAgentAlerts(db: Kysely<Database>, orgId: string, agentId: string, reason: string, now: Date): Promise<number> {
  await sql`select pg_advisory_xact_lock(${AGENT_DELETION_NAMESPACE}, hashtext(${orgId}))`.execute(db)
  const { rows } = await sql<{ rule_id: string }>`
    select rule_id from alert_states where org_id = ${orgId}::uuid and agent_id = ${agentId}::uuid
    union select rule_id from alert_events where org_id = ${orgId}::uuid and agent_id = ${agentId}::uuid and state = 'firing' and rule_id is not null`.execute(db)
  for (const ruleId of rows.map((r) => r.rule_id).sort()) await lockRuleAlerts(db, ruleId)
  const closed = await closeFiringEvents(db, db.updateTable('alert_events').where('org_id', '=', orgId).where('agent_id', '=', agentId), reason, now)
  await db.deleteFrom('alert_states').where('org_id', '=', orgId).where('agent_id', '=', agentId).execute()
  return closed
}

/** Resolves the firing events `update` selects, queues their resolved notifications and announces each. */
async function closeFiringEvents(db: Kysely<Database>, update: UpdateQueryBuilder<Database, 'alert_events', 'alert_events', UpdateResult>,
  reason: string, now: Date): Promise<number> {
  const closed = await update
    .set({ state: 'resolved', resolved_at: now, resolve_comment: reason, updated_at: now })
    .where('state', '=', 'firing')
    .returning(['id', 'org_id', 'rule_id', 'rule_name', 'agent_id', 'agent_name', 'series_key', 'series_tags', 'severity', 'value', 'summary',
      'started_at', 'last_notified_at'])
    .execute()
  for (const e of closed) {
    await queueResolvedNotifications(db, e, now)
    await sendAlertNotice(db, alertNotice(e, now))
  }
  return closed.length
}

/** A rule of the organization by its integer number (the id seed 003's face shows), or undefined. */
export async function findRuleByNumber(db: Kysely<Database>, orgId: string, number: number): Promise<RuleRow | undefined> {
  if (!Number.isSafeInteger(number) || number < 1 || number > 2147483647) return undefined
  return db.selectFrom('alert_rules').selectAll().where('org_id', '=', orgId).where('number', '=', number).executeTakeFirst()
}

/** Every threshold rule of the organization on one of `metrics`, oldest first (by number). */
export async function listThresholdRulesOn(db: Kysely<Database>, orgId: string, metrics: readonly string[]): Promise<RuleRow[]> {
  if (metrics.length === 0) return []
  return db.selectFrom('alert_rules').selectAll().where('org_id', '=', orgId).where('kind', '=', 'threshold')
    .where('metric', 'in', [...metrics]).orderBy('number').execute()
}
