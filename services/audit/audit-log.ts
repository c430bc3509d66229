// The audit log: who did what to whom, for admins. Entries are built from named fields only, never
// from a request body, so no password, key or token can slip into one.
import type { FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import type { AuditActorType, Database } from '../store/database.ts'

export const AUDIT_ACTIONS = [
  'auth.login', 'auth.login_failed', 'auth.login_throttled', 'auth.logout', 'auth.refresh_reuse',
  'user.create', 'user.update', 'user.role_change', 'user.password_change', 'user.password_reset', 'user.delete',
  'organization.create',
  'agent.create', 'agent.delete', 'agent.key_rotate', 'agent.key_revoke',
  'enrollment_token.create', 'enrollment_token.revoke',
  'registration.request', 'registration.approve', 'registration.reject', 'registration.auto_approve', 'registration.key_delivered',
  'registration.repeat', 'registration.key_redelivered',
  'alert_rule.create', 'alert_rule.update', 'alert_rule.delete',
  'channel.create', 'channel.update', 'channel.delete', 'channel.test',
  'silence.create', 'silence.update', 'silence.delete',
  'alert.acknowledge', 'alert.resolve',
  'traffic.settings_update', 'traffic_quota.set', 'traffic_quota.delete',
] as const
export type AuditAction = (typeof AUDIT_ACTIONS)[number]

export interface AuditEntry {
  orgId: string | null
  action: AuditAction
  actor: { type: AuditActorType; id?: string | null; name?: string | null }
  target?: { type: string; id: string }
  ip?: string | null
  /** Plain, non-secret facts (role names, counts, hostnames). */
  details?: Record<string, string | number | boolean | null>
}

export async function writeAudit(db: Kysely<Database>, entry: AuditEntry): Promise<void> {
  await db.insertInto('audit_log').values({
    org_id: entry.orgId, action: entry.action,
    actor_type: entry.actor.type, actor_id: entry.actor.id ?? null, actor_name: entry.actor.name?.slice(0, 128) ?? null,
    target_type: entry.target?.type ?? null, target_id: entry.target?.id ?? null,
    ip: entry.ip ?? null, details: JSON.stringify(entry.details ?? {}),
  }).execute()
}

/** The acting user of an authenticated request, as an audit actor. */
export function userActor(request: FastifyRequest): AuditEntry['actor'] {
  const p = request.principal
  return p ? { type: 'user', id: p.userId, name: p.username } : { type: 'anonymous' }
}
