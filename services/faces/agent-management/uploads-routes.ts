// Seed 003's agent uploads — metrics, process lists, logs with user sessions — as native ingest: the agent
// key is checked before the body is read (an inactive or unapproved agent gets a 403, counted, and nothing
// is stored), the body becomes native batches judged by the native checker, and the one ingest service
// stores them. Application-level encryption is not taken: plain JSON over TLS is the only way in.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { AgentManagementOptions } from './face-options.ts'
import { DrfError } from './seed-shapes.ts'
import { uploadHooks } from './upload-auth.ts'
import { LogsUpload, MetricsUpload, ProcessesUpload, logsBatch, metricsBatch, processesBatch, uploadInterface, type PreviousCounters } from './seed-upload-batches.ts'
import { seedTime } from '../seed-time.ts'
import { DomainError } from '../../errors/domain-error.ts'
import { findAgentByHostname, type AgentRow } from '../../agents/agents-repository.ts'
import { newestNetworkRow } from '../../query/range-reads.ts'
import type { IngestBatch } from '../../../contract/ingest-batch.ts'

const ENCRYPTED = 'Encrypted payloads are not accepted: hostpulse does not decrypt application-level encryption. '
  + 'Send the data as plain JSON (Content-Type: application/json) over TLS (https://) instead.'
const UPLOAD_ERRORS = { 400: DrfError, 401: DrfError, 403: DrfError, 413: DrfError, 415: DrfError, 429: DrfError }
const RATE_LOOKBACK_MS = 3_600_000

/** A body the seed agent encrypted (its EncryptionManager's output, or a flag saying so): refused whole. */
async function refuseEncrypted(request: FastifyRequest): Promise<void> {
  const b = request.body as Record<string, unknown> | string | null
  const encrypted = typeof b === 'string'
    || (typeof b === 'object' && b !== null && !Array.isArray(b) && (b.encrypted === true || 'encrypted_data' in b || 'encrypted_payload' in b))
  if (encrypted) throw new DomainError('unsupported_media_type', ENCRYPTED)
}

export const uploadsRoutes: FastifyPluginAsyncTypebox<AgentManagementOptions> = async (app, opts) => {
  const db = app.store.db
  const auth = uploadHooks(app, opts.hostnameAuth)
  const hooks = { onRequest: auth.onRequest, preValidation: [auth.preValidation, refuseEncrypted] }

  // Any body that is not JSON (the seed agent's encrypted octet streams among them), on these routes only.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(new DomainError('unsupported_media_type', ENCRYPTED), undefined))

  /** The sender; its key may not write as another agent that the body's hostname names. */
  async function sender(request: FastifyRequest, hostname: string | undefined): Promise<AgentRow> {
    const agent = request.ingestingAgent!
    if (hostname !== undefined && hostname !== agent.hostname && hostname !== agent.name) {
      const named = await findAgentByHostname(db, agent.org_id, hostname)
      if (named && named.id !== agent.id) {
        throw new DomainError('forbidden', `This key belongs to agent "${agent.name}"; hostname "${hostname}" is agent "${named.name}": send each host's data with its own key`)
      }
    }
    return agent
  }

  const store = (agent: AgentRow, batch: IngestBatch) => app.ingest.ingest(agent, [batch])

  app.post('/api/metrics/upload/', {
    ...hooks, bodyLimit: 256 * 1024,
    schema: {
      summary: 'Seed 003: an agent\'s CPU, memory, disk and network figures (X-API-Key), stored as the native series', tags: ['seed-003'],
      security: [{ agentKey: [] }], body: MetricsUpload,
      response: { 201: Type.Object({ status: Type.Literal('success'), batch_id: Type.String(), metrics_saved: Type.Integer() }), ...UPLOAD_ERRORS },
    },
  }, async (request, reply) => {
    const body = request.body
    const agent = await sender(request, body.hostname)
    const now = Date.now()
    let previous: PreviousCounters | undefined
    if ([body.network_in, body.network_out, body.bytes_recv, body.bytes_sent].some((v) => v !== undefined)) {
      const at = body.timestamp !== undefined ? Date.parse(seedTime(body.timestamp, 'timestamp')) : now
      previous = await newestNetworkRow(db, { orgId: agent.org_id, agentId: agent.id, interface: uploadInterface(body), start: new Date(at - RATE_LOOKBACK_MS), end: new Date(at) })
    }
    const batch = metricsBatch(body, now, previous)
    const stored = await store(agent, batch)
    const saved = stored.rows.metrics + stored.rows.disks + stored.rows.networks
    return reply.status(201).send({ status: 'success', batch_id: batch.batch_id, metrics_saved: saved })
  })

  app.post('/api/processes/upload/', {
    ...hooks, bodyLimit: 16 * 1024 * 1024,
    schema: {
      summary: 'Seed 003: an agent\'s process list (X-API-Key), stored as one native snapshot', tags: ['seed-003'],
      security: [{ agentKey: [] }], body: ProcessesUpload,
      response: {
        201: Type.Object({ status: Type.Literal('success'), batch_id: Type.String(), processes_saved: Type.Integer(), snapshot_id: Type.Union([Type.Integer(), Type.Null()]) }),
        ...UPLOAD_ERRORS,
      },
    },
  }, async (request, reply) => {
    const agent = await sender(request, request.body.hostname)
    const batch = processesBatch(request.body)
    const stored = await store(agent, batch)
    return reply.status(201).send({
      status: 'success', batch_id: batch.batch_id, processes_saved: stored.rows.processes, snapshot_id: stored.snapshots.get(batch.batch_id) ?? null,
    })
  })

  app.post('/api/logs/upload_logs/', {
    ...hooks, bodyLimit: 16 * 1024 * 1024,
    schema: {
      summary: 'Seed 003: an agent\'s log lines and logged-in user sessions (X-API-Key); plain JSON only', tags: ['seed-003'],
      security: [{ agentKey: [] }], body: LogsUpload,
      response: {
        201: Type.Object({ status: Type.Literal('success'), batch_id: Type.String(), logs_saved: Type.Integer(), sessions_saved: Type.Integer() }),
        ...UPLOAD_ERRORS,
      },
    },
  }, async (request, reply) => {
    const agent = await sender(request, request.body.hostname)
    const batch = logsBatch(request.body)
    const stored = await store(agent, batch)
    return reply.status(201).send({ status: 'success', batch_id: batch.batch_id, logs_saved: stored.rows.logs, sessions_saved: stored.rows.sessions })
  })
}
