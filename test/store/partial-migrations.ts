// A data migration's test starts from a database migrated up to just before it, holding rows in the old shape.
import { sql } from 'kysely'
import { mkdtemp, readdir, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { migrateToLatest, SQL_DIR } from '../../services/store/migrations.ts'
import type { Store } from '../../services/store/open-store.ts'

/**
 * Applies the migrations numbered before `migration` (e.g. '030_segment_metrics_by_series') to `store`. Returns
 * why the test cannot run when this database already applied `migration` (a reused TEST_DATABASE_URL).
 * The files are linked, not copied: a .ts migration imports relative to its real path.
 */
export async function migrateUpTo(store: Store, migration: string): Promise<{ skip?: string }> {
  const { rows: [ledger] } = await sql<{ n: number }>`select count(*)::int as n from pg_tables where tablename = 'hostpulse_migrations'`.execute(store.db)
  if (ledger.n > 0) {
    const done = await sql<{ name: string }>`select name from hostpulse_migrations where name = ${migration}`.execute(store.db)
    if (done.rows.length > 0) return { skip: `${migration} already ran on this database; the test needs a fresh one` }
  }
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-migrations-'))
  try {
    for (const file of await readdir(SQL_DIR)) if (file < migration && /^\d{3}_/.test(file)) await symlink(join(SQL_DIR, file), join(dir, file))
    await migrateToLatest(store.db, () => {}, dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return {}
}
