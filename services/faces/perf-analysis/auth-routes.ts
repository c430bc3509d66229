// Seed 004 §1: Simple JWT's token routes over the native login, sessions and throttle. `access` is the native
// access token (it works on the native API too); `refresh` keeps working until logout (no rotation here:
// the document's refresh answers only `access`, so its clients keep the refresh token they have).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { PerfAnalysisOptions } from './face-options.ts'
import { PERF_ERRORS, PerfError } from './perf-errors.ts'
import { UserOut, userJson } from './perf-shapes.ts'
import { principalOf } from '../../auth/auth-plugin.ts'
import { accessFromRefresh, logIn, logOut, type LoginSettings } from '../../auth/login.ts'
import { findProfile } from '../../auth/sessions-repository.ts'
import { userActor } from '../../audit/audit-log.ts'
import { DomainError } from '../../errors/domain-error.ts'
import { NoContent } from '../../http/response-schemas.ts'

const AUTH_BODY_LIMIT = 16 * 1024

export const perfAuthRoutes: FastifyPluginAsyncTypebox<PerfAnalysisOptions> = async (app, opts) => {
  const db = app.store.db
  const settings: LoginSettings = { accessTtlSeconds: opts.accessTtlSeconds, refreshTtlSeconds: opts.refreshTtlSeconds, throttle: opts.loginThrottle }
  const tags = ['perfanalysis: auth']

  app.post('/api/v1/auth/token/', {
    bodyLimit: AUTH_BODY_LIMIT, config: { rateBudget: 'perf_auth' },
    schema: {
      summary: 'Log in: access and refresh tokens and the user (seed 004 §1.1)', tags,
      body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 128 }), password: Type.String({ minLength: 1, maxLength: 1024 }) }),
      response: { 200: Type.Object({ access: Type.String(), refresh: Type.String(), user: UserOut }), ...PERF_ERRORS },
    },
  }, async (request, reply) => {
    let session: Awaited<ReturnType<typeof logIn>>
    try {
      session = await logIn(db, app.jwt, settings, { ...request.body, ip: request.ip })
    } catch (err) {
      if (!(err instanceof DomainError) || err.kind !== 'unauthenticated') throw err
      return reply.status(401).send({ error: 'INVALID_CREDENTIALS', message: 'Invalid username or password', details: {} })
    }
    const user = await findProfile(db, session.user.org_id, session.user.id)
    if (!user) throw new DomainError('unauthenticated', 'User no longer exists')
    return { access: session.tokens.token, refresh: session.tokens.refresh_token, user: userJson(user) }
  })

  app.post('/api/v1/auth/token/refresh/', {
    bodyLimit: AUTH_BODY_LIMIT, config: { rateBudget: 'perf_auth' },
    schema: {
      summary: 'A new access token for a live session (seed 004 §1.2)', tags,
      body: Type.Object({ refresh: Type.String({ minLength: 1, maxLength: 4096 }) }),
      response: { 200: Type.Object({ access: Type.String() }), ...PERF_ERRORS },
    },
  }, async (request) => ({ access: await accessFromRefresh(db, app.jwt, settings, request.body.refresh) }))

  app.get('/api/v1/auth/user/', {
    onRequest: app.authenticate, config: { rateBudget: 'perf_read' },
    schema: { summary: 'The logged-in user (seed 004 §1.3)', tags, response: { 200: UserOut, ...PERF_ERRORS } },
  }, async (request) => {
    const p = principalOf(request)
    const user = await findProfile(db, p.orgId, p.userId)
    if (!user) throw new DomainError('unauthenticated', 'User no longer exists')
    return userJson(user)
  })

  app.post('/api/v1/auth/logout/', {
    onRequest: app.authenticate, config: { rateBudget: 'perf_auth' },
    schema: { summary: 'End the session: its access and refresh tokens stop working (seed 004 §1.4)', tags, response: { 204: NoContent, 401: PerfError, 429: PerfError } },
  }, async (request, reply) => {
    await logOut(db, principalOf(request), userActor(request), request.ip)
    return reply.status(204).send(null)
  })
}
