// The query stage's routes: listings, latest, series, stats, compare, process tree and top, process history.
import fp from 'fastify-plugin'
import { metricsRoutes } from './metrics-routes.ts'
import { seriesRoutes } from './series-routes.ts'
import { processRoutes } from './process-routes.ts'
import { processHistoryRoutes } from './process-history-routes.ts'
import type { RetentionDays } from './resolution-for-range.ts'

export interface QueryPluginOptions { retentionDays: RetentionDays }

export const queryPlugin = fp<QueryPluginOptions>(async (app, opts) => {
  await app.register(metricsRoutes)
  await app.register(seriesRoutes, { retentionDays: opts.retentionDays })
  await app.register(processRoutes)
  await app.register(processHistoryRoutes)
}, { name: 'hostpulse-query', dependencies: ['hostpulse-store', 'hostpulse-auth'] })
