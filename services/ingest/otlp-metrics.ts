// OTLP metrics (OpenTelemetry SDKs, the OpenTelemetry Collector, Grafana Alloy) → data points; pure, no I/O.
// An ExportMetricsServiceRequest arrives as protobuf or as OTLP/JSON; both are read into one plain shape
// (protobufjs's camelCase names are OTLP/JSON's own), then flattened: one OtlpPoint per stored value, under
// the resource that sent it. Gauges and sums are one value each; an explicit-bucket histogram is its count,
// sum and cumulative buckets (`le`, as Prometheus stores one); a summary its count, sum and quantiles.
// Exponential histograms are refused per point with the reason.
import protobuf from 'protobufjs'
import { DomainError } from '../errors/domain-error.ts'

// The fields a receiver reads, from opentelemetry-proto (collector/metrics/v1/metrics_service.proto,
// metrics/v1/metrics.proto, common/v1/common.proto, resource/v1/resource.proto). Exemplars and metadata
// are left out: protobuf skips them as unknown fields, and OTLP/JSON's unknown keys are ignored.
export const OTLP_METRICS_PROTO = `syntax = "proto3";
package otlp;
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ExportMetricsServiceResponse { ExportMetricsPartialSuccess partial_success = 1; }
message ExportMetricsPartialSuccess { int64 rejected_data_points = 1; string error_message = 2; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
message InstrumentationScope { string name = 1; string version = 2; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message Metric {
  string name = 1; string description = 2; string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; ExponentialHistogram exponential_histogram = 10; Summary summary = 11; }
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message ExponentialHistogram { repeated ExponentialHistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message Summary { repeated SummaryDataPoint data_points = 1; }
message NumberDataPoint {
  repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; }
  uint32 flags = 8;
}
message HistogramDataPoint {
  repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  fixed64 count = 4; optional double sum = 5; repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7;
  uint32 flags = 10; optional double min = 11; optional double max = 12;
}
message ExponentialHistogramDataPoint { repeated KeyValue attributes = 1; fixed64 time_unix_nano = 3; fixed64 count = 4; }
message SummaryDataPoint {
  repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  fixed64 count = 4; double sum = 5; repeated ValueAtQuantile quantile_values = 6; uint32 flags = 8;
}
message ValueAtQuantile { double quantile = 1; double value = 2; }`
const root = protobuf.parse(OTLP_METRICS_PROTO).root
const RequestType = root.lookupType('otlp.ExportMetricsServiceRequest')
const ResponseType = root.lookupType('otlp.ExportMetricsServiceResponse')

/** One stored value: `name` is the metric's OTel name plus a suffix (_count, _sum, _bucket) for histograms and summaries. */
export interface OtlpPoint {
  /** The OTel metric name as sent (system.cpu.time), or with its histogram or summary suffix. */
  name: string
  kind: 'gauge' | 'sum' | 'histogram' | 'summary'
  /** Sums: cumulative (counters and up-down counters as totals) or delta (the change over start → time). */
  temporality: 'cumulative' | 'delta' | 'unspecified'
  monotonic: boolean
  attributes: Record<string, string>
  timeMs: number
  /** The start of a cumulative series or a delta's interval (0 when not sent). */
  startMs: number
  value: number
}

/** A point that cannot be stored, and why (counted in the answer's partial_success). */
export interface OtlpRejection { metric: string; message: string }

export interface OtlpResource {
  attributes: Record<string, string>
  points: OtlpPoint[]
  rejected: OtlpRejection[]
  /** Data points sent for this resource (a histogram is one, however many values it makes). */
  dataPoints: number
}

/** Data points in one request at most (a Collector's default batch is 8,192). */
export const MAX_OTLP_DATA_POINTS = 200_000
/** The largest body once decompressed. */
export const MAX_OTLP_BYTES = 32 * 1024 * 1024
/** DataPointFlags: FLAG_NO_RECORDED_VALUE (a staleness marker, as Prometheus's). */
const NO_RECORDED_VALUE = 1

// The decoded message, as protobufjs's toObject gives it (and OTLP/JSON writes it).
interface AnyValue { stringValue?: string; boolValue?: boolean; intValue?: string; doubleValue?: number; arrayValue?: { values?: AnyValue[] }; kvlistValue?: { values?: KeyValue[] }; bytesValue?: string }
interface KeyValue { key?: string; value?: AnyValue }
interface NumberPoint { attributes?: KeyValue[]; startTimeUnixNano?: string; timeUnixNano?: string; asDouble?: number; asInt?: string; flags?: number }
interface HistogramPoint { attributes?: KeyValue[]; startTimeUnixNano?: string; timeUnixNano?: string; count?: string; sum?: number; bucketCounts?: string[]; explicitBounds?: number[]; flags?: number }
interface SummaryPoint { attributes?: KeyValue[]; startTimeUnixNano?: string; timeUnixNano?: string; count?: string; sum?: number; quantileValues?: Array<{ quantile?: number; value?: number }>; flags?: number }
interface Metric {
  name?: string
  gauge?: { dataPoints?: NumberPoint[] }
  sum?: { dataPoints?: NumberPoint[]; aggregationTemporality?: number; isMonotonic?: boolean }
  histogram?: { dataPoints?: HistogramPoint[]; aggregationTemporality?: number }
  exponentialHistogram?: { dataPoints?: unknown[] }
  summary?: { dataPoints?: SummaryPoint[] }
}
export interface ExportRequest { resourceMetrics?: Array<{ resource?: { attributes?: KeyValue[] }; scopeMetrics?: Array<{ metrics?: Metric[] }> }> }

