// Builds the API as a plugin tree: external (store, jwt) → routes. server start lives in main.ts.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Store } from '../store/open-store.ts'
import { storePlugin } from '../store/store-plugin.ts'
import { authPlugin } from '../auth/auth-plugin.ts'
import { authRoutes } from '../auth/auth-routes.ts'
import { ingestPlugin, type IngestPluginOptions } from '../ingest/ingest-service.ts'
import { trafficPlugin } from '../traffic/traffic-plugin.ts'
import { queryPlugin } from '../query/query-plugin.ts'
import { logsPlugin } from '../logs/logs-plugin.ts'
import { agentsPlugin } from '../agents/agents-plugin.ts'
import { metricsPlugin, type MetricsOptions } from '../observability/metrics-plugin.ts'
import { dashboardsRoutes } from '../dashboards/dashboards-routes.ts'
import { DEFAULT_RETENTION_DAYS, type RetentionDays } from '../query/resolution-for-range.ts'
import { openapiPlugin } from '../http/openapi-plugin.ts'
import { healthRoutes } from '../health/health-routes.ts'
import { lingeringClose } from '../http/lingering-close.ts'
import { acceptEmptyJsonBody } from '../http/empty-json-body.ts'
import { MAX_PARAM_LENGTH, clientErrorHandler, errorHandler, frameworkErrorHandler, notFoundHandler } from '../http/errors.ts'
import { rejectUnstorableText } from '../security/reject-unstorable-input.ts'
import { securityPlugin } from '../security/security-plugin.ts'
import { routeInventoryPlugin } from '../security/route-inventory-plugin.ts'
import { DEFAULT_RATE_LIMITS, rateLimitPlugin, type RateLimitBudgets } from '../security/rate-limits.ts'
import { withRedaction } from '../security/log-redaction.ts'
import { LoginThrottle, DEFAULT_LOGIN_THROTTLE, type LoginThrottleLimits } from '../auth/login-throttle.ts'
import { usersRoutes } from '../users/users-routes.ts'
import { organizationsRoutes } from '../organizations/organizations-routes.ts'
import { auditRoutes } from '../audit/audit-routes.ts'
import { ingestBusPlugin } from '../bus/ingest-bus.ts'
import { livePlugin, type LiveOptions } from '../live/live-plugin.ts'
import { alertingPlugin, type AlertingOptions } from '../alerting/alerting-plugin.ts'
import { notifyPlugin, type NotifyOptions } from '../notify/notify-plugin.ts'
import { webRoutes } from '../web/web-routes.ts'
import { processMonitorFace, type ProcessMonitorOptions } from '../faces/process-monitor/process-monitor-face.ts'
import { agentManagementFace } from '../faces/agent-management/agent-management-face.ts'
import { perfAnalysisFace } from '../faces/perf-analysis/perf-analysis-face.ts'
import { reportsPlugin, type ReportsOptions } from '../reports/reports-plugin.ts'

const API_VERSION = '0.1.0'

