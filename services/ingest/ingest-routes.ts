// POST /api/v1/ingest: an agent's batches (or a replay of its buffer), authenticated by its API key.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { Compile } from 'typebox/compile'
import { IngestBatch, INGEST_PATH, type IngestBatch as Batch } from '../../contract/ingest-batch.ts'
import { ApiError, validationError } from '../http/errors.ts'
import { agentFromApiKey } from '../agents/agent-key-auth.ts'

const checkBatch = Compile(IngestBatch)
const MAX_BATCHES_PER_REQUEST = 500
/** Clock skew we tolerate before calling an agent's timestamp wrong. */
const MAX_FUTURE_MS = 5 * 60_000
/** An item's own time stays within a day of its batch's (a process tree is read around its snapshot). */
const MAX_ITEM_SKEW_MS = 86_400_000

/** Validates each batch on its own so the error names the batch and field (`[3].metrics[0].value`). */
function parseBody(body: unknown): Batch[] {
  const many = Array.isArray(body)
  const batches = many ? body : [body]
  if (many && batches.length === 0) throw new ApiError('VALIDATION_ERROR', 'Invalid request: the batch array is empty', { '(body)': ['must hold at least one batch'] })
  if (batches.length > MAX_BATCHES_PER_REQUEST) {
    throw new ApiError('VALIDATION_ERROR', `Invalid request: at most ${MAX_BATCHES_PER_REQUEST} batches per request`, { '(body)': [`holds ${batches.length} batches`] })
  }
  const now = Date.now()
  batches.forEach((b, i) => {
    const prefix = many ? `[${i}]` : ''
    if (!checkBatch.Check(b)) throw validationError([...checkBatch.Errors(b)] as never, prefix)
    const batchMs = Date.parse((b as Batch).time)
    for (const [field, time] of timesOf(b as Batch)) {
      const name = `${prefix}${prefix && !field.startsWith('[') ? '.' : ''}${field}`
      if (Date.parse(time) < 0) {
        throw new ApiError('VALIDATION_ERROR', `Invalid request: ${name} is before 1970 (${time}); check the agent's clock`, { [name]: ['must be 1970 or later'] })
      }
      if (Date.parse(time) - now > MAX_FUTURE_MS) {
        throw new ApiError('VALIDATION_ERROR', `Invalid request: ${name} is in the future (${time}); check the agent's clock`, { [name]: ['is more than 5 minutes in the future'] })
      }
      if (Math.abs(Date.parse(time) - batchMs) > MAX_ITEM_SKEW_MS) {
        throw new ApiError('VALIDATION_ERROR', `Invalid request: ${name} (${time}) is more than a day away from its batch's time`, { [name]: ['must be within 24 hours of the batch time'] })
      }
    }
  })
  return batches as Batch[]
}

function* timesOf(b: Batch): Generator<[string, string]> {
  yield ['time', b.time]
  for (const key of ['metrics', 'disks', 'networks', 'processes', 'containers'] as const) {
    const items = b[key] ?? []
    for (let i = 0; i < items.length; i++) if (items[i].time) yield [`${key}[${i}].time`, items[i].time!]
  }
}

export const ingestRoutes: FastifyPluginAsync = async (app) => {
  app.post(INGEST_PATH, { bodyLimit: 64 * 1024 * 1024 }, async (request, reply) => {
    const agent = await agentFromApiKey(app.store.db, request)
    const result = await app.ingest.ingest(agent, parseBody(request.body))
    return reply.status(202).send(result)
  })
}
