// /api/v1/users (seed 001's future endpoints): admins manage the users of their own organization;
// every user reads and edits their own profile and changes their own password.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { ERRORS, ErrorBody, NoContent, Nullable, Time, WRITE_ERRORS } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import type { LoginThrottle } from '../auth/login-throttle.ts'
import { userActor, writeAudit } from '../audit/audit-log.ts'
import { changeOwnPassword, createUser, deleteUser, findUser, getUser, listUsers, updateProfile, updateUser, type UserRow } from './users-repository.ts'
import { IdParam } from '../http/params.ts'

export const Username = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]*$' })
export const NewPassword = Type.String({ minLength: 8, maxLength: 1024 })
export const RoleName = Type.Union([Type.Literal('admin'), Type.Literal('editor'), Type.Literal('viewer')])
const DisplayName = Type.Union([Type.String({ maxLength: 128 }), Type.Null()])
const Email = Type.Union([Type.String({ maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' }), Type.Null()])
const BODY_LIMIT = 16 * 1024

const UserOut = Type.Object({
  id: Type.String({ format: 'uuid' }), username: Type.String(), role: Type.String({ description: 'admin, editor or viewer' }),
  display_name: Nullable(Type.String()), email: Nullable(Type.String()), created_at: Time, updated_at: Time,
})
/** Admin-only routes also answer 403 to other roles. */
const ADMIN_ERRORS = { ...ERRORS, 403: ErrorBody }

const userView = (u: UserRow) => ({ ...u, created_at: u.created_at.toISOString(), updated_at: u.updated_at.toISOString() })

export const usersRoutes: FastifyPluginAsyncTypebox<{ loginThrottle: LoginThrottle }> = async (app, opts) => {
  const db = app.store.db

  app.get('/api/v1/users', {
    onRequest: app.requireRole('admin'),
    schema: {
      summary: 'List the users of your organization', tags: ['users'],
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })), offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })) }),
      response: { 200: Type.Object({ users: Type.Array(UserOut), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }), ...ADMIN_ERRORS },
    },
  }, async (request) => {
    const { limit = 100, offset = 0 } = request.query
    const { users, total } = await listUsers(db, principalOf(request).orgId, { limit, offset })
    return { users: users.map(userView), total, limit, offset }
  })

  app.post('/api/v1/users', {
    onRequest: app.requireRole('admin'), bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Create a user in your organization', tags: ['users'],
      body: Type.Object({
        username: Username, password: NewPassword, role: RoleName,
        display_name: Type.Optional(DisplayName), email: Type.Optional(Email),
      }, { additionalProperties: false }),
      response: { 201: UserOut, ...WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const user = await createUser(db, p.orgId, request.body)
    await writeAudit(db, { orgId: p.orgId, action: 'user.create', actor: userActor(request), target: { type: 'user', id: user.id }, ip: request.ip, details: { username: user.username, role: user.role } })
    return reply.status(201).send(userView(user))
  })

  // Static segments win over `:id` in the router, so /me is never taken for a user id.
  app.get('/api/v1/users/me', {
    onRequest: app.authenticate,
    schema: { summary: 'Your own profile', tags: ['users'], response: { 200: UserOut, ...ERRORS } },
  }, async (request) => {
    const p = principalOf(request)
    const user = await findUser(db, p.orgId, p.userId)
    if (!user) throw new ApiError('UNAUTHORIZED', 'User no longer exists')
    return userView(user)
  })

  app.put('/api/v1/users/me', {
    onRequest: app.authenticate, bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Change your display name or email', tags: ['users'],
      body: Type.Object({ display_name: Type.Optional(DisplayName), email: Type.Optional(Email) }, { additionalProperties: false }),
      response: { 200: UserOut, ...ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    const user = await updateProfile(db, p.orgId, p.userId, request.body)
    if (!user) throw new ApiError('UNAUTHORIZED', 'User no longer exists')
    await writeAudit(db, { orgId: p.orgId, action: 'user.update', actor: userActor(request), target: { type: 'user', id: p.userId }, ip: request.ip, details: { fields: Object.keys(request.body).join(',') } })
    return userView(user)
  })

  app.post('/api/v1/users/me/password', {
    onRequest: app.authenticate, bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Change your password (your other sessions end)', tags: ['users'],
      body: Type.Object({ current_password: Type.String({ minLength: 1, maxLength: 1024 }), new_password: NewPassword }, { additionalProperties: false }),
      response: { 204: NoContent, ...ERRORS },
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const retryAfter = opts.loginThrottle.retryAfterSeconds(p.username, request.ip)
    if (retryAfter > 0) throw new ApiError('RATE_LIMITED', `Too many wrong passwords. Please retry after ${retryAfter} seconds.`, { retry_after: retryAfter })
    const change = await changeOwnPassword(db, p.orgId, p.userId, p.sessionId, request.body.current_password, request.body.new_password)
    if (change.outcome === 'no_user') throw new ApiError('UNAUTHORIZED', 'User no longer exists')
    if (change.outcome === 'wrong_password') {
      opts.loginThrottle.recordFailure(p.username, request.ip)
      throw new ApiError('VALIDATION_ERROR', 'Invalid request: current_password is not your current password', { current_password: ['is incorrect'] })
    }
    await writeAudit(db, { orgId: p.orgId, action: 'user.password_change', actor: userActor(request), target: { type: 'user', id: p.userId }, ip: request.ip, details: { other_sessions_ended: change.otherSessionsEnded } })
    return reply.status(204).send(null)
  })

  app.get('/api/v1/users/:id', {
    onRequest: app.requireRole('admin'),
    schema: { summary: 'One user of your organization', tags: ['users'], params: IdParam, response: { 200: UserOut, ...ADMIN_ERRORS } },
  }, async (request) => userView(await getUser(db, principalOf(request).orgId, request.params.id)))

  app.put('/api/v1/users/:id', {
    onRequest: app.requireRole('admin'), bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Change a user: username, role, password (resetting it ends their sessions), profile', tags: ['users'],
      params: IdParam,
      body: Type.Object({
        username: Type.Optional(Username), role: Type.Optional(RoleName), password: Type.Optional(NewPassword),
        display_name: Type.Optional(DisplayName), email: Type.Optional(Email),
      }, { additionalProperties: false }),
      response: { 200: UserOut, ...WRITE_ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    const { password: _password, ...fields } = request.body
    const { before, user, sessionsEnded } = await updateUser(db, p.orgId, request.params.id, request.body, p)
    const actor = userActor(request)
    if (fields.role && fields.role !== before.role) {
      await writeAudit(db, { orgId: p.orgId, action: 'user.role_change', actor, target: { type: 'user', id: user.id }, ip: request.ip, details: { from: before.role, to: fields.role } })
    }
    if (sessionsEnded !== undefined) {
      await writeAudit(db, { orgId: p.orgId, action: 'user.password_reset', actor, target: { type: 'user', id: user.id }, ip: request.ip, details: { sessions_ended: sessionsEnded } })
    }
    const other = Object.keys(fields).filter((k) => k !== 'role')
    if (other.length > 0) {
      await writeAudit(db, { orgId: p.orgId, action: 'user.update', actor, target: { type: 'user', id: user.id }, ip: request.ip, details: { fields: other.join(',') } })
    }
    return userView(user)
  })

  app.delete('/api/v1/users/:id', {
    onRequest: app.requireRole('admin'),
    schema: { summary: 'Delete a user of your organization', tags: ['users'], params: IdParam, response: { 204: NoContent, ...WRITE_ERRORS } },
  }, async (request, reply) => {
    const p = principalOf(request)
    const user = await deleteUser(db, p.orgId, request.params.id)
    await writeAudit(db, { orgId: p.orgId, action: 'user.delete', actor: userActor(request), target: { type: 'user', id: user.id }, ip: request.ip, details: { username: user.username, role: user.role } })
    return reply.status(204).send(null)
  })
}
