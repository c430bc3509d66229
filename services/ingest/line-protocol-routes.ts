// POST /api/v2/write and /write: InfluxDB line protocol from Telegraf or any line protocol client, with an
// agent key, stored through the ingest service like the agent's own batches (dedupe, latest, one transaction).
// Each line stands or falls alone, as in InfluxDB 3: the good lines of a request are stored together (one
// ingest call), and any bad line makes the answer a 400 listing the rejected lines (at most 100). Errors are
// InfluxDB 2's on /api/v2/write and 1.x's on /write (influx-errors.ts). 204 when every line was accepted, like
// InfluxDB; the counts travel in X-Hostpulse-* headers. /ping and /query live beside /write (influx-ping-query-routes.ts).
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import { createGunzip } from 'node:zlib'
import type { Readable } from 'node:stream'
import { Type } from 'typebox'
import { ApiError, claimErrorFormat, errorHandlerFor, type ErrorBody } from '../http/errors.ts'
import { NoContent } from '../http/response-schemas.ts'
import { parseLineProtocol, type Precision } from './line-protocol.ts'
import { pointsToBatches } from './line-protocol-batches.ts'
import { INFLUX_V1_ERRORS, INFLUX_V2_ERRORS, influxV1ErrorBody, influxV2ErrorBody, rejectedLinesError } from './influx-errors.ts'
import { ACCEPTED_CREDENTIALS, influxClientAuthentication } from './influx-credentials.ts'
import { influxPingQueryRoutes, INFLUX_VERSION_HEADERS } from './influx-ping-query-routes.ts'

export const LINE_PROTOCOL_PATHS = ['/api/v2/write', '/write'] as const
/** The largest body, after decompression. */
export const MAX_LINE_PROTOCOL_BYTES = 16 * 1024 * 1024

/** `precision=` as each API spells it: InfluxDB 2 (ns, us, ms, s) and 1.x (n, u, ms, s, m, h; ns and us too). */
export const V2_PRECISIONS: ReadonlyMap<string, Precision> = new Map([['ns', 'ns'], ['us', 'us'], ['ms', 'ms'], ['s', 's']])
export const V1_PRECISIONS: ReadonlyMap<string, Precision> = new Map([['n', 'ns'], ['ns', 'ns'], ['u', 'us'], ['us', 'us'], ['ms', 'ms'], ['s', 's'], ['m', 'm'], ['h', 'h']])

/** Paths answering in InfluxDB 2's error format, and in 1.x's (also for a path's 404 and malformed URLs). */
const V2_PATHS = /^\/api\/v2\/write$/
const V1_PATHS = /^\/(write|query|ping)$/

const WriteQuery = (precisions: ReadonlyMap<string, Precision>) => Type.Object({
  precision: Type.Optional(Type.String({ description: `Timestamp unit: ${[...precisions.keys()].join(', ')}; default ns` })),
  org: Type.Optional(Type.String({ description: 'Accepted and ignored (the agent key decides the organization)' })),
  bucket: Type.Optional(Type.String({ description: 'Accepted and ignored' })),
  db: Type.Optional(Type.String({ description: 'InfluxDB 1.x: accepted and ignored' })),
  rp: Type.Optional(Type.String({ description: 'InfluxDB 1.x: accepted and ignored' })),
  u: Type.Optional(Type.String({ description: 'InfluxDB 1.x user name: accepted and ignored' })),
  p: Type.Optional(Type.String({ description: 'InfluxDB 1.x password: the agent key (prefer a header: URLs end up in logs)' })),
}, { additionalProperties: true })

/**
 * The body as text: gzip undone when Content-Encoding says so (Telegraf's default), capped at 16 MiB after
 * decompression (Fastify's bodyLimit does not apply to a streaming parser, so the bytes are counted here).
 */
