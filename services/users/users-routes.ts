// /api/v1/users (seed 001's future endpoints): admins manage the users of their own organization;
// every user reads and edits their own profile and changes their own password.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { hashPassword, verifyPassword } from '../auth/secrets.ts'
import type { LoginThrottle } from '../auth/login-throttle.ts'
import { userActor, writeAudit } from '../audit/audit-log.ts'
import type { Role } from '../store/database.ts'
import { USER_COLUMNS, assertKeepsAnAdmin, findUser, revokeSessions, usernameTaken } from './users-repository.ts'

export const Username = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]*$' })
export const NewPassword = Type.String({ minLength: 8, maxLength: 1024 })
export const RoleName = Type.Union([Type.Literal('admin'), Type.Literal('editor'), Type.Literal('viewer')])
const DisplayName = Type.Union([Type.String({ maxLength: 128 }), Type.Null()])
const Email = Type.Union([Type.String({ maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' }), Type.Null()])
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })
const BODY_LIMIT = 16 * 1024

type UserRow = { id: string; username: string; role: Role; display_name: string | null; email: string | null; created_at: Date; updated_at: Date }
const userView = (u: UserRow) => ({ ...u, created_at: u.created_at.toISOString(), updated_at: u.updated_at.toISOString() })

export const usersRoutes: FastifyPluginAsyncTypebox<{ loginThrottle: LoginThrottle }> = async (app, opts) => {
  const db = app.store.db
  const notFound = (id: string) => new ApiError('NOT_FOUND', `User "${id}" not found`)

  app.get('/api/v1/users', {
    onRequest: app.requireRole('admin'),
    schema: { querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })), offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })) }) },
  }, async (request) => {
    const { limit = 100, offset = 0 } = request.query
    const p = principalOf(request)
    const users = await db.selectFrom('users').select(USER_COLUMNS).where('org_id', '=', p.orgId)
      .orderBy('username').limit(limit).offset(offset).execute()
    const { total } = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('total')).where('org_id', '=', p.orgId).executeTakeFirstOrThrow()
    return { users: users.map(userView), total: Number(total), limit, offset }
  })

  app.post('/api/v1/users', {
    onRequest: app.requireRole('admin'), bodyLimit: BODY_LIMIT,
    schema: {
      body: Type.Object({
        username: Username, password: NewPassword, role: RoleName,
        display_name: Type.Optional(DisplayName), email: Type.Optional(Email),
      }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const b = request.body
    if (await usernameTaken(db, b.username)) throw new ApiError('CONFLICT', `The username "${b.username}" is taken`, { username: ['is taken'] })
    const user = await db.insertInto('users').values({
      org_id: p.orgId, username: b.username, role: b.role, password_hash: await hashPassword(b.password),
      display_name: b.display_name ?? null, email: b.email ?? null,
    }).returning(USER_COLUMNS).executeTakeFirstOrThrow()
    await writeAudit(db, { orgId: p.orgId, action: 'user.create', actor: userActor(request), target: { type: 'user', id: user.id }, ip: request.ip, details: { username: user.username, role: user.role } })
    return reply.status(201).send(userView(user))
  })

  // Static segments win over `:id` in the router, so /me is never taken for a user id.
  app.get('/api/v1/users/me', { onRequest: app.authenticate }, async (request) => {
    const p = principalOf(request)
    const user = await findUser(db, p.orgId, p.userId)
    if (!user) throw new ApiError('UNAUTHORIZED', 'User no longer exists')
    return userView(user)
  })

  app.put('/api/v1/users/me', {
    onRequest: app.authenticate, bodyLimit: BODY_LIMIT,
    schema: { body: Type.Object({ display_name: Type.Optional(DisplayName), email: Type.Optional(Email) }, { additionalProperties: false }) },
  }, async (request) => {
    const p = principalOf(request)
    const user = await db.updateTable('users').set({ ...request.body, updated_at: new Date() })
      .where('id', '=', p.userId).where('org_id', '=', p.orgId).returning(USER_COLUMNS).executeTakeFirst()
    if (!user) throw new ApiError('UNAUTHORIZED', 'User no longer exists')
    await writeAudit(db, { orgId: p.orgId, action: 'user.update', actor: userActor(request), target: { type: 'user', id: p.userId }, ip: request.ip, details: { fields: Object.keys(request.body).join(',') } })
    return userView(user)
  })

  app.post('/api/v1/users/me/password', {
    onRequest: app.authenticate, bodyLimit: BODY_LIMIT,
    schema: { body: Type.Object({ current_password: Type.String({ minLength: 1, maxLength: 1024 }), new_password: NewPassword }, { additionalProperties: false }) },
  }, async (request, reply) => {
    const p = principalOf(request)
    const retryAfter = opts.loginThrottle.retryAfterSeconds(p.username, request.ip)
    if (retryAfter > 0) throw new ApiError('RATE_LIMITED', `Too many wrong passwords. Please retry after ${retryAfter} seconds.`, { retry_after: retryAfter })
    const row = await db.selectFrom('users').select('password_hash').where('id', '=', p.userId).executeTakeFirst()
    if (!row) throw new ApiError('UNAUTHORIZED', 'User no longer exists')
    if (!(await verifyPassword(request.body.current_password, row.password_hash))) {
      opts.loginThrottle.recordFailure(p.username, request.ip)
      throw new ApiError('VALIDATION_ERROR', 'Invalid request: current_password is not your current password', { current_password: ['is incorrect'] })
    }
    await db.updateTable('users').set({ password_hash: await hashPassword(request.body.new_password), updated_at: new Date() }).where('id', '=', p.userId).execute()
    const ended = await revokeSessions(db, p.userId, p.sessionId)
    await writeAudit(db, { orgId: p.orgId, action: 'user.password_change', actor: userActor(request), target: { type: 'user', id: p.userId }, ip: request.ip, details: { other_sessions_ended: ended } })
    return reply.status(204).send()
  })

  app.get('/api/v1/users/:id', { onRequest: app.requireRole('admin'), schema: { params: IdParams } }, async (request) => {
    const user = await findUser(db, principalOf(request).orgId, request.params.id)
    if (!user) throw notFound(request.params.id)
    return userView(user)
  })

  app.put('/api/v1/users/:id', {
    onRequest: app.requireRole('admin'), bodyLimit: BODY_LIMIT,
    schema: {
      params: IdParams,
      body: Type.Object({
        username: Type.Optional(Username), role: Type.Optional(RoleName), password: Type.Optional(NewPassword),
        display_name: Type.Optional(DisplayName), email: Type.Optional(Email),
      }, { additionalProperties: false }),
    },
  }, async (request) => {
    const p = principalOf(request)
    const { id } = request.params
    const { password, ...fields } = request.body
    const before = await findUser(db, p.orgId, id)
    if (!before) throw notFound(id)
    if (fields.username !== undefined && await usernameTaken(db, fields.username, before.id)) {
      throw new ApiError('CONFLICT', `The username "${fields.username}" is taken`, { username: ['is taken'] })
    }
    const passwordHash = password === undefined ? undefined : await hashPassword(password)
    const user = await db.transaction().execute(async (trx) => {
      if (fields.role) await assertKeepsAnAdmin(trx, p.orgId, before.id, fields.role)
      return trx.updateTable('users').set({ ...fields, ...(passwordHash ? { password_hash: passwordHash } : {}), updated_at: new Date() })
        .where('id', '=', before.id).where('org_id', '=', p.orgId).returning(USER_COLUMNS).executeTakeFirstOrThrow()
    })
    const actor = userActor(request)
    if (fields.role && fields.role !== before.role) {
      await writeAudit(db, { orgId: p.orgId, action: 'user.role_change', actor, target: { type: 'user', id: user.id }, ip: request.ip, details: { from: before.role, to: fields.role } })
    }
    if (passwordHash) {
      // A reset password ends the user's sessions (all of them unless the admin reset their own).
      const ended = await revokeSessions(db, user.id, user.id === p.userId ? p.sessionId : undefined)
      await writeAudit(db, { orgId: p.orgId, action: 'user.password_reset', actor, target: { type: 'user', id: user.id }, ip: request.ip, details: { sessions_ended: ended } })
    }
    const other = Object.keys(fields).filter((k) => k !== 'role')
    if (other.length > 0) {
      await writeAudit(db, { orgId: p.orgId, action: 'user.update', actor, target: { type: 'user', id: user.id }, ip: request.ip, details: { fields: other.join(',') } })
    }
    return userView(user)
  })

  app.delete('/api/v1/users/:id', { onRequest: app.requireRole('admin'), schema: { params: IdParams } }, async (request, reply) => {
    const p = principalOf(request)
    const user = await findUser(db, p.orgId, request.params.id)
    if (!user) throw notFound(request.params.id)
    await db.transaction().execute(async (trx) => {
      await assertKeepsAnAdmin(trx, p.orgId, user.id, 'deleted')
      await trx.deleteFrom('users').where('id', '=', user.id).where('org_id', '=', p.orgId).execute()
    })
    await writeAudit(db, { orgId: p.orgId, action: 'user.delete', actor: userActor(request), target: { type: 'user', id: user.id }, ip: request.ip, details: { username: user.username, role: user.role } })
    return reply.status(204).send()
  })
}
