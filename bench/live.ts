// npm run bench:live — ingest-commit → client-receipt latency of WS /ws/metrics/:agent_id with 1 and with
// 500 clients on the same agent's stream, and the server's RSS with 500 clients; target p99 < 100 ms.
// The server (embedded TimescaleDB, real HTTP) runs in this process; the clients run in a child process so
// their parsing does not slow the server down. Both read one clock (performance.timeOrigin + now()).
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { openStore } from '../services/store/open-store.ts'
import { prepareStore } from '../services/store/prepare-store.ts'
import { bootstrapAdmin } from '../services/auth/bootstrap-admin.ts'
import { buildApp } from '../services/api/app.ts'
import { fmt, percentile, say } from './fleet-data.ts'

const TARGET_P99_MS = 100
const ROUNDS = 40
const ROUND_GAP_MS = 250
const PASSWORD = 'bench-password'
const now = () => performance.timeOrigin + performance.now()

type ToClients = { url: string; count: number } | { collect: true }
type FromClients = { ready: number } | { latencies: Record<string, number[]> }

/** Client process: opens `count` streams, records when each round's value arrives, reports on request. */
async function runClients(): Promise<void> {
  const received: Record<string, number[]> = {}
  let sockets: WebSocket[] = []
  process.on('message', async (msg: ToClients) => {
    if ('collect' in msg) {
      process.send!({ latencies: received } satisfies FromClients)
      for (const ws of sockets) ws.terminate()
      setTimeout(() => process.exit(0), 100)
      return
    }
    let ready = 0
    sockets = Array.from({ length: msg.count }, () => {
      const ws = new WebSocket(msg.url)
      ws.on('message', (data) => {
        const at = now()
        const m = JSON.parse(data.toString()) as { data: Record<string, { value: number; timestamp: string }> }
        const v = m.data['cpu.usage_percent']
        if (!v) {
          if (++ready === msg.count) process.send!({ ready } satisfies FromClients)
          return
        }
        ;(received[v.timestamp] ??= []).push(at)
      })
      return ws
    })
  })
}

async function runServer(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-bench-live-'))
  try {
    say(`hostpulse bench:live — WS /ws/metrics/:agent_id, ${ROUNDS} ingests per run, embedded TimescaleDB, clients in a separate process`)
    const store = await openStore({ backend: 'embedded', dataDir: join(dir, 'pg') })
    await prepareStore(store, { retention: { raw: '30d', minute: '90d', hour: '90d', day: '365d' } })
    const { orgId } = await bootstrapAdmin(store.db, 'admin', PASSWORD)
    const app = await buildApp({ store, jwtSecret: 'b'.repeat(48), accessTtlSeconds: 3600, refreshTtlSeconds: 3600,
      rateLimits: { auth: 1e9, read: 1e9, write: 1e9, ingest: 1e9 } })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    const post = async (path: string, body: unknown, headers: Record<string, string>) => {
      const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`)
      return res.json() as Promise<Record<string, any>>
    }
    const { token } = await post('/api/v1/auth/login', { username: 'admin', password: PASSWORD }, {})
    const agent = await post('/api/v1/agents', { name: 'bench-live' }, { authorization: `Bearer ${token}` })
    say(`  organization ${orgId.slice(0, 8)}…, agent bench-live; live listening through the database: ${app.live.stats().listening}`)

    // Commit time: the feed hears of an ingest right after its transaction committed.
    const committedAt = new Map<string, number>()
    app.ingestFeed.subscribe((e) => { committedAt.set(e.time, now()) })
    const start = Date.now() - 3_600_000
    let round = 0

    const run = async (clients: number) => {
      const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--clients'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      const reply = <T extends FromClients>(key: string) => new Promise<T>((resolve) => {
        const on = (m: FromClients) => { if (key in m) { child.off('message', on); resolve(m as T) } }
        child.on('message', on)
      })
      const ready = reply<{ ready: number }>('ready')
      child.send({ url: `${base.replace('http', 'ws')}/ws/metrics/bench-live?token=${token}`, count: clients } satisfies ToClients)
      await ready
      const rssBefore = process.memoryUsage().rss
      const times: string[] = []
      for (let i = 0; i < ROUNDS; i++) {
        const time = new Date(start + ++round * 1000).toISOString()
        times.push(time)
        await post('/api/v1/ingest', {
          batch_id: randomUUID(), time, host: { hostname: 'bench-live' },
          metrics: [{ metric_type: 'cpu', metric_name: 'usage_percent', value: round, tags: {} },
            { metric_type: 'memory', metric_name: 'usage_percent', value: 50, tags: {} }, { metric_type: 'cpu', metric_name: 'load_avg_1', value: 1, tags: {} }],
        }, { 'x-api-key': agent.api_key })
        await new Promise((r) => setTimeout(r, ROUND_GAP_MS))
      }
      const rss = process.memoryUsage().rss
      const stats = app.live.stats()
      const collected = reply<{ latencies: Record<string, number[]> }>('latencies')
      child.send({ collect: true } satisfies ToClients)
      const { latencies } = await collected
      const samples: number[] = []
      let missing = 0
      for (const time of times) {
        const got = latencies[time] ?? []
        missing += clients - got.length
        for (const at of got) samples.push(at - committedAt.get(time)!)
      }
      await new Promise((r) => child.once('exit', r))
      return { samples, missing, rss, rssBefore, stats }
    }

    const idleRss = process.memoryUsage().rss
    say(`  server RSS with no client: ${fmt(idleRss / 1048576)} MiB (mostly the embedded database's WebAssembly heap)`)
    for (const clients of [1, 500]) {
      say(`  ${clients} client${clients > 1 ? 's' : ''}: connecting, then ${ROUNDS} ingests ${ROUND_GAP_MS} ms apart …`)
      const r = await run(clients)
      const p50 = percentile(r.samples, 0.5)
      const p99 = percentile(r.samples, 0.99)
      const line = `  ${String(clients).padStart(3)} client${clients > 1 ? 's' : ' '}: commit → receipt p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...r.samples).toFixed(1)} ms`
        + ` (${fmt(r.samples.length)} receipts, ${r.missing} missing); p99 / target ${(p99 / TARGET_P99_MS).toFixed(2)}`
        + `; server RSS ${fmt(r.rss / 1048576)} MiB (${fmt(r.rssBefore / 1048576)} MiB when connected, before the ingests); queued now ${r.stats.queuedMessages} messages`
      say(line)
      if (clients === 500 && p99 >= TARGET_P99_MS) process.exitCode = 1
    }
    say(`target: p99 < ${TARGET_P99_MS} ms with 500 clients — ${process.exitCode ? 'MISSED' : 'met'}`)
    await app.close()
    await store.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--clients') await runClients()
else await runServer()
