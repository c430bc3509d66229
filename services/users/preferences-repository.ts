// Each user's stored preferences of a front end (seed 004's dashboard settings): a JSON object per user,
// validated by the face that owns its fields; gone with the user.
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'

export async function userPreferences(db: Kysely<Database>, orgId: string, userId: string): Promise<Record<string, unknown>> {
  const row = await db.selectFrom('user_preferences').select('preferences').where('org_id', '=', orgId).where('user_id', '=', userId).executeTakeFirst()
  return row?.preferences ?? {}
}

/** Replaces the user's stored preferences with `preferences`. */
export async function setUserPreferences(db: Kysely<Database>, orgId: string, userId: string, preferences: Record<string, unknown>): Promise<void> {
  const json = JSON.stringify(preferences)
  await db.insertInto('user_preferences').values({ user_id: userId, org_id: orgId, preferences: json, updated_at: new Date() })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ preferences: json, updated_at: new Date() })).execute()
}
