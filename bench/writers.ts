// npm run bench:writers — points per second through the ecosystem's writers, InfluxDB line protocol
// (POST /api/v2/write), Prometheus remote write (POST /api/v1/write, snappy-compressed protobuf) and OTLP/HTTP
// (POST /v1/metrics, protobuf, one gauge per metric name with its points), next to the
// native JSON ingest (POST /api/v1/ingest) in the same run, with 8 connections each, on the embedded
// TimescaleDB. All carry the same points: requests of 500 samples (the
// max_samples_per_send of Prometheus 2.42), one instant per request, node_exporter-like series (name, job,
// instance and two labels), every request new content (nothing is acknowledged as a duplicate). The
// formats take turns (JSON, line protocol, remote write, JSON, …) so none gets the emptier table or a quiet
// moment alone. The clients run in a child process, with every body built before the clock starts.
// Options: --requests N (per phase, default 300), --samples N (per request, default 500), --connections N (default 8),
// --rounds N (default 3), --formats json,line-protocol,remote-write,otlp (default all).
import { fork } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import protobuf from 'protobufjs'
import { compressSync } from 'snappy'
import { decodeWriteRequest, decompressRemoteWrite, writeRequestToBatches } from '../services/ingest/remote-write.ts'
import { OTLP_METRICS_PROTO } from '../services/ingest/otlp-metrics.ts'
import { fmt, percentile, say } from './fleet-data.ts'
import { benchAgent, benchLogin, startBenchApi } from './bench-api.ts'

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const REQUESTS = arg('requests', 300)
const SAMPLES = arg('samples', 500)
const CONNECTIONS = arg('connections', 8)
const ROUNDS = arg('rounds', 3)
type Format = 'json' | 'line-protocol' | 'remote-write' | 'otlp'
const ALL_FORMATS: Format[] = ['json', 'line-protocol', 'remote-write', 'otlp']
const formatsArg = process.argv.indexOf('--formats')
const FORMATS = formatsArg >= 0 ? process.argv[formatsArg + 1].split(',') as Format[] : ALL_FORMATS
for (const f of FORMATS) if (!ALL_FORMATS.includes(f)) throw new Error(`--formats: unknown format ${f} (known: ${ALL_FORMATS.join(', ')})`)
const PHASES: Format[] = Array.from({ length: ROUNDS }, () => FORMATS).flat()
/** Where each format is sent, the status every request must get, and its name in the summary. */
const ROUTES: Record<Format, { path: string; ok: number; label: string }> = {
  json: { path: '/api/v1/ingest', ok: 202, label: 'native JSON ingest (POST /api/v1/ingest)' },
  'line-protocol': { path: '/api/v2/write?precision=ms', ok: 204, label: 'InfluxDB line protocol (POST /api/v2/write)' },
  'remote-write': { path: '/api/v1/write', ok: 204, label: 'Prometheus remote write (POST /api/v1/write)' },
  otlp: { path: '/v1/metrics', ok: 200, label: 'OpenTelemetry OTLP/HTTP (POST /v1/metrics)' },
}

interface Job { url: string; format: Format; key: string; phase: number }
interface Done { phase: number; seconds: number; points: number; requests: number; statuses: Record<number, number>; latencies: number[] }

const WriteRequest = protobuf.parse(`syntax = "proto3"; package prometheus;
message WriteRequest { repeated TimeSeries timeseries = 1; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }
message Label { string name = 1; string value = 2; }
message Sample { double value = 1; int64 timestamp = 2; }`, { keepCase: true }).root.lookupType('prometheus.WriteRequest')
const OtlpRequest = protobuf.parse(OTLP_METRICS_PROTO).root.lookupType('otlp.ExportMetricsServiceRequest')

/** Series i of a request: a node_exporter-like name with job, instance and two labels. */
const seriesOf = (i: number) => ({
  name: `node_bench_metric_${i % 50}_total`,
  labels: { cpu: String(i % 16), instance: '10.0.0.7:9100', job: 'node', mode: `m${Math.floor(i / 50)}` },
})

