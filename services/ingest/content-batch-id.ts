// Batch ids from content, for the writers whose clients retry without an id of their own (Prometheus remote
// write, OTLP exporters): the same points re-sent get the same id, which the ingest service acknowledges
// without storing twice; points of the same instant in another request (another shard) are other content.
import { createHash } from 'node:crypto'
import type { MetricItem } from '../../contract/ingest-batch.ts'

/**
 * The id of one batch: `protocol` (and its version) keeps two writers' ids apart, `part` the pieces of an
 * instant split at the contract's cap; `keyed` is the batch's series keys and values in a fixed order.
 */
export function contentBatchId(protocol: string, agentId: string, ms: number, part: number, keyed: Array<[string, MetricItem]>): string {
  const hash = createHash('sha256').update(`${protocol}\u0000${agentId}\u0000${ms}\u0000${part}`)
  const value = Buffer.alloc(8)
  for (const [key, m] of keyed) {
    value.writeDoubleLE(m.value)
    hash.update(key).update(value)
  }
  const h = hash.digest('hex')
  // Laid out as a UUID (version 8: custom), the type ingest_batches keys on.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`
}
