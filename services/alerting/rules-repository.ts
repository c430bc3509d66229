// Rule rows shared by the API and the rules file: name checks, and ending a rule's alerts when the rule
// is deleted, disabled or made to select something else (so nothing stays firing for ever).
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import type { RuleRow, RuleValues } from './rule-definition.ts'
import { sendAlertNotice } from './alert-notice.ts'
import { lockRuleAlerts } from './evaluate-rule.ts'
import { queueResolvedNotifications } from './event-actions.ts'

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
  const closed = await db.updateTable('alert_events')
    .set({ state: 'resolved', resolved_at: now, resolve_comment: reason, updated_at: now })
    .where('rule_id', '=', ruleId).where('state', '=', 'firing')
    .returning(['id', 'org_id', 'rule_id', 'rule_name', 'agent_id', 'agent_name', 'series_key', 'series_tags', 'severity', 'value', 'summary',
      'started_at', 'last_notified_at'])
    .execute()
  for (const e of closed) {
    await queueResolvedNotifications(db, e, now)
    await sendAlertNotice(db, {
      org_id: e.org_id, event_id: e.id, rule_id: e.rule_id, rule_name: e.rule_name, agent_id: e.agent_id, agent_name: e.agent_name,
      severity: e.severity, state: 'resolved', value: e.value, summary: e.summary, started_at: e.started_at.toISOString(), resolved_at: now.toISOString(),
    })
  }
  await db.deleteFrom('alert_states').where('rule_id', '=', ruleId).execute()
  return closed.length
}
