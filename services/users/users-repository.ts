// Users as the API shows them: always inside one organization, never with their password hash.
import { sql, type Kysely, type Transaction } from 'kysely'
import type { Database, Role } from '../store/database.ts'
import { DomainError } from '../errors/domain-error.ts'

export const USER_COLUMNS = ['id', 'username', 'role', 'display_name', 'email', 'created_at', 'updated_at'] as const

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isUuid = (text: string): boolean => UUID.test(text)

export async function findUser(db: Kysely<Database>, orgId: string, id: string) {
  if (!isUuid(id)) return undefined
  return db.selectFrom('users').select(USER_COLUMNS).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst()
}

/**
 * Inside a transaction that changes `userId`: refuses (409) when the change would leave the organization
 * without an admin. Locks the organization's admin rows so two concurrent demotions cannot both pass.
 */
export async function assertKeepsAnAdmin(trx: Transaction<Database>, orgId: string, userId: string, newRole: Role | 'deleted'): Promise<void> {
  if (newRole === 'admin') return
  const admins = await trx.selectFrom('users').select('id').where('org_id', '=', orgId).where('role', '=', 'admin').forUpdate().execute()
  if (admins.length === 1 && admins[0].id === userId) {
    throw new DomainError('conflict', newRole === 'deleted'
      ? 'This is the last admin of the organization: make another user admin before deleting this one'
      : 'This is the last admin of the organization: make another user admin before changing this role', { details: { role: ['last admin'] } })
  }
}

/** Ends every session of a user but `exceptSessionId` (password changed, user reset by an admin). */
export async function revokeSessions(db: Kysely<Database>, userId: string, exceptSessionId?: string): Promise<number> {
  let q = db.updateTable('auth_sessions').set({ revoked_at: new Date() }).where('user_id', '=', userId).where('revoked_at', 'is', null)
  if (exceptSessionId) q = q.where('id', '!=', exceptSessionId)
  const res = await q.executeTakeFirst()
  return Number(res.numUpdatedRows)
}

export async function usernameTaken(db: Kysely<Database>, username: string, exceptId?: string): Promise<boolean> {
  let q = db.selectFrom('users').select('id').where(sql`lower(username)`, '=', username.toLowerCase())
  if (exceptId) q = q.where('id', '!=', exceptId)
  return (await q.executeTakeFirst()) !== undefined
}
