// Organizations (tenants): the built-in one's admins see and create them all, any other sees only its own.
import type { Kysely, Selectable } from 'kysely'
import { DomainError } from '../errors/domain-error.ts'
import type { Database, OrganizationsTable } from '../store/database.ts'
import { BUILTIN_ORG } from '../auth/bootstrap-admin.ts'
import { hashPassword } from '../auth/secrets.ts'
import { assertUsernameFree, insertUser, type UserRow } from '../users/users-repository.ts'

export type OrganizationRow = Pick<Selectable<OrganizationsTable>, 'id' | 'name' | 'created_at'>

/** Whether `orgId` is the built-in organization (the operator's). */
export async function isBuiltinOrganization(db: Kysely<Database>, orgId: string): Promise<boolean> {
  return (await db.selectFrom('organizations').select('name').where('id', '=', orgId).executeTakeFirst())?.name === BUILTIN_ORG
}

/** The organization of that name (the built-in one is named BUILTIN_ORG), if there is one. */
export async function findOrganizationByName(db: Kysely<Database>, name: string): Promise<OrganizationRow | undefined> {
  return db.selectFrom('organizations').select(['id', 'name', 'created_at']).where('name', '=', name).executeTakeFirst()
}

/** The organizations the caller's organization sees, oldest first: all of them from the built-in one. */
export async function listOrganizations(db: Kysely<Database>, callerOrgId: string): Promise<OrganizationRow[]> {
  let q = db.selectFrom('organizations').select(['id', 'name', 'created_at']).orderBy('created_at').orderBy('name')
  if (!(await isBuiltinOrganization(db, callerOrgId))) q = q.where('id', '=', callerOrgId)
  return q.execute()
}

/**
 * Creates an organization with its first admin, for an admin of the built-in organization (forbidden to
 * any other); conflict when the name or the admin's username is taken.
 */
export async function createOrganization(db: Kysely<Database>, callerOrgId: string, name: string,
  admin: { username: string; password: string }): Promise<{ org: OrganizationRow; admin: UserRow }> {
  if (!(await isBuiltinOrganization(db, callerOrgId))) throw new DomainError('forbidden', `Only admins of the "${BUILTIN_ORG}" organization create organizations`)
  if (await db.selectFrom('organizations').select('id').where('name', '=', name).executeTakeFirst()) {
    throw new DomainError('conflict', `An organization named "${name}" already exists`, { details: { name: ['already exists'] } })
  }
  await assertUsernameFree(db, admin.username, 'admin.username')
  const passwordHash = await hashPassword(admin.password)
  return db.transaction().execute(async (trx) => {
    const org = await trx.insertInto('organizations').values({ name }).returning(['id', 'name', 'created_at']).executeTakeFirstOrThrow()
    const user = await insertUser(trx, org.id, { username: admin.username, role: 'admin', passwordHash })
    return { org, admin: user }
  })
}
