// Brings a freshly opened store up to date: migrations, configured retention and compression age, the Grafana
// role's login.
import { sql } from 'kysely'
import type { Store } from './open-store.ts'
import { migrateToLatest, type MigrationReport } from './migrations.ts'
import { applyRetentionPolicies, type RetentionConfig } from './retention-policies.ts'
import { applyCompressionPolicies } from './compression-policies.ts'

export interface PrepareOptions {
  retention: RetentionConfig
  /** How old raw rows get before they are compressed (HOSTPULSE_COMPRESS_AFTER; default DEFAULT_COMPRESS_AFTER). */
  compressAfter?: string
  grafanaPassword?: string
  log?: (msg: string) => void
}

export async function prepareStore(store: Store, opts: PrepareOptions): Promise<MigrationReport> {
  const log = opts.log ?? (() => {})
  // A migration may rewrite every chunk: no statement deadline (Store.maintenanceDb).
  const report = await migrateToLatest(store.maintenanceDb, log)
  await applyRetentionPolicies(store.db, opts.retention, log)
  await applyCompressionPolicies(store.db, opts.compressAfter, log)
  if (opts.grafanaPassword && store.backend === 'server') {
    // ALTER ROLE takes no bind parameters: format() quotes the password as a literal.
    const { rows } = await sql<{ stmt: string }>`
      select format('alter role hostpulse_grafana with login password %L', ${opts.grafanaPassword}::text) as stmt`.execute(store.db)
    await sql.raw(rows[0].stmt).execute(store.db)
    log('grafana reader role: login enabled')
  }
  return report
}
