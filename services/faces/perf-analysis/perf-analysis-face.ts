// Seed 004, the PerfAnalysis portal's API, answered at its own paths: token auth, collectors, columnar
// metrics, statistics, comparison, containers, reports and preferences. Every route is a thin adapter over
// the native services; errors are the native ones in the document's format, with its rate budgets.
import type { FastifyPluginAsync } from 'fastify'
import { claimErrorFormat, errorHandlerFor } from '../../http/errors.ts'
import type { PerfAnalysisOptions } from './face-options.ts'
import { perfErrorBody, perfStatus } from './perf-errors.ts'
import { perfAuthRoutes } from './auth-routes.ts'
import { collectorsRoutes } from './collectors-routes.ts'
import { metricsRoutes } from './metrics-routes.ts'
import { preferencesRoutes } from './preferences-routes.ts'
import { containersRoutes } from './containers-routes.ts'
import { reportsRoutes } from './reports-routes.ts'

/** The document's paths: its dashboard API, its token routes, its reports and their files. */
export const PERF_ANALYSIS_PATHS = /^\/(dashboard\/|media\/reports\/|api\/v1\/reports(\/|$)|api\/v1\/auth\/(token|user|logout)\/)/

export const perfAnalysisFace: FastifyPluginAsync<PerfAnalysisOptions> = async (app, opts) => {
  app.setErrorHandler(errorHandlerFor(perfErrorBody, perfStatus))
  claimErrorFormat('perfanalysis', PERF_ANALYSIS_PATHS, perfErrorBody)
  await app.register(perfAuthRoutes, opts)
  await app.register(collectorsRoutes, opts)
  await app.register(metricsRoutes, opts)
  await app.register(preferencesRoutes, opts)
  await app.register(containersRoutes, opts)
  await app.register(reportsRoutes, opts)
}
