// POST /v1/metrics over real HTTP: the official OpenTelemetry exporters from npm (OTLP/HTTP protobuf and
// JSON, driven by the SDK's MeterProvider) write gauges, counters and histograms that read back exactly
// through the series endpoint; the Collector's hostmetrics shape (hand-built, as its otlphttp exporter sends
// it) with an enrollment token registers the host and feeds the built-in CPU, memory, filesystem and network
// reads, rates from the second export on; a re-sent export stores nothing twice; points that cannot be stored
// are counted in partialSuccess while the others are stored; unreadable bodies are 4xx (and fuzzed protobuf
// never a 5xx); an organization's key writes only into its own organization.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import protobuf from 'protobufjs'
import { sql } from 'kysely'
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto'
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http'
import { OTLP_METRICS_PROTO } from '../../services/ingest/otlp-metrics.ts'
import { ADMIN, assertError, createOrgWithAdmin, startClient, unique, type TestClient } from '../test-client.ts'

const root = protobuf.parse(OTLP_METRICS_PROTO).root
const Request = root.lookupType('otlp.ExportMetricsServiceRequest')
const Response = root.lookupType('otlp.ExportMetricsServiceResponse')

const enc = encodeURIComponent
const ns = (ms: number) => String(BigInt(ms) * 1_000_000n)
const attrs = (a: Record<string, string>) => Object.entries(a).map(([key, v]) => ({ key, value: { stringValue: v } }))

interface Answer { status: number; text: string; body: any; bytes: Buffer; headers: Headers }
async function post(api: TestClient, body: Uint8Array | string, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(`${api.url}/v1/metrics`, { method: 'POST', headers, body: body as BodyInit })
  const bytes = Buffer.from(await res.arrayBuffer())
  let parsed: unknown
  try { parsed = JSON.parse(bytes.toString('utf8')) } catch { parsed = undefined }
  return { status: res.status, text: bytes.toString('utf8'), body: parsed, bytes, headers: res.headers }
}

/** The series endpoint's values for a metric over the last hour. */
async function values(api: TestClient, agent: string, metric: string, tags: Record<string, string> = {}): Promise<number[]> {
  const q = Object.entries(tags).map(([k, v]) => `&tags.${k}=${enc(v)}`).join('')
  const res = await api.get(`/api/v1/metrics/series/${enc(agent)}?metric=${metric}${q}&start=${enc(new Date(Date.now() - 3_600_000).toISOString())}&step=1s`)
  if (res.status !== 200) throw new Error(`series ${metric}: ${res.status} ${res.text}`)
  return res.body.values
}

/** An SDK MeterProvider exporting through `exporter` (flushed by hand, never on a timer). */
function sdk(exporter: ProtoExporter | JsonExporter, service: string) {
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': service }), readers: [reader] })
  return { meter: provider.getMeter('hostpulse-test'), flush: () => reader.forceFlush(), shutdown: () => provider.shutdown() }
}