const TO_OBJECT = { longs: String, enums: Number, bytes: String, defaults: false, arrays: true }

/** Protobuf bytes → the request, or a 400 saying what could not be read. */
export function decodeProtobufRequest(bytes: Uint8Array): ExportRequest {
  try {
    return RequestType.toObject(RequestType.decode(bytes), TO_OBJECT) as ExportRequest
  } catch (err) {
    throw new DomainError('malformed', `The body is not a protobuf ExportMetricsServiceRequest (${(err as Error).message}): OTLP/HTTP sends Content-Type application/x-protobuf`, { cause: err })
  }
}

/** OTLP/JSON text → the request (the same checks as protobuf: a field of the wrong type is a 400 naming it). */
export function decodeJsonRequest(text: string): ExportRequest {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new DomainError('malformed', `The body is not JSON (${(err as Error).message}): OTLP/JSON sends an ExportMetricsServiceRequest object`, { cause: err })
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new DomainError('malformed', 'The body is not an ExportMetricsServiceRequest: OTLP/JSON sends an object with resourceMetrics')
  }
  try {
    return RequestType.toObject(RequestType.fromObject(parsed as Record<string, unknown>), TO_OBJECT) as ExportRequest
  } catch (err) {
    throw new DomainError('malformed', `The body is not an OTLP/JSON ExportMetricsServiceRequest: ${(err as Error).message.replace(/^\.?otlp\.ExportMetricsServiceRequest\./, '')}`, { cause: err })
  }
}

/** The answer to an export: empty, or how many points were refused and why, as protobuf or OTLP/JSON. */
export function exportResponse(rejected: number, message: string, encoding: 'protobuf' | 'json'): Uint8Array | Record<string, unknown> {
  const body = rejected > 0 ? { partialSuccess: { rejectedDataPoints: rejected, errorMessage: message } } : {}
  if (encoding === 'json') return body
  return ResponseType.encode(ResponseType.fromObject(body)).finish()
}

/** An attribute value as a tag's text: strings as they are, numbers and booleans printed, arrays and maps as JSON. */
function anyText(v: AnyValue | undefined): string {
  if (!v) return ''
  if (v.stringValue !== undefined) return v.stringValue
  if (v.boolValue !== undefined) return String(v.boolValue)
  if (v.intValue !== undefined) return String(v.intValue)
  if (v.doubleValue !== undefined) return String(v.doubleValue)
  if (v.bytesValue !== undefined) return v.bytesValue
  if (v.arrayValue) return JSON.stringify((v.arrayValue.values ?? []).map(anyText))
  if (v.kvlistValue) return JSON.stringify(Object.fromEntries((v.kvlistValue.values ?? []).map((kv) => [kv.key ?? '', anyText(kv.value)])))
  return ''
}

export function attributesOf(list: KeyValue[] | undefined): Record<string, string> {
  // fromEntries: an attribute named __proto__ stays an attribute.
  return Object.fromEntries((list ?? []).filter((kv) => kv.key).map((kv) => [kv.key!, anyText(kv.value)]))
}

/** Nanoseconds since 1970 (decimal text) → milliseconds, exactly (sub-millisecond digits dropped: the store keeps ms). */
function msOf(nanos: string | undefined): number {
  if (!nanos || !/^\d+$/.test(nanos)) return 0
  return Number(BigInt(nanos) / 1_000_000n)
}

const TEMPORALITY = { 1: 'delta', 2: 'cumulative' } as Record<number, 'delta' | 'cumulative'>

/** A request's points per resource; the count is checked first, so a huge request is refused before any work. */
export function flattenRequest(request: ExportRequest): OtlpResource[] {
  let total = 0
  for (const rm of request.resourceMetrics ?? []) {
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        total += (m.gauge?.dataPoints?.length ?? 0) + (m.sum?.dataPoints?.length ?? 0) + (m.histogram?.dataPoints?.length ?? 0)
          + (m.exponentialHistogram?.dataPoints?.length ?? 0) + (m.summary?.dataPoints?.length ?? 0)
      }
    }
  }
  if (total > MAX_OTLP_DATA_POINTS) {
    throw new DomainError('too_large', `The request holds ${total} data points, more than ${MAX_OTLP_DATA_POINTS}: lower the exporter's batch size (the Collector's batch processor send_batch_max_size)`)
  }
  return (request.resourceMetrics ?? []).map((rm) => {
    const out: OtlpResource = { attributes: attributesOf(rm.resource?.attributes), points: [], rejected: [], dataPoints: 0 }
    for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) flattenMetric(m, out)
    return out
  })
}

