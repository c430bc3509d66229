// Prometheus remote write 1.0 → ingest batches, so its samples take the agent's write path; pure, no I/O.
// A body is a protobuf prometheus.WriteRequest in snappy's block format. Every series lands in the narrow
// metrics table under one metric type, `prom`: `node_cpu_seconds_total{cpu="0",mode="idle",job="node",
// instance="h:9100"}` becomes prom.node_cpu_seconds_total with tags {cpu, mode, job, instance} (`__name__`
// dropped). One type keeps Prometheus names (process_*, node_network_*, node_disk_*) out of the built-in
// families and addressable as they are in PromQL. Counters are stored as the raw counter values.
import protobuf from 'protobufjs'
import { uncompress } from 'snappy'
import { Compile } from 'typebox/compile'
import { MetricItem, type IngestBatch, type MetricItem as Metric } from '../../contract/ingest-batch.ts'
import { DomainError } from '../errors/domain-error.ts'
import { MAX_FUTURE_MS } from './ingest-limits.ts'
import { contentBatchId } from './content-batch-id.ts'

/** The metric type every remote-written series is stored under (read back as `prom.<metric name>`). */
export const REMOTE_WRITE_METRIC_TYPE = 'prom'
/** The largest body once decompressed (Prometheus sends a few hundred KB at most with its defaults). */
export const MAX_REMOTE_WRITE_BYTES = 32 * 1024 * 1024
/** Samples in one request (Prometheus 2.42 sends at most max_samples_per_send, 500 by default). */
export const MAX_REMOTE_WRITE_SAMPLES = 200_000
/** Rejected samples listed in an answer; the rest are counted. */
export const MAX_LISTED_REJECTIONS = 100

// The fields a receiver reads, from prometheus/prompb (remote.proto, types.proto). Exemplars and metadata
// are skipped as unknown fields; native histograms are declared only to count what is not stored.
const PROTO = `syntax = "proto3";
package prometheus;
message WriteRequest { repeated TimeSeries timeseries = 1; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; repeated Histogram histograms = 4; }
message Label { string name = 1; string value = 2; }
message Sample { double value = 1; int64 timestamp = 2; }
message Histogram {}`
const WriteRequestType = protobuf.parse(PROTO, { keepCase: true }).root.lookupType('prometheus.WriteRequest')

// Remote write 2.0 (io.prometheus.write.v2.Request, prometheus/prompb/io/prometheus/write/v2/types.proto): every
// string interned in `symbols`, a series' labels as pairs of indexes into it. Fields 1-3 are reserved so a 1.0
// body never reads as a 2.0 one. Exemplars, metadata and created timestamps are skipped as unknown fields.
const PROTO_V2 = `syntax = "proto3";
package v2;
message Request { repeated string symbols = 4; repeated TimeSeries timeseries = 5; }
message TimeSeries { repeated uint32 labels_refs = 1; repeated Sample samples = 2; repeated Histogram histograms = 3; }
message Sample { double value = 1; int64 timestamp = 2; }
message Histogram {}`
const RequestV2Type = protobuf.parse(PROTO_V2, { keepCase: true }).root.lookupType('v2.Request')
/** The Content-Type parameter naming each message. */
export const REMOTE_WRITE_V1_MESSAGE = 'prometheus.WriteRequest'
export const REMOTE_WRITE_V2_MESSAGE = 'io.prometheus.write.v2.Request'

/** An int64 as protobufjs decodes it: a Long when the `long` package is present, else a number. */
type Int64 = number | { toNumber(): number }
export interface RemoteWriteSeries { labels: Array<{ name: string; value: string }>; samples: Array<{ value: number; timestamp: Int64 }>; histograms: unknown[] }
export interface WriteRequest { timeseries: RemoteWriteSeries[] }

/** The uncompressed length a snappy block announces in its header (a varint), or -1 when it has none. */
function announcedLength(block: Uint8Array): number {
  let length = 0
  for (let i = 0; i < 5 && i < block.length; i++) {
    length += (block[i] & 0x7f) * 2 ** (7 * i)
    if (block[i] < 0x80) return length
  }
  return -1
}

const SNAPPY_HINT = 'remote write 1.0 sends a protobuf prometheus.WriteRequest compressed in snappy\'s block format (not its framed format)'

