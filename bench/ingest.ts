// npm run bench:ingest — ingest POSTs per second as agents send them: one batch of 50 metrics per request,
// N keep-alive connections (default 8), each with its own agent key, for a fixed time; p50/p99 per POST and
// the API process's CPU per POST. Next to it in the same run, the anchor: plain PostgreSQL taking the same
// rows from the same client, one transaction per POST (a minimal HTTP server: parse JSON, one unnest insert
// into an ordinary table, commit), when --reference-url names a PostgreSQL database.
//   --backend embedded|server (server needs --database-url), --seconds N (per phase, default 20),
//   --connections N (default 8), --samples N (metrics per batch, default 50), --rounds N (default 2),
//   --reference-url postgres://… (a database the bench may create a table in; dropped at the end),
//   --times live|replay: live (default) stamps batches from the moment the phase starts, 10 ms apart per
//   connection, as agents reporting now do; replay stamps them a second apart over the last 100 minutes, as
//   agents replaying a buffer after an outage do (rows behind the aggregates' watermarks: each late-data pass
//   then refreshes the buckets they touched, on the store's one session when embedded).
// The clients run in a child process; every body is built before the clock starts.
import { fork } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { fmt, percentile, say } from './fleet-data.ts'
import { benchAgent, benchLogin, jobSummary, startBenchApi } from './bench-api.ts'

const argOf = (name: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const num = (name: string, fallback: number) => Number(argOf(name) ?? fallback)
const SECONDS = num('seconds', 20)
const CONNECTIONS = num('connections', 8)
const SAMPLES = num('samples', 50)
const ROUNDS = num('rounds', 2)
const BACKEND = (argOf('backend') ?? 'embedded') as 'embedded' | 'server'
const DATABASE_URL = argOf('database-url') ?? process.env.DATABASE_URL
const REFERENCE_URL = argOf('reference-url')
const TIMES = (argOf('times') ?? 'live') as 'live' | 'replay'
if (TIMES !== 'live' && TIMES !== 'replay') throw new Error(`--times is live or replay, not ${String(TIMES)}`)

interface Job { url: string; keys: string[]; seconds: number; headers: Record<string, string>; times: 'live' | 'replay' }
interface Done { posts: number; seconds: number; statuses: Record<number, number>; latencies: number[] }

/** A batch as the agent sends it: 50 scalar metrics (cpu per core, memory, load …) at one instant. */
function body(i: number, t: number): string {
  const metrics = Array.from({ length: SAMPLES }, (_, m) => ({
    metric_type: m < 16 ? 'cpu' : m < 30 ? 'memory' : 'system', metric_name: m < 16 ? 'usage_percent' : `m${m}`,
    value: (i * 7 + m * 13) % 100 + 0.25, ...(m < 16 ? { tags: { core: String(m) } } : {}),
  }))
  return JSON.stringify({ batch_id: randomUUID(), time: new Date(t).toISOString(), metrics })
}

/** Client process: each connection POSTs its key's batches back to back until the time is up. */
function runClients(): void {
  process.on('message', async (job: Job) => {
    const statuses: Record<number, number> = {}
    const latencies: number[] = []
    const perConnection = Math.ceil(job.seconds * 400)
    // Built before the clock starts. Live: from now on, 10 ms apart per connection (a minute for all of them,
    // so a fast connection's stamps stay well inside the 5 minutes ingest allows ahead of its clock).
    // Replay: a second apart, ending a minute ago.
    const [start, step] = job.times === 'live' ? [Date.now(), 10] : [Date.now() - perConnection * 1000 - 60_000, 1000]
    const bodies = job.keys.map((_, c) => Array.from({ length: perConnection }, (_, i) => body(c * 1000 + i, start + i * step)))
    const deadline = performance.now() + job.seconds * 1000
    const started = performance.now()
    let posts = 0
    await Promise.all(job.keys.map(async (key, c) => {
      for (let i = 0; performance.now() < deadline && i < perConnection; i++) {
        const t0 = performance.now()
        const res = await fetch(job.url, { method: 'POST', headers: { ...job.headers, 'content-type': 'application/json', 'x-api-key': key }, body: bodies[c][i] })
        await res.arrayBuffer()
        latencies.push(performance.now() - t0)
        statuses[res.status] = (statuses[res.status] ?? 0) + 1
        posts++
      }
    }))
    process.send!({ posts, seconds: (performance.now() - started) / 1000, statuses, latencies } satisfies Done)
  })
}

/** The anchor: the same POSTs into plain PostgreSQL, one transaction (one unnest insert) per POST. */
async function referenceServer(url: string): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const pool = new pg.Pool({ connectionString: url, max: CONNECTIONS })
  await pool.query(`drop table if exists bench_ingest_reference;
    create table bench_ingest_reference (time timestamptz not null, agent text not null, metric_type text not null, metric_name text not null, value float8 not null, tags jsonb not null);
    create index on bench_ingest_reference (agent, metric_type, metric_name, time desc)`)
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', async () => {
      const client = await pool.connect()
      try {
        const batch = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { time: string; metrics: Array<{ metric_type: string; metric_name: string; value: number; tags?: object }> }
        const key = String(req.headers['x-api-key'])
        await client.query('begin')
        await client.query(`insert into bench_ingest_reference (time, agent, metric_type, metric_name, value, tags)
          select $1::timestamptz, $2, t, n, v, g::jsonb from unnest($3::text[], $4::text[], $5::float8[], $6::text[]) as u(t, n, v, g)`,
        [batch.time, key, batch.metrics.map((m) => m.metric_type), batch.metrics.map((m) => m.metric_name), batch.metrics.map((m) => m.value), batch.metrics.map((m) => JSON.stringify(m.tags ?? {}))])
        await client.query('commit')
        res.writeHead(202, { 'content-type': 'application/json' }).end('{}')
      } catch (err) {
        await client.query('rollback').catch(() => {})
        res.writeHead(500).end(String(err))
      } finally {
        client.release()
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    server, port: (server.address() as { port: number }).port,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await pool.query('drop table if exists bench_ingest_reference')
      await pool.end()
    },
  }
}

