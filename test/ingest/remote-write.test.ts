// POST /api/v1/write over real HTTP with hand-built WriteRequests (protobufjs + snappy, as Prometheus sends
// them): exact values back through the series endpoint; a re-sent request stores nothing twice while another
// shard's samples of the same instant are kept; NaN, ±Inf and staleness markers skipped and counted; samples
// that cannot be stored are a 400 listing them after the good ones were stored; unreadable bodies are 4xx
// (and a fuzzed body never a 5xx); every way of sending the key; an organization's key writes only into its own.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import protobuf from 'protobufjs'
import { compressSync } from 'snappy'
import { sql } from 'kysely'
import { assertError, startClient, unique, type TestClient } from '../test-client.ts'
import { MAX_REMOTE_WRITE_SAMPLES, writeRequestToBatches } from '../../services/ingest/remote-write.ts'

// prometheus/prompb as Prometheus 2.42 encodes it: exemplars, native histograms and metadata included, to
// show the receiver skips what it does not store.
const PROMPB = `syntax = "proto3";
package prometheus;
message WriteRequest { repeated TimeSeries timeseries = 1; reserved 2; repeated MetricMetadata metadata = 3; }
message MetricMetadata { int32 type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
message Sample { double value = 1; int64 timestamp = 2; }
message Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
message Histogram { uint64 count_int = 1; double sum = 3; sint32 schema = 4; double zero_threshold = 5; uint64 zero_count_int = 6; int64 timestamp = 15; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
message Label { string name = 1; string value = 2; }`
const WriteRequest = protobuf.parse(PROMPB, { keepCase: true }).root.lookupType('prometheus.WriteRequest')

// Remote write 2.0 as prometheus/prompb/io/prometheus/write/v2/types.proto encodes it (metadata and created
// timestamps included, to show the receiver skips them).
const PROMPB_V2 = `syntax = "proto3";
package io.prometheus.write.v2;
message Request { reserved 1 to 3; repeated string symbols = 4; repeated TimeSeries timeseries = 5; }
message TimeSeries { repeated uint32 labels_refs = 1; repeated Sample samples = 2; Metadata metadata = 5; int64 created_timestamp = 6; }
message Sample { double value = 1; int64 timestamp = 2; }
message Metadata { int32 type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; }`
const RequestV2 = protobuf.parse(PROMPB_V2, { keepCase: true }).root.lookupType('io.prometheus.write.v2.Request')

/** A 2.0 body: every string interned in symbols (the first one empty), labels sorted, as pairs of indexes. */
function encodeV2(series: Array<{ labels: Labels; samples: Array<[number, number]>; refs?: number[] }>): Uint8Array {
  const symbols = ['']
  const ref = (s: string) => { const i = symbols.indexOf(s); return i >= 0 ? i : symbols.push(s) - 1 }
  const timeseries = series.map((s) => ({
    labels_refs: s.refs ?? Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1)).flatMap(([k, v]) => [ref(k), ref(v)]),
    samples: s.samples.map(([timestamp, value]) => ({ timestamp, value })),
    metadata: { type: 1, help_ref: ref('help text'), unit_ref: 0 }, created_timestamp: 1,
  }))
  return RequestV2.encode(RequestV2.fromObject({ symbols, timeseries })).finish()
}

type Labels = Record<string, string>
interface Series { labels: Labels; samples?: Array<[number, number]>; exemplars?: unknown[]; histograms?: unknown[] }

/** The protobuf bytes of a WriteRequest (labels sorted by name, as Prometheus sends them). */
function encode(series: Series[], extra: Record<string, unknown> = {}): Uint8Array {
  return WriteRequest.encode(WriteRequest.fromObject({
    timeseries: series.map((s) => ({
      labels: Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, value]) => ({ name, value })),
      samples: (s.samples ?? []).map(([timestamp, value]) => ({ timestamp, value })),
      exemplars: s.exemplars ?? [], histograms: s.histograms ?? [],
    })),
    ...extra,
  })).finish()
}

