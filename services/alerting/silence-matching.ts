// Which silences (and maintenance windows) mute an alert. Shared by the evaluator, which decides whether
// to notify, and the silences API, which previews what a silence would match.
import type { Kysely, Selectable } from 'kysely'
import type { AlertSeverity, Database, SilenceMatchers, SilencesTable } from '../store/database.ts'

/** What a silence can match an alert on. */
export interface AlertIdentity {
  ruleId: string
  ruleName: string
  agentId: string
  agentName: string
  severity: AlertSeverity
  /** The agent's labels plus the series' tags (mount_point, interface …); a series tag wins on a clash. */
  labels: Record<string, string>
}

/** Every matcher given must match; none given matches every alert of the organization. */
export function silenceMatches(matchers: SilenceMatchers, alert: AlertIdentity): boolean {
  if (matchers.rule_id !== undefined && matchers.rule_id !== alert.ruleId) return false
  if (matchers.rule !== undefined && matchers.rule !== alert.ruleName) return false
  if (matchers.agent !== undefined && matchers.agent !== alert.agentName && matchers.agent !== alert.agentId) return false
  if (matchers.severity !== undefined && matchers.severity !== alert.severity) return false
  for (const [key, value] of Object.entries(matchers.labels ?? {})) {
    if (alert.labels[key] !== value) return false
  }
  return true
}

/** Silences of the organization in force at `now` (started, not yet ended). */
export async function activeSilences(db: Kysely<Database>, orgId: string, now: Date): Promise<Array<Selectable<SilencesTable>>> {
  return db.selectFrom('silences').selectAll()
    .where('org_id', '=', orgId)
    .where('starts_at', '<=', now)
    .where('ends_at', '>', now)
    .orderBy('ends_at')
    .execute()
}

/** True when any of `silences` mutes `alert`. */
export function isSilenced(silences: ReadonlyArray<{ matchers: SilenceMatchers }>, alert: AlertIdentity): boolean {
  return silences.some((s) => silenceMatches(s.matchers ?? {}, alert))
}
