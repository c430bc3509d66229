// Alerting: rule CRUD, and (when `evaluate`) the evaluation loop fed by the ingest feed.
import fp from 'fastify-plugin'
import type { RetentionDays } from '../query/resolution-for-range.ts'
import { alertRulesRoutes } from './rules-routes.ts'
import { alertEventsRoutes } from './events-routes.ts'
import { silencesRoutes } from './silences-routes.ts'
import { EvaluationLoop, registerEvaluationMetrics } from './evaluation-loop.ts'

export interface AlertingOptions {
  /** Run the evaluation loop in this instance (main.ts: yes; most tests: no). */
  evaluate?: boolean
  /** How often due rules are looked for; default 1 s. */
  tickMs?: number
  /** Delay from an ingest to the evaluation of its organization's rules; default 500 ms. */
  ingestDebounceMs?: number
  /** Retention per level, so long windows never read an aggregate for data it has dropped. */
  retentionDays?: RetentionDays
  /** Rules evaluated at once; default: 1 on the embedded engine (one session), a third of the pool (1–4) on a server. */
  concurrency?: number
  /** Absence rules wait this long after the start or the database's return before judging; default 0 (main.ts: 90 s). */
  absenceGraceMs?: number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The evaluation loop of this instance, when it evaluates. */
    alertEvaluation?: EvaluationLoop
  }
}

export const alertingPlugin = fp(async (app, opts: AlertingOptions) => {
  await app.register(alertRulesRoutes)
  await app.register(alertEventsRoutes)
  await app.register(silencesRoutes)
  const metrics = registerEvaluationMetrics(app.observability.registry, app.store.db)
  if (!opts.evaluate) return

  // The rest of the pool stays free for ingest and queries.
  const concurrency = opts.concurrency ?? (app.store.backend === 'server' ? Math.max(1, Math.min(4, Math.floor(app.store.connections().max / 3))) : 1)
  const loop = new EvaluationLoop(app.store.db, app.log, metrics, { ...opts, concurrency })
  app.decorate('alertEvaluation', loop)
  const unsubscribe = app.ingestFeed.subscribe((event) => loop.dataArrived(event.orgId))
  app.addHook('onReady', async () => { loop.start() })
  app.addHook('onClose', async () => {
    unsubscribe()
    await loop.stop()
  })
}, { name: 'hostpulse-alerting', dependencies: ['hostpulse-auth', 'hostpulse-ingest-feed', 'hostpulse-metrics'] })