const HEADERS = { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0', 'user-agent': 'Prometheus/2.42.0' }

interface Answer { status: number; text: string; body: any; headers: Headers }

async function post(api: TestClient, body: Uint8Array | string | undefined, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(`${api.url}/api/v1/write`, { method: 'POST', headers, body: body as BodyInit | undefined })
  const text = await res.text()
  let parsed: unknown
  try { parsed = text ? JSON.parse(text) : undefined } catch { parsed = undefined }
  return { status: res.status, text, body: parsed, headers: res.headers }
}

/** Prometheus's staleness marker: a NaN with this exact bit pattern (value.StaleNaN). */
const STALE_NAN_BITS = 0x7ff0000000000002n

/** The bytes with each 8-byte double `placeholder` replaced by the staleness marker's bits (JS cannot encode that NaN itself). */
function withStaleMarkers(bytes: Uint8Array, placeholder: number): Uint8Array {
  const out = Buffer.from(bytes)
  const needle = Buffer.alloc(8)
  needle.writeDoubleLE(placeholder)
  const stale = Buffer.alloc(8)
  stale.writeBigUInt64LE(STALE_NAN_BITS)
  for (let i = out.indexOf(needle); i >= 0; i = out.indexOf(needle, i + 8)) stale.copy(out, i)
  return out
}

interface Row { time: Date; metric_type: string; metric_name: string; value: number; tags: Labels; org_id: string }
async function rowsOf(api: TestClient, agentId: string): Promise<Row[]> {
  const { rows } = await sql<Row>`select time, metric_type, metric_name, value, tags, org_id from metrics where agent_id = ${agentId}::uuid
    order by time, metric_name, tags::text`.execute(api.store.db)
  return rows
}
const view = (r: Row) => `${r.time.toISOString()} ${r.metric_type}.${r.metric_name}${JSON.stringify(Object.fromEntries(Object.entries(r.tags).sort()))}=${r.value}`
const enc = encodeURIComponent

t.test('Prometheus remote write', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('prom-remote')
  const auth = { ...HEADERS, authorization: `Bearer ${agent.api_key}` }
  // Whole seconds ten minutes ago, 10 s apart: each sample is its own 1 s bucket when read back.
  const base = Math.floor(Date.now() / 1000) * 1000 - 600_000
  const node = { job: 'node', instance: '127.0.0.1:9100' }

  t.test('samples round-trip exactly into prom.<name> series with their labels as tags', async (t) => {
    const body = encode([
      { labels: { __name__: 'node_cpu_seconds_total', cpu: '0', mode: 'idle', ...node }, samples: [[base, 1234.56], [base + 10_000, 1244.5], [base + 20_000, 1254.25]] },
      { labels: { __name__: 'node_cpu_seconds_total', cpu: '1', mode: 'idle', ...node }, samples: [[base, 99], [base + 10_000, 100.125]] },
      { labels: { __name__: 'process_cpu_seconds_total', ...node }, samples: [[base, 0.5]] },
      { labels: { __name__: 'job:node_load1:avg', job: 'node' }, samples: [[base, -0.000001]] },
      { labels: { __name__: 'node_memory_MemTotal_bytes', ...node }, samples: [[base, 2 ** 53]] },
    ])
    const res = await post(api, compressSync(Buffer.from(body)), auth)
    t.equal(res.status, 204, `204 (${res.text})`)
    t.equal(res.text, '')
    t.equal(res.headers.get('x-hostpulse-samples'), '8')
    t.equal(res.headers.get('x-hostpulse-rows'), '8')
    t.equal(res.headers.get('x-prometheus-remote-write-samples-written'), '8')
    const at = (ms: number) => new Date(ms).toISOString()
    const tags = (extra: Labels) => JSON.stringify(Object.fromEntries(Object.entries({ ...extra }).sort()))
    t.same((await rowsOf(api, agent.id)).map(view).sort(), [
      `${at(base)} prom.job_node_load1_avg${tags({ job: 'node' })}=-0.000001`,
      `${at(base)} prom.node_cpu_seconds_total${tags({ cpu: '0', mode: 'idle', ...node })}=1234.56`,
      `${at(base)} prom.node_cpu_seconds_total${tags({ cpu: '1', mode: 'idle', ...node })}=99`,
      `${at(base)} prom.node_memory_memtotal_bytes${tags(node)}=9007199254740992`,
      `${at(base)} prom.process_cpu_seconds_total${tags(node)}=0.5`,
      `${at(base + 10_000)} prom.node_cpu_seconds_total${tags({ cpu: '0', mode: 'idle', ...node })}=1244.5`,
      `${at(base + 10_000)} prom.node_cpu_seconds_total${tags({ cpu: '1', mode: 'idle', ...node })}=100.125`,
      `${at(base + 20_000)} prom.node_cpu_seconds_total${tags({ cpu: '0', mode: 'idle', ...node })}=1254.25`,
    ].sort(), 'metric type prom, names lower case with ":" as "_", __name__ dropped, job and instance kept as tags')

    const range = `start=${enc(at(base))}&end=${enc(at(base + 30_000))}&step=1s`
    const series = await api.get(`/api/v1/metrics/series/prom-remote?metric=prom.node_cpu_seconds_total&tags.cpu=0&tags.mode=idle&tags.instance=${enc(node.instance)}&${range}`)
    t.equal(series.status, 200, series.text)
    t.equal(series.body.resolution, 'raw')
    t.same(series.body.timestamps, [at(base), at(base + 10_000), at(base + 20_000)])
    t.same(series.body.values, [1234.56, 1244.5, 1254.25], 'exact values back through the series endpoint')
    const cpu1 = await api.get(`/api/v1/metrics/series/prom-remote?metric=prom.node_cpu_seconds_total&tags.cpu=1&${range}`)
    t.same(cpu1.body.values, [99, 100.125])
    // A Prometheus name that looks like a built-in family is no built-in family.
    const proc = await api.get(`/api/v1/metrics/series/prom-remote?metric=prom.process_cpu_seconds_total&tags.job=node&${range}`)
    t.same(proc.body.values, [0.5], 'process_cpu_seconds_total stays a prom series, not the process family')
    const stats = await api.get(`/api/v1/metrics/stats/prom-remote?metric=prom.node_cpu_seconds_total&tags.cpu=0&start=${enc(at(base))}&end=${enc(at(base + 30_000))}`)
    t.equal(stats.status, 200, stats.text)
    t.equal(stats.body.count, 3)
    t.equal(stats.body.current, 1254.25)
  })

  t.test('a re-sent request is acknowledged and stores nothing twice; another shard\'s samples of the same instant are stored', async (t) => {
    const at = base + 60_000
    const shard1 = compressSync(Buffer.from(encode([
      { labels: { __name__: 'retry_metric', shard: '1' }, samples: [[at, 10], [at + 1000, 11]] },
      { labels: { __name__: 'retry_metric', shard: 'x' }, samples: [[at, 12]] },
    ])))
    const first = await post(api, shard1, auth)
    t.equal(first.status, 204, first.text)
    t.equal(first.headers.get('x-hostpulse-rows'), '3')
    for (let i = 0; i < 3; i++) {
      const again = await post(api, shard1, auth)
      t.equal(again.status, 204, `re-send ${i + 1}: 204, as if stored (${again.text})`)
      t.equal(again.headers.get('x-hostpulse-rows'), '0', `re-send ${i + 1}: no row written`)
      t.equal(again.headers.get('x-hostpulse-duplicate-batches'), '2', `re-send ${i + 1}: both instants acknowledged as duplicates`)
    }
    // Another shard sends other series at the same instants: other content, stored.
    const shard2 = compressSync(Buffer.from(encode([{ labels: { __name__: 'retry_metric', shard: '2' }, samples: [[at, 20]] }])))
    const other = await post(api, shard2, auth)
    t.equal(other.headers.get('x-hostpulse-rows'), '1', 'the other shard\'s sample at the same instant is stored')
    const { rows } = await sql<{ shard: string; n: number; sum: number }>`select tags->>'shard' as shard, count(*)::int as n, sum(value)::float8 as sum
      from metrics where agent_id = ${agent.id}::uuid and metric_name = 'retry_metric' group by 1 order by 1`.execute(api.store.db)
    t.same(rows, [{ shard: '1', n: 2, sum: 21 }, { shard: '2', n: 1, sum: 20 }, { shard: 'x', n: 1, sum: 12 }], 'each sample once')
    const stats = await api.get(`/api/v1/metrics/stats/prom-remote?metric=prom.retry_metric&tags.shard=1&start=${enc(new Date(at).toISOString())}&end=${enc(new Date(at + 5000).toISOString())}`)
    t.equal(stats.body.count, 2, 'statistics count each sample once')
    t.equal(stats.body.avg, 10.5)
    // The same series and instant twice in one request: the last value wins, one row.
    const twice = await post(api, compressSync(Buffer.from(encode([
      { labels: { __name__: 'twice_metric' }, samples: [[at, 1]] }, { labels: { __name__: 'twice_metric' }, samples: [[at, 2]] },
    ]))), auth)
    t.equal(twice.headers.get('x-hostpulse-rows'), '1')
    const twiceRows = (await rowsOf(api, agent.id)).filter((r) => r.metric_name === 'twice_metric')
    t.same(twiceRows.map((r) => r.value), [2])
  })

  t.test('NaN, ±Inf and staleness markers are skipped and counted, not errors; histograms and exemplars skipped', async (t) => {
    const at = base + 120_000
    const placeholder = 31415.9265358979
    const body = withStaleMarkers(encode([
      { labels: { __name__: 'gappy', k: 'a' }, samples: [[at, 1], [at + 1000, Number.NaN], [at + 2000, Infinity], [at + 3000, -Infinity], [at + 4000, placeholder], [at + 5000, 6]] },
      { labels: { __name__: 'gone', k: 'b' }, samples: [[at + 5000, placeholder]] },
      { labels: { __name__: 'exemplified', k: 'c' }, samples: [[at, 7]], exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: 7, timestamp: at }] },
      { labels: { __name__: 'native_histogram', k: 'd' }, histograms: [{ count_int: 3, sum: 1.5, schema: 1, timestamp: at }, { count_int: 4, sum: 2, schema: 1, timestamp: at + 1000 }] },
    ], { metadata: [{ type: 1, metric_family_name: 'gappy', help: 'a counter', unit: '' }] }), placeholder)
    t.ok(Buffer.from(body).includes(Buffer.from('020000000000f07f', 'hex')), 'the body carries the staleness marker\'s bits')
    const res = await post(api, compressSync(Buffer.from(body)), auth)
    t.equal(res.status, 204, res.text)
    t.equal(res.headers.get('x-hostpulse-skipped-non-finite'), '5', 'NaN, +Inf, -Inf and two staleness markers')
    t.equal(res.headers.get('x-hostpulse-skipped-histograms'), '2')
    t.equal(res.headers.get('x-hostpulse-rows'), '3')
    const rows = (await rowsOf(api, agent.id)).filter((r) => ['gappy', 'gone', 'exemplified', 'native_histogram'].includes(r.metric_name))
    t.same(rows.map((r) => `${r.metric_name}@${r.time.getTime() - at}=${r.value}`).sort(), ['exemplified@0=7', 'gappy@0=1', 'gappy@5000=6'])
  })

  t.test('samples that cannot be stored: a 400 naming them, the good ones stored, and a re-send stores nothing twice', async (t) => {
    const at = base + 180_000
    const many: Labels = { __name__: 'too_many_labels' }
    for (let i = 0; i < 33; i++) many[`l${i}`] = String(i)
    const body = compressSync(Buffer.from(encode([
      { labels: { __name__: 'mixed', k: 'ok' }, samples: [[at, 1], [Date.now() + 3_600_000, 2], [at + 1000, 3]] },
      { labels: { k: 'nameless' }, samples: [[at, 4]] },
      { labels: many, samples: [[at, 5], [at + 1000, 6]] },
      { labels: { __name__: 'long_value', k: 'x'.repeat(1025) }, samples: [[at, 7]] },
      { labels: { __name__: 'huge' }, samples: [[at, 1e308]] },
      { labels: { __name__: 'x'.repeat(129) }, samples: [[at, 8]] },
      { labels: { __name__: 'before_1970' }, samples: [[-1000, 9]] },
      { labels: { __name__: 'fine', k: 'ok' }, samples: [[at, 10]] },
    ])))
    for (const attempt of ['first', 're-sent']) {
      const res = await post(api, body, auth)
      assertError(t, res, 400, 'VALIDATION_ERROR', `${attempt}:`)
      t.match(res.body.message, /^partial write: 8 samples rejected, the other 3 stored; /, `${attempt}: the message counts both`)
      t.equal(res.headers.get('x-hostpulse-rejected-samples'), '8')
      const reasons = res.body.details.rejected_samples.map((r: any) => `${r.series.slice(0, 20)}: ${r.message}`)
      t.match(reasons, [
        /^mixed\{k="ok"\}: timestamp .* is more than 5 minutes in the future/,
        /^\{k="nameless"\}: the series has no __name__ label/,
        /^too_many_labels\{l0=": more than 32 labels besides __name__$/,
        /^long_value\{k="xxxxxx: label k must not have more than 1024 characters$/,
        /^huge\{\}: value 1e\+308 is beyond/,
        /^xxxxxxxxxxxxxxxxxxxx: the metric name is longer than 128 characters/,
        /^before_1970\{\}: timestamp is before 1970/,
      ], `${attempt}: each rejected sample with its reason`)
      t.same(res.body.details.rejected_samples[2].samples, 2, `${attempt}: a whole series is listed once, with its sample count`)
      t.equal(res.body.details.stored_samples, 3)
    }
    const rows = (await rowsOf(api, agent.id)).filter((r) => ['mixed', 'fine'].includes(r.metric_name))
    t.same(rows.map((r) => `${r.metric_name}@${r.time.getTime() - at}=${r.value}`).sort(), ['fine@0=10', 'mixed@0=1', 'mixed@1000=3'], 'the good samples, once')
  })

  t.test('label text PostgreSQL cannot hold is refused, never a 5xx: NUL per series, invalid UTF-8 as an unreadable body; __proto__ is a tag', async (t) => {
    const at = base + 240_000
    const res = await post(api, compressSync(Buffer.from(encode([
      { labels: { __name__: 'text_probe', k: 'nul\u0000inside' }, samples: [[at, 1]] },
      { labels: Object.fromEntries([['__name__', 'text_probe'], ['__proto__', 'polluted'], ['constructor', 'c']]), samples: [[at, 3]] },
    ]))), auth)
    assertError(t, res, 400, 'VALIDATION_ERROR')
    t.match(res.body.details.rejected_samples.map((r: any) => r.message), [/^label "k" value contains a NUL character or invalid UTF-8$/])
    const rows = (await rowsOf(api, agent.id)).filter((r) => r.metric_name === 'text_probe')
    t.same(rows.map((r) => r.value), [3], 'only the storable series')
    t.equal(JSON.stringify(rows[0].tags), '{"__proto__":"polluted","constructor":"c"}', 'a label named __proto__ is stored as a tag')
    // "@@@" patched into ED A0 80: U+D800 encoded as UTF-8, which no valid protobuf string holds.
    const bytes = Buffer.from(encode([{ labels: { __name__: 'utf8_probe', k: '@@@' }, samples: [[at, 2]] }]))
    const i = bytes.indexOf('@@@')
    bytes[i] = 0xed; bytes[i + 1] = 0xa0; bytes[i + 2] = 0x80
    const invalid = await post(api, compressSync(bytes), auth)
    assertError(t, invalid, 400, 'BAD_REQUEST')
    t.match(invalid.body.message, /not a protobuf prometheus\.WriteRequest.*utf-8/i)
    t.equal((await rowsOf(api, agent.id)).filter((r) => r.metric_name === 'utf8_probe').length, 0)
  })

  t.test('unreadable bodies are 4xx with a clear message (Prometheus drops them instead of retrying), nothing stored', async (t) => {
    const before = (await rowsOf(api, agent.id)).length
    const good = encode([{ labels: { __name__: 'never_stored' }, samples: [[base, 1]] }])
    const framed = Buffer.concat([Buffer.from([0xff, 0x06, 0x00, 0x00]), Buffer.from('sNaPpY'), compressSync(Buffer.from(good))])
    const cases: Array<[string, Uint8Array | string | undefined, Record<string, string>, number, string, RegExp]> = [
      ['protobuf sent without compression', good, auth, 400, 'BAD_REQUEST', /snappy/],
      ['bytes that are no snappy block', Buffer.from('not snappy: plain text where a compressed block belongs'), auth, 400, 'BAD_REQUEST', /snappy/],
      ['snappy of something that is not protobuf', compressSync(Buffer.from('{"timeseries": []} not protobuf at all')), auth, 400, 'BAD_REQUEST', /prometheus\.WriteRequest/],
      ['snappy\'s framed format', framed, auth, 400, 'BAD_REQUEST', /block format/],
      ['a truncated snappy block', compressSync(Buffer.from(good)).subarray(0, 10), auth, 400, 'BAD_REQUEST', /snappy/],
      ['an empty body', undefined, auth, 400, 'BAD_REQUEST', /.+/],
      ['a header announcing 100 MB', Buffer.from([0x80, 0xc2, 0xd7, 0x2f, 0x00]), auth, 413, 'PAYLOAD_TOO_LARGE', /max_samples_per_send/],
      ['gzip', compressSync(Buffer.from(good)), { ...auth, 'content-encoding': 'gzip' }, 415, 'UNSUPPORTED_MEDIA_TYPE', /snappy/],
      ['an unknown message', compressSync(Buffer.from(good)), { ...auth, 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v3.Request' }, 415, 'UNSUPPORTED_MEDIA_TYPE', /prometheus\.WriteRequest \(remote write 1\.0\) or io\.prometheus\.write\.v2\.Request/],
      ['JSON', '{"timeseries": []}', { ...auth, 'content-type': 'application/json' }, 415, 'UNSUPPORTED_MEDIA_TYPE', /application\/x-protobuf/],
      ['text', 'up 1', { ...auth, 'content-type': 'text/plain' }, 415, 'UNSUPPORTED_MEDIA_TYPE', /application\/x-protobuf/],
    ]
    for (const [what, body, headers, status, code, message] of cases) {
      const res = await post(api, body, headers)
      assertError(t, res, status, code, `${what}:`)
      t.match(res.body?.message, message, `${what}: ${res.body?.message}`)
    }
    const ok = await post(api, compressSync(Buffer.from(good)), { ...auth, 'content-type': 'application/x-protobuf;proto=prometheus.WriteRequest' })
    t.equal(ok.status, 204, 'proto=prometheus.WriteRequest (remote write 2.0 senders naming 1.0) is accepted')
    t.equal((await rowsOf(api, agent.id)).length, before + 1, 'nothing stored by the refused bodies')
  })

  t.test('remote write 2.0: symbols resolved, exact values back, 200 with the written-count headers; unreadable label references reject only their series', async (t) => {
    const v2 = { ...auth, 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request', 'x-prometheus-remote-write-version': '2.0.0' }
    const at = base + 420_000
    const body = encodeV2([
      { labels: { __name__: 'v2_requests_total', code: '200', ...node }, samples: [[at, 41], [at + 10_000, 42.5]] },
      { labels: { __name__: 'v2_requests_total', code: '500', ...node }, samples: [[at, 3]] },
    ])
    const res = await post(api, compressSync(Buffer.from(body)), v2)
    t.equal(res.status, 200, `200 (${res.text})`)
    t.equal(res.text, '')
    t.equal(res.headers.get('x-prometheus-remote-write-samples-written'), '3')
    t.equal(res.headers.get('x-prometheus-remote-write-histograms-written'), '0')
    t.equal(res.headers.get('x-prometheus-remote-write-exemplars-written'), '0')
    const range = `start=${enc(new Date(at).toISOString())}&end=${enc(new Date(at + 30_000).toISOString())}&step=1s`
    const ok = await api.get(`/api/v1/metrics/series/prom-remote?metric=prom.v2_requests_total&tags.code=200&tags.instance=${enc(node.instance)}&${range}`)
    t.same(ok.body.values, [41, 42.5], 'values back exactly')
    const again = await post(api, compressSync(Buffer.from(body)), v2)
    t.equal(again.status, 200)
    t.equal(again.headers.get('x-hostpulse-duplicate-batches'), '2', 'a re-sent 2.0 request is acknowledged, nothing stored twice')
    const rows = (await rowsOf(api, agent.id)).filter((r) => r.metric_name === 'v2_requests_total')
    t.equal(rows.length, 3)

    const mixed = encodeV2([
      { labels: { __name__: 'v2_kept', ...node }, samples: [[at, 7]] },
      { labels: {}, samples: [[at, 8], [at + 1000, 9]], refs: [1, 2, 999, 3] },
      { labels: {}, samples: [[at, 10]], refs: [1] },
    ])
    const partial = await post(api, compressSync(Buffer.from(mixed)), v2)
    assertError(t, partial, 400, 'VALIDATION_ERROR')
    t.match(partial.body.message, /partial write: 3 samples rejected, the other 1 stored/)
    t.match(partial.body.message, /labels_refs cannot be read: 4 label references for a symbol table of \d+/)
    t.match(partial.body.message, /labels_refs cannot be read: 1 label references/)
    t.equal((await rowsOf(api, agent.id)).filter((r) => r.metric_name === 'v2_kept').length, 1, 'the good series is stored')

    const statuses = new Map<number, number>()
    for (let i = 0; i < 200; i++) {
      const bytes = Buffer.from(body)
      for (let j = 0; j < 1 + (i % 4); j++) bytes[(i * 7919 + j * 104729) % bytes.length] ^= 1 << (j % 8)
      const fuzzed = await post(api, compressSync(i % 3 === 0 ? bytes.subarray(0, i % bytes.length) : bytes), v2)
      statuses.set(fuzzed.status, (statuses.get(fuzzed.status) ?? 0) + 1)
      if (![200, 400].includes(fuzzed.status)) t.fail(`fuzz ${i}: ${fuzzed.status} ${fuzzed.text.slice(0, 200)}`)
    }
    t.ok((statuses.get(400) ?? 0) > 0, `fuzzed 2.0 bodies: statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
  })

  t.test('more samples than one request may hold: a 413 naming the sender setting', async (t) => {
    const samples: Array<[number, number]> = Array.from({ length: MAX_REMOTE_WRITE_SAMPLES + 1 }, (_, i) => [base - i, i])
    const res = await post(api, compressSync(Buffer.from(encode([{ labels: { __name__: 'flood' }, samples }]))), auth)
    assertError(t, res, 413, 'PAYLOAD_TOO_LARGE')
    t.match(res.body.message, /max_samples_per_send/)
  })

  t.test('fuzzed bodies: never a 5xx, every refusal in the native error format, the server still answers', async (t) => {
    const seed = encode([
      { labels: { __name__: 'fuzz_metric', a: 'b', job: 'j' }, samples: [[base, 1], [base + 1000, 2]] },
      { labels: { __name__: 'fuzz_other' }, samples: [[base, 3]], histograms: [{ count_int: 1, timestamp: base }] },
    ])
    const statuses = new Map<number, number>()
    for (let i = 0; i < 400; i++) {
      const bytes = Buffer.from(seed)
      const mode = i % 4
      if (mode === 0) for (let j = 0; j < 1 + (i % 5); j++) bytes[(i * 7919 + j * 104729) % bytes.length] ^= 1 << (j % 8)
      const mutated = mode === 1 ? bytes.subarray(0, i % bytes.length) : mode === 2 ? randomBytes(1 + (i % 200)) : bytes
      let body = compressSync(mutated)
      // Damage the compressed block too, half the time.
      if (mode === 3 || i % 8 === 1) { body = Buffer.from(body); body[(i * 31) % body.length] ^= 0x5a }
      const res = await post(api, body, auth)
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      if (res.status >= 500 || ![204, 400, 413].includes(res.status)) t.fail(`fuzz ${i}: ${res.status} ${res.text.slice(0, 200)}`)
      if (res.status !== 204 && !(typeof res.body?.error === 'string' && typeof res.body?.message === 'string')) t.fail(`fuzz ${i}: not the native error format: ${res.text.slice(0, 200)}`)
    }
    t.ok((statuses.get(400) ?? 0) > 0, `statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
    t.equal((await api.get('/health')).status, 200, 'the server still answers')
  })

  t.test('the agent key as Prometheus sends it (authorization, basic_auth) or X-API-Key; refusals are 401/403', async (t) => {
    const body = () => compressSync(Buffer.from(encode([{ labels: { __name__: 'auth_probe' }, samples: [[base, 1]] }])))
    const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
    for (const [way, headers] of Object.entries<Record<string, string>>({
      'Authorization: Bearer (authorization.credentials)': { authorization: `Bearer ${agent.api_key}` },
      'basic_auth with the key as password': { authorization: basic('prometheus', agent.api_key) },
      'X-API-Key': { 'x-api-key': agent.api_key },
    })) {
      const res = await post(api, body(), { ...HEADERS, ...headers })
      t.equal(res.status, 204, `${way}: 204 (${res.text})`)
    }
    for (const [what, headers] of Object.entries<Record<string, string>>({
      'no key': {}, 'an unknown Bearer': { authorization: 'Bearer hp_not_a_key' }, 'a user session token': { authorization: `Bearer ${api.adminToken}` },
      'basic_auth with a wrong password': { authorization: basic('prometheus', 'nope') },
    })) {
      const res = await post(api, body(), { ...HEADERS, ...headers })
      assertError(t, res, 401, 'UNAUTHORIZED', `${what}:`)
      t.match(res.body.message, /Bearer/, `${what}: the message names the ways to send the key`)
    }
    const idle = await api.createAgent(unique('prom-idle'))
    const patched = await api.req('PATCH', `/api/v1/agents/${idle.id}`, { token: api.adminToken, body: { status: 'inactive' } })
    t.equal(patched.status, 200, patched.text)
    assertError(t, await post(api, body(), { ...HEADERS, authorization: `Bearer ${idle.api_key}` }), 403, 'FORBIDDEN', 'an inactive agent:')
    t.equal((await rowsOf(api, idle.id)).length, 0)
  })

  t.test('an organization\'s key writes only into its own organization', async (t) => {
    const orgB = await api.req('POST', '/api/v1/organizations', { token: api.adminToken, body: { name: unique('OrgB'), admin: { username: unique('b-admin'), password: 'b-admin-password' } } })
    t.equal(orgB.status, 201, orgB.text)
    const bToken = (await api.login(orgB.body.admin.username, 'b-admin-password')).token
    const bAgent = await api.createAgent('prom-b', bToken)
    const body = compressSync(Buffer.from(encode([{ labels: { __name__: 'org_probe', org: 'b' }, samples: [[base, 42]] }])))
    // A's key, with B's agent named every way a remote write sender could name a target.
    const res = await post(api, body, { ...auth, 'x-scope-orgid': orgB.body.id, 'x-api-key': agent.api_key })
    t.equal(res.status, 204)
    const stored = (await rowsOf(api, agent.id)).filter((r) => r.metric_name === 'org_probe')
    t.same(stored.map((r) => r.org_id), [api.orgId], 'stored in A, under A\'s agent')
    t.equal((await rowsOf(api, bAgent.id)).length, 0, 'B\'s agent received nothing')
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from metrics where org_id = ${orgB.body.id}::uuid`.execute(api.store.db)
    t.equal(rows[0].n, 0, 'organization B has no row')
    const fromB = await api.get(`/api/v1/metrics/series/prom-remote?metric=prom.org_probe&tags.org=b&start=${enc(new Date(base).toISOString())}`, bToken)
    assertError(t, fromB, 404, 'NOT_FOUND', 'B cannot read A\'s agent:')
    // B's key writes into B.
    const own = await post(api, body, { ...HEADERS, authorization: `Bearer ${bAgent.api_key}` })
    t.equal(own.status, 204)
    t.same((await rowsOf(api, bAgent.id)).map((r) => r.org_id), [orgB.body.id])
  })
})

t.test('an enrollment token: each instance is its own agent, registered under the token\'s rules', async (t) => {
  const api = await startClient(t)
  const base = Math.floor(Date.now() / 1000) * 1000 - 300_000
  const agentsNamed = async (names: string[]) => (await sql<{ name: string; id: string; hostname: string | null; status: string }>`
    select name, id, hostname, status from agents where org_id = ${api.orgId}::uuid and name = any(${names}) order by name`.execute(api.store.db)).rows
  const tokenOf = async (body: Record<string, unknown>) => {
    const res = await api.req('POST', '/api/v1/enrollment-tokens', { token: api.adminToken, body })
    t.equal(res.status, 201, res.text)
    return res.body.token as string
  }
  const node = (instance: string | undefined, value: number, name = 'node_load1') =>
    ({ labels: { __name__: name, job: 'node', ...(instance ? { instance } : {}) }, samples: [[base, value]] as Array<[number, number]> })

  t.test('auto-approve: new hosts become agents on first sight; a host already there keeps its agent', async (t) => {
    const existing = await api.createAgent('db-01')
    const token = await tokenOf({ description: 'prometheus', auto_approve: true, labels: { via: 'prometheus' } })
    const res = await post(api, compressSync(Buffer.from(encode([
      node('web-01:9100', 1.5), node('web-01:9100', 7, 'node_procs_running'), node('db-01:9100', 2.5), node('[2001:db8::7]:9100', 3.5), node(undefined, 9),
    ]))), { ...HEADERS, authorization: `Bearer ${token}` })
    assertError(t, res, 400, 'VALIDATION_ERROR', 'the series without an instance:')
    t.match(res.body.message, /partial write: 1 samples rejected, the other 4 stored; node_load1\{job="node"\}: the series has no instance label/)
    const made = await agentsNamed(['web-01', 'db-01', '2001-db8--7'])
    t.same(made.map((a) => [a.name, a.hostname, a.status]), [['2001-db8--7', '2001:db8::7', 'active'], ['db-01', null, 'active'], ['web-01', 'web-01', 'active']],
      'web-01 and the IPv6 host registered as agents; db-01 is the agent already there')
    t.equal(made.find((a) => a.name === 'db-01')!.id, existing.id)
    const web = made.find((a) => a.name === 'web-01')!
    t.same((await rowsOf(api, web.id)).map(view).sort(), [
      `${new Date(base).toISOString()} prom.node_load1{"instance":"web-01:9100","job":"node"}=1.5`,
      `${new Date(base).toISOString()} prom.node_procs_running{"instance":"web-01:9100","job":"node"}=7`,
    ], 'each host\'s samples under its own agent')
    t.same((await rowsOf(api, existing.id)).map((r) => r.value), [2.5])
    const labels = await sql<{ labels: Record<string, string> }>`select labels from agents where id = ${web.id}::uuid`.execute(api.store.db)
    t.same(labels.rows[0].labels, { via: 'prometheus' }, 'with the token\'s labels')
    const series = await api.get(`/api/v1/metrics/series/web-01?metric=prom.node_load1&tags.instance=web-01:9100&start=${enc(new Date(base).toISOString())}&end=${enc(new Date(base + 1000).toISOString())}&step=1s`)
    t.same(series.body.values, [1.5], 'read back through the series endpoint under the host\'s name')
    // Sent again: the same agents, nothing registered twice, nothing stored twice.
    await post(api, compressSync(Buffer.from(encode([node('web-01:9100', 1.5)]))), { ...HEADERS, authorization: `Bearer ${token}` })
    t.equal((await agentsNamed(['web-01', 'web-01-2'])).length, 1, 'no second agent for web-01')
    t.equal((await rowsOf(api, web.id)).length, 2)
  })

  t.test('a token that does not auto-approve files a registration; samples wait for the approval', async (t) => {
    const token = await tokenOf({ description: 'needs approval' })
    const send = () => post(api, compressSync(Buffer.from(encode([node('cache-01:9100', 4)]))), { ...HEADERS, authorization: `Bearer ${token}` })
    const first = await send()
    assertError(t, first, 400, 'VALIDATION_ERROR', 'before the approval:')
    t.match(first.body.message, /no sample was stored: the only one was rejected; .*host "cache-01" is registered and waits for an admin or editor to approve it/)
    const again = await send()
    t.match(again.body.message, /host "cache-01" is registered \(registration \d+\) and waits/, 'the second time: the same registration, not another')
    const pending = await api.req('GET', '/api/v1/registrations/pending', { token: api.adminToken })
    const reg = pending.body.registrations.filter((r: any) => r.hostname === 'cache-01')
    t.equal(reg.length, 1, 'one registration for cache-01')
    const approved = await api.req('POST', `/api/v1/registrations/${reg[0].id}/approve`, { token: api.adminToken, body: {} })
    t.equal(approved.status, 200, approved.text)
    const after = await send()
    t.equal(after.status, 204, `after the approval: stored (${after.text})`)
    const [cache] = await agentsNamed(['cache-01'])
    t.same((await rowsOf(api, cache.id)).map((r) => r.value), [4])
  })

  t.test('refusals: an unknown or revoked token is a 401; line protocol takes no enrollment token', async (t) => {
    const body = compressSync(Buffer.from(encode([node('x-01:9100', 1)])))
    assertError(t, await post(api, body, { ...HEADERS, authorization: 'Bearer hpe_unknown' }), 401, 'UNAUTHORIZED', 'an unknown token:')
    const made = await api.req('POST', '/api/v1/enrollment-tokens', { token: api.adminToken, body: { auto_approve: true } })
    const revoked = await api.req('DELETE', `/api/v1/enrollment-tokens/${made.body.id}`, { token: api.adminToken })
    t.ok(revoked.status < 300, `revoked (${revoked.status} ${revoked.text})`)
    const res = await post(api, body, { ...HEADERS, authorization: `Bearer ${made.body.token}` })
    assertError(t, res, 401, 'UNAUTHORIZED', 'a revoked token:')
    t.match(res.body.message, /Cannot write with this enrollment token: the enrollment token was revoked/)
    const lp = await fetch(`${api.url}/api/v2/write`, { method: 'POST', headers: { authorization: `Token ${await tokenOf({ auto_approve: true })}` }, body: 'm v=1' })
    t.equal(lp.status, 401)
    t.match((await lp.json()).message, /An enrollment token cannot write here/)
    t.equal((await agentsNamed(['x-01'])).length, 0, 'no agent was made by a refused request')
  })
})

t.test('the mapping is pure and its batch ids depend only on the content', async (t) => {
  const now = Date.parse('2030-01-01T00:00:00Z')
  const request = (order: number[]) => ({
    timeseries: order.map((i) => ({ labels: [{ name: '__name__', value: `m${i}` }, { name: 'job', value: 'j' }], samples: [{ value: i, timestamp: now - 1000 }], histograms: [] })),
  })
  const a = writeRequestToBatches(request([1, 2, 3]), 'agent-1', now)
  const b = writeRequestToBatches(request([3, 1, 2]), 'agent-1', now)
  t.same(a.batches.map((x) => x.batch_id), b.batches.map((x) => x.batch_id), 'series order does not change the id')
  t.match(a.batches[0].batch_id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a UUID (version 8)')
  t.not(writeRequestToBatches(request([1, 2]), 'agent-1', now).batches[0].batch_id, a.batches[0].batch_id, 'other series, another id')
  t.not(writeRequestToBatches(request([1, 2, 3]), 'agent-2', now).batches[0].batch_id, a.batches[0].batch_id, 'another agent, another id')
  const changed = request([1, 2, 3])
  changed.timeseries[0].samples[0].value = 1.5
  t.not(writeRequestToBatches(changed, 'agent-1', now).batches[0].batch_id, a.batches[0].batch_id, 'another value, another id')
})
