// POST /api/v1/auth/login, /refresh, /logout and GET /me (seed 001's auth endpoints).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { ERRORS, NoContent, Nullable, Time } from '../http/response-schemas.ts'
import { principalOf } from './auth-plugin.ts'
import { userActor } from '../audit/audit-log.ts'
import { LoginThrottle } from './login-throttle.ts'
import { findProfile } from './sessions-repository.ts'
import { logIn, logOut, rotateTokens, type LoginSettings } from './login.ts'

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
  const settings: LoginSettings = { ...opts, throttle: opts.loginThrottle ?? new LoginThrottle() }

  app.post('/api/v1/auth/login', {
    bodyLimit: AUTH_BODY_LIMIT, config: { rateBudget: 'auth' },
    schema: {
      body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 128 }), password: Type.String({ minLength: 1, maxLength: 1024 }) }),
      response: { 200: TokenPair, ...ERRORS },
    },
  }, async (request) => (await logIn(db, app.jwt, settings, { ...request.body, ip: request.ip })).tokens)

  app.post('/api/v1/auth/refresh', {
    bodyLimit: AUTH_BODY_LIMIT, config: { rateBudget: 'auth' },
    schema: { body: Type.Object({ refresh_token: Type.String({ minLength: 1, maxLength: 4096 }) }), response: { 200: TokenPair, ...ERRORS } },
  }, async (request) => rotateTokens(db, app.jwt, settings, request.body.refresh_token, request.ip))

  app.post('/api/v1/auth/logout', {
    onRequest: app.authenticate, schema: { response: { 204: NoContent, ...ERRORS } },
  }, async (request, reply) => {
    await logOut(db, principalOf(request), userActor(request), request.ip)
    return reply.status(204).send(null)
  })

  app.get('/api/v1/auth/me', { onRequest: app.authenticate, schema: { response: { 200: MeOut, ...ERRORS } } }, async (request) => {
    const p = principalOf(request)
    const user = await findProfile(db, p.orgId, p.userId)
    if (!user) throw new ApiError('UNAUTHORIZED', 'User no longer exists')
    return { ...user, created_at: user.created_at.toISOString() }
  })
}
