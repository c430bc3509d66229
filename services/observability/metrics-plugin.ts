// The service's own health in Prometheus text format at GET /metrics (prom-client). Each app has its own
// Registry, so tests that build many apps in one process never share counters. Only what is really
// measured is exposed: ingest outcomes, request latency per route, and Node's process metrics.
// Access: admins (bearer JWT) by default; a static `token` for a scraper; or public with `public: true`.
import { timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { IngestAccepted, IngestBatch } from '../../contract/ingest-batch.ts'
import { sha256 } from '../auth/secrets.ts'

export interface MetricsOptions {
  /** Serve /metrics without credentials (only where the port is not reachable from outside). */
  public?: boolean
  /** A static bearer token a scraper sends (Prometheus `authorization.credentials`); admins' JWTs work too. */
  token?: string
}

/** Where ingest reports what it stored; one instance per app. */
export interface IngestObserver {
  /** `batches` as sent, `result` as writeBatches answered. */
  recordIngest(batches: IngestBatch[], result: IngestAccepted): void
  /** An upload refused on any face before its body was stored. */
  recordIngestRefused(reason: IngestRefusal): void
}

declare module 'fastify' {
  interface FastifyInstance { observability: IngestObserver & { registry: Registry } }
}

export type IngestRefusal = 'unknown_key' | 'inactive' | 'unapproved'

/** writeBatches' row families → the tables they land in (the label users see). */
const TABLE_OF = {
  metrics: 'metrics', disks: 'disk_metrics', networks: 'network_metrics', processes: 'process_metrics',
  sessions: 'user_sessions', containers: 'container_metrics', logs: 'logs',
} as const satisfies Record<keyof IngestAccepted['rows'], string>

const rowsOf = (b: IngestBatch) => (b.metrics?.length ?? 0) + (b.disks?.length ?? 0) + (b.networks?.length ?? 0)
  + (b.processes?.length ?? 0) + (b.sessions?.length ?? 0) + (b.containers?.length ?? 0) + (b.logs?.length ?? 0)

export const metricsPlugin = fp(async (app, opts: MetricsOptions) => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const batchesTotal = new Counter({ name: 'hostpulse_ingest_batches_total', help: 'Ingest batches stored (duplicates excluded)', registers: [registry] })
  const duplicatesTotal = new Counter({ name: 'hostpulse_ingest_duplicate_batches_total', help: 'Ingest batches acknowledged again without storing (batch_id already stored)', registers: [registry] })
  const refusedTotal = new Counter({
    name: 'hostpulse_ingest_refused_total', help: 'Uploads refused before anything was stored, by reason (an inactive or unapproved agent, an unknown key)',
    labelNames: ['reason'], registers: [registry],
  })
  const rowsTotal = new Counter({ name: 'hostpulse_ingest_rows_total', help: 'Rows stored by ingest, per table', labelNames: ['table'], registers: [registry] })
  const batchRows = new Histogram({
    name: 'hostpulse_ingest_batch_rows', help: 'Rows per stored ingest batch', registers: [registry],
    buckets: [1, 10, 50, 100, 500, 1000, 5000, 20000],
  })
  const httpDuration = new Histogram({
    name: 'hostpulse_http_request_duration_seconds', help: 'HTTP request duration, by route pattern, method and status', registers: [registry],
    labelNames: ['route', 'method', 'status'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  })
  for (const table of Object.values(TABLE_OF)) rowsTotal.inc({ table }, 0)
  const store = app.store
  new Gauge({
    name: 'hostpulse_db_connections', help: 'Database connections: max (pool size; 1 for the embedded engine), open, idle, and callers waiting for one',
    labelNames: ['state'], registers: [registry],
    collect() {
      for (const [state, n] of Object.entries(store.connections())) this.set({ state }, n)
    },
  })

  app.decorate('observability', {
    registry,
    recordIngest(batches: IngestBatch[], result: IngestAccepted) {
      batchesTotal.inc(result.accepted_batches)
      duplicatesTotal.inc(result.duplicate_batches)
      for (const [family, n] of Object.entries(result.rows)) if (n > 0) rowsTotal.inc({ table: TABLE_OF[family as keyof typeof TABLE_OF] }, n)
      const stored = new Set(result.batch_ids)
      for (const b of batches) if (stored.has(b.batch_id.toLowerCase())) batchRows.observe(rowsOf(b))
    },
    recordIngestRefused(reason: IngestRefusal) { refusedTotal.inc({ reason }) },
  })

  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the raw URL: unknown paths share one label so scanners cannot grow the series.
    const route = request.routeOptions.url ?? 'unmatched'
    httpDuration.observe({ route, method: request.method, status: String(reply.statusCode) }, reply.elapsedTime / 1000)
  })

  const tokenHash = opts.token ? Buffer.from(sha256(opts.token), 'hex') : undefined
  const requireAdmin = app.requireRole('admin')
  const allowScrape = async (request: FastifyRequest, reply: FastifyReply) => {
    if (opts.public) return
    const header = request.headers.authorization
    if (tokenHash && header?.startsWith('Bearer ')) {
      const given = Buffer.from(sha256(header.slice(7)), 'hex')
      if (timingSafeEqual(given, tokenHash)) return
    }
    await requireAdmin(request, reply)
  }

  app.get('/metrics', {
    onRequest: allowScrape,
    schema: { hide: true },
  }, async (_request, reply) => {
    void reply.header('content-type', registry.contentType)
    return registry.metrics()
  })

  app.addHook('onClose', async () => { registry.clear() })
}, { name: 'hostpulse-metrics', dependencies: ['hostpulse-auth', 'hostpulse-store'] })
