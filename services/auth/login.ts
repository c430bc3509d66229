// Logging in, refreshing and logging out, once for every face that offers them (the native API and seed
// 004's token routes): the same users, sessions, login throttling and audit trail whichever face is used.
import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import { DomainError } from '../errors/domain-error.ts'
import { writeAudit, type AuditEntry } from '../audit/audit-log.ts'
import { DUMMY_PASSWORD_HASH, verifyPassword } from './secrets.ts'
import type { AccessClaims, Principal, RefreshClaims } from './auth-plugin.ts'
import type { LoginThrottle } from './login-throttle.ts'
import { createSession, endSession, findLoginUser, liveRefreshSession, refreshSession, type LoginUser, type SessionUser } from './sessions-repository.ts'

export interface TokenSigner {
  sign(payload: AccessClaims | RefreshClaims, options: { expiresIn: number }): string
  verify<T>(token: string): T
}

export interface LoginSettings { accessTtlSeconds: number; refreshTtlSeconds: number; throttle: LoginThrottle }

export interface IssuedTokens { token: string; refresh_token: string; expires_in: number }

/** The session's two tokens: a short-lived access token and a refresh token that names only the session. */
function issueTokens(jwt: TokenSigner, settings: LoginSettings, user: SessionUser, sessionId: string): IssuedTokens {
  const refresh_token = jwt.sign({ sid: sessionId, typ: 'refresh', nonce: randomBytes(16).toString('base64url') }, { expiresIn: settings.refreshTtlSeconds })
  return { token: accessToken(jwt, settings, user, sessionId), refresh_token, expires_in: settings.accessTtlSeconds }
}

function accessToken(jwt: TokenSigner, settings: LoginSettings, user: SessionUser, sessionId: string): string {
  return jwt.sign({ sub: user.id, org: user.org_id, role: user.role, sid: sessionId, typ: 'access' }, { expiresIn: settings.accessTtlSeconds })
}

/**
 * Checks the password (same work and same answer for an unknown user and a wrong password) and opens a
 * session. Throws rate_limited while the throttle refuses, unauthenticated for bad credentials.
 */
export async function logIn(db: Kysely<Database>, jwt: TokenSigner, settings: LoginSettings,
  req: { username: string; password: string; ip: string }): Promise<{ user: LoginUser; tokens: IssuedTokens }> {
  const { username, password, ip } = req
  const retryAfter = settings.throttle.retryAfterSeconds(username, ip)
  if (retryAfter > 0) {
    await writeAudit(db, { orgId: null, action: 'auth.login_throttled', actor: { type: 'anonymous', name: username }, ip })
    throw new DomainError('rate_limited', `Too many failed logins. Please retry after ${retryAfter} seconds.`,
      { details: { retry_after: retryAfter }, retryAfterSeconds: retryAfter })
  }
  const user = await findLoginUser(db, username)
  const ok = await verifyPassword(password, user?.password_hash ?? DUMMY_PASSWORD_HASH)
  if (!user || !ok) {
    settings.throttle.recordFailure(username, ip)
    await writeAudit(db, {
      orgId: user?.org_id ?? null, action: 'auth.login_failed', actor: { type: 'anonymous', name: username },
      target: user && { type: 'user', id: user.id }, ip, details: { known_user: Boolean(user) },
    })
    throw new DomainError('unauthenticated', 'Invalid username or password')
  }
  settings.throttle.recordSuccess(username)
  const sessionId = crypto.randomUUID()
  const tokens = issueTokens(jwt, settings, user, sessionId)
  await createSession(db, {
    id: sessionId, orgId: user.org_id, userId: user.id, refreshToken: tokens.refresh_token,
    expiresAt: new Date(Date.now() + settings.refreshTtlSeconds * 1000),
  })
  await writeAudit(db, { orgId: user.org_id, action: 'auth.login', actor: { type: 'user', id: user.id, name: username }, ip })
  return { user, tokens }
}

function refreshClaims(jwt: TokenSigner, refreshToken: string): RefreshClaims {
  let claims: RefreshClaims | undefined
  try {
    claims = jwt.verify<RefreshClaims>(refreshToken)
  } catch { /* answered below */ }
  if (claims?.typ !== 'refresh') throw new DomainError('unauthenticated', 'Invalid or expired refresh token')
  return claims
}

/**
 * Trades the session's current refresh token for a new pair (the native API rotates refresh tokens). An old
 * refresh token coming back means someone holds a copy: the whole session ends.
 */
export async function rotateTokens(db: Kysely<Database>, jwt: TokenSigner, settings: LoginSettings, refreshToken: string, ip: string): Promise<IssuedTokens> {
  const claims = refreshClaims(jwt, refreshToken)
  const outcome = await refreshSession(db, claims.sid, refreshToken, async (user, sid) => issueTokens(jwt, settings, user, sid))
  if ('reused' in outcome) {
    await writeAudit(db, {
      orgId: outcome.orgId, action: 'auth.refresh_reuse', actor: { type: 'anonymous' }, target: { type: 'user', id: outcome.userId },
      ip, details: { session_revoked: true },
    })
    throw new DomainError('unauthenticated', 'Refresh token was already used: the session is revoked, log in again')
  }
  if ('ended' in outcome) throw new DomainError('unauthenticated', 'Session has ended: log in again')
  return outcome.tokens
}

/**
 * A new access token for a live session whose current refresh token this is, the refresh token staying
 * valid (seed 004's refresh answers only `access`, so its clients keep the refresh token they have).
 */
export async function accessFromRefresh(db: Kysely<Database>, jwt: TokenSigner, settings: LoginSettings, refreshToken: string): Promise<string> {
  const claims = refreshClaims(jwt, refreshToken)
  const user = await liveRefreshSession(db, claims.sid, refreshToken)
  if (!user) throw new DomainError('unauthenticated', 'Session has ended or the refresh token was replaced: log in again')
  return accessToken(jwt, settings, user, claims.sid)
}

/** Ends the principal's session: its access and refresh tokens stop working at once. */
export async function logOut(db: Kysely<Database>, principal: Principal, actor: AuditEntry['actor'], ip: string): Promise<void> {
  await endSession(db, principal.orgId, principal.sessionId)
  await writeAudit(db, { orgId: principal.orgId, action: 'auth.logout', actor, ip })
}
