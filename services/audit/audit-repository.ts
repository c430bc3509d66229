// Reading the audit log: an organization's entries for its admins, newest first, paged by id.
import type { Kysely, Selectable } from 'kysely'
import type { AuditLogTable, Database } from '../store/database.ts'
import { isBuiltinOrganization } from '../organizations/organizations-repository.ts'

export const AUDIT_COLUMNS = ['id', 'time', 'actor_type', 'actor_id', 'actor_name', 'action', 'target_type', 'target_id', 'ip', 'details'] as const
export type AuditRow = Pick<Selectable<AuditLogTable>, (typeof AUDIT_COLUMNS)[number]>

export interface AuditPageQuery {
  limit: number
  /** Entries older than this id (the `nextBefore` of the previous page). */
  before?: number
  action?: string
}

/** One page of the organization's log; `nextBefore` is null on the last page. */
export async function listAuditEntries(db: Kysely<Database>, orgId: string, query: AuditPageQuery): Promise<{ entries: AuditRow[]; nextBefore: number | null }> {
  const { limit, before, action } = query
  const builtin = await isBuiltinOrganization(db, orgId)
  let q = db.selectFrom('audit_log')
    .select(AUDIT_COLUMNS)
    // Events of no organization (failed logins for unknown usernames) belong to the operator: the built-in organization.
    .where((eb) => (builtin ? eb.or([eb('org_id', '=', orgId), eb('org_id', 'is', null)]) : eb('org_id', '=', orgId)))
    .orderBy('id', 'desc').limit(limit + 1)
  if (before !== undefined) q = q.where('id', '<', before)
  if (action !== undefined) q = q.where('action', '=', action)
  const rows = await q.execute()
  const entries = rows.slice(0, limit)
  return { entries, nextBefore: rows.length > limit ? Number(entries[entries.length - 1].id) : null }
}
