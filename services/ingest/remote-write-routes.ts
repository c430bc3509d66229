// POST /api/v1/write: Prometheus remote write 1.0 and 2.0 (Prometheus, Grafana Alloy, vmagent), with an agent key,
// stored through the ingest service under the key's agent (remote-write.ts maps the samples). Prometheus
// retries 5xx and 429 and drops a batch it gets any other 4xx for, so: a body that cannot be read is a 400
// (dropped, never retried forever); samples that cannot be stored are a 400 listing them after the others
// were stored (nothing good is lost and the queue moves on); a retried request stores nothing twice (batch
// ids come from the content). NaN, ±Inf and staleness markers are skipped and counted, not errors.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { DomainError } from '../errors/domain-error.ts'
import { ErrorBody, NoContent } from '../http/response-schemas.ts'
import { ACCEPTED_CREDENTIALS, influxClientAuthentication } from './influx-credentials.ts'
import {
  MAX_LISTED_REJECTIONS, MAX_REMOTE_WRITE_BYTES, REMOTE_WRITE_METRIC_TYPE, REMOTE_WRITE_V1_MESSAGE, REMOTE_WRITE_V2_MESSAGE, addCounts,
  decodeWriteRequest, decodeWriteRequestV2, decompressRemoteWrite, refuseRequest,
  splitByHost, writeRequestToBatches, type RemoteWriteBatches, type WriteRequest,
} from './remote-write.ts'
import { agentsForHosts } from '../agents/writer-hosts.ts'
import type { AgentRow } from '../agents/agents-repository.ts'

export const REMOTE_WRITE_PATH = '/api/v1/write'
/** The compressed body; remote write 1.0 compresses well, so the decompressed cap is the one that binds. */
const MAX_COMPRESSED_BYTES = 16 * 1024 * 1024
/** Rejections named in the message itself (all listed ones are in details). */
const REJECTIONS_IN_MESSAGE = 5

/** The message a request carries (remote write 1.0 or 2.0, from Content-Type's proto=), or a 415 saying what to send. */
function checkRemoteWriteHeaders(request: FastifyRequest): 1 | 2 {
  const type = String(request.headers['content-type'] ?? '')
  const proto = /;\s*proto=([^;\s]+)/i.exec(type)?.[1]
  if (proto && proto !== REMOTE_WRITE_V1_MESSAGE && proto !== REMOTE_WRITE_V2_MESSAGE) {
    throw new DomainError('unsupported_media_type', `Remote write message ${proto.slice(0, 64)} is not supported: send ${REMOTE_WRITE_V1_MESSAGE} (remote write 1.0) `
      + `or ${REMOTE_WRITE_V2_MESSAGE} (2.0)`)
  }
  // Prometheus always sends snappy; a sender that names no encoding gets the same reading.
  const encoding = String(request.headers['content-encoding'] ?? 'snappy').trim().toLowerCase()
  if (encoding !== 'snappy') throw new DomainError('unsupported_media_type', `Content-Encoding ${encoding.slice(0, 32)} is not supported: remote write bodies are snappy-compressed`)
  return proto === REMOTE_WRITE_V2_MESSAGE ? 2 : 1
}

/** Samples that could not be stored, after the others were: a 400 naming them (Prometheus drops the batch, nothing good is lost). */
function rejectedSamplesError(built: RemoteWriteBatches): DomainError {
  const n = built.rejectedCount
  const stored = built.rows
  const head = stored > 0 ? `partial write: ${n} samples rejected, the other ${stored} stored` : `no sample was stored: ${n === 1 ? 'the only one was' : `all ${n} were`} rejected`
  const named = built.rejected.slice(0, REJECTIONS_IN_MESSAGE)
    .map((r) => `${r.series}${r.timestamp !== null ? ` @${r.timestamp}` : ''}: ${r.message}`).join('; ')
  const more = built.rejected.length > REJECTIONS_IN_MESSAGE ? `; and more (${built.rejected.length} listed in details${n > MAX_LISTED_REJECTIONS ? `, of ${n}` : ''})` : ''
  return new DomainError('invalid', `${head}; ${named}${more}`, { details: { rejected_samples: built.rejected, stored_samples: stored } })
}

type Part = { agent: AgentRow; request: WriteRequest } | { refused: string; request: WriteRequest }

/**
 * Whose samples are whose: all the key's agent's; with an enrollment token, each host's (its `instance`
 * label) its own agent's, registered on first sight under the token's rules, or refused with the reason.
 */
async function partsByAgent(request: FastifyRequest, decoded: WriteRequest): Promise<Part[]> {
  if (!request.writerEnrollment) return [{ agent: request.ingestingAgent!, request: decoded }]
  const byHost = splitByHost(decoded)
  const hosts = [...byHost.keys()].filter((h): h is string => h !== undefined)
  const resolved = await agentsForHosts(request.server.store.db, request.writerEnrollment, hosts, 'prometheus remote write', request.ip)
  return [...byHost].map(([host, part]): Part => {
    if (host === undefined) return { refused: 'the series has no instance label, which names its host when writing with an enrollment token', request: part }
    const agent = resolved.agents.get(host)
    return agent ? { agent, request: part } : { refused: resolved.refused.get(host)!, request: part }
  })
}

