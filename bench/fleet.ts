// npm run bench:fleet — N simulated agents in one process against a real API in a child process, each with
// its own key, disk buffer and the real agent's delivery code (agent/delivery.ts: buffering, retries and
// replay are the agent's own). Every agent sends a batch per interval (default 10 s, ±10 % jitter) shaped
// like a real host's: 60 scalar metrics, 4 filesystems, 3 interfaces, 150 processes, containers on some hosts
// and a session now and then, values that drift like a machine's. A progress line every 10 s; at the end the
// database is compared with what every agent generated: zero lost, zero duplicated, nothing set aside.
//   --agents N (default 100)  --minutes M (default 2)  --interval S (seconds, default 10)
//   --backend embedded|server (server needs --database-url)
import { fork, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sql } from 'kysely'
import type { IngestBatch, ProcessItem } from '../contract/ingest-batch.ts'
import { Delivery } from '../agent/delivery.ts'
import { SegmentBuffer } from '../agent/buffer/segment-buffer.ts'
import { RejectedBatches } from '../agent/buffer/rejected-batches.ts'
import { fmt, percentile, say } from './fleet-data.ts'
import { benchAgent, benchLogin, startBenchApi } from './bench-api.ts'

const argOf = (name: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const AGENTS = Number(argOf('agents') ?? 100)
const MINUTES = Number(argOf('minutes') ?? 2)
const INTERVAL_MS = Number(argOf('interval') ?? 10) * 1000
const BACKEND = (argOf('backend') ?? 'embedded') as 'embedded' | 'server'
const DATABASE_URL = argOf('database-url') ?? process.env.DATABASE_URL

type ServerMessage = { kind: 'listening'; port: number } | { kind: 'rss'; bytes: number } | { kind: 'counted'; batches: number; duplicates: number; metrics: number; processes: number }
type ServerRequest = { kind: 'rss' } | { kind: 'count'; agentIds: string[] } | { kind: 'close' }

/** The API process: a real server on loopback, its RSS on request, the stored counts at the end. */
async function runApi(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-bench-fleet-'))
  // Ingest's own per-key limit stays out of the way too; one batch per 10 s is far below it anyway.
  const { store, base, close } = await startBenchApi(dir, { backend: BACKEND, databaseUrl: DATABASE_URL })
  process.send!({ kind: 'listening', port: Number(new URL(base).port) } satisfies ServerMessage)
  process.on('message', async (m: ServerRequest) => {
    if (m.kind === 'rss') process.send!({ kind: 'rss', bytes: process.memoryUsage().rss } satisfies ServerMessage)
    if (m.kind === 'count') {
      const ids = m.agentIds
      const batches = await sql<{ n: string; d: string }>`select count(*) as n, count(*) - count(distinct (agent_id, batch_id)) as d
        from ingest_batches where agent_id = any(${ids}::uuid[])`.execute(store.db)
      const metrics = await sql<{ n: string }>`select count(*) as n from metrics where agent_id = any(${ids}::uuid[])`.execute(store.db)
      const processes = await sql<{ n: string }>`select count(*) as n from process_metrics where agent_id = any(${ids}::uuid[])`.execute(store.db)
      process.send!({ kind: 'counted', batches: Number(batches.rows[0].n), duplicates: Number(batches.rows[0].d), metrics: Number(metrics.rows[0].n), processes: Number(processes.rows[0].n) } satisfies ServerMessage)
    }
    if (m.kind === 'close') {
      await close()
      await rm(dir, { recursive: true, force: true })
      process.exit(0)
    }
  })
}

/** A value that drifts like a machine's: a random walk inside [lo, hi]. */
class Drift {
  constructor(private v: number, private readonly lo: number, private readonly hi: number, private readonly step: number) {}
  next(): number {
    this.v = Math.min(this.hi, Math.max(this.lo, this.v + (Math.random() - 0.5) * 2 * this.step))
    return Math.round(this.v * 100) / 100
  }
}

/** Scalar metrics per batch (the issue's realistic host). */
const SCALARS = 60
const NAMES = ['systemd', 'sshd', 'nginx', 'postgres', 'node', 'python3', 'cron', 'rsyslogd', 'dockerd', 'containerd', 'bash', 'redis-server', 'java', 'chronyd', 'kworker']

/** One simulated host: its drifting figures and counters, and the batch it would collect now. */
class SimulatedHost {
  private readonly cpu = Array.from({ length: 8 }, () => new Drift(20, 0, 100, 8))
  private readonly mem = new Drift(60, 20, 95, 2)
  private readonly scalars = Array.from({ length: 36 }, (_, i) => new Drift(i * 10, 0, 1000 + i * 10, 5))
  private readonly disks = Array.from({ length: 4 }, (_, i) => ({ mount: ['/', '/var', '/home', '/data'][i], used: new Drift(40 + i * 10, 5, 98, 0.2) }))
  private readonly nets = ['eth0', 'eth1', 'lo'].map((name) => ({ name, rx: 0, tx: 0, rate: new Drift(100_000, 0, 10_000_000, 50_000) }))
  private readonly processes: Array<{ pid: number; name: string; cpu: Drift; rss: Drift; started: string }>
  private readonly containers: number
  private tick = 0

  constructor(index: number) {
    const started = new Date(Date.now() - 86_400_000).toISOString()
    this.processes = Array.from({ length: 150 }, (_, i) => ({
      pid: 100 + i * 7, name: NAMES[i % NAMES.length], cpu: new Drift(i % 10 === 0 ? 5 : 0.2, 0, 100, 0.5), rss: new Drift(20e6 + i * 1e5, 1e6, 2e9, 1e5), started,
    }))
    this.containers = index % 3 === 0 ? 3 : 0
  }

  batch(now: number): IngestBatch {
    this.tick++
    const cores = this.cpu.map((c) => c.next())
    const usage = Math.round(cores.reduce((a, b) => a + b, 0) / cores.length * 100) / 100
    const memPct = this.mem.next()
    const metrics = [
      { metric_type: 'cpu', metric_name: 'usage_percent', value: usage },
      ...cores.map((v, i) => ({ metric_type: 'cpu', metric_name: 'usage_percent', value: v, tags: { core: String(i) } })),
      ...['user', 'system', 'idle', 'iowait', 'steal', 'nice', 'irq', 'softirq'].map((name, i) => ({ metric_type: 'cpu', metric_name: name, value: i === 2 ? 100 - usage : usage / 8 })),
      { metric_type: 'memory', metric_name: 'usage_percent', value: memPct },
      { metric_type: 'memory', metric_name: 'used_bytes', value: Math.round(memPct * 16e9 / 100) },
      { metric_type: 'memory', metric_name: 'total_bytes', value: 16e9 },
      { metric_type: 'load', metric_name: 'load1', value: usage / 25 },
      { metric_type: 'load', metric_name: 'load5', value: usage / 27 },
      { metric_type: 'load', metric_name: 'load15', value: usage / 30 },
      { metric_type: 'swap', metric_name: 'usage_percent', value: 1 },
      ...this.scalars.map((d, i) => ({ metric_type: 'system', metric_name: `figure_${i}`, value: d.next() })),
    ]
    if (metrics.length !== SCALARS) throw new Error(`a batch must hold ${SCALARS} metrics, not ${metrics.length}`)
    const disks = this.disks.map((d, i) => {
      const pct = d.used.next()
      const total = 100e9 * (i + 1)
      const used = Math.round(total * pct / 100)
      return { device: `/dev/sda${i + 1}`, mount_point: d.mount, filesystem: 'ext4', total_bytes: total, used_bytes: used, available_bytes: total - used, usage_percent: pct,
        read_bytes_per_sec: Math.random() * 1e6, write_bytes_per_sec: Math.random() * 1e6 }
    })
    const networks = this.nets.map((n) => {
      const rate = n.rate.next()
      n.rx += Math.round(rate * INTERVAL_MS / 1000)
      n.tx += Math.round(rate / 2 * INTERVAL_MS / 1000)
      return { interface: n.name, bytes_recv: n.rx, bytes_sent: n.tx, packets_recv: Math.round(n.rx / 800), packets_sent: Math.round(n.tx / 800), bytes_recv_per_sec: rate, bytes_sent_per_sec: rate / 2 }
    })
    const processes: ProcessItem[] = this.processes.map((p) => ({
      pid: p.pid, parent_pid: 1, name: p.name, cmdline: `/usr/bin/${p.name} --worker ${p.pid}`, username: 'root', status: 'sleeping',
      cpu_percent: p.cpu.next(), memory_bytes: Math.round(p.rss.next()), memory_percent: 0.5, num_threads: 4, create_time: p.started,
    }))
    const batch: IngestBatch = { batch_id: randomUUID(), time: new Date(now).toISOString(), metrics, disks, networks, processes }
    if (this.containers > 0) batch.containers = Array.from({ length: this.containers }, (_, i) => ({ id: `c${i}`, name: `app-${i}`, image: 'nginx:1.27', state: 'running', cpu_percent: 2, memory_bytes: 50e6 }))
    if (this.tick % 30 === 1) batch.sessions = [{ user: 'ops', terminal: 'pts/0', host: '10.0.0.9', pid: 4242, login_time: new Date(now - 3_600_000).toISOString() }]
    return batch
  }
}

async function runFleet(): Promise<void> {
  if (BACKEND === 'server' && !DATABASE_URL) throw new Error('--backend server needs --database-url (or DATABASE_URL)')
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-fleet-agents-'))
  const api: ChildProcess = fork(fileURLToPath(import.meta.url), ['--api', ...process.argv.slice(2)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const ask = <K extends ServerMessage['kind']>(req: ServerRequest, kind: K) =>
    new Promise<Extract<ServerMessage, { kind: K }>>((resolve) => {
      const on = (m: ServerMessage) => { if (m.kind === kind) { api.off('message', on); resolve(m as Extract<ServerMessage, { kind: K }>) } }
      api.on('message', on)
      if (req) api.send(req)
    })
  try {
    say(`hostpulse bench fleet — ${fmt(AGENTS)} simulated agents, one batch every ${INTERVAL_MS / 1000} s (±10 %), ${MINUTES} min, ${BACKEND} backend; API in a child process`)
    const { port } = await new Promise<{ port: number }>((resolve) => api.once('message', (m: ServerMessage) => { if (m.kind === 'listening') resolve(m) }))
    const base = `http://127.0.0.1:${port}`
    const token = await benchLogin(base)
    const log = () => {}
    const agents: Array<{ id: string; host: SimulatedHost; delivery: Delivery; buffer: SegmentBuffer; sent: number }> = []
    for (let i = 0; i < AGENTS; i++) {
      const made = await benchAgent(base, token, `fleet-${i}-${randomUUID().slice(0, 6)}`)
      const buffer = await SegmentBuffer.open(join(dir, String(i), 'buffer'), { log })
      const delivery = new Delivery({ target: { serverUrl: base, apiKey: made.api_key, timeoutMs: 15_000 }, buffer, rejected: new RejectedBatches(join(dir, String(i), 'rejected')), log })
      agents.push({ id: made.id, host: new SimulatedHost(i), delivery, buffer, sent: 0 })
    }
    say(`  ${fmt(AGENTS)} agents registered; running…`)
    const latencies: number[] = []
    const started = Date.now()
    const end = started + MINUTES * 60_000
    let rssAt2: number | undefined
    const timers: NodeJS.Timeout[] = []
    for (const a of agents) {
      // Spread over the first interval, then every interval ± 10 %.
      const tick = () => {
        if (Date.now() >= end) return
        const t0 = performance.now()
        const batch = a.host.batch(Date.now())
        a.sent++
        void a.delivery.submit(batch).then(() => { if (a.buffer.isEmpty) latencies.push(performance.now() - t0) })
        timers.push(setTimeout(tick, INTERVAL_MS * (0.9 + Math.random() * 0.2)))
      }
      timers.push(setTimeout(tick, Math.random() * INTERVAL_MS))
    }
    let shown = 0
    while (Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 10_000))
      const { bytes } = await ask({ kind: 'rss' }, 'rss')
      const minute = (Date.now() - started) / 60_000
      if (rssAt2 === undefined && minute >= 2) rssAt2 = bytes
      const recent = latencies.slice(shown)
      shown = latencies.length
      const buffered = agents.filter((a) => !a.buffer.isEmpty).length
      say(`  ${minute.toFixed(1)} min: ${fmt(agents.reduce((n, a) => n + a.sent, 0))} batches, last 10 s p50 ${percentile(recent, 0.5).toFixed(0)} ms p99 ${percentile(recent, 0.99).toFixed(0)} ms, `
        + `${buffered} agents buffering, API RSS ${(bytes / 2 ** 20).toFixed(0)} MiB`)
    }
    for (const tm of timers) clearTimeout(tm)
    say('  collection stopped; delivering what is still buffered…')
    for (let round = 0; round < 60 && agents.some((a) => !a.buffer.isEmpty); round++) {
      await Promise.all(agents.map((a) => a.delivery.drain()))
      if (agents.some((a) => !a.buffer.isEmpty)) await new Promise((resolve) => setTimeout(resolve, 1000))
    }
    await Promise.all(agents.map((a) => a.delivery.stop()))
    const { bytes: rssEnd } = await ask({ kind: 'rss' }, 'rss')
    const generated = agents.reduce((n, a) => n + a.sent, 0)
    const counted = await ask({ kind: 'count', agentIds: agents.map((a) => a.id) }, 'counted')
    const setAside = (await Promise.all(agents.map((_, i) => new RejectedBatches(join(dir, String(i), 'rejected')).list()))).reduce((n, l) => n + l.length, 0)
    const lost = generated - counted.batches - setAside
    say('')
    say(`${fmt(AGENTS)} agents, ${MINUTES} min at ${INTERVAL_MS / 1000} s (${BACKEND}): ${fmt(generated)} batches generated, ${fmt(counted.batches)} stored, `
      + `lost ${fmt(lost)}, duplicated ${fmt(counted.duplicates)}, set aside ${fmt(setAside)}; ${fmt(counted.metrics)} metric rows (${fmt(generated * SCALARS)} expected), `
      + `${fmt(counted.processes)} process rows`)
    say(`delivery latency (submit → acknowledged, buffer empty) p50 ${percentile(latencies, 0.5).toFixed(0)} ms, p99 ${percentile(latencies, 0.99).toFixed(0)} ms; `
      + `${fmt(generated / (MINUTES * 60))} POST/s; API RSS ${rssAt2 ? `${(rssAt2 / 2 ** 20).toFixed(0)} MiB at minute 2, ` : ''}${(rssEnd / 2 ** 20).toFixed(0)} MiB at the end`)
    if (lost !== 0 || counted.duplicates !== 0 || counted.metrics !== generated * SCALARS) process.exitCode = 1
  } finally {
    api.send({ kind: 'close' } satisfies ServerRequest)
    await new Promise((resolve) => api.once('exit', resolve))
    await rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--api') await runApi()
else await runFleet()
