// npm run bench:fleet — N simulated agents in one process against a real API in a child process, each with
// its own key, disk buffer and the real agent's delivery code (agent/delivery.ts: buffering, retries and
// replay are the agent's own). Every agent sends a batch per interval (default 10 s, ±10 % jitter) shaped
// like a real host's: 60 scalar metrics, 4 filesystems, 3 interfaces, 150 processes, containers on some hosts
// and a session now and then, values that drift like a machine's. A progress line every 10 s; at the end the
// database is compared with what every agent generated: zero lost, zero duplicated, nothing set aside.
//   --agents N (default 100)  --minutes M (default 2)  --interval S (seconds, default 10)
//   --backend embedded|server (server needs --database-url)
//   --with-load: alert rules evaluated over the fleet (8 rules, every 15 s) and dashboard readers beside it
//     (--readers N, default 4, each a latest, a one-hour series and the fleet list per second)
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sql } from 'kysely'
import { fmt, percentile, say } from './fleet-data.ts'
import { SCALARS } from './simulated-host.ts'
import { SimulatedFleet, accountFleet, type FleetAccount, type GeneratedBy } from './simulated-fleet.ts'
import { benchLogin, jobSummary, startBenchApi } from './bench-api.ts'

const argOf = (name: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const AGENTS = Number(argOf('agents') ?? 100)
const MINUTES = Number(argOf('minutes') ?? 2)
const INTERVAL_MS = Number(argOf('interval') ?? 10) * 1000
const BACKEND = (argOf('backend') ?? 'embedded') as 'embedded' | 'server'
const DATABASE_URL = argOf('database-url') ?? process.env.DATABASE_URL
const WITH_LOAD = process.argv.includes('--with-load')
const READERS = Number(argOf('readers') ?? 4)

type ServerMessage = { kind: 'listening'; port: number } | { kind: 'rss'; bytes: number; heap: number; external: number } | { kind: 'counted'; account: FleetAccount; processes: number; jobs: string }
type ServerRequest = { kind: 'rss' } | { kind: 'count'; agents: GeneratedBy } | { kind: 'close' }

/** The API process: a real server on loopback, its RSS on request, the stored counts at the end. */
async function runApi(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-bench-fleet-'))
  // Ingest's own per-key limit stays out of the way too; one batch per 10 s is far below it anyway.
  const { store, base, close, jobRuns } = await startBenchApi(dir, { backend: BACKEND, databaseUrl: DATABASE_URL, alerting: { evaluate: WITH_LOAD } })
  process.send!({ kind: 'listening', port: Number(new URL(base).port) } satisfies ServerMessage)
  process.on('message', async (m: ServerRequest) => {
    if (m.kind === 'rss') {
      // The JS heap and what lives outside it (buffers; the embedded engine's WebAssembly memory is in neither), to tell a leak from growth.
      const { rss, heapUsed, external } = process.memoryUsage()
      process.send!({ kind: 'rss', bytes: rss, heap: heapUsed, external } satisfies ServerMessage)
    }
    if (m.kind === 'count') {
      const account = await accountFleet(store.db, m.agents)
      const processes = await sql<{ n: string }>`select count(*) as n from process_metrics where agent_id = any(${m.agents.map((a) => a.id)}::uuid[])`.execute(store.db)
      process.send!({ kind: 'counted', account, processes: Number(processes.rows[0].n), jobs: jobSummary(jobRuns) } satisfies ServerMessage)
    }
    if (m.kind === 'close') {
      await close()
      await rm(dir, { recursive: true, force: true })
      process.exit(0)
    }
  })
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
    const latencies: number[] = []
    const fleet = await SimulatedFleet.register(base, token, { agents: AGENTS, intervalMs: INTERVAL_MS, dir, onDelivered: (ms) => latencies.push(ms) })
    say(`  ${fmt(AGENTS)} agents registered; running…`)
    const started = Date.now()
    const end = started + MINUTES * 60_000
    let rssAt2: number | undefined
    fleet.start()
    const reads = WITH_LOAD ? await startLoad(base, token, fleet, end) : undefined
    let shown = 0
    while (Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, Math.max(0, end - Date.now()))))
      const { bytes, heap, external } = await ask({ kind: 'rss' }, 'rss')
      const minute = (Date.now() - started) / 60_000
      if (rssAt2 === undefined && minute >= 2) rssAt2 = bytes
      const recent = latencies.slice(shown)
      shown = latencies.length
      say(`  ${minute.toFixed(1)} min: ${fmt(fleet.generated)} batches, last 10 s p50 ${percentile(recent, 0.5).toFixed(0)} ms p99 ${percentile(recent, 0.99).toFixed(0)} ms, `
        + `${fleet.buffering} agents buffering, API RSS ${(bytes / 2 ** 20).toFixed(0)} MiB (JS heap ${(heap / 2 ** 20).toFixed(0)}, external ${(external / 2 ** 20).toFixed(0)})${reads ? `, ${fmt(reads.times.length)} reads so far` : ''}`)
    }
    fleet.stopCollecting()
    say('  collection stopped; delivering what is still buffered…')
    await fleet.drain(60_000)
    await fleet.stop()
    const { bytes: rssEnd } = await ask({ kind: 'rss' }, 'rss')
    const { account, processes, jobs } = await ask({ kind: 'count', agents: fleet.agents.map((a) => ({ id: a.id, generated: a.generated })) }, 'counted')
    const setAside = await fleet.setAside()
    const lost = account.lost - setAside
    say('')
    say(`${fmt(AGENTS)} agents, ${MINUTES} min at ${INTERVAL_MS / 1000} s (${BACKEND}): ${fmt(account.generated)} batches generated, ${fmt(account.stored)} stored, `
      + `lost ${fmt(lost)}, duplicated rows ${fmt(account.duplicatedRows)}, set aside ${fmt(setAside)}; ${fmt(account.metricRows)} metric rows (${fmt(account.stored * SCALARS)} expected), `
      + `${fmt(processes)} process rows`)
    say(`delivery latency (submit → acknowledged, buffer empty) p50 ${percentile(latencies, 0.5).toFixed(0)} ms, p99 ${percentile(latencies, 0.99).toFixed(0)} ms; `
      + `${fmt(account.generated / (MINUTES * 60))} POST/s; API RSS ${rssAt2 ? `${(rssAt2 / 2 ** 20).toFixed(0)} MiB at minute 2, ` : ''}${(rssEnd / 2 ** 20).toFixed(0)} MiB at the end`)
    if (BACKEND === 'embedded') say(`the embedded job runner (as npm start runs it, every 15 s): ${jobs}`)
    if (reads) {
      await reads.done
      const evaluated = await reads.evaluations()
      say(`beside it: ${fmt(reads.times.length)} dashboard reads, p50 ${percentile(reads.times, 0.5).toFixed(0)} ms, p99 ${percentile(reads.times, 0.99).toFixed(0)} ms, ${reads.failed} failed; `
        + `${reads.rules} alert rules evaluated ${fmt(evaluated.count)} times (new data re-evaluates a rule after ${evaluated.gapSeconds.toFixed(1)} s at the end)`)
      say(`the API's time, by what it served (its own histograms; requests overlap, so the totals can exceed the run):`)
      for (const [what, t] of (await reads.timeSpent()).slice(0, 10)) {
        say(`  ${what.padEnd(44)} ${fmt(t.count).padStart(7)} × mean ${(t.seconds / t.count * 1000).toFixed(1).padStart(7)} ms = ${t.seconds.toFixed(1).padStart(6)} s`)
      }
    }
    if (lost !== 0 || account.duplicatedRows !== 0) process.exitCode = 1
  } finally {
    api.send({ kind: 'close' } satisfies ServerRequest)
    await new Promise((resolve) => api.once('exit', resolve))
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * What runs beside the fleet with --with-load: alert rules over every agent, evaluated by the API every 15 s,
 * and READERS dashboard users each asking once a second for an agent's latest values, its CPU over the last
 * hour and the fleet list.
 */
async function startLoad(base: string, token: string, fleet: SimulatedFleet, end: number) {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
  const rules = [
    { name: 'CPU high', metric: 'cpu.usage_percent', aggregation: 'avg', window: '1m', condition: '>', threshold: 95 },
    { name: 'Memory high', metric: 'memory.usage_percent', aggregation: 'avg', window: '5m', condition: '>', threshold: 90 },
    { name: 'Load high', metric: 'load.load5', aggregation: 'last', window: '1m', condition: '>', threshold: 3.5 },
    { name: 'Disk almost full', metric: 'disk.usage_percent', aggregation: 'last', window: '1m', condition: '>', threshold: 97 },
    { name: 'Core hot', metric: 'cpu.usage_percent', tags: { core: '*' }, aggregation: 'max', window: '1m', condition: '>', threshold: 99 },
    { name: 'Offline', metric: 'agent.offline', window: '2m' },
    { name: 'No sshd', metric: 'process.absent', tags: { name: 'sshd' }, window: '2m' },
    { name: 'Swap', metric: 'swap.usage_percent', aggregation: 'avg', window: '5m', condition: '>', threshold: 50 },
  ]
  const ids: string[] = []
  for (const rule of rules) {
    const res = await fetch(`${base}/api/v1/alerts`, { method: 'POST', headers, body: JSON.stringify({ ...rule, interval: '15s' }) })
    if (res.status !== 201) throw new Error(`rule ${rule.name}: ${res.status} ${await res.text()}`)
    ids.push(((await res.json()) as { id: string }).id)
  }
  const times: number[] = []
  let failed = 0
  const get = async (path: string) => {
    const t0 = performance.now()
    const res = await fetch(`${base}${path}`, { headers }).catch(() => undefined)
    if (!res || res.status !== 200) failed++
    await res?.arrayBuffer()
    times.push(performance.now() - t0)
  }
  const reader = async () => {
    while (Date.now() < end) {
      const t0 = Date.now()
      const agent = fleet.agents[Math.floor(Math.random() * fleet.agents.length)]
      const start = new Date(Date.now() - 3_600_000).toISOString()
      await get(`/api/v1/metrics/latest/${agent.name}`)
      await get(`/api/v1/metrics/series/${agent.name}?metric=cpu.usage_percent&start=${encodeURIComponent(start)}&end=${encodeURIComponent(new Date().toISOString())}`)
      await get('/api/v1/agents?limit=100')
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (Date.now() - t0))))
    }
  }
  const done = Promise.all(Array.from({ length: READERS }, reader))
  /** Rule evaluations the API completed, from its own Prometheus counter. */
  const evaluations = async () => {
    const text = await (await fetch(`${base}/metrics`, { headers })).text()
    return {
      count: Number(/^hostpulse_alert_rules_evaluated_total (\d+)/m.exec(text)?.[1] ?? NaN),
      gapSeconds: Number(/^hostpulse_alert_data_trigger_gap_seconds ([\d.e+-]+)/m.exec(text)?.[1] ?? NaN),
    }
  }
  /** Where the API's time went, from its own histograms: each route's and the evaluation cycles' count, total and mean. */
  const timeSpent = async () => {
    const text = await (await fetch(`${base}/metrics`, { headers })).text()
    const totals = new Map<string, { count: number; seconds: number }>()
    for (const m of text.matchAll(/^hostpulse_(http_request_duration|alert_evaluation)_seconds_(sum|count)(?:\{([^}]*)\})? ([\d.e+-]+)$/gm)) {
      const route = m[1] === 'alert_evaluation' ? 'alert evaluation cycles' : `${/method="(\w+)"/.exec(m[3] ?? '')?.[1]} ${/route="([^"]*)"/.exec(m[3] ?? '')?.[1]}`
      const t = totals.get(route) ?? { count: 0, seconds: 0 }
      if (m[2] === 'sum') t.seconds += Number(m[4])
      else t.count += Number(m[4])
      totals.set(route, t)
    }
    return [...totals].filter(([, t]) => t.count > 0).sort((a, b) => b[1].seconds - a[1].seconds)
  }
  return { times, get failed() { return failed }, rules: ids.length, done, evaluations, timeSpent }
}

if (process.argv[2] === '--api') await runApi()
else await runFleet()
