// Applies the numbered SQL files of sql/ in order, recording each in hostpulse_migrations.
// Re-running is a no-op: applied files are skipped, and each file is itself idempotent.
import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely'
import type { Database } from './database.ts'

export const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url))
/** Schema changes are SQL; a data change that needs the application's rules (a scrub) is a .ts with `up(db)`. */
const MIGRATION_FILE = /^\d{3}_[a-z0-9_]+\.(sql|ts)$/

class SqlFileMigrationProvider implements MigrationProvider {
  constructor(private readonly dir: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(this.dir)).filter((f) => MIGRATION_FILE.test(f)).sort()
    const migrations: Record<string, Migration> = {}
    for (const file of files) {
      const name = file.replace(/\.(sql|ts)$/, '')
      if (file.endsWith('.ts')) {
        const module = await import(pathToFileURL(`${this.dir}/${file}`).href) as Migration
        migrations[name] = { up: (db) => module.up(db) }
        continue
      }
      const text = await readFile(`${this.dir}/${file}`, 'utf8')
      migrations[name] = { up: async (db) => { await sql.raw(text).execute(db) } }
    }
    return migrations
  }
}

export interface MigrationReport { applied: string[]; alreadyApplied: number }

export async function migrateToLatest(
  db: Kysely<Database>, log: (msg: string) => void = () => {}, dir = SQL_DIR,
): Promise<MigrationReport> {
  const migrator = new Migrator({
    db,
    provider: new SqlFileMigrationProvider(dir),
    migrationTableName: 'hostpulse_migrations',
    migrationLockTableName: 'hostpulse_migrations_lock',
  })
  const before = (await migrator.getMigrations()).filter((m) => m.executedAt).length
  const { error, results = [] } = await migrator.migrateToLatest()
  for (const r of results) log(`migration ${r.migrationName}: ${r.status === 'Success' ? 'applied' : r.status.toLowerCase()}`)
  if (error) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName ?? 'unknown'
    throw new Error(`migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
  }
  return { applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName), alreadyApplied: before }
}
