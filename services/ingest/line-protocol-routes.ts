// POST /api/v2/write and /write: InfluxDB line protocol from Telegraf or any line protocol client, with an
// agent key, stored through the ingest service like the agent's own batches (dedupe, latest, one transaction).
// Answers 204 like InfluxDB (clients such as influxdb-python accept nothing else); the counts travel in
// X-Hostpulse-* headers. A request is all or nothing: any bad line is a 400 naming every bad line.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { createGunzip } from 'node:zlib'
import type { Readable } from 'node:stream'
import { Type } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { ErrorBody, NoContent } from '../http/response-schemas.ts'
import { PRECISIONS, parseLineProtocol, type Precision } from './line-protocol.ts'
import { pointsToBatches } from './line-protocol-batches.ts'

export const LINE_PROTOCOL_PATHS = ['/api/v2/write', '/write'] as const
/** The largest body, after decompression. */
export const MAX_LINE_PROTOCOL_BYTES = 16 * 1024 * 1024
/** Lines named in one 400 answer; a body of garbage does not become a megabyte of details. */
const MAX_REPORTED_LINES = 100

const WriteQuery = Type.Object({
  precision: Type.Optional(Type.Union(PRECISIONS.map((p) => Type.Literal(p)), { description: 'Timestamp unit; default ns' })),
  org: Type.Optional(Type.String({ description: 'Accepted and ignored (the agent key decides the organization)' })),
  bucket: Type.Optional(Type.String({ description: 'Accepted and ignored' })),
  db: Type.Optional(Type.String({ description: 'InfluxDB 1.x: accepted and ignored' })),
  rp: Type.Optional(Type.String({ description: 'InfluxDB 1.x: accepted and ignored' })),
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

export const lineProtocolRoutes: FastifyPluginAsync = async (app) => {
  // Line protocol is text whatever the client calls it (text/plain, octet-stream, or nothing at all).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', readBody)

  for (const url of LINE_PROTOCOL_PATHS) {
    app.post(url, {
      config: { rateBudget: 'ingest' },
      // The key is checked before the body is read: an unknown sender never gets 16 MiB parsed.
      onRequest: app.authenticateAgentKey,
      schema: {
        summary: 'Write InfluxDB line protocol (Telegraf outputs.influxdb_v2); agent key as X-API-Key or Authorization: Token',
        tags: ['ingest'], security: [{ agentKey: [] }], querystring: WriteQuery,
        response: { 204: NoContent, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody, 415: ErrorBody, 429: ErrorBody },
      },
    }, async (request, reply) => {
      const agent = request.ingestingAgent!
      const text = typeof request.body === 'string' ? request.body : ''
      const precision = (request.query as { precision?: Precision }).precision ?? 'ns'
      const parsed = parseLineProtocol(text, precision)
      const built = pointsToBatches(parsed.points, Date.now())
      const errors = [...parsed.errors, ...built.errors].sort((a, b) => a.line - b.line)
      if (errors.length > 0) {
        const details: Record<string, string[]> = {}
        for (const e of errors.slice(0, MAX_REPORTED_LINES)) (details[`line ${e.line}`] ??= []).push(e.message)
        if (errors.length > MAX_REPORTED_LINES) details['(more)'] = [`${errors.length - MAX_REPORTED_LINES} more invalid lines not listed`]
        const first = errors[0]
        throw new ApiError('VALIDATION_ERROR',
          `Invalid line protocol: line ${first.line} ${first.message}${errors.length > 1 ? ` (and ${errors.length - 1} more line${errors.length > 2 ? 's' : ''})` : ''}; nothing was stored`,
          details)
      }
      if (parsed.points.length === 0) throw new ApiError('VALIDATION_ERROR', 'Invalid line protocol: the body holds no lines', { '(body)': ['must hold at least one line'] })
      const result = await app.ingest.ingest(agent, built.batches)
      void reply.header('x-hostpulse-points', String(parsed.points.length))
      void reply.header('x-hostpulse-rows', String(result.rows.metrics))
      void reply.header('x-hostpulse-skipped-string-fields', String(built.skippedFields))
      return reply.status(204).send()
    })
  }
}
