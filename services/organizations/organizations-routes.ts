// Organizations (tenants). Admins of the built-in organization create organizations with their first
// admin and list them all; an admin of any other organization sees only their own.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { BUILTIN_ORG } from '../auth/bootstrap-admin.ts'
import { hashPassword } from '../auth/secrets.ts'
import { userActor, writeAudit } from '../audit/audit-log.ts'
import { NewPassword, Username } from '../users/users-routes.ts'
import { USER_COLUMNS, usernameTaken } from '../users/users-repository.ts'

const OrgName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]*$' })

const orgView = (o: { id: string; name: string; created_at: Date }) => ({ id: o.id, name: o.name, created_at: o.created_at.toISOString() })

export const organizationsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  const isBuiltinOrg = async (orgId: string) =>
    (await db.selectFrom('organizations').select('name').where('id', '=', orgId).executeTakeFirst())?.name === BUILTIN_ORG

  app.get('/api/v1/organizations', { onRequest: app.requireRole('admin') }, async (request) => {
    const p = principalOf(request)
    let q = db.selectFrom('organizations').select(['id', 'name', 'created_at']).orderBy('created_at').orderBy('name')
    if (!(await isBuiltinOrg(p.orgId))) q = q.where('id', '=', p.orgId)
    return { organizations: (await q.execute()).map(orgView) }
  })

  app.post('/api/v1/organizations', {
    onRequest: app.requireRole('admin'), bodyLimit: 16 * 1024,
    schema: {
      body: Type.Object({
        name: OrgName,
        admin: Type.Object({ username: Username, password: NewPassword }, { additionalProperties: false }),
      }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    if (!(await isBuiltinOrg(p.orgId))) throw new ApiError('FORBIDDEN', `Only admins of the "${BUILTIN_ORG}" organization create organizations`)
    const { name, admin } = request.body
    if (await db.selectFrom('organizations').select('id').where('name', '=', name).executeTakeFirst()) {
      throw new ApiError('CONFLICT', `An organization named "${name}" already exists`, { name: ['already exists'] })
    }
    if (await usernameTaken(db, admin.username)) throw new ApiError('CONFLICT', `The username "${admin.username}" is taken`, { 'admin.username': ['is taken'] })
    const passwordHash = await hashPassword(admin.password)
    const created = await db.transaction().execute(async (trx) => {
      const org = await trx.insertInto('organizations').values({ name }).returning(['id', 'name', 'created_at']).executeTakeFirstOrThrow()
      const user = await trx.insertInto('users').values({ org_id: org.id, username: admin.username, role: 'admin', password_hash: passwordHash })
        .returning(USER_COLUMNS).executeTakeFirstOrThrow()
      return { org, user }
    })
    await writeAudit(db, {
      orgId: p.orgId, action: 'organization.create', actor: userActor(request), target: { type: 'organization', id: created.org.id },
      ip: request.ip, details: { name, admin_username: admin.username },
    })
    // The new organization's own log names no user of the built-in one.
    await writeAudit(db, {
      orgId: created.org.id, action: 'organization.create', actor: { type: 'system' }, target: { type: 'organization', id: created.org.id },
      ip: request.ip, details: { name, admin_username: admin.username },
    })
    return reply.status(201).send({
      ...orgView(created.org),
      admin: { id: created.user.id, username: created.user.username, role: created.user.role },
    })
  })
}