/** Snappy block → bytes, off the event loop; a 413 for more than `maxBytes`, a 400 for anything unreadable. */
export async function decompressRemoteWrite(body: Uint8Array, maxBytes = MAX_REMOTE_WRITE_BYTES): Promise<Buffer> {
  const length = announcedLength(body)
  if (length < 0) throw new DomainError('malformed', `The body is not snappy-compressed (no length header): ${SNAPPY_HINT}`)
  // Checked before decompressing: the header alone would make the decoder allocate it.
  if (length > maxBytes) {
    throw new DomainError('too_large', `The body decompresses to ${length} bytes, more than ${maxBytes}: lower queue_config.max_samples_per_send`)
  }
  try {
    return await uncompress(body, { asBuffer: true }) as Buffer
  } catch (err) {
    throw new DomainError('malformed', `The body is not valid snappy data (${(err as Error).message}): ${SNAPPY_HINT}`, { cause: err })
  }
}

/** Bytes → WriteRequest, or a 400 naming what could not be read. */
export function decodeWriteRequest(bytes: Uint8Array): WriteRequest {
  try {
    return WriteRequestType.decode(bytes) as unknown as WriteRequest
  } catch (err) {
    // Stack exhaustion from nested groups is a RangeError too: still the body's fault.
    throw new DomainError('malformed', `The body is not a protobuf prometheus.WriteRequest (${(err as Error).message}): ${SNAPPY_HINT}`, { cause: err })
  }
}

/** The label a 2.0 series with unreadable label references carries instead of its labels. */
const INVALID_REFS = '__invalid_refs__'

interface RequestV2 { symbols: string[]; timeseries: Array<{ labels_refs: number[]; samples: RemoteWriteSeries['samples']; histograms: unknown[] }> }

/**
 * A remote write 2.0 body → the 1.0 shape the mapping reads: each series' labels looked up in the symbol
 * table. A series whose references are odd in number or point past the table gets a label `__invalid_refs__`
 * that the mapping rejects with the reason (its samples are counted, the others stored).
 */
export function decodeWriteRequestV2(bytes: Uint8Array): WriteRequest {
  let decoded: RequestV2
  try {
    decoded = RequestV2Type.decode(bytes) as unknown as RequestV2
  } catch (err) {
    throw new DomainError('malformed', `The body is not a protobuf ${REMOTE_WRITE_V2_MESSAGE} (${(err as Error).message}): remote write 2.0 sends it snappy-compressed`, { cause: err })
  }
  const { symbols } = decoded
  return {
    timeseries: decoded.timeseries.map((series) => {
      const refs = series.labels_refs
      const broken = refs.length % 2 !== 0 || refs.some((r) => r >= symbols.length)
      const labels = broken
        ? [{ name: INVALID_REFS, value: `${refs.length} label references for a symbol table of ${symbols.length}` }]
        : Array.from({ length: refs.length / 2 }, (_, i) => ({ name: symbols[refs[2 * i]], value: symbols[refs[2 * i + 1]] }))
      return { labels, samples: series.samples, histograms: series.histograms }
    }),
  }
}

/** One sample, or a whole series (`timestamp` null, `samples` its sample count), that could not be stored, and why. */
export interface RejectedSample { series: string; timestamp: number | null; message: string; samples: number }

export interface RemoteWriteBatches {
  batches: IngestBatch[]
  /** Samples kept (after a repeated series and timestamp within the request collapsed to its last value). */
  rows: number
  /** Samples in the request, stored or not. */
  samples: number
  /** NaN, ±Inf and staleness markers (a NaN with a special payload): Prometheus's "no value", never stored. */
  skippedNonFinite: number
  /** Native histogram samples, which the narrow table cannot hold. */
  skippedHistograms: number
  rejected: RejectedSample[]
  /** Rejected samples in all (`rejected` lists at most MAX_LISTED_REJECTIONS). */
  rejectedCount: number
}

/** A Prometheus metric name as a metric_name: lower case, and `:` of recording rules (and anything else) as `_`. */
export function metricNameOf(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_]/g, '_')
}

const checkMetric = Compile(MetricItem)
/** The contract's cap on metrics per batch. */
const MAX_METRICS_PER_BATCH = 20_000
const VALUE_LIMIT = 1e300
/** NUL, or a lone surrogate (with the u flag a well-formed pair is one code point, so \p{Cs} matches only halves). */
const UNSTORABLE_TEXT = /\u0000|\p{Cs}/u