function flattenMetric(m: Metric, out: OtlpResource): void {
  const name = m.name ?? ''
  const reject = (message: string, count = 1) => { for (let i = 0; i < count; i++) out.rejected.push({ metric: name || '(no name)', message }) }
  const count = (m.gauge?.dataPoints?.length ?? 0) + (m.sum?.dataPoints?.length ?? 0) + (m.histogram?.dataPoints?.length ?? 0)
    + (m.exponentialHistogram?.dataPoints?.length ?? 0) + (m.summary?.dataPoints?.length ?? 0)
  out.dataPoints += count
  if (!name) { reject('the metric has no name', count); return }
  const base = { temporality: 'unspecified' as OtlpPoint['temporality'], monotonic: false }
  const number = (p: NumberPoint, kind: 'gauge' | 'sum', extra: Partial<OtlpPoint>) => {
    if ((p.flags ?? 0) & NO_RECORDED_VALUE) return
    let value: number
    if (p.asInt !== undefined) {
      value = Number(p.asInt)
      if (!Number.isSafeInteger(value)) { reject(`integer value ${p.asInt} is beyond ±2^53, which the store (float8) cannot hold exactly`); return }
    } else value = p.asDouble ?? 0
    if (!Number.isFinite(value)) return
    out.points.push({ name, kind, ...base, ...extra, attributes: attributesOf(p.attributes), timeMs: msOf(p.timeUnixNano), startMs: msOf(p.startTimeUnixNano), value })
  }
  for (const p of m.gauge?.dataPoints ?? []) number(p, 'gauge', {})
  if (m.sum) {
    const extra = { temporality: TEMPORALITY[m.sum.aggregationTemporality ?? 0] ?? 'unspecified', monotonic: m.sum.isMonotonic === true }
    for (const p of m.sum.dataPoints ?? []) number(p, 'sum', extra)
  }
  if (m.histogram) {
    const temporality = TEMPORALITY[m.histogram.aggregationTemporality ?? 0] ?? 'unspecified'
    for (const p of m.histogram.dataPoints ?? []) {
      if ((p.flags ?? 0) & NO_RECORDED_VALUE) continue
      const attributes = attributesOf(p.attributes)
      if ('le' in attributes) { reject('a histogram point has an attribute named le, which its buckets are stored under'); continue }
      const at = { kind: 'histogram' as const, temporality, monotonic: true, timeMs: msOf(p.timeUnixNano), startMs: msOf(p.startTimeUnixNano) }
      const bounds = p.explicitBounds ?? []
      const counts = (p.bucketCounts ?? []).map(Number)
      if (counts.length > 0 && counts.length !== bounds.length + 1) {
        reject(`a histogram point has ${counts.length} bucket counts for ${bounds.length} bounds (there must be one more count than bounds)`)
        continue
      }
      out.points.push({ ...at, name: `${name}_count`, attributes, value: Number(p.count ?? 0) })
      if (p.sum !== undefined && Number.isFinite(p.sum)) out.points.push({ ...at, name: `${name}_sum`, attributes, value: p.sum })
      let cumulative = 0
      counts.forEach((c, i) => {
        cumulative += c
        out.points.push({ ...at, name: `${name}_bucket`, attributes: { ...attributes, le: i < bounds.length ? String(bounds[i]) : '+Inf' }, value: cumulative })
      })
    }
  }
  if (m.summary) {
    for (const p of m.summary.dataPoints ?? []) {
      if ((p.flags ?? 0) & NO_RECORDED_VALUE) continue
      const attributes = attributesOf(p.attributes)
      const at = { kind: 'summary' as const, temporality: 'cumulative' as const, monotonic: true, timeMs: msOf(p.timeUnixNano), startMs: msOf(p.startTimeUnixNano) }
      out.points.push({ ...at, name: `${name}_count`, attributes, value: Number(p.count ?? 0) })
      if (p.sum !== undefined && Number.isFinite(p.sum)) out.points.push({ ...at, name: `${name}_sum`, attributes, value: p.sum })
      for (const q of p.quantileValues ?? []) {
        if (Number.isFinite(q.value)) out.points.push({ ...at, name, attributes: { ...attributes, quantile: String(q.quantile ?? 0) }, value: q.value! })
      }
    }
  }
  if (m.exponentialHistogram) {
    reject('exponential histograms are not stored: configure explicit-bucket histograms (the SDK\'s default aggregation, or the Collector\'s exponential histogram conversion)', m.exponentialHistogram.dataPoints?.length ?? 0)
  }
}
