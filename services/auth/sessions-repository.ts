// Login sessions: one per login, holding the hash of its current refresh token; logging out or a
// refresh token used twice ends it.
import type { Kysely, Selectable } from 'kysely'
import type { Database, Role, UsersTable } from '../store/database.ts'
import { sha256 } from './secrets.ts'

export type LoginUser = Pick<Selectable<UsersTable>, 'id' | 'org_id' | 'role' | 'password_hash'>

/** The user a login names (usernames are unique across organizations), with the hash to check. */
export async function findLoginUser(db: Kysely<Database>, username: string): Promise<LoginUser | undefined> {
  return db.selectFrom('users').select(['id', 'org_id', 'role', 'password_hash']).where('username', '=', username).executeTakeFirst()
}

export interface NewSession { id: string; orgId: string; userId: string; refreshToken: string; expiresAt: Date }

export async function createSession(db: Kysely<Database>, s: NewSession): Promise<void> {
  await db.insertInto('auth_sessions').values({
    id: s.id, org_id: s.orgId, user_id: s.userId, refresh_token_hash: sha256(s.refreshToken), expires_at: s.expiresAt,
  }).execute()
}

/** Who a session's new tokens are for. */
export interface SessionUser { id: string; org_id: string; role: Role }

export type RefreshOutcome<T> = { ended: true } | { reused: true; orgId: string; userId: string } | { tokens: T }

/**
 * Trades a session's current refresh token for new tokens (`issue` makes them; the new refresh token's
 * hash is kept). An old refresh token coming back means someone holds a copy: the whole session ends.
 */
export async function refreshSession<T extends { refresh_token: string }>(db: Kysely<Database>, sessionId: string, refreshToken: string,
  issue: (user: SessionUser, sessionId: string) => Promise<T>): Promise<RefreshOutcome<T>> {
  return db.transaction().execute(async (trx): Promise<RefreshOutcome<T>> => {
    const session = await trx.selectFrom('auth_sessions')
      .innerJoin('users', 'users.id', 'auth_sessions.user_id')
      .select(['auth_sessions.id', 'auth_sessions.refresh_token_hash', 'auth_sessions.revoked_at', 'auth_sessions.expires_at',
        'users.id as user_id', 'users.org_id', 'users.role'])
      .where('auth_sessions.id', '=', sessionId).forUpdate().executeTakeFirst()
    if (!session || session.revoked_at || session.expires_at < new Date()) return { ended: true }
    if (session.refresh_token_hash !== sha256(refreshToken)) {
      // The session ends, and this commits.
      await trx.updateTable('auth_sessions').set({ revoked_at: new Date() }).where('id', '=', session.id).execute()
      return { reused: true, orgId: session.org_id, userId: session.user_id }
    }
    const tokens = await issue({ id: session.user_id, org_id: session.org_id, role: session.role }, session.id)
    await trx.updateTable('auth_sessions').set({ refresh_token_hash: sha256(tokens.refresh_token) }).where('id', '=', session.id).execute()
    return { tokens }
  })
}

/** The user of a live session whose current refresh token is `refreshToken`; undefined otherwise. */
export async function liveRefreshSession(db: Kysely<Database>, sessionId: string, refreshToken: string): Promise<SessionUser | undefined> {
  return db.selectFrom('auth_sessions').innerJoin('users', 'users.id', 'auth_sessions.user_id')
    .select(['users.id', 'users.org_id', 'users.role'])
    .where('auth_sessions.id', '=', sessionId).where('auth_sessions.refresh_token_hash', '=', sha256(refreshToken))
    .where('auth_sessions.revoked_at', 'is', null).where('auth_sessions.expires_at', '>', new Date()).executeTakeFirst()
}

/** Ends a session of the organization (logout). */
export async function endSession(db: Kysely<Database>, orgId: string, sessionId: string): Promise<void> {
  await db.updateTable('auth_sessions').set({ revoked_at: new Date() }).where('id', '=', sessionId).where('org_id', '=', orgId).execute()
}

/** A user with their organization's name, as GET /api/v1/auth/me shows them. */
export async function findProfile(db: Kysely<Database>, orgId: string, userId: string) {
  return db.selectFrom('users').innerJoin('organizations', 'organizations.id', 'users.org_id')
    .select(['users.id', 'users.number', 'users.username', 'users.role', 'users.org_id', 'organizations.name as organization', 'users.display_name',
      'users.email', 'users.created_at'])
    .where('users.id', '=', userId).where('users.org_id', '=', orgId).executeTakeFirst()
}

/** A session still counts while it is neither revoked nor expired; its user's current organization and role. */
export interface LiveSession { session_id: string; user_id: string; username: string; org_id: string; role: Role; expires_at: Date }

/** The sessions among `sessionIds` that are still live (the one rule for the API and the live streams). */
export async function liveSessions(db: Kysely<Database>, sessionIds: string[], userId?: string): Promise<LiveSession[]> {
  if (sessionIds.length === 0) return []
  let q = db.selectFrom('auth_sessions').innerJoin('users', 'users.id', 'auth_sessions.user_id')
    .select(['auth_sessions.id as session_id', 'users.id as user_id', 'users.username', 'users.org_id', 'users.role', 'auth_sessions.expires_at'])
    .where('auth_sessions.id', 'in', sessionIds).where('auth_sessions.revoked_at', 'is', null).where('auth_sessions.expires_at', '>', new Date())
  if (userId !== undefined) q = q.where('auth_sessions.user_id', '=', userId)
  return q.execute()
}