async function runServer(): Promise<void> {
  if (BACKEND === 'server' && !DATABASE_URL) throw new Error('--backend server needs --database-url (or DATABASE_URL)')
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-bench-ingest-'))
  const child = fork(fileURLToPath(import.meta.url), ['--clients', ...process.argv.slice(2)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const send = (job: Job) => new Promise<Done>((resolve) => { child.once('message', (m: Done) => resolve(m)); child.send(job) })
  try {
    say(`hostpulse bench ingest — ${CONNECTIONS} connections, one ${SAMPLES}-metric batch per POST, ${SECONDS} s per phase, ${ROUNDS} rounds, ${TIMES === 'live' ? 'stamped now (live agents)' : 'stamped over the last 100 minutes (replay)'}; ${BACKEND} backend${REFERENCE_URL ? ', plain PostgreSQL beside it' : ''}; clients in a child process`)
    const { store, base, close, jobRuns } = await startBenchApi(dir, { backend: BACKEND, databaseUrl: DATABASE_URL })
    const token = await benchLogin(base)
    const keys: string[] = []
    const agentIds: string[] = []
    for (let c = 0; c < CONNECTIONS; c++) {
      const made = await benchAgent(base, token, `bench-ingest-${randomUUID().slice(0, 8)}`)
      keys.push(made.api_key)
      agentIds.push(made.id)
    }
    const reference = REFERENCE_URL ? await referenceServer(REFERENCE_URL) : undefined
    const results: Record<'hostpulse' | 'postgres', Array<Done & { cpuMs: number }>> = { hostpulse: [], postgres: [] }
    for (let round = 0; round < ROUNDS; round++) {
      for (const who of reference ? ['hostpulse', 'postgres'] as const : ['hostpulse'] as const) {
        say(`  round ${round + 1}/${ROUNDS}: ${who}…`)
        const url = who === 'hostpulse' ? `${base}/api/v1/ingest` : `http://127.0.0.1:${reference!.port}/ingest`
        const cpu0 = process.cpuUsage()
        const done = await send({ url, keys, seconds: SECONDS, headers: {}, times: TIMES })
        const cpu = process.cpuUsage(cpu0)
        const ok = done.statuses[202] ?? 0
        if (ok !== done.posts) throw new Error(`${who}: expected every POST accepted, got statuses ${JSON.stringify(done.statuses)}`)
        const cpuMs = (cpu.user + cpu.system) / 1000 / done.posts
        results[who].push({ ...done, cpuMs })
        say(`    ${fmt(done.posts / done.seconds)} POST/s (${fmt(done.posts)} in ${done.seconds.toFixed(1)} s); p50 ${percentile(done.latencies, 0.5).toFixed(1)} ms, p99 ${percentile(done.latencies, 0.99).toFixed(1)} ms; `
          + `${who === 'hostpulse' ? 'API' : 'reference server'} process CPU ${cpuMs.toFixed(2)} ms per POST`)
      }
    }
    const rate = (rs: Done[]) => rs.reduce((n, d) => n + d.posts, 0) / rs.reduce((s, d) => s + d.seconds, 0)
    const p99 = (rs: Done[]) => percentile(rs.flatMap((d) => d.latencies), 0.99)
    // This run's agents only: a server database may hold earlier runs' rows.
    const stored = Number((await store.db.selectFrom('metrics').select((eb) => eb.fn.countAll<number>().as('n')).where('agent_id', 'in', agentIds).executeTakeFirstOrThrow()).n)
    const posted = results.hostpulse.reduce((n, d) => n + d.posts, 0)
    if (stored !== posted * SAMPLES) throw new Error(`expected ${posted * SAMPLES} rows stored, found ${stored}`)
    say('')
    const hp = rate(results.hostpulse)
    say(`hostpulse ${BACKEND.padEnd(8)}  ${fmt(hp).padStart(6)} POST/s   p99 ${p99(results.hostpulse).toFixed(1)} ms   API CPU ${(results.hostpulse.reduce((s, d) => s + d.cpuMs, 0) / ROUNDS).toFixed(2)} ms per POST`)
    if (reference) {
      const ref = rate(results.postgres)
      say(`plain PostgreSQL    ${fmt(ref).padStart(6)} POST/s   p99 ${p99(results.postgres).toFixed(1)} ms   ratio hostpulse / PostgreSQL ${(hp / ref).toFixed(2)} `
        + `(per round ${results.hostpulse.map((h, i) => ((h.posts / h.seconds) / (results.postgres[i].posts / results.postgres[i].seconds)).toFixed(2)).join(', ')})`)
    }
    say(`(${fmt(stored)} rows stored and counted; Node ${process.version}${BACKEND === 'embedded' ? `; the embedded job runner, as npm start runs it: ${jobSummary(jobRuns)}` : ''})`)
    await reference?.close()
    await close()
  } finally {
    child.kill()
    await rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--clients') runClients()
else await runServer()
