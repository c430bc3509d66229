// POST /v1/metrics: OTLP/HTTP metrics (OpenTelemetry SDKs' exporters, the OpenTelemetry Collector's otlphttp
// exporter, Grafana Alloy), protobuf or JSON, gzip or not, with an agent key, or with an enrollment token and
// each resource's host.name as its agent. Stored through the ingest service (otlp-batches.ts maps the points).
// As OTLP asks: points that cannot be stored are counted in a 200's partial_success after the others were
// stored (exporters do not retry those); a body that cannot be read is a 400 (never retried); a retried
// export stores nothing twice (batch ids come from the content, and the last write wins per series and instant).
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { promisify } from 'node:util'
import { gunzip } from 'node:zlib'
import { Type } from 'typebox'
import { DomainError } from '../errors/domain-error.ts'
import { ErrorBody } from '../http/response-schemas.ts'
import { agentsForHosts } from '../agents/writer-hosts.ts'
import type { AgentRow } from '../agents/agents-repository.ts'
import { ACCEPTED_CREDENTIALS, influxClientAuthentication } from './influx-credentials.ts'
import { MAX_OTLP_BYTES, decodeJsonRequest, decodeProtobufRequest, exportResponse, flattenRequest, type OtlpRejection, type OtlpResource } from './otlp-metrics.ts'
import { OTLP_METRIC_TYPE, RESOURCE_TAGS, otlpToBatches } from './otlp-batches.ts'
import { CounterMemory } from './otlp-hostmetrics.ts'

export const OTLP_METRICS_PATH = '/v1/metrics'
/** The body as sent (gzip compresses OTLP about tenfold, so the decompressed cap is the one that binds). */
const MAX_COMPRESSED_BYTES = 16 * 1024 * 1024
/** Rejections named in partial_success's message (all are counted). */
const REJECTIONS_IN_MESSAGE = 5
/** The host attribute that names an agent when writing with an enrollment token. */
const HOST_ATTRIBUTE = 'host.name'

const gunzipAsync = promisify(gunzip)

type Encoding = 'protobuf' | 'json'

function encodingOf(request: FastifyRequest): Encoding {
  const type = String(request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf'
  if (type === 'application/json') return 'json'
  throw new DomainError('unsupported_media_type', `Content-Type ${type.slice(0, 64) || '(none)'} is not OTLP/HTTP: send application/x-protobuf (an ExportMetricsServiceRequest) or application/json (OTLP/JSON)`)
}

/** The body as bytes, gzip undone (capped once decompressed), or a 4xx saying what is wrong with it. */
async function bodyBytes(request: FastifyRequest): Promise<Buffer> {
  if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
    throw new DomainError('malformed', 'The body is empty: send an ExportMetricsServiceRequest (protobuf or OTLP/JSON)')
  }
  const encoding = String(request.headers['content-encoding'] ?? 'identity').trim().toLowerCase()
  if (encoding === 'identity') return request.body
  if (encoding !== 'gzip') throw new DomainError('unsupported_media_type', `Content-Encoding ${encoding.slice(0, 32)} is not supported: send gzip or none`)
  try {
    return await gunzipAsync(request.body, { maxOutputLength: MAX_OTLP_BYTES })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DomainError('too_large', `The body decompresses to more than ${MAX_OTLP_BYTES} bytes: lower the exporter's batch size`)
    }
    throw new DomainError('malformed', `The body is not valid gzip (${(err as Error).message})`, { cause: err })
  }
}

type Part = { agent: AgentRow; resource: OtlpResource } | { refused: string; resource: OtlpResource }

/** Whose points are whose: all the key's agent's; with an enrollment token, each resource's host.name's agent. */
async function partsByAgent(request: FastifyRequest, resources: OtlpResource[]): Promise<Part[]> {
  if (!request.writerEnrollment) return resources.map((resource) => ({ agent: request.ingestingAgent!, resource }))
  const hosts = resources.map((r) => r.attributes[HOST_ATTRIBUTE]?.trim()).filter((h): h is string => !!h)
  const resolved = await agentsForHosts(request.server.store.db, request.writerEnrollment, hosts, 'opentelemetry', request.ip)
  return resources.map((resource): Part => {
    const host = resource.attributes[HOST_ATTRIBUTE]?.trim()
    if (!host) return { refused: `the resource has no ${HOST_ATTRIBUTE} attribute, which names its host when writing with an enrollment token (the Collector's resourcedetection processor sets it)`, resource }
    const agent = resolved.agents.get(host)
    return agent ? { agent, resource } : { refused: resolved.refused.get(host)!, resource }
  })
}