/** One request body per request of a phase, each at its own instant (phases and requests never share one). */
interface Body { body: Uint8Array | string; headers: Record<string, string> }
function buildBodies(format: Format, phase: number): Body[] {
  const start = Date.now() - 6 * 3_600_000 + phase * REQUESTS * 1000
  return Array.from({ length: REQUESTS }, (_, r): Body => {
    const ms = start + r * 1000
    if (format === 'json') {
      const metrics = Array.from({ length: SAMPLES }, (_, i) => {
        const s = seriesOf(i)
        return { metric_type: 'prom', metric_name: s.name, value: r * 10 + i / 7, tags: s.labels }
      })
      return { body: JSON.stringify({ batch_id: randomUUID(), time: new Date(ms).toISOString(), metrics }), headers: { 'content-type': 'application/json' } }
    }
    if (format === 'line-protocol') {
      // Telegraf's shape: a measurement, its tags, one field per line here (as many rows as the other formats).
      const lines = Array.from({ length: SAMPLES }, (_, i) => {
        const s = seriesOf(i)
        return `node,${Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(',')} ${s.name}=${r * 10 + i / 7} ${ms}`
      })
      return { body: lines.join('\n'), headers: { 'content-type': 'text/plain; charset=utf-8' } }
    }
    if (format === 'otlp') {
      // An SDK's shape: one resource, one scope, each metric name a gauge with its points (attributes as labels).
      const byName = new Map<string, unknown[]>()
      const timeUnixNano = String(BigInt(ms) * 1_000_000n)
      for (let i = 0; i < SAMPLES; i++) {
        const s = seriesOf(i)
        const points = byName.get(s.name) ?? []
        byName.set(s.name, points)
        points.push({ timeUnixNano, asDouble: r * 10 + i / 7, attributes: Object.entries(s.labels).map(([key, value]) => ({ key, value: { stringValue: value } })) })
      }
      const request = { resourceMetrics: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bench' } }] },
        scopeMetrics: [{ metrics: [...byName].map(([name, dataPoints]) => ({ name, gauge: { dataPoints } })) }] }] }
      return { body: OtlpRequest.encode(OtlpRequest.fromObject(request)).finish(), headers: { 'content-type': 'application/x-protobuf' } }
    }
    const timeseries = Array.from({ length: SAMPLES }, (_, i) => {
      const s = seriesOf(i)
      const labels = [{ name: '__name__', value: s.name }, ...Object.entries(s.labels).map(([name, value]) => ({ name, value }))]
      return { labels, samples: [{ value: r * 10 + i / 7, timestamp: ms }] }
    })
    const body = compressSync(Buffer.from(WriteRequest.encode(WriteRequest.fromObject({ timeseries })).finish()))
    return { body, headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' } }
  })
}

/** Client process: builds a phase's bodies, then sends them over `CONNECTIONS` concurrent connections. */
function runClients(): void {
  process.on('message', async (job: Job) => {
    const bodies = buildBodies(job.format, job.phase)
    const statuses: Record<number, number> = {}
    const latencies: number[] = []
    let next = 0
    const started = performance.now()
    await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
      for (let i = next++; i < bodies.length; i = next++) {
        const t0 = performance.now()
        const res = await fetch(job.url, { method: 'POST', headers: { ...bodies[i].headers, 'x-api-key': job.key }, body: bodies[i].body as BodyInit })
        await res.arrayBuffer()
        latencies.push(performance.now() - t0)
        statuses[res.status] = (statuses[res.status] ?? 0) + 1
      }
    }))
    const seconds = (performance.now() - started) / 1000
    process.send!({ phase: job.phase, seconds, points: REQUESTS * SAMPLES, requests: REQUESTS, statuses, latencies } satisfies Done)
  })
}