/** A series as PromQL prints it, for messages. */
function seriesText(labels: RemoteWriteSeries['labels']): string {
  const name = labels.find((l) => l.name === '__name__')?.value ?? ''
  const rest = labels.filter((l) => l.name !== '__name__').map((l) => `${l.name}=${JSON.stringify(l.value)}`)
  const text = `${name}{${rest.join(',')}}`
  return text.length > 200 ? `${text.slice(0, 200)}…` : text
}

/** The series' metric and tags, or why it cannot be stored; checked once per series against the contract. */
function seriesMetric(labels: RemoteWriteSeries['labels']): { metric: Omit<Metric, 'value'>; key: string } | { problem: string } {
  let name: string | undefined
  const entries: Array<[string, string]> = []
  let sorted = true
  for (const l of labels) {
    // PostgreSQL text cannot hold NUL, which a protobuf string may carry (a half surrogate pair too, should a decoder let one through).
    const bad = UNSTORABLE_TEXT.test(l.name) ? l.name : UNSTORABLE_TEXT.test(l.value) ? l.value : undefined
    if (bad !== undefined) return { problem: `label ${JSON.stringify(l.name).slice(0, 64)} ${bad === l.name ? 'name' : 'value'} contains a NUL character or invalid UTF-8` }
    if (l.name === '__name__') { name = l.value; continue }
    if (l.name.length === 0) continue
    if (entries.length > 0 && entries[entries.length - 1][0] >= l.name) sorted = false
    entries.push([l.name, l.value])
  }
  if (name === undefined && labels.length === 1 && labels[0].name === INVALID_REFS) return { problem: `labels_refs cannot be read: ${labels[0].value} (each label is a pair of indexes into symbols)` }
  if (!name) return { problem: 'the series has no __name__ label' }
  // Senders sort labels by name (the protocol asks them to); the key needs one order whatever arrives.
  if (!sorted) entries.sort(([a], [b]) => (a < b ? -1 : 1))
  // fromEntries, not assignment: a label named __proto__ stays a tag.
  const metric = { metric_type: REMOTE_WRITE_METRIC_TYPE, metric_name: metricNameOf(name), tags: Object.fromEntries(entries) as Record<string, string> }
  const probe = { ...metric, value: 0 }
  if (!checkMetric.Check(probe)) {
    const issues = [...checkMetric.Errors(probe)].map((e) => {
      const where = e.instancePath.replace(/^\//, '').replace(/\//g, '.')
      if (where === 'metric_name') return 'the metric name is longer than 128 characters'
      if (where === 'tags' || where === '') return 'more than 32 labels besides __name__'
      return `label ${where.replace(/^tags\./, '')} ${e.message ?? 'is invalid'}`
    })
    return { problem: [...new Set(issues)].join('; ') }
  }
  let key = metric.metric_name
  for (const [k, v] of entries) key += `\u0000${k}\u0000${v}`
  return { metric, key }
}

const timestampOf = (t: Int64) => (typeof t === 'number' ? t : t.toNumber())

/**
 * A decoded WriteRequest → one batch per instant (split at the contract's cap), each sample a `metrics` row.
 * Samples that cannot be stored are listed with why; the others are kept. A series and instant written
 * twice in one request keeps its last value.
 */
export function writeRequestToBatches(request: WriteRequest, agentId: string, nowMs: number): RemoteWriteBatches {
  const out: RemoteWriteBatches = { batches: [], rows: 0, samples: 0, skippedNonFinite: 0, skippedHistograms: 0, rejected: [], rejectedCount: 0 }
  const reject = (labels: RemoteWriteSeries['labels'], timestamp: number | null, message: string, count = 1) => {
    out.rejectedCount += count
    if (out.rejected.length < MAX_LISTED_REJECTIONS) out.rejected.push({ series: seriesText(labels), timestamp, message, samples: count })
  }
  const total = request.timeseries.reduce((n, s) => n + s.samples.length, 0)
  if (total > MAX_REMOTE_WRITE_SAMPLES) {
    throw new DomainError('too_large', `The request holds ${total} samples, more than ${MAX_REMOTE_WRITE_SAMPLES}: lower queue_config.max_samples_per_send`)
  }
  const byTime = new Map<number, Map<string, Metric>>()
  for (const series of request.timeseries) {
    out.samples += series.samples.length
    out.skippedHistograms += series.histograms.length
    // A staleness marker is no sample, even of a series that could not be stored.
    const finite = series.samples.filter((s) => Number.isFinite(s.value))
    out.skippedNonFinite += series.samples.length - finite.length
    if (finite.length === 0) continue
    const mapped = seriesMetric(series.labels)
    if ('problem' in mapped) { reject(series.labels, null, mapped.problem, finite.length); continue }
    for (const sample of finite) {
      const ms = timestampOf(sample.timestamp)
      if (Math.abs(sample.value) > VALUE_LIMIT) { reject(series.labels, ms, `value ${sample.value} is beyond ±1e300, which the store does not accept`); continue }
      if (!Number.isSafeInteger(ms) || ms < 0) { reject(series.labels, ms, 'timestamp is before 1970 (remote write sends milliseconds since 1970)'); continue }
      if (ms - nowMs > MAX_FUTURE_MS) {
        reject(series.labels, ms, `timestamp ${new Date(Math.min(ms, 8.64e15)).toISOString()} is more than 5 minutes in the future (check the sender's clock)`)
        continue
      }
      const instant = byTime.get(ms) ?? new Map<string, Metric>()
      byTime.set(ms, instant)
      const { metric_type, metric_name, tags } = mapped.metric
      instant.set(mapped.key, { metric_type, metric_name, value: sample.value, tags })
    }
  }
  for (const [ms, series] of byTime) {
    // In a fixed order, so that the same samples always make the same batches and ids.
    const keyed = [...series].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    out.rows += keyed.length
    for (let i = 0, part = 0; i < keyed.length; i += MAX_METRICS_PER_BATCH, part++) {
      const chunk = keyed.slice(i, i + MAX_METRICS_PER_BATCH)
      out.batches.push({ batch_id: contentBatchId('prometheus-remote-write-1', agentId, ms, part, chunk), time: new Date(ms).toISOString(), metrics: chunk.map(([, m]) => m) })
    }
  }
  return out
}

/**
 * The host a series names: its `instance` label without the port (`web-01:9100` → `web-01`,
 * `[2001:db8::1]:9100` → `2001:db8::1`), or undefined when it has none.
 */
export function instanceHost(labels: RemoteWriteSeries['labels']): string | undefined {
  const instance = labels.find((l) => l.name === 'instance')?.value.trim()
  if (!instance) return undefined
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(instance)
  if (bracketed) return bracketed[1]
  // One colon: host:port; more (a bare IPv6 address): no port to take off.
  return (instance.match(/:/g)?.length ?? 0) === 1 ? instance.replace(/:\d*$/, '') || undefined : instance
}

/** A WriteRequest's series grouped by the host they name (instanceHost); series naming none under undefined. */
export function splitByHost(request: WriteRequest): Map<string | undefined, WriteRequest> {
  const out = new Map<string | undefined, WriteRequest>()
  for (const series of request.timeseries) {
    const host = instanceHost(series.labels)
    const group = out.get(host) ?? { timeseries: [] }
    out.set(host, group)
    group.timeseries.push(series)
  }
  return out
}

/** Every finite sample of `request` refused for one reason (a host whose agent cannot take data), counted like the others. */
export function refuseRequest(request: WriteRequest, message: string): RemoteWriteBatches {
  const out: RemoteWriteBatches = { batches: [], rows: 0, samples: 0, skippedNonFinite: 0, skippedHistograms: 0, rejected: [], rejectedCount: 0 }
  for (const series of request.timeseries) {
    out.samples += series.samples.length
    out.skippedHistograms += series.histograms.length
    const finite = series.samples.filter((s) => Number.isFinite(s.value)).length
    out.skippedNonFinite += series.samples.length - finite
    if (finite === 0) continue
    out.rejectedCount += finite
    if (out.rejected.length < MAX_LISTED_REJECTIONS) out.rejected.push({ series: seriesText(series.labels), timestamp: null, message, samples: finite })
  }
  return out
}

/** The counts of several parts of one request, as one (batches are stored per part, so they are not merged). */
export function addCounts(into: RemoteWriteBatches, part: RemoteWriteBatches): void {
  into.rows += part.rows
  into.samples += part.samples
  into.skippedNonFinite += part.skippedNonFinite
  into.skippedHistograms += part.skippedHistograms
  into.rejectedCount += part.rejectedCount
  into.rejected.push(...part.rejected.slice(0, Math.max(0, MAX_LISTED_REJECTIONS - into.rejected.length)))
}