/** partial_success's message: the first few reasons, and how many there were. */
function rejectionMessage(rejected: OtlpRejection[], count: number, stored: number): string {
  const named = rejected.slice(0, REJECTIONS_IN_MESSAGE).map((r) => `${r.metric}: ${r.message}`).join('; ')
  const more = rejected.length > REJECTIONS_IN_MESSAGE ? `; and ${rejected.length - REJECTIONS_IN_MESSAGE} more` : ''
  return `${count} data points rejected, ${stored} values stored; ${named}${more}`
}

const PartialSuccess = Type.Object({
  partialSuccess: Type.Optional(Type.Object({
    rejectedDataPoints: Type.Integer({ description: 'Data points not stored' }),
    errorMessage: Type.String({ description: 'Why, for the first few' }),
  })),
}, { description: 'ExportMetricsServiceResponse (as protobuf when the request was protobuf)' })

export const otlpRoutes: FastifyPluginAsync = async (app) => {
  const memory = new CounterMemory()
  // This plugin reads its bodies as bytes whatever their type: protobuf or JSON, gzip or not, is decided in the handler.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_COMPRESSED_BYTES }, (_request, body, done) => done(null, body))

  app.post(OTLP_METRICS_PATH, {
    config: { rateBudget: 'ingest' },
    bodyLimit: MAX_COMPRESSED_BYTES,
    onRequest: influxClientAuthentication(app, { enrollment: true }),
    schema: {
      summary: 'OpenTelemetry metrics over OTLP/HTTP (protobuf or JSON); each point becomes otel.<name> with its attributes as tags, hostmetrics also the agent\'s own families',
      description: `Agent key as ${ACCEPTED_CREDENTIALS}; or an enrollment token the same ways, and then each resource's ${HOST_ATTRIBUTE} is an agent of the token's organization `
        + '(registered on first sight under the token\'s rules). Gauges and sums are stored as one value per point under '
        + `${OTLP_METRIC_TYPE}.<name> (lower case, other characters as "_"), their attributes and the resource's ${RESOURCE_TAGS.join(', ')} as tags; `
        + 'explicit-bucket histograms as <name>_count, <name>_sum and cumulative <name>_bucket{le}; summaries as <name>_count, <name>_sum and <name>{quantile}; '
        + 'exponential histograms are rejected. The hostmetrics receiver\'s system.cpu.*, system.memory.usage, system.paging.usage, system.filesystem.*, '
        + 'system.disk.* and system.network.* also become cpu.*, load.*, memory.*, swap.*, disks and networks as an agent sends them. Points that cannot '
        + 'be stored are counted in partial_success after the others were stored; a re-sent export stores nothing twice.',
      tags: ['ingest'], security: [{ agentKey: [] }],
      response: { 200: PartialSuccess, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody, 415: ErrorBody, 429: ErrorBody },
    },
  }, async (request, reply) => {
    const encoding = encodingOf(request)
    const bytes = await bodyBytes(request)
    const resources = flattenRequest(encoding === 'protobuf' ? decodeProtobufRequest(bytes) : decodeJsonRequest(bytes.toString('utf8')))
    const now = Date.now()
    const rejected: OtlpRejection[] = []
    let rows = 0
    let stored = 0
    let duplicates = 0
    let rejectedPoints = 0
    for (const part of await partsByAgent(request, resources)) {
      if ('refused' in part) {
        // Every data point the resource sent, refused for its host's reason.
        rejectedPoints += part.resource.dataPoints
        rejected.push({ metric: `${part.resource.dataPoints} data points of ${part.resource.attributes[HOST_ATTRIBUTE] ?? 'a resource without host.name'}`, message: part.refused })
        continue
      }
      const built = otlpToBatches(part.resource, part.agent.id, now, memory)
      rejected.push(...built.rejected)
      rejectedPoints += built.rejected.length
      rows += built.rows
      const result = await app.ingest.ingest(part.agent, built.batches, { lastWriteWins: true })
      stored += result.rows.metrics
      duplicates += result.duplicate_batches
    }
    void reply.headers({ 'x-hostpulse-rows': String(stored), 'x-hostpulse-values': String(rows), 'x-hostpulse-duplicate-batches': String(duplicates) })
    const body = exportResponse(rejectedPoints, rejectedPoints > 0 ? rejectionMessage(rejected, rejectedPoints, rows) : '', encoding)
    if (encoding === 'json') return reply.status(200).send(body)
    return reply.status(200).type('application/x-protobuf').send(body)
  })
}