async function runServer(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-bench-writers-'))
  const child = fork(fileURLToPath(import.meta.url), ['--clients', ...process.argv.slice(2)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  try {
    say(`hostpulse bench writers — ${CONNECTIONS} connections, ${REQUESTS} requests of ${SAMPLES} points per phase, ${ROUNDS} rounds of ${FORMATS.join(', ')}; embedded TimescaleDB, clients in a child process`)
    const { store, base, close } = await startBenchApi(dir)
    const token = await benchLogin(base)
    const agentOf = (name: string) => benchAgent(base, token, name)
    // What remote write adds before the shared write path: snappy, protobuf and the mapping, on this thread alone.
    const sample = buildBodies('remote-write', PHASES.length).slice(0, 100)
    const t0 = performance.now()
    for (const b of sample) writeRequestToBatches(decodeWriteRequest(await decompressRemoteWrite(b.body as Uint8Array)), 'bench', Date.now())
    const decodeRate = (sample.length * SAMPLES) / ((performance.now() - t0) / 1000)
    say(`  decode + map alone (snappy, protobuf, batches): ${fmt(decodeRate)} points/s on one thread`)
    const results: Record<Format, Done[]> = { json: [], 'line-protocol': [], 'remote-write': [], otlp: [] }
    for (const [phase, format] of PHASES.entries()) {
      // One agent per phase: each phase writes into a table of the same size for its agent.
      const agent = await agentOf(`bench-${format}-${phase}`)
      say(`  phase ${phase + 1}/${PHASES.length}: ${format} (building ${REQUESTS} bodies, then sending)…`)
      const done = await new Promise<Done>((resolve) => {
        child.once('message', (m: Done) => resolve(m))
        child.send({ url: `${base}${ROUTES[format].path}`, format, key: agent.api_key, phase } satisfies Job)
      })
      const ok = done.statuses[ROUTES[format].ok] ?? 0
      if (ok !== done.requests) throw new Error(`${format}: expected every request accepted, got statuses ${JSON.stringify(done.statuses)}`)
      results[format].push(done)
      say(`    ${fmt(done.points / done.seconds)} points/s (${done.requests} requests in ${done.seconds.toFixed(1)} s; p50 ${percentile(done.latencies, 0.5).toFixed(0)} ms, p99 ${percentile(done.latencies, 0.99).toFixed(0)} ms)`)
    }
    const { rows } = await store.db.selectFrom('metrics').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow().then((r) => ({ rows: Number(r.n) }))
    const expected = PHASES.length * REQUESTS * SAMPLES
    if (rows !== expected) throw new Error(`expected ${expected} rows stored, found ${rows}`)
    const rate = (f: Format) => results[f].reduce((n, d) => n + d.points, 0) / results[f].reduce((s, d) => s + d.seconds, 0)
    say('')
    for (const f of FORMATS) {
      const perRound = results.json.map((j, i) => (results[f][i].points / results[f][i].seconds) / (j.points / j.seconds))
      const ratio = f === 'json' || !FORMATS.includes('json') ? '' : `   ratio to native JSON ${(rate(f) / rate('json')).toFixed(2)} (per round ${perRound.map((x) => x.toFixed(2)).join(', ')})`
      const p99 = percentile(results[f].flatMap((d) => d.latencies), 0.99)
      say(`${ROUTES[f].label.padEnd(46)} ${fmt(rate(f)).padStart(8)} points/s   p99 ${p99.toFixed(0)} ms${ratio}`)
    }
    say(`remote write's own decode + map:              ${fmt(decodeRate)} points/s on one thread (not the bottleneck: every format shares the write path)`)
    say(`(${fmt(rows)} rows stored, every one checked; Node ${process.version}, ${CONNECTIONS} connections, ${SAMPLES} points per request)`)
    await close()
  } finally {
    child.kill()
    await rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--clients') runClients()
else await runServer()
