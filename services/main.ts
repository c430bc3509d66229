// `npm start`: configuration → store (migrations, retention) → first admin → job runner → API → local agent.
// Ctrl-C stops in the reverse order, so the last batch is stored before the database closes.
import { resolve } from 'node:path'
import { loadConfig, ConfigError, type Config } from './config/config.ts'
import { openStore, storeOptionsFromConfig, type Store } from './store/open-store.ts'
import { prepareStore } from './store/prepare-store.ts'
import { EmbeddedJobRunner, isNotable } from './store/embedded/job-runner.ts'
import { bootstrapAdmin } from './auth/bootstrap-admin.ts'
import { resolveJwtSecret } from './auth/jwt-secret.ts'
import { buildApp } from './api/app.ts'
import { startLocalAgent } from './local-agent.ts'
import { loadRulesFile, RulesFileError, rulesFileConsoleLog } from './alerting/rules-file.ts'

const say = (msg: string) => process.stdout.write(`hostpulse: ${msg}\n`)

async function main(cfg: Config): Promise<void> {
  const dataDir = resolve(cfg.HOSTPULSE_DATA_DIR)
  const storeOptions = storeOptionsFromConfig(cfg)
  storeOptions.lateData = { ...storeOptions.lateData, log: (msg, failed) => { if (failed || cfg.LOG_LEVEL === 'debug') say(msg) } }
  say(storeOptions.backend === 'embedded' ? `opening embedded TimescaleDB in ${storeOptions.dataDir} …` : 'connecting to TimescaleDB …')
  const store: Store = await openStore(storeOptions)
  const report = await prepareStore(store, { retention: cfg.retention, compressAfter: cfg.HOSTPULSE_COMPRESS_AFTER, grafanaPassword: cfg.GRAFANA_DB_PASSWORD, log: say })
  say(`database ready (${store.backend}, ${report.applied.length} migration(s) applied, ${report.alreadyApplied} already applied)`)

  const admin = await bootstrapAdmin(store.db, cfg.ADMIN_USERNAME, cfg.ADMIN_PASSWORD)
  if (cfg.ALERT_RULES_FILE) {
    const rulesFile = resolve(cfg.ALERT_RULES_FILE)
    const loaded = await loadRulesFile(store.db, rulesFile, admin.orgId, rulesFileConsoleLog(say))
    say(`alert rules from ${rulesFile}: ${loaded.created} created, ${loaded.updated} updated, ${loaded.removed} removed`)
  }
  const jobs = store.backend === 'embedded'
    ? new EmbeddedJobRunner(store.db, (msg, run) => { if ((run && isNotable(run)) || cfg.LOG_LEVEL === 'debug') say(msg) })
    : undefined
  jobs?.start(cfg.jobCheckIntervalMs)

  const app = await buildApp({
    store, jwtSecret: await resolveJwtSecret(cfg.JWT_SECRET, dataDir),
    accessTtlSeconds: cfg.jwtExpiresInSeconds, refreshTtlSeconds: cfg.refreshExpiresInSeconds,
    logger: cfg.LOG_LEVEL === 'silent' ? false : { level: cfg.LOG_LEVEL === 'info' ? 'warn' : cfg.LOG_LEVEL },
    rateLimits: cfg.rateLimits, loginThrottle: cfg.loginThrottle, corsOrigins: cfg.corsOrigins,
    requestTimeoutMs: cfg.requestTimeoutMs, trustProxy: cfg.TRUST_PROXY,
    onlineWindowSeconds: cfg.onlineWindowSeconds, retentionDays: cfg.retentionDays,
    metrics: { public: cfg.METRICS_PUBLIC, token: cfg.METRICS_TOKEN },
    live: { onlineWindowSeconds: cfg.onlineWindowSeconds, listen: true },
    alerting: { evaluate: true, retentionDays: cfg.retentionDays, absenceGraceMs: cfg.alertAbsenceGraceMs },
    ingest: { scrubPatterns: cfg.scrubPatterns },
    reports: cfg.reports,
    faces: {
      processMonitor: { sharedKey: cfg.PROCMON_API_KEY, sharedKeyOrg: cfg.PROCMON_ORG, newHosts: cfg.PROCMON_NEW_HOSTS, publicReads: cfg.PROCMON_PUBLIC_READS },
      hostnameAuth: cfg.AGENT_HOSTNAME_AUTH,
    },
    notify: {
      dispatch: true, allowPrivateTargets: cfg.ALERT_TARGETS_ALLOW_PRIVATE,
      smtpUrl: cfg.SMTP_URL, smtpFrom: cfg.SMTP_FROM, publicUrl: cfg.PUBLIC_URL ?? `http://localhost:${cfg.PORT}`,
    },
  })
  await app.listen({ port: cfg.PORT, host: cfg.HOST })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : cfg.PORT
  const url = `http://${cfg.HOST === '0.0.0.0' || cfg.HOST === '::' ? 'localhost' : cfg.HOST}:${port}`

  let local: Awaited<ReturnType<typeof startLocalAgent>> | undefined
  if (cfg.HOSTPULSE_LOCAL_AGENT) {
    local = await startLocalAgent({
      db: store.db, orgId: admin.orgId, dataDir, serverUrl: `http://127.0.0.1:${port}`, intervalMs: cfg.agentIntervalMs,
      log: (level, msg) => { if (level !== 'debug' && level !== 'info') say(`local agent: ${msg}`) },
    })
  }

  say(`API listening on ${url}`)
  say(`  web:     ${url}/   (log in as the admin below)`)
  say(`  health:  ${url}/health`)
  if (admin.generatedPassword) say(`  admin:   ${admin.username} / ${admin.generatedPassword}   (generated now and shown once: note it)`)
  else say(`  admin:   ${admin.username} (password: ADMIN_PASSWORD, or the one printed at first start)`)
  if (local) say(`  local agent "${local.name}" reports every ${cfg.HOSTPULSE_AGENT_INTERVAL}: ${url}/api/v1/metrics/latest/${local.name}`)
  if (cfg.AGENT_HOSTNAME_AUTH) say('WARNING: AGENT_HOSTNAME_AUTH=true: anyone who can reach this server can upload as any approved, active agent by naming its hostname (seed 003 compatibility). Use agent keys instead.')
  if (cfg.PROCMON_PUBLIC_READS) say('WARNING: PROCMON_PUBLIC_READS=true: /api/hosts/ and the process trees under it are readable without logging in.')
  if (cfg.ALERT_TARGETS_ALLOW_PRIVATE) {
    say('WARNING: ALERT_TARGETS_ALLOW_PRIVATE=true: notification channels may target loopback and private addresses and plain http URLs (for trials; turn it off in production).')
  }
  say('Press Ctrl-C to stop.')

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    say(`${signal}: stopping …`)
    const force = setTimeout(() => { say('could not stop within 20 s, exiting'); process.exit(1) }, 20_000).unref()
    await local?.agent.stop()
    await app.close()
    await jobs?.stop()
    await store.close()
    clearTimeout(force)
    say('stopped cleanly')
  }
  process.once('SIGINT', () => void stop('SIGINT'))
  process.once('SIGTERM', () => void stop('SIGTERM'))
}

try {
  await main(loadConfig())
} catch (err) {
  if (err instanceof ConfigError || err instanceof RulesFileError) process.stderr.write(`hostpulse: ${err.message}\n`)
  else if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') process.stderr.write(`hostpulse: port already in use: ${(err as Error).message}. Set PORT to a free port.\n`)
  else process.stderr.write(`hostpulse: failed to start: ${(err as Error).message}\n`)
  process.exit(1)
}
