// Bench data shared by the store and query benchmarks: a fleet of agents with one sample a minute for
// N days, loaded in-engine with generate_series, then aggregated and compressed as the policies would.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'kysely'
import type { FastifyInstance } from 'fastify'
import type { Store } from '../services/store/open-store.ts'
import { buildApp } from '../services/api/app.ts'

export const say = (msg: string) => process.stdout.write(`${msg}\n`)
export const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

/** Bytes of every file under `dir`. */
export function dirBytes(dir: string): number {
  let total = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name)
    total += e.isDirectory() ? dirBytes(path) : statSync(path).size
  }
  return total
}

export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now()
  const out = await fn()
  return [out, performance.now() - t0]
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]
}

/** `runs` sequential authenticated GETs of `path` after 3 warm-ups: their milliseconds and the last answer's body. */
export async function timeGets(base: string, token: string, path: string, runs: number): Promise<{ times: number[]; last: unknown }> {
  const times: number[] = []
  let last: unknown
  for (let i = 0; i < runs + 3; i++) {
    const [body, ms] = await timed(async () => {
      const r = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } })
      if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${await r.text()}`)
      return r.json()
    })
    if (i >= 3) times.push(ms)
    last = body
  }
  return { times, last }
}

/** The API over `store` on a loopback port, rate limits out of the way, and a session token of `username`. */
export async function benchApi(store: Store, username: string, password: string): Promise<{ app: FastifyInstance; base: string; token: string }> {
  const app = await buildApp({ store, jwtSecret: 'b'.repeat(48), accessTtlSeconds: 3600, refreshTtlSeconds: 3600,
    rateLimits: { auth: 1e9, read: 1e9, write: 1e9, ingest: 1e9 } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const login = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }) })
  const { token } = await login.json() as { token: string }
  return { app, base, token }
}

/** A progress bar on a terminal, a line every 25 % otherwise. */
export function progress(label: string, total: number): (done: number) => void {
  let lastQuarter = -1
  return (done) => {
    if (process.stdout.isTTY) {
      const width = 30
      const filled = Math.round((done / total) * width)
      process.stdout.write(`\r  ${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${done === total ? '\n' : ''}`)
    } else {
      const quarter = Math.floor((done / total) * 4)
      if (quarter > lastQuarter) { lastQuarter = quarter; say(`  ${label}: ${done}/${total}`) }
    }
  }
}

/** `agents` agents named bench-0 … in the given organization (a new one named "bench" if none). */
export async function seedFleet(store: Store, agents: number, orgId?: string) {
  const org = orgId ? { id: orgId } : await store.db.insertInto('organizations').values({ name: 'bench' }).returning('id').executeTakeFirstOrThrow()
  const out = []
  for (let i = 0; i < agents; i++) {
    out.push(await store.db.insertInto('agents').values({ org_id: org.id, name: `bench-${i}`, labels: '{}' })
      .returning(['id', 'org_id', 'name']).executeTakeFirstOrThrow())
  }
  return out
}

/** `cpu.usage_percent` once a minute for every agent over [start, end), then aggregates and compression. */
export async function loadMinuteData(store: Store, agents: Array<{ id: string; org_id: string }>, start: Date, end: Date) {
  const minutes = Math.floor((end.getTime() - start.getTime()) / 60_000)
  // Full refreshes and compression of a fleet's month take minutes on a server: no statement deadline.
  const db = store.maintenanceDb
  const tick = progress('loading one-minute data', agents.length)
  const [, loadMs] = await timed(async () => {
    for (const [i, a] of agents.entries()) {
      await sql`insert into metrics (time, org_id, agent_id, metric_type, metric_name, value, tags)
        select ${start}::timestamptz + g * interval '1 minute', ${a.org_id}::uuid, ${a.id}::uuid, 'cpu', 'usage_percent',
               50 + 40 * sin(g / 300.0) + random() * 5, '{}'::jsonb
        from generate_series(0, ${minutes - 1}) g`.execute(db)
      tick(i + 1)
    }
  })
  say(`  loaded ${fmt(agents.length * minutes)} rows in ${(loadMs / 1000).toFixed(1)} s`)
  for (const view of ['metrics_1m', 'metrics_1h', 'metrics_1d']) {
    const [, ms] = await timed(() => sql`call refresh_continuous_aggregate(${view}::regclass, null, null)`.execute(db))
    say(`  refreshed ${view} in ${(ms / 1000).toFixed(1)} s`)
  }
  // Every compression policy once, as TimescaleDB's scheduler would: raw chunks after HOSTPULSE_COMPRESS_AFTER (a day
  // by default), the minute aggregate's after 8 days.
  const { rows: jobs } = await sql<{ job_id: number }>`select job_id from timescaledb_information.jobs where proc_name = 'policy_compression' order by job_id`.execute(db)
  const [, compressMs] = await timed(async () => { for (const j of jobs) await sql`call run_job(${j.job_id}::int)`.execute(db) })
  say(`  ran the ${jobs.length} compression policies in ${(compressMs / 1000).toFixed(1)} s (raw chunks past their policy's age, minute aggregate older than 8 days)`)
  await sql`analyze`.execute(db)
}