export const remoteWriteRoutes: FastifyPluginAsync = async (app) => {
  // Only this plugin reads protobuf, as raw bytes (the snappy block is decompressed in the handler).
  app.addContentTypeParser('application/x-protobuf', { parseAs: 'buffer', bodyLimit: MAX_COMPRESSED_BYTES }, (_request, body, done) => done(null, body))

  app.post(REMOTE_WRITE_PATH, {
    config: { rateBudget: 'ingest' },
    bodyLimit: MAX_COMPRESSED_BYTES,
    // The key is checked before the body is read: an unknown sender never gets a body decompressed.
    onRequest: influxClientAuthentication(app, { enrollment: true }),
    schema: {
      summary: 'Prometheus remote write 1.0 and 2.0 (snappy-compressed protobuf prometheus.WriteRequest or io.prometheus.write.v2.Request); each series becomes prom.<metric name> with its labels as tags',
      description: `Agent key as ${ACCEPTED_CREDENTIALS} (Prometheus: authorization.credentials or basic_auth.password); `
        + 'or an enrollment token the same ways, and then each host (the instance label without its port) is an agent of the token\'s organization, '
        + 'registered on first sight under the token\'s rules (auto-approve, or a registration to approve; until then its samples are rejected). '
        + `Series are stored as ${REMOTE_WRITE_METRIC_TYPE}.<metric name> (lower case, ":" as "_") for the key's agent; labels other than __name__ `
        + 'become tags (job and instance included). NaN, ±Inf and staleness markers are skipped; samples that cannot be stored are a 400 '
        + 'listing them after the others were stored. A re-sent request is acknowledged and stores nothing twice. Counters are stored as counters; read their per-second rate with agg=rate (series, stats) or aggregation rate (alert rules).',
      tags: ['ingest'], security: [{ agentKey: [] }],
      headers: Type.Object({
        'x-prometheus-remote-write-version': Type.Optional(Type.String({ description: '0.1.0 (remote write 1.0) or 2.0.0' })),
      }, { additionalProperties: true }),
      response: { 200: NoContent, 204: NoContent, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody, 415: ErrorBody, 429: ErrorBody },
    },
  }, async (request, reply) => {
    const version = checkRemoteWriteHeaders(request)
    if (request.body === undefined || request.body === null) {
      throw new DomainError('malformed', 'The body is empty: send a snappy-compressed prometheus.WriteRequest (remote write 1.0)')
    }
    if (!Buffer.isBuffer(request.body)) {
      throw new DomainError('unsupported_media_type', 'Send Content-Type: application/x-protobuf with a snappy-compressed prometheus.WriteRequest (remote write 1.0)')
    }
    const bytes = await decompressRemoteWrite(request.body, MAX_REMOTE_WRITE_BYTES)
    const decoded = version === 2 ? decodeWriteRequestV2(bytes) : decodeWriteRequest(bytes)
    const now = Date.now()
    const built: RemoteWriteBatches = { batches: [], rows: 0, samples: 0, skippedNonFinite: 0, skippedHistograms: 0, rejected: [], rejectedCount: 0 }
    let stored = 0
    let duplicates = 0
    for (const part of await partsByAgent(request, decoded)) {
      if ('refused' in part) { addCounts(built, refuseRequest(part.request, part.refused)); continue }
      const mapped = writeRequestToBatches(part.request, part.agent.id, now)
      addCounts(built, mapped)
      const result = await app.ingest.ingest(part.agent, mapped.batches, { lastWriteWins: true })
      stored += result.rows.metrics
      duplicates += result.duplicate_batches
    }
    // Remote write 2.0's count headers (1.0 senders ignore them) and hostpulse's own counts.
    void reply.headers({
      'x-prometheus-remote-write-samples-written': String(built.rows),
      'x-prometheus-remote-write-histograms-written': '0',
      'x-prometheus-remote-write-exemplars-written': '0',
      'x-hostpulse-samples': String(built.samples),
      'x-hostpulse-rows': String(stored),
      'x-hostpulse-duplicate-batches': String(duplicates),
      'x-hostpulse-skipped-non-finite': String(built.skippedNonFinite),
      'x-hostpulse-skipped-histograms': String(built.skippedHistograms),
      'x-hostpulse-rejected-samples': String(built.rejectedCount),
    })
    if (built.rejectedCount > 0) throw rejectedSamplesError(built)
    // 1.0 receivers answer 204; 2.0 asks for 200 with an empty body.
    return reply.status(version === 2 ? 200 : 204).send()
  })
}