export interface AppOptions {
  store: Store
  jwtSecret: string
  accessTtlSeconds: number
  refreshTtlSeconds: number
  logger?: FastifyServerOptions['logger']
  /** Request budgets per window (seed 004 §8); production defaults when unset. */
  rateLimits?: Partial<RateLimitBudgets>
  /** Failed logins per user and per address before logins are refused for a while. */
  loginThrottle?: Partial<LoginThrottleLimits>
  /** Origins allowed by CORS; none (CORS off) by default. */
  corsOrigins?: string[]
  /** Time to receive a whole request (slow clients are cut off); default 120 s. */
  requestTimeoutMs?: number
  /** Behind a reverse proxy: take the client address from X-Forwarded-For (rate limits and audit use it). */
  trustProxy?: boolean
  /** An agent is online while its newest sample is at most this old; default 20 s (two 10 s intervals). */
  onlineWindowSeconds?: number
  /**
   * Remember agent keys between uploads (services/agents/agent-key-cache.ts); on by default. On a server it
   * holds one LISTEN connection beside the pool.
   */
  rememberAgentKeys?: boolean
  /** Retention per level, so range reads never ask a level for data it has dropped. */
  retentionDays?: RetentionDays
  /** GET /metrics access: admins by default; `public` (METRICS_PUBLIC=true) or a static scraper `token`. */
  metrics?: MetricsOptions
  /** WebSocket streams (heartbeat, queue bounds). */
  live?: LiveOptions
  /** Alert rules and the evaluation loop (off unless `evaluate`). */
  alerting?: AlertingOptions
  /** Notification channels and the outbox dispatcher (off unless `dispatch`). */
  notify?: NotifyOptions
  /** The ingest path's options: extra command-line scrub patterns. */
  ingest?: IngestPluginOptions
  /** Performance reports: Chromium for PDFs, time and size limits, retention, whether this instance generates them. */
  reports?: ReportsOptions
  /** The compatibility faces' settings (seeds 000/002 and 003). */
  faces?: { processMonitor?: Partial<ProcessMonitorOptions>; hostnameAuth?: boolean }
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: withRedaction(opts.logger ?? false),
    bodyLimit: 1024 * 1024,
    requestTimeout: opts.requestTimeoutMs ?? 120_000,
    // Slow headers are cut off sooner; timeouts are checked every second (Node's default is 30 s).
    http: { headersTimeout: Math.min(opts.requestTimeoutMs ?? 120_000, 30_000), connectionsCheckingInterval: 1000 },
    trustProxy: opts.trustProxy ?? false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    ajv: { customOptions: { allErrors: true, coerceTypes: 'array', removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler(notFoundHandler)
  app.addHook('preValidation', rejectUnstorableText)
  lingeringClose(app)
  acceptEmptyJsonBody(app)

  await app.register(routeInventoryPlugin)
  await app.register(openapiPlugin, { version: API_VERSION })
  await app.register(storePlugin, { store: opts.store })
  await app.register(authPlugin, { secret: opts.jwtSecret })
  await app.register(securityPlugin, { corsOrigins: opts.corsOrigins ?? [] })
  await app.register(rateLimitPlugin, { budgets: { ...DEFAULT_RATE_LIMITS, ...opts.rateLimits } })
  await app.register(metricsPlugin, opts.metrics ?? {})
  await app.register(ingestBusPlugin, { relay: opts.live?.listen })
  await app.register(ingestPlugin, opts.ingest ?? {})
  const loginThrottle = new LoginThrottle({ ...DEFAULT_LOGIN_THROTTLE, ...opts.loginThrottle })

  await app.register(healthRoutes)
  await app.register(authRoutes, { accessTtlSeconds: opts.accessTtlSeconds, refreshTtlSeconds: opts.refreshTtlSeconds, loginThrottle })
  await app.register(usersRoutes, { loginThrottle })
  await app.register(organizationsRoutes)
  await app.register(auditRoutes)
  await app.register(agentsPlugin, { onlineWindowSeconds: opts.onlineWindowSeconds ?? 20, rememberAgentKeys: opts.rememberAgentKeys ?? true })
  await app.register(queryPlugin, { retentionDays: opts.retentionDays ?? DEFAULT_RETENTION_DAYS })
  await app.register(trafficPlugin)
  await app.register(logsPlugin)
  await app.register(dashboardsRoutes)
  await app.register(livePlugin, opts.live ?? {})
  await app.register(alertingPlugin, opts.alerting ?? {})
  await app.register(notifyPlugin, opts.notify ?? {})
  await app.register(reportsPlugin, { dataRetentionDays: opts.retentionDays, ...opts.reports })
  await app.register(processMonitorFace, { newHosts: 'pending', publicReads: false, ...opts.faces?.processMonitor })
  await app.register(agentManagementFace, { onlineWindowSeconds: opts.onlineWindowSeconds ?? 20, hostnameAuth: opts.faces?.hostnameAuth ?? false })
  await app.register(perfAnalysisFace, {
    onlineWindowSeconds: opts.onlineWindowSeconds ?? 20, retentionDays: opts.retentionDays ?? DEFAULT_RETENTION_DAYS,
    accessTtlSeconds: opts.accessTtlSeconds, refreshTtlSeconds: opts.refreshTtlSeconds, loginThrottle,
  })
  await app.register(webRoutes)
  return app
}
