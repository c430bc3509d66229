// The one way data gets in, whichever API face received it: scrub → write (dedupe, one transaction) →
// tell the store what was written → count → publish. Faces parse and authenticate; this never sees a request.
import type { FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import fp from 'fastify-plugin'
import type { IngestAccepted, IngestBatch } from '../../contract/ingest-batch.ts'
import type { Database } from '../store/database.ts'
import type { WrittenRowsSink } from '../store/late-data-refresh.ts'
import type { IngestFeed } from '../bus/ingest-bus.ts'
import { scrubBatches } from './scrub-batches.ts'
import type { IngestingAgent, StoredBatches } from './write-batches.ts'
import { groupCommitter } from './group-commit.ts'
import { publishIngest } from './publish-ingest.ts'
import { agentFromApiKey, refusalReason } from '../agents/agent-key-auth.ts'
import { ingestRoutes } from './ingest-routes.ts'
import { lineProtocolRoutes } from './line-protocol-routes.ts'
import { remoteWriteRoutes } from './remote-write-routes.ts'
import { otlpRoutes } from './otlp-routes.ts'
import type { AgentRow } from '../agents/agents-repository.ts'
import type { WriterEnrollment } from '../agents/writer-hosts.ts'

export interface IngestService {
  /** Stores an authenticated agent's batches; batches already stored are acknowledged, not stored twice. */
  ingest(agent: IngestingAgent & { name: string }, batches: IngestBatch[], options?: IngestOptions): Promise<StoredBatches>
}

export interface IngestOptions {
  /**
   * InfluxDB's rule for the ecosystem's writers: one point per series (type, name, tags) and instant, the
   * last write wins. A metrics row already stored at the same instant for the same series is replaced.
   */
  lastWriteWins?: boolean
}

export interface IngestServiceDeps {
  db: Kysely<Database>
  feed: IngestFeed
  record: (batches: IngestBatch[], result: IngestAccepted) => void
  /** The operator's extra command-line patterns (HOSTPULSE_SCRUB_PATTERN), on top of the built-in rules. */
  scrubPatterns?: readonly RegExp[]
  /** Told each committed request's time span per table, so rows older than an aggregate's watermark show up in it. */
  lateData?: WrittenRowsSink
  /** Groups written at the same time (group-commit.ts): 1 on the embedded engine (one session), a few on a server. */
  writers?: number
}

const nothingStored = (): StoredBatches => ({
  accepted_batches: 0, duplicate_batches: 0, batch_ids: [], snapshots: new Map(), written: [],
  rows: { metrics: 0, disks: 0, networks: 0, processes: 0, sessions: 0, containers: 0, logs: 0 },
})

export function ingestService(deps: IngestServiceDeps): IngestService {
  const committer = groupCommitter(deps.db, deps.writers ?? 1)
  return {
    async ingest(agent, batches, options = {}) {
      if (batches.length === 0) return nothingStored()
      scrubBatches(batches, deps.scrubPatterns)
      // Written with whatever other requests arrive meanwhile, in one transaction; answered once it committed.
      const result = await committer.write({ agent, batches, options })
      for (const span of result.written) deps.lateData?.written(span.table, span.min, span.max)
      deps.record(batches, result)
      publishIngest(deps.feed, agent, batches, result)
      return result
    },
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    ingest: IngestService
    /** onRequest hook of every ingest route: the agent key is checked before a byte of the body is read. */
    authenticateAgentKey(request: FastifyRequest): Promise<void>
  }
  interface FastifyRequest {
    ingestingAgent: AgentRow | null
    /** A writer that authenticated with an enrollment token (remote write, OTLP): each host it names is an agent. */
    writerEnrollment: WriterEnrollment | null
  }
}

export interface IngestPluginOptions { scrubPatterns?: readonly RegExp[] }

/** Groups written at once on a server (the pool has 10 sessions by default; reads need the others). */
const SERVER_WRITERS = 4

export const ingestPlugin = fp<IngestPluginOptions>(async (app, opts) => {
  app.decorate('ingest', ingestService({
    db: app.store.db, feed: app.ingestFeed, record: (batches, result) => app.observability.recordIngest(batches, result),
    scrubPatterns: opts.scrubPatterns, lateData: app.store.lateData,
    // A server's pool holds several sessions: a few groups may be written side by side.
    writers: app.store.backend === 'server' ? SERVER_WRITERS : 1,
  }))
  app.decorateRequest('ingestingAgent', null)
  app.decorateRequest('writerEnrollment', null)
  app.decorate('authenticateAgentKey', async (request: FastifyRequest) => {
    try {
      request.ingestingAgent = await agentFromApiKey(app.store.db, request)
    } catch (err) {
      const reason = refusalReason(err)
      if (reason) app.observability.recordIngestRefused(reason)
      throw err
    }
  })
  await app.register(ingestRoutes)
  await app.register(lineProtocolRoutes)
  await app.register(remoteWriteRoutes)
  await app.register(otlpRoutes)
}, { name: 'hostpulse-ingest', dependencies: ['hostpulse-store', 'hostpulse-ingest-feed', 'hostpulse-metrics'] })
