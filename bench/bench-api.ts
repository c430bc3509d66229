// A benchmark's own API: a store (embedded in `dir`, or a server's database), migrated, with the admin
// `admin`/`bench-password`, rate limits out of the way, listening on loopback, and on the embedded engine the
// job runner as `npm start` runs it (aggregate refreshes, compression, vacuum, analyze: they take the engine's
// one session too); and the two calls every benchmark makes against it over HTTP (log in, register an agent).
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { openStore, type Store } from '../services/store/open-store.ts'
import { prepareStore } from '../services/store/prepare-store.ts'
import { bootstrapAdmin } from '../services/auth/bootstrap-admin.ts'
import { buildApp } from '../services/api/app.ts'
import type { AlertingOptions } from '../services/alerting/alerting-plugin.ts'
import { EmbeddedJobRunner, type JobRun } from '../services/store/embedded/job-runner.ts'

export const BENCH_ADMIN = { username: 'admin', password: 'bench-password' }

export interface BenchApi {
  store: Store; app: FastifyInstance; base: string; close(): Promise<void>
  /** The embedded job runner's runs so far (none on a server, where TimescaleDB's scheduler runs them). */
  jobRuns: JobRun[]
}

/** The job runner's runs summed by kind: "refresh 12 × 3.4 s, analyze 2 × 0.8 s …". */
export function jobSummary(runs: JobRun[]): string {
  const by = new Map<string, { n: number; ms: number }>()
  for (const r of runs) {
    const kind = r.proc_name.replace(/^policy_/, '')
    const k = by.get(kind) ?? { n: 0, ms: 0 }
    k.n++
    k.ms += r.ms
    by.set(kind, k)
  }
  return [...by].sort((a, b) => b[1].ms - a[1].ms).map(([kind, k]) => `${kind} ${k.n} × ${(k.ms / 1000).toFixed(1)} s`).join(', ') || 'none'
}

export async function startBenchApi(dir: string, opts: { backend?: 'embedded' | 'server'; databaseUrl?: string; alerting?: AlertingOptions; jobs?: boolean } = {}): Promise<BenchApi> {
  const store = opts.backend === 'server'
    ? await openStore({ backend: 'server', databaseUrl: opts.databaseUrl! })
    : await openStore({ backend: 'embedded', dataDir: join(dir, 'pg') })
  await prepareStore(store, { retention: { raw: '30d', minute: '90d', hour: '90d', day: '365d' } })
  await bootstrapAdmin(store.db, BENCH_ADMIN.username, BENCH_ADMIN.password)
  const app = await buildApp({ store, jwtSecret: 'b'.repeat(48), accessTtlSeconds: 3600, refreshTtlSeconds: 3600,
    rateLimits: { auth: 1e9, read: 1e9, write: 1e9, ingest: 1e9 }, alerting: opts.alerting })
  const jobRuns: JobRun[] = []
  const jobs = store.backend === 'embedded' && opts.jobs !== false ? new EmbeddedJobRunner(store.db, (_msg, run) => { if (run) jobRuns.push(run) }) : undefined
  jobs?.start(15_000) // HOSTPULSE_JOB_CHECK_INTERVAL's default
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    store, app, base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, jobRuns,
    close: async () => { await jobs?.stop(); await app.close(); await store.close() },
  }
}

/** The bench admin's access token. */
export async function benchLogin(base: string): Promise<string> {
  const res = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BENCH_ADMIN) })
  return ((await res.json()) as { token: string }).token
}

/** A new agent, its id and key. */
export async function benchAgent(base: string, token: string, name: string): Promise<{ id: string; api_key: string }> {
  const res = await fetch(`${base}/api/v1/agents`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ name }) })
  if (res.status !== 201) throw new Error(`registering ${name}: ${res.status} ${await res.text()}`)
  return (await res.json()) as { id: string; api_key: string }
}
