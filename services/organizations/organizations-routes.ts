// Organizations (tenants). Admins of the built-in organization create organizations with their first
// admin and list them all; an admin of any other organization sees only their own.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ERRORS, ErrorBody, Time, WRITE_ERRORS } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { userActor, writeAudit } from '../audit/audit-log.ts'
import { NewPassword, Username } from '../users/users-routes.ts'
import { createOrganization, listOrganizations, type OrganizationRow } from './organizations-repository.ts'

const OrgName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]*$' })

const OrganizationOut = Type.Object({ id: Type.String({ format: 'uuid' }), name: Type.String(), created_at: Time })
const CreatedOut = Type.Object({
  ...OrganizationOut.properties,
  admin: Type.Object({ id: Type.String({ format: 'uuid' }), username: Type.String(), role: Type.String() }),
})

const orgView = (o: OrganizationRow) => ({ id: o.id, name: o.name, created_at: o.created_at.toISOString() })

export const organizationsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db

  app.get('/api/v1/organizations', {
    onRequest: app.requireRole('admin'),
    schema: {
      summary: 'Organizations: all of them for admins of the built-in one, else your own', tags: ['organizations'],
      response: { 200: Type.Object({ organizations: Type.Array(OrganizationOut) }), ...ERRORS, 403: ErrorBody },
    },
  }, async (request) => ({ organizations: (await listOrganizations(db, principalOf(request).orgId)).map(orgView) }))

  app.post('/api/v1/organizations', {
    onRequest: app.requireRole('admin'), bodyLimit: 16 * 1024,
    schema: {
      summary: 'Create an organization with its first admin (admins of the built-in organization)', tags: ['organizations'],
      body: Type.Object({
        name: OrgName,
        admin: Type.Object({ username: Username, password: NewPassword }, { additionalProperties: false }),
      }, { additionalProperties: false }),
      response: { 201: CreatedOut, ...WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const { name, admin } = request.body
    const created = await createOrganization(db, p.orgId, name, admin)
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
      admin: { id: created.admin.id, username: created.admin.username, role: created.admin.role },
    })
  })
}
