// One resource's OTLP points → ingest batches for its agent, so they take the agent's write path; no I/O.
// Every point is a `metrics` row `otel.<name>` (lower case, anything outside [a-z0-9_] as `_`: system.cpu.time
// → otel.system_cpu_time) with its attributes as tags, plus the resource's service.name, service.namespace and
// service.instance.id (two services' http.server.duration stay two series). The hostmetrics receiver's points
// also become the agent's own families (otlp-hostmetrics.ts). One batch per instant; its id comes from its
// points, so a re-sent export is acknowledged without storing anything twice.
import { Compile } from 'typebox/compile'
import { MetricItem, type DiskItem, type IngestBatch, type MetricItem as Metric, type NetworkItem } from '../../contract/ingest-batch.ts'
import { MAX_FUTURE_MS } from './ingest-limits.ts'
import { contentBatchId } from './content-batch-id.ts'
import { hostmetricsRows, type CounterMemory } from './otlp-hostmetrics.ts'
import type { OtlpPoint, OtlpRejection, OtlpResource } from './otlp-metrics.ts'

/** The metric type every OTLP point is stored under (read back as `otel.<name>`). */
export const OTLP_METRIC_TYPE = 'otel'
/** Resource attributes that name a series' source, kept as tags. */
export const RESOURCE_TAGS = ['service.name', 'service.namespace', 'service.instance.id'] as const

const checkMetric = Compile(MetricItem)
const MAX_METRICS_PER_BATCH = 20_000
const VALUE_LIMIT = 1e300
const UNSTORABLE_TEXT = /\u0000|\p{Cs}/u

export interface OtlpBatches { batches: IngestBatch[]; rows: number; rejected: OtlpRejection[] }

/** An OTel metric name as a metric_name. */
export const otelMetricName = (name: string) => name.toLowerCase().replace(/[^a-z0-9_]/g, '_')

/** Why a point cannot be stored, or undefined. */
function problemOf(p: OtlpPoint, item: Metric, nowMs: number): string | undefined {
  if (p.timeMs <= 0) return 'time_unix_nano is missing'
  if (p.timeMs - nowMs > MAX_FUTURE_MS) return `time ${new Date(Math.min(p.timeMs, 8.64e15)).toISOString()} is more than 5 minutes in the future (check the sender's clock)`
  if (Math.abs(p.value) > VALUE_LIMIT) return `value ${p.value} is beyond ±1e300, which the store does not accept`
  if (item.metric_name.length > 128) return `the name makes ${OTLP_METRIC_TYPE}.${item.metric_name.slice(0, 40)}… of ${item.metric_name.length} characters (at most 128)`
  for (const [k, v] of Object.entries(item.tags ?? {})) {
    if (UNSTORABLE_TEXT.test(k) || UNSTORABLE_TEXT.test(v)) return `attribute ${JSON.stringify(k).slice(0, 64)} contains a NUL character or invalid UTF-8`
  }
  if (!checkMetric.Check(item)) {
    const issues = [...checkMetric.Errors(item)].map((e) => {
      const where = e.instancePath.replace(/^\//, '').replace(/\//g, '.')
      if (where === 'tags' || where === '') return 'more than 32 attributes (with the resource\'s service.*)'
      return `${where.replace(/^tags\./, 'attribute ')} ${e.message ?? 'is invalid'}`
    })
    return [...new Set(issues)].join('; ')
  }
  return undefined
}

/** A resource's points as batches for `agentId`; points that cannot be stored are listed, the others kept. */
export function otlpToBatches(resource: OtlpResource, agentId: string, nowMs: number, memory: CounterMemory): OtlpBatches {
  const rejected: OtlpRejection[] = [...resource.rejected]
  const resourceTags: Record<string, string> = {}
  for (const k of RESOURCE_TAGS) if (resource.attributes[k] !== undefined) resourceTags[k] = resource.attributes[k]
  const byTime = new Map<number, Map<string, Metric>>()
  const good: OtlpPoint[] = []
  for (const p of resource.points) {
    const tags = { ...resourceTags, ...p.attributes }
    const item: Metric = { metric_type: OTLP_METRIC_TYPE, metric_name: otelMetricName(p.name), value: p.value, tags }
    const problem = problemOf(p, item, nowMs)
    if (problem) { rejected.push({ metric: p.name, message: problem }); continue }
    good.push(p)
    const series = byTime.get(p.timeMs) ?? new Map<string, Metric>()
    byTime.set(p.timeMs, series)
    let key = item.metric_name
    for (const [k, v] of Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : 1))) key += `\u0000${k}\u0000${v}`
    series.set(key, item)
  }
  const host = hostmetricsRows(good, agentId, memory)
  const batches: IngestBatch[] = []
  let rows = 0
  for (const [ms, series] of byTime) {
    const keyed = [...series].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    const native = host.get(ms)
    rows += keyed.length
    for (let i = 0, part = 0; i < keyed.length; i += MAX_METRICS_PER_BATCH, part++) {
      const chunk = keyed.slice(i, i + MAX_METRICS_PER_BATCH)
      const batch: IngestBatch = { batch_id: contentBatchId('otlp-metrics-1', agentId, ms, part, chunk), time: new Date(ms).toISOString(), metrics: chunk.map(([, m]) => m) }
      // What the agent would have sent for this instant rides with its first part (same id: a retry skips both).
      if (part === 0 && native) addNative(batch, native.metrics, native.disks, native.networks)
      batches.push(batch)
    }
  }
  return { batches, rows, rejected }
}

function addNative(batch: IngestBatch, metrics: Metric[], disks: DiskItem[], networks: NetworkItem[]): void {
  // The contract's cap is per batch: the otel.* part is at most 20,000, so the native rows never overflow it by much.
  if (metrics.length > 0 && batch.metrics!.length + metrics.length <= MAX_METRICS_PER_BATCH) batch.metrics!.push(...metrics)
  if (disks.length > 0) batch.disks = disks.slice(0, 1000)
  if (networks.length > 0) batch.networks = networks.slice(0, 1000)
}
