// Saved dashboards of one organization: each shared with the organization or private to its owner.
import type { Kysely, Selectable } from 'kysely'
import type { Database, DashboardsTable } from '../store/database.ts'
import { isUuid } from '../store/uuid.ts'

export const DASHBOARD_COLUMNS = ['id', 'org_id', 'owner_id', 'scope', 'name', 'description', 'layout', 'created_at', 'updated_at'] as const
export type DashboardRow = Pick<Selectable<DashboardsTable>, (typeof DASHBOARD_COLUMNS)[number]>

/** A dashboard as a caller writes it (the layout already checked against its schema). */
export interface DashboardInput { name: string; description?: string; scope?: 'organization' | 'user'; layout: Record<string, unknown> }

/** Dashboards a user may see: the organization's, and their own. */
const visible = (db: Kysely<Database>, orgId: string, userId: string) => db.selectFrom('dashboards').select(DASHBOARD_COLUMNS)
  .where('org_id', '=', orgId).where((eb) => eb.or([eb('scope', '=', 'organization'), eb('owner_id', '=', userId)]))

export async function listVisibleDashboards(db: Kysely<Database>, orgId: string, userId: string): Promise<DashboardRow[]> {
  return visible(db, orgId, userId).orderBy('name').execute()
}

/** A dashboard the user may see, or undefined. */
export async function findVisibleDashboard(db: Kysely<Database>, orgId: string, userId: string, id: string): Promise<DashboardRow | undefined> {
  if (!isUuid(id)) return undefined
  return visible(db, orgId, userId).where('id', '=', id).executeTakeFirst()
}

const values = (userId: string, input: DashboardInput) => ({
  name: input.name, description: input.description ?? '', scope: input.scope ?? 'organization',
  owner_id: userId, layout: JSON.stringify(input.layout),
})

/** Saves a new dashboard (shared with the organization unless the scope says `user`). */
export async function createDashboard(db: Kysely<Database>, orgId: string, userId: string, input: DashboardInput): Promise<DashboardRow> {
  return db.insertInto('dashboards').values({ org_id: orgId, ...values(userId, input) }).returning(DASHBOARD_COLUMNS).executeTakeFirstOrThrow()
}

/** Replaces a dashboard the user may see (`current`, as found). */
export async function replaceDashboard(db: Kysely<Database>, orgId: string, userId: string, current: DashboardRow, input: DashboardInput): Promise<DashboardRow> {
  const next = values(userId, input)
  return db.updateTable('dashboards')
    // A private dashboard belongs to whoever made it private; a shared one keeps its author.
    .set({ ...next, owner_id: next.scope === 'user' ? userId : (current.owner_id ?? userId), updated_at: new Date() })
    .where('id', '=', current.id).where('org_id', '=', orgId).returning(DASHBOARD_COLUMNS).executeTakeFirstOrThrow()
}

export async function deleteDashboard(db: Kysely<Database>, orgId: string, id: string): Promise<void> {
  await db.deleteFrom('dashboards').where('id', '=', id).where('org_id', '=', orgId).execute()
}
