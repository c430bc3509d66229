// POST /api/v1/ingest: an agent's batches (or a replay of its buffer), authenticated by its API key
// before the body is read.
import type { FastifyPluginAsync } from 'fastify'
import { IngestAccepted, IngestBody, INGEST_PATH } from '../../contract/ingest-batch.ts'
import { ErrorBody } from '../http/response-schemas.ts'
import { checkBatches } from './check-batches.ts'

/**
 * The largest body an agent sends: a replay of its buffer (4 MiB segments) or one batch with the largest log
 * budget (--log-max-bytes 16MiB), twice over for JSON's escapes. Beyond it the answer is 413 from the
 * Content-Length alone, before the body is read (a chunked body is cut off there).
 */
const MAX_INGEST_BODY_BYTES = 32 * 1024 * 1024

/** The body schema documents the route; the batches are checked one by one so an error names its batch. */
const DOCUMENT_ONLY = () => () => true

export const ingestRoutes: FastifyPluginAsync = async (app) => {
  app.post(INGEST_PATH, {
    bodyLimit: MAX_INGEST_BODY_BYTES,
    onRequest: app.authenticateAgentKey,
    validatorCompiler: DOCUMENT_ONLY,
    schema: {
      summary: 'Store an agent\'s batch, or an array of batches (a buffer replay); a batch_id already stored is acknowledged, not stored twice',
      tags: ['ingest'], security: [{ agentKey: [] }], body: IngestBody,
      response: { 202: IngestAccepted, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody, 415: ErrorBody, 429: ErrorBody },
    },
  }, async (request, reply) => {
    const result = await app.ingest.ingest(request.ingestingAgent!, checkBatches(request.body))
    return reply.status(202).send(result)
  })
}
