// POST /api/v1/auth/login, /refresh, /logout and GET /me (seed 001's auth endpoints).
import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { DUMMY_PASSWORD_HASH, sha256, verifyPassword } from './secrets.ts'
import { principalOf, type AccessClaims, type RefreshClaims } from './auth-plugin.ts'
import type { Role } from '../store/database.ts'
import { writeAudit, userActor } from '../audit/audit-log.ts'
import { LoginThrottle } from './login-throttle.ts'

const TokenPair = Type.Object({ token: Type.String(), refresh_token: Type.String(), expires_in: Type.Integer() })

export interface AuthRouteOptions { accessTtlSeconds: number; refreshTtlSeconds: number; loginThrottle?: LoginThrottle }

/** Auth bodies are small; a large one is an attack, not a login. */
const AUTH_BODY_LIMIT = 16 * 1024

export const authRoutes: FastifyPluginAsyncTypebox<AuthRouteOptions> = async (app, opts) => {
  const db = app.store.db
  const throttle = opts.loginThrottle ?? new LoginThrottle()

  async function issueTokens(user: { id: string; org_id: string; role: Role }, sessionId: string) {
    const refresh_token = app.jwt.sign({ sid: sessionId, typ: 'refresh', nonce: randomBytes(16).toString('base64url') } satisfies RefreshClaims,
      { expiresIn: opts.refreshTtlSeconds })
    const token = app.jwt.sign({ sub: user.id, org: user.org_id, role: user.role, sid: sessionId, typ: 'access' } satisfies AccessClaims,
      { expiresIn: opts.accessTtlSeconds })
    return { token, refresh_token, expires_in: opts.accessTtlSeconds }
  }

  app.post('/api/v1/auth/login', {
    bodyLimit: AUTH_BODY_LIMIT, config: { rateBudget: 'auth' },
    schema: {
      body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 128 }), password: Type.String({ minLength: 1, maxLength: 1024 }) }),
      response: { 200: TokenPair },
    },
  }, async (request) => {
    const { username, password } = request.body
    const retryAfter = throttle.retryAfterSeconds(username, request.ip)
    if (retryAfter > 0) {
      await writeAudit(db, { orgId: null, action: 'auth.login_throttled', actor: { type: 'anonymous', name: username }, ip: request.ip })
      throw new ApiError('RATE_LIMITED', `Too many failed logins. Please retry after ${retryAfter} seconds.`, { retry_after: retryAfter })
    }
    const user = await db.selectFrom('users').select(['id', 'org_id', 'role', 'password_hash'])
      .where('username', '=', username).executeTakeFirst()
    // Same work and same answer for an unknown user and a wrong password.
    const ok = await verifyPassword(password, user?.password_hash ?? DUMMY_PASSWORD_HASH)
    if (!user || !ok) {
      throttle.recordFailure(username, request.ip)
      await writeAudit(db, {
        orgId: user?.org_id ?? null, action: 'auth.login_failed', actor: { type: 'anonymous', name: username },
        target: user && { type: 'user', id: user.id }, ip: request.ip, details: { known_user: Boolean(user) },
      })
      throw new ApiError('UNAUTHORIZED', 'Invalid username or password')
    }
    throttle.recordSuccess(username)
    const sessionId = crypto.randomUUID()
    const tokens = await issueTokens(user, sessionId)
    await db.insertInto('auth_sessions').values({
      id: sessionId, org_id: user.org_id, user_id: user.id, refresh_token_hash: sha256(tokens.refresh_token),
      expires_at: new Date(Date.now() + opts.refreshTtlSeconds * 1000),
    }).execute()
    await writeAudit(db, { orgId: user.org_id, action: 'auth.login', actor: { type: 'user', id: user.id, name: username }, ip: request.ip })
    return tokens
  })

  app.post('/api/v1/auth/refresh', {
    bodyLimit: AUTH_BODY_LIMIT, config: { rateBudget: 'auth' },
    schema: { body: Type.Object({ refresh_token: Type.String({ minLength: 1, maxLength: 4096 }) }), response: { 200: TokenPair } },
  }, async (request) => {
    let claims: RefreshClaims
    try {
      claims = app.jwt.verify<RefreshClaims>(request.body.refresh_token)
    } catch {
      throw new ApiError('UNAUTHORIZED', 'Invalid or expired refresh token')
    }
    if (claims.typ !== 'refresh') throw new ApiError('UNAUTHORIZED', 'Invalid or expired refresh token')
    type Outcome = { ended: true } | { reused: true; orgId: string; userId: string } | { tokens: Awaited<ReturnType<typeof issueTokens>> }
    const outcome = await db.transaction().execute(async (trx): Promise<Outcome> => {
      const session = await trx.selectFrom('auth_sessions')
        .innerJoin('users', 'users.id', 'auth_sessions.user_id')
        .select(['auth_sessions.id', 'auth_sessions.refresh_token_hash', 'auth_sessions.revoked_at', 'auth_sessions.expires_at',
          'users.id as user_id', 'users.org_id', 'users.role'])
        .where('auth_sessions.id', '=', claims.sid).forUpdate().executeTakeFirst()
      if (!session || session.revoked_at || session.expires_at < new Date()) return { ended: true }
      if (session.refresh_token_hash !== sha256(request.body.refresh_token)) {
        // An old refresh token came back: someone holds a copy. End the whole session (this commits).
        await trx.updateTable('auth_sessions').set({ revoked_at: new Date() }).where('id', '=', session.id).execute()
        return { reused: true, orgId: session.org_id, userId: session.user_id }
      }
      const tokens = await issueTokens({ id: session.user_id, org_id: session.org_id, role: session.role }, session.id)
      await trx.updateTable('auth_sessions').set({ refresh_token_hash: sha256(tokens.refresh_token) }).where('id', '=', session.id).execute()
      return { tokens }
    })
    if ('reused' in outcome) {
      await writeAudit(db, {
        orgId: outcome.orgId, action: 'auth.refresh_reuse', actor: { type: 'anonymous' }, target: { type: 'user', id: outcome.userId },
        ip: request.ip, details: { session_revoked: true },
      })
    }
    if ('reused' in outcome) throw new ApiError('UNAUTHORIZED', 'Refresh token was already used: the session is revoked, log in again')
    if ('ended' in outcome) throw new ApiError('UNAUTHORIZED', 'Session has ended: log in again')
    return outcome.tokens
  })

  app.post('/api/v1/auth/logout', { onRequest: app.authenticate }, async (request, reply) => {
    const p = principalOf(request)
    await db.updateTable('auth_sessions').set({ revoked_at: new Date() }).where('id', '=', p.sessionId).execute()
    await writeAudit(db, { orgId: p.orgId, action: 'auth.logout', actor: userActor(request), ip: request.ip })
    return reply.status(204).send()
  })

  app.get('/api/v1/auth/me', { onRequest: app.authenticate }, async (request) => {
    const p = principalOf(request)
    const user = await db.selectFrom('users').innerJoin('organizations', 'organizations.id', 'users.org_id')
      .select(['users.id', 'users.username', 'users.role', 'users.org_id', 'organizations.name as organization', 'users.display_name',
        'users.email', 'users.created_at'])
      .where('users.id', '=', p.userId).executeTakeFirst()
    if (!user) throw new ApiError('UNAUTHORIZED', 'User no longer exists')
    return user
  })
}
