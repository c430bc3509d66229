// Line protocol points → ingest batches (the contract the agent sends), so they take the same write path:
// one batch per timestamp, every numeric or boolean field one `metrics` row; pure, no I/O. Written
// measurements live in a namespace of their own, `influx.<measurement>_<field>` (Telegraf's own Prometheus
// spelling of a field), so a Telegraf `disk` never lands in hostpulse's built-in `disk` family.
import { randomUUID } from 'node:crypto'
import { Compile } from 'typebox/compile'
import { MetricItem, type IngestBatch, type MetricItem as Metric } from '../../contract/ingest-batch.ts'
import { normalizeName, type LinePoint } from './line-protocol.ts'
import { MAX_FUTURE_MS } from './ingest-limits.ts'

const checkMetric = Compile(MetricItem)
/** The contract's cap on metrics per batch: a timestamp with more rows is split over several batches. */
const MAX_METRICS_PER_BATCH = 20_000
/** The range a JavaScript Date (and so the API) can represent. */
const MAX_DATE_MS = 8.64e15
/** The metric type every line protocol field is stored under (read back as `influx.<measurement>_<field>`). */
export const LINE_PROTOCOL_METRIC_TYPE = 'influx'
/** The contract's longest metric_name. */
const MAX_NAME_LENGTH = 128

export interface LineBatches {
  batches: IngestBatch[]
  /** Line number → why it cannot be stored. */
  errors: Array<{ line: number; message: string }>
  rows: number
  /** String fields, which the metrics table cannot hold. */
  skippedFields: number
}

const describeIssue = (e: { instancePath: string; message?: string }) => `${e.instancePath.replace(/^\//, '').replace(/\//g, '.') || 'row'} ${e.message ?? 'is invalid'}`

export function pointsToBatches(points: LinePoint[], nowMs: number, newId: () => string = randomUUID): LineBatches {
  const errors: LineBatches['errors'] = []
  // Per millisecond, per series: a later line for the same series and instant replaces the earlier (as in InfluxDB).
  const byTime = new Map<number, Map<string, Metric>>()
  let skippedFields = 0
  let rows = 0
  for (const p of points) {
    // Sub-millisecond digits are dropped: the store keeps times to the millisecond.
    const ms = p.timestampNs === null ? nowMs : Number(p.timestampNs / 1_000_000n) - (p.timestampNs % 1_000_000n < 0n ? 1 : 0)
    if (Math.abs(ms) > MAX_DATE_MS) { errors.push({ line: p.line, message: 'timestamp is outside the representable range (check the precision parameter)' }); continue }
    if (ms - nowMs > MAX_FUTURE_MS) {
      errors.push({ line: p.line, message: `timestamp ${new Date(ms).toISOString()} is more than 5 minutes in the future (check the precision parameter and the sender's clock)` })
      continue
    }
    const measurement = normalizeName(p.measurement)
    const items: Metric[] = []
    const problems: string[] = []
    for (const [key, field] of Object.entries(p.fields)) {
      if (field.kind === 'string') { skippedFields++; continue }
      const name = `${measurement}_${normalizeName(key)}`
      if (name.length > MAX_NAME_LENGTH) {
        problems.push(`measurement and field "${key.slice(0, 40)}" make a name of ${name.length} characters (stored as ${LINE_PROTOCOL_METRIC_TYPE}.<measurement>_<field>; at most ${MAX_NAME_LENGTH})`)
        continue
      }
      const item: Metric = {
        metric_type: LINE_PROTOCOL_METRIC_TYPE, metric_name: name,
        value: field.kind === 'boolean' ? (field.value ? 1 : 0) : field.value, tags: p.tags,
      }
      if (checkMetric.Check(item)) items.push(item)
      else problems.push(...[...checkMetric.Errors(item)].map((e) => `field "${key}": ${describeIssue(e as never)}`))
    }
    if (problems.length > 0) { errors.push({ line: p.line, message: [...new Set(problems)].join('; ') }); continue }
    if (items.length === 0) continue
    const series = byTime.get(ms) ?? new Map<string, Metric>()
    byTime.set(ms, series)
    const tagKey = JSON.stringify(Object.entries(p.tags).sort(([a], [b]) => (a < b ? -1 : 1)))
    for (const item of items) series.set(`${item.metric_type}\u0000${item.metric_name}\u0000${tagKey}`, item)
  }
  const batches: IngestBatch[] = []
  for (const [ms, series] of byTime) {
    const metrics = [...series.values()]
    rows += metrics.length
    for (let i = 0; i < metrics.length; i += MAX_METRICS_PER_BATCH) {
      batches.push({ batch_id: newId(), time: new Date(ms).toISOString(), metrics: metrics.slice(i, i + MAX_METRICS_PER_BATCH) })
    }
  }
  return { batches, errors, rows, skippedFields }
}
