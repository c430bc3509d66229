// `npm run scrub-command-lines`: applies the command-line scrub rules, and HOSTPULSE_SCRUB_PATTERN, to every
// stored process row (migration 015 did it once with the built-in rules; run this after adding a pattern).
import { loadConfig } from '../config/config.ts'
import { openStore, storeOptionsFromConfig } from './open-store.ts'
import { scrubStoredCommandLines } from './scrub-stored-command-lines.ts'

try {
  const cfg = loadConfig()
  const store = await openStore(storeOptionsFromConfig(cfg))
  const say = (msg: string) => process.stdout.write(`${msg}\n`)
  say(`scrubbing stored command lines in ${store.location}${cfg.scrubPatterns.length > 0 ? ` (with HOSTPULSE_SCRUB_PATTERN ${cfg.HOSTPULSE_SCRUB_PATTERN})` : ''} …`)
  // It rewrites every stored process row: no statement deadline (Store.maintenanceDb).
  const report = await scrubStoredCommandLines(store.maintenanceDb, cfg.scrubPatterns, say)
  say(`done: ${report.changed} of ${report.distinct} distinct command lines held credentials; ${report.rows} rows rewritten`)
  await store.close()
} catch (err) {
  process.stderr.write(`scrub-command-lines failed: ${(err as Error).message}\n`)
  process.exit(1)
}