t.test('OpenTelemetry OTLP/HTTP', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent(unique('otel-app'))
  const auth = { authorization: `Bearer ${agent.api_key}` }

  for (const [kind, Exporter] of [['protobuf', ProtoExporter], ['JSON', JsonExporter]] as const) {
    await t.test(`the official ${kind} exporter: a gauge, a counter and a histogram back exactly`, async (t) => {
      const exporter = new Exporter({ url: `${api.url}/v1/metrics`, headers: auth })
      const { meter, flush, shutdown } = sdk(exporter, `shop-${kind}`)
      t.teardown(shutdown)
      const prefix = kind === 'JSON' ? 'json' : 'proto'
      meter.createGauge(`${prefix}.queue.depth`).record(21.5, { queue: 'mail' })
      const orders = meter.createCounter(`${prefix}.orders.placed`)
      orders.add(3, { region: 'eu' })
      orders.add(2, { region: 'eu' })
      orders.add(7, { region: 'us' })
      const latency = meter.createHistogram(`${prefix}.http.duration`, { advice: { explicitBucketBoundaries: [5, 10] } })
      for (const v of [1, 3, 7]) latency.record(v, { route: '/cart' })
      await flush() // rejects unless the export succeeded
      const service = { 'service.name': `shop-${kind}` }
      t.same(await values(api, agent.id, `otel.${prefix}_queue_depth`, { queue: 'mail', ...service }), [21.5], 'gauge')
      t.same(await values(api, agent.id, `otel.${prefix}_orders_placed`, { region: 'eu' }), [5], 'cumulative counter, per attribute set')
      t.same(await values(api, agent.id, `otel.${prefix}_orders_placed`, { region: 'us' }), [7])
      t.same(await values(api, agent.id, `otel.${prefix}_http_duration_count`, { route: '/cart' }), [3], 'histogram count')
      t.same(await values(api, agent.id, `otel.${prefix}_http_duration_sum`, { route: '/cart' }), [11], 'histogram sum')
      t.same(await values(api, agent.id, `otel.${prefix}_http_duration_bucket`, { route: '/cart', le: '5' }), [2], 'cumulative buckets, Prometheus-style')
      t.same(await values(api, agent.id, `otel.${prefix}_http_duration_bucket`, { route: '/cart', le: '10' }), [3])
      t.same(await values(api, agent.id, `otel.${prefix}_http_duration_bucket`, { route: '/cart', le: '+Inf' }), [3])
      // A second export of the same cumulative counter: a new point, the total as it now stands.
      orders.add(1, { region: 'eu' })
      await new Promise((resolve) => setTimeout(resolve, 5))
      await flush()
      const { rows } = await sql<{ value: number }>`select value from metrics where agent_id = ${agent.id}::uuid
        and metric_name = ${`${prefix}_orders_placed`} and tags ->> 'region' = 'eu' order by time`.execute(api.store.db)
      t.same(rows.map((r) => r.value), [5, 6], 'the second export: a new point with the total as it now stands')
    })
  }

  const hostmetrics = (host: string, ms: number, scale: number) => ({
    resourceMetrics: [{
      resource: { attributes: attrs({ 'host.name': host, 'os.type': 'linux' }) },
      scopeMetrics: [{
        scope: { name: 'github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver/internal/scraper/memoryscraper' },
        metrics: [
          { name: 'system.memory.usage', unit: 'By', sum: { aggregationTemporality: 2, isMonotonic: false, dataPoints: [
            ['used', 6e9], ['free', 1e9], ['buffered', 0.5e9], ['cached', 0.4e9], ['slab_reclaimable', 0.1e9], ['slab_unreclaimable', 0.2e9],
          ].map(([state, v]) => ({ attributes: attrs({ state: state as string }), timeUnixNano: ns(ms), asInt: String(v) })) } },
          { name: 'system.cpu.load_average.1m', unit: '{thread}', gauge: { dataPoints: [{ timeUnixNano: ns(ms), asDouble: 1.25 }] } },
          { name: 'system.cpu.time', unit: 's', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [
            ['cpu0', 'user', 100], ['cpu0', 'system', 50], ['cpu0', 'idle', 800], ['cpu0', 'wait', 50],
            ['cpu1', 'user', 200], ['cpu1', 'system', 0], ['cpu1', 'idle', 800], ['cpu1', 'wait', 0],
          ].map(([cpu, state, v]) => ({ attributes: attrs({ cpu: cpu as string, state: state as string }), timeUnixNano: ns(ms), asDouble: (v as number) * scale })) } },
          { name: 'system.filesystem.usage', unit: 'By', sum: { aggregationTemporality: 2, dataPoints: [['used', 30e9], ['free', 60e9], ['reserved', 10e9]].map(([state, v]) => ({
            attributes: attrs({ device: '/dev/sda1', mountpoint: '/', type: 'ext4', mode: 'rw', state: state as string }), timeUnixNano: ns(ms), asInt: String(v) })) } },
          { name: 'system.network.io', unit: 'By', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [['receive', 1_000_000], ['transmit', 500_000]].map(([direction, v]) => ({
            attributes: attrs({ device: 'eth0', direction: direction as string }), timeUnixNano: ns(ms), asInt: String((v as number) * scale) })) } },
          { name: 'system.network.packets', unit: '{packets}', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [['receive', 1000], ['transmit', 400]].map(([direction, v]) => ({
            attributes: attrs({ device: 'eth0', direction: direction as string }), timeUnixNano: ns(ms), asInt: String((v as number) * scale) })) } },
        ],
      }],
    }],
  })

  await t.test('the Collector\'s hostmetrics with an enrollment token: the host becomes an agent with the built-in figures', async (t) => {
    const token = await api.req('POST', '/api/v1/enrollment-tokens', { token: api.adminToken, body: { auto_approve: true } })
    t.equal(token.status, 201, token.text)
    const host = unique('otel-host')
    const first = Math.floor(Date.now() / 1000) * 1000 - 20_000
    const one = await post(api, JSON.stringify(hostmetrics(host, first, 1)), { 'content-type': 'application/json', authorization: `Bearer ${token.body.token}` })
    t.equal(one.status, 200, one.text)
    t.same(one.body, {}, 'no partialSuccess: everything stored')
    const listed = await api.get(`/api/v1/agents?limit=500`)
    t.ok((listed.body.agents ?? listed.body.items ?? listed.body).some((a: { name: string }) => a.name === host), 'the host is an agent now')
    t.same(await values(api, host, 'memory.total_bytes'), [8.2e9], 'total: every state')
    t.same(await values(api, host, 'memory.available_bytes'), [2e9], 'available: free + buffered + cached + slab_reclaimable')
    t.same(await values(api, host, 'memory.used_bytes'), [6.2e9], 'used: total − available')
    t.same(await values(api, host, 'memory.usage_percent'), [75.61])
    t.same(await values(api, host, 'load.load1'), [1.25])
    const disks = await api.get(`/api/v1/metrics/disk/${enc(host)}`)
    t.equal(disks.status, 200, disks.text)
    t.match(disks.body.metrics[0], { device: '/dev/sda1', mount_point: '/', filesystem: 'ext4', total_bytes: 100e9, used_bytes: 30e9, available_bytes: 60e9, usage_percent: 33.33 })
    const nets = await api.get(`/api/v1/metrics/network/${enc(host)}`)
    t.match(nets.body.metrics[0], { interface: 'eth0', bytes_recv: 1_000_000, bytes_sent: 500_000, packets_recv: 1000, packets_sent: 400, bytes_recv_per_sec: null })
    t.same(await values(api, host, 'cpu.usage_percent'), [], 'cpu.time gives no percent before a second export')

    // Ten seconds later, the counters doubled: rates and CPU shares from the difference.
    const two = await post(api, JSON.stringify(hostmetrics(host, first + 10_000, 2)), { 'content-type': 'application/json', authorization: `Bearer ${token.body.token}` })
    t.equal(two.status, 200, two.text)
    const net2 = (await api.get(`/api/v1/metrics/network/${enc(host)}`)).body.metrics[0]
    t.match(net2, { bytes_recv: 2_000_000, bytes_recv_per_sec: 100_000, bytes_sent_per_sec: 50_000, packets_recv_per_sec: 100 }, 'per-second rates from the previous export')
    // cpu0: user 100, system 50, idle 800, wait 50 of 1000 s → usage 100 − 80 − 5 = 15 %; cpu1: 100 − 80 = 20 %.
    t.same(await values(api, host, 'cpu.usage_percent'), [17.5], 'overall: the average over CPUs')
    t.same(await values(api, host, 'cpu.usage_percent', { core: '1' }), [20], 'per core')
    t.same(await values(api, host, 'cpu.iowait'), [2.5], 'wait → iowait')
    t.same(await values(api, host, 'otel.system_network_io', { device: 'eth0', direction: 'receive' }), [1_000_000, 2_000_000], 'and the points themselves as otel.*')
  })

  await t.test('a re-sent export stores nothing twice; protobuf and gzip answered in kind', async (t) => {
    const ms = Math.floor(Date.now() / 1000) * 1000 - 30_000
    const body = Request.encode(Request.fromObject({ resourceMetrics: [{ scopeMetrics: [{ metrics: [
      { name: 'retry.probe', gauge: { dataPoints: [{ timeUnixNano: ns(ms), asDouble: 4.5, attributes: attrs({ k: 'v' }) }] } },
    ] }] }] })).finish()
    const headers = { ...auth, 'content-type': 'application/x-protobuf' }
    const first = await post(api, body, headers)
    t.equal(first.status, 200)
    t.same(Response.toObject(Response.decode(first.bytes)), {}, 'an empty ExportMetricsServiceResponse')
    const again = await post(api, gzipSync(body), { ...headers, 'content-encoding': 'gzip' })
    t.equal(again.status, 200, 'the same export again, gzipped')
    const { rows } = await sql<{ n: string }>`select count(*) as n from metrics where agent_id = ${agent.id}::uuid and metric_name = 'retry_probe'`.execute(api.store.db)
    t.equal(Number(rows[0].n), 1, 'one row')
    t.same(await values(api, agent.id, 'otel.retry_probe', { k: 'v' }), [4.5])
  })

  await t.test('points that cannot be stored are counted in partialSuccess; the others are stored', async (t) => {
    const ms = Math.floor(Date.now() / 1000) * 1000 - 40_000
    const body = { resourceMetrics: [{ scopeMetrics: [{ metrics: [
      { name: 'partial.good', gauge: { dataPoints: [{ timeUnixNano: ns(ms), asDouble: 1 }] } },
      { name: 'partial.future', gauge: { dataPoints: [{ timeUnixNano: ns(Date.now() + 3_600_000), asDouble: 2 }] } },
      { name: 'partial.huge', gauge: { dataPoints: [{ timeUnixNano: ns(ms), asInt: '9007199254740993' }] } },
      { name: 'partial.expo', exponentialHistogram: { aggregationTemporality: 2, dataPoints: [{ timeUnixNano: ns(ms), count: '1' }] } },
    ] }] }] }
    const res = await post(api, JSON.stringify(body), { ...auth, 'content-type': 'application/json' })
    t.equal(res.status, 200, res.text)
    t.equal(Number(res.body.partialSuccess.rejectedDataPoints), 3)
    t.match(res.body.partialSuccess.errorMessage, /more than 5 minutes in the future/)
    t.match(res.body.partialSuccess.errorMessage, /beyond ±2\^53/)
    t.match(res.body.partialSuccess.errorMessage, /exponential histograms are not stored/)
    t.same(await values(api, agent.id, 'otel.partial_good'), [1], 'the good point is stored')
    const { rows } = await sql<{ n: string }>`select count(*) as n from metrics where agent_id = ${agent.id}::uuid and metric_name like 'partial_%'`.execute(api.store.db)
    t.equal(Number(rows[0].n), 1, 'the refused ones are not')
  })

  await t.test('unreadable bodies and missing credentials are 4xx with a clear message; fuzzed protobuf never a 5xx', async (t) => {
    const good = Request.encode(Request.fromObject({ resourceMetrics: [{ scopeMetrics: [{ metrics: [
      { name: 'fuzz.m', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ timeUnixNano: ns(Date.now() - 50_000), asInt: '3', attributes: attrs({ a: 'b' }) }] } },
      { name: 'fuzz.h', histogram: { aggregationTemporality: 2, dataPoints: [{ timeUnixNano: ns(Date.now() - 50_000), count: '2', sum: 3, bucketCounts: ['1', '1'], explicitBounds: [1] }] } },
    ] }] }] })).finish()
    const proto = { ...auth, 'content-type': 'application/x-protobuf' }
    const cases: Array<[string, Uint8Array | string, Record<string, string>, number, string, RegExp]> = [
      ['garbage protobuf', Buffer.from('not a protobuf message at all'), proto, 400, 'BAD_REQUEST', /ExportMetricsServiceRequest/],
      ['JSON of the wrong shape', '{"resourceMetrics": "x"}', { ...auth, 'content-type': 'application/json' }, 400, 'BAD_REQUEST', /resourceMetrics: array expected/],
      ['not JSON', '{"resourceMetrics": [', { ...auth, 'content-type': 'application/json' }, 400, 'BAD_REQUEST', /not JSON/],
      ['broken gzip', Buffer.from('not gzip'), { ...proto, 'content-encoding': 'gzip' }, 400, 'BAD_REQUEST', /gzip/],
      ['an unknown encoding', good, { ...proto, 'content-encoding': 'br' }, 415, 'UNSUPPORTED_MEDIA_TYPE', /gzip/],
      ['text', 'x 1', { ...auth, 'content-type': 'text/plain' }, 415, 'UNSUPPORTED_MEDIA_TYPE', /application\/x-protobuf/],
      ['no credentials', good, { 'content-type': 'application/x-protobuf' }, 401, 'UNAUTHORIZED', /agent key/],
      ['an unknown key', good, { 'content-type': 'application/x-protobuf', authorization: 'Bearer hp_not-a-key' }, 401, 'UNAUTHORIZED', /Unknown or revoked agent key/],
    ]
    for (const [what, body, headers, status, code, message] of cases) {
      const res = await post(api, body, headers)
      assertError(t, res, status, code, `${what}:`)
      t.match(res.body?.message, message, `${what}: ${res.body?.message}`)
    }
    const statuses = new Map<number, number>()
    for (let i = 0; i < 300; i++) {
      const bytes = Buffer.from(good)
      const mode = i % 3
      if (mode === 0) for (let j = 0; j < 1 + (i % 5); j++) bytes[(i * 7919 + j * 104729) % bytes.length] ^= 1 << (j % 8)
      const body = mode === 1 ? bytes.subarray(0, i % bytes.length) : mode === 2 ? randomBytes(1 + (i % 300)) : bytes
      const res = await post(api, body, proto)
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      if (res.status >= 500 || ![200, 400].includes(res.status)) t.fail(`fuzz ${i}: ${res.status} ${res.text.slice(0, 200)}`)
      if (res.status === 400 && !(typeof res.body?.error === 'string' && typeof res.body?.message === 'string')) t.fail(`fuzz ${i}: not the error format: ${res.text.slice(0, 200)}`)
    }
    t.ok((statuses.get(400) ?? 0) > 0, `statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
    t.equal((await api.get('/health')).status, 200, 'the server still answers')
  })

  await t.test('an organization\'s key writes only into its own organization', async (t) => {
    const otherOrg = await createOrgWithAdmin(api.store, unique('otel-org'), unique('otel-admin'), ADMIN.password)
    const otherAdmin = await api.login((await api.store.db.selectFrom('users').select('username').where('org_id', '=', otherOrg).executeTakeFirstOrThrow()).username, ADMIN.password)
    const theirs = await api.createAgent(unique('otel-theirs'), otherAdmin.token)
    const ms = Date.now() - 60_000
    const body = { resourceMetrics: [{ resource: { attributes: attrs({ 'host.name': agent.name }) }, scopeMetrics: [{ metrics: [
      { name: 'isolation.probe', gauge: { dataPoints: [{ timeUnixNano: ns(ms), asDouble: 9 }] } },
    ] }] }] }
    const res = await post(api, JSON.stringify(body), { 'content-type': 'application/json', authorization: `Bearer ${theirs.api_key}` })
    t.equal(res.status, 200, res.text)
    const { rows } = await sql<{ org_id: string; agent_id: string }>`select distinct org_id, agent_id from metrics where metric_name = 'isolation_probe'`.execute(api.store.db)
    t.same(rows, [{ org_id: otherOrg, agent_id: theirs.id }], 'stored under the key\'s own agent and organization, whatever host.name says')
  })
})
