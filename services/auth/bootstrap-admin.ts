// First start: the built-in organization and its first admin (ADMIN_USERNAME / ADMIN_PASSWORD, or a
// generated password printed once). Setting ADMIN_PASSWORD later resets that admin's password.
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import { hashPassword, randomPassword, verifyPassword } from './secrets.ts'

export const BUILTIN_ORG = 'default'

export interface AdminBootstrap { orgId: string; username: string; generatedPassword?: string; created: boolean }

export async function bootstrapAdmin(db: Kysely<Database>, username: string, password?: string): Promise<AdminBootstrap> {
  const org = await db.insertInto('organizations').values({ name: BUILTIN_ORG })
    .onConflict((oc) => oc.column('name').doUpdateSet({ name: BUILTIN_ORG })).returning('id').executeTakeFirstOrThrow()
  const existing = await db.selectFrom('users').select(['id', 'password_hash']).where('username', '=', username).executeTakeFirst()
  if (existing) {
    if (password && !(await verifyPassword(password, existing.password_hash))) {
      await db.updateTable('users').set({ password_hash: await hashPassword(password), updated_at: new Date() })
        .where('id', '=', existing.id).execute()
    }
    return { orgId: org.id, username, created: false }
  }
  const anyAdmin = await db.selectFrom('users').select('id').where('role', '=', 'admin').executeTakeFirst()
  if (anyAdmin && !password) return { orgId: org.id, username, created: false }
  const generatedPassword = password ? undefined : randomPassword()
  await db.insertInto('users').values({
    org_id: org.id, username, role: 'admin', password_hash: await hashPassword(password ?? generatedPassword!),
  }).execute()
  return { orgId: org.id, username, generatedPassword, created: true }
}
