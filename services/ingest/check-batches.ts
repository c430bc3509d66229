// A request body → ingest batches, each checked against the wire contract and the clock, or an `invalid`
// error naming the batch and field (`[3].metrics[0].value`).
import { Compile } from 'typebox/compile'
import { IngestBatch, type IngestBatch as Batch } from '../../contract/ingest-batch.ts'
import { DomainError } from '../errors/domain-error.ts'
import { invalidInput } from '../errors/validation-issues.ts'
import { MAX_BATCHES_PER_REQUEST, MAX_FUTURE_MS, MAX_ITEM_SKEW_MS } from './ingest-limits.ts'

const checkBatch = Compile(IngestBatch)

const invalid = (message: string, field: string, problem: string) => new DomainError('invalid', message, { details: { [field]: [problem] } })

export function checkBatches(body: unknown, now = Date.now()): Batch[] {
  const many = Array.isArray(body)
  const batches = many ? body : [body]
  if (many && batches.length === 0) throw invalid('Invalid request: the batch array is empty', '(body)', 'must hold at least one batch')
  if (batches.length > MAX_BATCHES_PER_REQUEST) {
    throw invalid(`Invalid request: at most ${MAX_BATCHES_PER_REQUEST} batches per request`, '(body)', `holds ${batches.length} batches`)
  }
  batches.forEach((b, i) => {
    const prefix = many ? `[${i}]` : ''
    if (!checkBatch.Check(b)) throw invalidInput([...checkBatch.Errors(b)] as never, prefix)
    const batchMs = Date.parse((b as Batch).time)
    for (const [field, time] of timesOf(b as Batch)) {
      const name = `${prefix}${prefix && !field.startsWith('[') ? '.' : ''}${field}`
      if (Date.parse(time) < 0) throw invalid(`Invalid request: ${name} is before 1970 (${time}); check the agent's clock`, name, 'must be 1970 or later')
      if (Date.parse(time) - now > MAX_FUTURE_MS) {
        throw invalid(`Invalid request: ${name} is in the future (${time}); check the agent's clock`, name, 'is more than 5 minutes in the future')
      }
      if (Math.abs(Date.parse(time) - batchMs) > MAX_ITEM_SKEW_MS) {
        throw invalid(`Invalid request: ${name} (${time}) is more than a day away from its batch's time`, name, 'must be within 24 hours of the batch time')
      }
    }
  })
  return batches as Batch[]
}

function* timesOf(b: Batch): Generator<[string, string]> {
  yield ['time', b.time]
  for (const key of ['metrics', 'disks', 'networks', 'processes', 'containers', 'logs'] as const) {
    const items = b[key] ?? []
    for (let i = 0; i < items.length; i++) if (items[i].time) yield [`${key}[${i}].time`, items[i].time!]
  }
}
