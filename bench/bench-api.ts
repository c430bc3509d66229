// A benchmark's own API: a store (embedded in `dir`, or a server's database), migrated, with the admin
// `admin`/`bench-password`, rate limits out of the way, listening on loopback; and the two calls every
// benchmark makes against it over HTTP (log in, register an agent).
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { openStore, type Store } from '../services/store/open-store.ts'
import { prepareStore } from '../services/store/prepare-store.ts'
import { bootstrapAdmin } from '../services/auth/bootstrap-admin.ts'
import { buildApp } from '../services/api/app.ts'
import type { AlertingOptions } from '../services/alerting/alerting-plugin.ts'

export const BENCH_ADMIN = { username: 'admin', password: 'bench-password' }

export interface BenchApi { store: Store; app: FastifyInstance; base: string; close(): Promise<void> }

export async function startBenchApi(dir: string, opts: { backend?: 'embedded' | 'server'; databaseUrl?: string; alerting?: AlertingOptions } = {}): Promise<BenchApi> {
  const store = opts.backend === 'server'
    ? await openStore({ backend: 'server', databaseUrl: opts.databaseUrl! })
    : await openStore({ backend: 'embedded', dataDir: join(dir, 'pg') })
  await prepareStore(store, { retention: { raw: '30d', minute: '90d', hour: '90d', day: '365d' } })
  await bootstrapAdmin(store.db, BENCH_ADMIN.username, BENCH_ADMIN.password)
  const app = await buildApp({ store, jwtSecret: 'b'.repeat(48), accessTtlSeconds: 3600, refreshTtlSeconds: 3600,
    rateLimits: { auth: 1e9, read: 1e9, write: 1e9, ingest: 1e9 }, alerting: opts.alerting })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    store, app, base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`,
    close: async () => { await app.close(); await store.close() },
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
