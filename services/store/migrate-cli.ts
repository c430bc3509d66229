// `npm run migrate`: applies pending migrations, the configured retention and compression age, then exits.
import { loadConfig } from '../config/config.ts'
import { openStore, storeOptionsFromConfig } from './open-store.ts'
import { prepareStore } from './prepare-store.ts'

try {
  const cfg = loadConfig()
  const store = await openStore(storeOptionsFromConfig(cfg))
  const say = (msg: string) => process.stdout.write(`${msg}\n`)
  say(`migrating ${store.location} …`)
  const report = await prepareStore(store, { retention: cfg.retention, compressAfter: cfg.HOSTPULSE_COMPRESS_AFTER, grafanaPassword: cfg.GRAFANA_DB_PASSWORD, log: say })
  say(`done: ${report.applied.length} applied, ${report.alreadyApplied} already applied`)
  await store.close()
} catch (err) {
  process.stderr.write(`migrate failed: ${(err as Error).message}\n`)
  process.exit(1)
}
