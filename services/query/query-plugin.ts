// The query stage's routes: listings, latest, series, stats, compare, process tree and top.
import fp from 'fastify-plugin'
import { metricsRoutes } from './metrics-routes.ts'
import { seriesRoutes } from './series-routes.ts'
import { processRoutes } from './process-routes.ts'
import type { RetentionDays } from './resolution-for-range.ts'

export interface QueryPluginOptions { retentionDays: RetentionDays }

export const queryPlugin = fp<QueryPluginOptions>(async (app, opts) => {
  await app.register(metricsRoutes)
  await app.register(seriesRoutes, { retentionDays: opts.retentionDays })
  await app.register(processRoutes)
}, { name: 'hostpulse-query', dependencies: ['hostpulse-store', 'hostpulse-auth'] })
