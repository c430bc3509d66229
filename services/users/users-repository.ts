// Users as the API shows them: always inside one organization, never with their password hash.
import { sql, type Kysely, type Transaction } from 'kysely'
import type { Database, Role, User } from '../store/database.ts'
import { DomainError } from '../errors/domain-error.ts'
import { hashPassword, verifyPassword } from '../auth/secrets.ts'
import { isUuid } from '../store/uuid.ts'

export const USER_COLUMNS = ['id', 'username', 'role', 'display_name', 'email', 'created_at', 'updated_at'] as const
export type UserRow = Pick<User, (typeof USER_COLUMNS)[number]>


export async function findUser(db: Kysely<Database>, orgId: string, id: string): Promise<UserRow | undefined> {
  if (!isUuid(id)) return undefined
  return db.selectFrom('users').select(USER_COLUMNS).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst()
}

/** A user of the organization, or not_found. */
export async function getUser(db: Kysely<Database>, orgId: string, id: string): Promise<UserRow> {
  const user = await findUser(db, orgId, id)
  if (!user) throw new DomainError('not_found', `User "${id}" not found`)
  return user
}

/** A page of the organization's users by username, and how many it has. */
export async function listUsers(db: Kysely<Database>, orgId: string, page: { limit: number; offset: number }): Promise<{ users: UserRow[]; total: number }> {
  const users = await db.selectFrom('users').select(USER_COLUMNS).where('org_id', '=', orgId)
    .orderBy('username').limit(page.limit).offset(page.offset).execute()
  const { total } = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('total')).where('org_id', '=', orgId).executeTakeFirstOrThrow()
  return { users, total: Number(total) }
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

/** Usernames are unique across organizations (a login names no organization): conflict, on `field`, when taken. */
export async function assertUsernameFree(db: Kysely<Database>, username: string, field = 'username', exceptId?: string): Promise<void> {
  if (await usernameTaken(db, username, exceptId)) throw new DomainError('conflict', `The username "${username}" is taken`, { details: { [field]: ['is taken'] } })
}

export interface NewUserValues { username: string; role: Role; passwordHash: string; display_name?: string | null; email?: string | null }

/** Inserts a user (its username already checked). */
export async function insertUser(db: Kysely<Database>, orgId: string, v: NewUserValues): Promise<UserRow> {
  return db.insertInto('users').values({
    org_id: orgId, username: v.username, role: v.role, password_hash: v.passwordHash,
    display_name: v.display_name ?? null, email: v.email ?? null,
  }).returning(USER_COLUMNS).executeTakeFirstOrThrow()
}

export interface NewUser { username: string; password: string; role: Role; display_name?: string | null; email?: string | null }

/** Creates a user in the organization; conflict when the username is taken. */
export async function createUser(db: Kysely<Database>, orgId: string, input: NewUser): Promise<UserRow> {
  const { password, ...fields } = input
  await assertUsernameFree(db, fields.username)
  return insertUser(db, orgId, { ...fields, passwordHash: await hashPassword(password) })
}

/** A user's own profile fields; undefined when the user no longer exists. */
export async function updateProfile(db: Kysely<Database>, orgId: string, userId: string,
  fields: { display_name?: string | null; email?: string | null }): Promise<UserRow | undefined> {
  return db.updateTable('users').set({ ...fields, updated_at: new Date() })
    .where('id', '=', userId).where('org_id', '=', orgId).returning(USER_COLUMNS).executeTakeFirst()
}

export type PasswordChange = { outcome: 'no_user' } | { outcome: 'wrong_password' } | { outcome: 'changed'; otherSessionsEnded: number }

/** A user changes their own password (knowing the current one); their other sessions end. */
export async function changeOwnPassword(db: Kysely<Database>, orgId: string, userId: string, sessionId: string,
  currentPassword: string, newPassword: string): Promise<PasswordChange> {
  const row = await db.selectFrom('users').select('password_hash').where('id', '=', userId).where('org_id', '=', orgId).executeTakeFirst()
  if (!row) return { outcome: 'no_user' }
  if (!(await verifyPassword(currentPassword, row.password_hash))) return { outcome: 'wrong_password' }
  await db.updateTable('users').set({ password_hash: await hashPassword(newPassword), updated_at: new Date() })
    .where('id', '=', userId).where('org_id', '=', orgId).execute()
  return { outcome: 'changed', otherSessionsEnded: await revokeSessions(db, userId, sessionId) }
}

export interface UserChanges { username?: string; role?: Role; password?: string; display_name?: string | null; email?: string | null }

export interface UserUpdate {
  before: UserRow
  user: UserRow
  /** Set when the password was reset: how many of the user's sessions that ended. */
  sessionsEnded?: number
}

/**
 * An admin changes a user of the organization: not_found, conflict for a taken username or the last admin.
 * A reset password ends the user's sessions (all of them unless the admin reset their own: `caller`'s is kept).
 */
export async function updateUser(db: Kysely<Database>, orgId: string, id: string, changes: UserChanges,
  caller: { userId: string; sessionId: string }): Promise<UserUpdate> {
  const { password, ...fields } = changes
  const before = await getUser(db, orgId, id)
  if (fields.username !== undefined) await assertUsernameFree(db, fields.username, 'username', before.id)
  const passwordHash = password === undefined ? undefined : await hashPassword(password)
  const user = await db.transaction().execute(async (trx) => {
    if (fields.role) await assertKeepsAnAdmin(trx, orgId, before.id, fields.role)
    return trx.updateTable('users').set({ ...fields, ...(passwordHash ? { password_hash: passwordHash } : {}), updated_at: new Date() })
      .where('id', '=', before.id).where('org_id', '=', orgId).returning(USER_COLUMNS).executeTakeFirstOrThrow()
  })
  if (!passwordHash) return { before, user }
  return { before, user, sessionsEnded: await revokeSessions(db, user.id, user.id === caller.userId ? caller.sessionId : undefined) }
}

/** Deletes a user of the organization: not_found, or conflict for its last admin. Returns the user as it was. */
export async function deleteUser(db: Kysely<Database>, orgId: string, id: string): Promise<UserRow> {
  const user = await getUser(db, orgId, id)
  await db.transaction().execute(async (trx) => {
    await assertKeepsAnAdmin(trx, orgId, user.id, 'deleted')
    await trx.deleteFrom('users').where('id', '=', user.id).where('org_id', '=', orgId).execute()
  })
  return user
}
