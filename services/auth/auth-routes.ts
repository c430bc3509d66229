// POST /api/v1/auth/login, /refresh, /logout and GET /me (seed 001's auth endpoints).
import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { ERRORS, NoContent, Nullable, Time } from '../http/response-schemas.ts'
import { DUMMY_PASSWORD_HASH, verifyPassword } from './secrets.ts'
import { principalOf, type AccessClaims, type RefreshClaims } from './auth-plugin.ts'
import { writeAudit, userActor } from '../audit/audit-log.ts'
import { LoginThrottle } from './login-throttle.ts'
import { createSession, endSession, findLoginUser, findProfile, refreshSession, type SessionUser } from './sessions-repository.ts'

const TokenPair = Type.Object({ token: Type.String(), refresh_token: Type.String(), expires_in: Type.Integer() })
const MeOut = Type.Object({
  id: Type.String({ format: 'uuid' }), username: Type.String(), role: Type.String(), org_id: Type.String({ format: 'uuid' }),
  organization: Type.String({ description: 'the organization\'s name' }), display_name: Nullable(Type.String()), email: Nullable(Type.String()),
  created_at: Time,
})

export interface AuthRouteOptions { accessTtlSeconds: number; refreshTtlSeconds: number; loginThrottle?: LoginThrottle }

/** Auth bodies are small; a large one is an attack, not a login. */
const AUTH_BODY_LIMIT = 16 * 1024

export const authRoutes: FastifyPluginAsyncTypebox<AuthRouteOptions> = async (app, opts) => {
  const db = app.store.db
  const throttle = opts.loginThrottle ?? new LoginThrottle()

  async function issueTokens(user: SessionUser, sessionId: string) {
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
      response: { 200: TokenPair, ...ERRORS },
    },
  }, async (request) => {
    const { username, password } = request.body
    const retryAfter = throttle.retryAfterSeconds(username, request.ip)
    if (retryAfter > 0) {
      await writeAudit(db, { orgId: null, action: 'auth.login_throttled', actor: { type: 'anonymous', name: username }, ip: request.ip })
      throw new ApiError('RATE_LIMITED', `Too many failed logins. Please retry after ${retryAfter} seconds.`, { retry_after: retryAfter })
    }
    const user = await findLoginUser(db, username)
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
    await createSession(db, {
      id: sessionId, orgId: user.org_id, userId: user.id, refreshToken: tokens.refresh_token,
      expiresAt: new Date(Date.now() + opts.refreshTtlSeconds * 1000),
    })
    await writeAudit(db, { orgId: user.org_id, action: 'auth.login', actor: { type: 'user', id: user.id, name: username }, ip: request.ip })
    return tokens
  })

  app.post('/api/v1/auth/refresh', {
    bodyLimit: AUTH_BODY_LIMIT, config: { rateBudget: 'auth' },
    schema: { body: Type.Object({ refresh_token: Type.String({ minLength: 1, maxLength: 4096 }) }), response: { 200: TokenPair, ...ERRORS } },
  }, async (request) => {
    let claims: RefreshClaims
    try {
      claims = app.jwt.verify<RefreshClaims>(request.body.refresh_token)
    } catch {
      throw new ApiError('UNAUTHORIZED', 'Invalid or expired refresh token')
    }
    if (claims.typ !== 'refresh') throw new ApiError('UNAUTHORIZED', 'Invalid or expired refresh token')
    // An old refresh token coming back ends the whole session: someone holds a copy.
    const outcome = await refreshSession(db, claims.sid, request.body.refresh_token, issueTokens)
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

  app.post('/api/v1/auth/logout', {
    onRequest: app.authenticate, schema: { response: { 204: NoContent, ...ERRORS } },
  }, async (request, reply) => {
    const p = principalOf(request)
    await endSession(db, p.orgId, p.sessionId)
    await writeAudit(db, { orgId: p.orgId, action: 'auth.logout', actor: userActor(request), ip: request.ip })
    return reply.status(204).send(null)
  })

  app.get('/api/v1/auth/me', { onRequest: app.authenticate, schema: { response: { 200: MeOut, ...ERRORS } } }, async (request) => {
    const p = principalOf(request)
    const user = await findProfile(db, p.orgId, p.userId)
    if (!user) throw new ApiError('UNAUTHORIZED', 'User no longer exists')
    return { ...user, created_at: user.created_at.toISOString() }
  })
}