function readBody(request: FastifyRequest, payload: Readable, done: (err: Error | null, body?: string) => void): void {
  const encoding = String(request.headers['content-encoding'] ?? 'identity').toLowerCase()
  if (encoding !== 'identity' && encoding !== 'gzip') {
    done(new ApiError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${encoding} is not supported: send gzip or identity`))
    return
  }
  const source: Readable = encoding === 'gzip' ? payload.pipe(createGunzip()) : payload
  const chunks: Buffer[] = []
  let size = 0
  let finished = false
  const finish = (err: Error | null, body?: string) => { if (!finished) { finished = true; done(err, body) } }
  source.on('data', (chunk: Buffer) => {
    size += chunk.length
    if (size > MAX_LINE_PROTOCOL_BYTES) {
      finish(new ApiError('PAYLOAD_TOO_LARGE', `Request body is larger than ${MAX_LINE_PROTOCOL_BYTES} bytes${encoding === 'gzip' ? ' once decompressed' : ''}: send fewer lines per request`))
      payload.unpipe()
      payload.resume()
      return
    }
    if (!finished) chunks.push(chunk)
  })
  source.on('end', () => finish(null, Buffer.concat(chunks).toString('utf8')))
  source.on('error', (err) => finish(new ApiError('BAD_REQUEST', `Request body could not be read: ${err.message}`)))
  if (source !== payload) payload.on('error', (err) => finish(new ApiError('BAD_REQUEST', `Request body could not be read: ${err.message}`)))
}

/** One write path: the precisions it accepts, its error schemas (serialization and documentation), its summary. */
interface WritePath { url: string; precisions: ReadonlyMap<string, Precision>; errors: typeof INFLUX_V2_ERRORS | typeof INFLUX_V1_ERRORS; summary: string }

function writeRoute(app: FastifyInstance, path: WritePath): void {
  const names = [...path.precisions.keys()]
  app.post(path.url, {
    config: { rateBudget: 'ingest' },
    // The key is checked before the body is read: an unknown sender never gets 16 MiB parsed.
    onRequest: influxClientAuthentication(app),
    schema: {
      summary: path.summary, description: `Agent key as ${ACCEPTED_CREDENTIALS}.`,
      tags: ['ingest'], security: [{ agentKey: [] }], querystring: WriteQuery(path.precisions),
      response: { 204: NoContent, ...path.errors },
    },
  }, async (request, reply) => {
    const name = (request.query as { precision?: string }).precision ?? 'ns'
    const precision = path.precisions.get(name)
    if (!precision) {
      throw new ApiError('VALIDATION_ERROR', `precision=${name.slice(0, 32)} is not accepted on ${path.url}: use ${names.slice(0, -1).join(', ')} or ${names.at(-1)} (default ns)`)
    }
    const text = typeof request.body === 'string' ? request.body : ''
    const parsed = parseLineProtocol(text, precision)
    const built = pointsToBatches(parsed.points, Date.now())
    if (parsed.points.length === 0 && parsed.errors.length === 0) throw new ApiError('VALIDATION_ERROR', 'writing requires points: the body holds no line of line protocol')
    // Every good line, in one transaction; the bad ones are listed below.
    const result = await app.ingest.ingest(request.ingestingAgent!, built.batches, { lastWriteWins: true })
    const accepted = parsed.points.length - built.errors.length
    void reply.header('x-hostpulse-points', String(accepted))
    void reply.header('x-hostpulse-rows', String(result.rows.metrics))
    void reply.header('x-hostpulse-skipped-string-fields', String(built.skippedFields))
    const errors = [...parsed.errors, ...built.errors]
    if (errors.length > 0) throw rejectedLinesError(text, errors, accepted)
    return reply.status(204).send()
  })
}

/** Hooks and parsers every InfluxDB route shares, in its own encapsulated context with its error format. */
function asInfluxDb(app: FastifyInstance, face: string, paths: RegExp, format: (body: ErrorBody) => unknown): void {
  app.setErrorHandler(errorHandlerFor(format))
  claimErrorFormat(face, paths, format)
  // Line protocol is text whatever the client calls it (text/plain, octet-stream, or nothing at all).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', readBody)
  // InfluxDB names itself on every answer; clients read the version from any of them.
  app.addHook('onRequest', async (_request, reply) => { void reply.headers(INFLUX_VERSION_HEADERS) })
}

export const lineProtocolRoutes: FastifyPluginAsync = async (app) => {
  await app.register(async (v2) => {
    asInfluxDb(v2, 'influxdb 2', V2_PATHS, influxV2ErrorBody)
    writeRoute(v2, { url: '/api/v2/write', precisions: V2_PRECISIONS, errors: INFLUX_V2_ERRORS,
      summary: 'Write InfluxDB line protocol (InfluxDB 2 API, Telegraf outputs.influxdb_v2); good lines are stored even when others are rejected' })
  })
  await app.register(async (v1) => {
    asInfluxDb(v1, 'influxdb 1', V1_PATHS, influxV1ErrorBody)
    writeRoute(v1, { url: '/write', precisions: V1_PRECISIONS, errors: INFLUX_V1_ERRORS,
      summary: 'Write InfluxDB line protocol (InfluxDB 1.x API, Telegraf outputs.influxdb); good lines are stored even when others are rejected' })
    await v1.register(influxPingQueryRoutes)
  })
}
