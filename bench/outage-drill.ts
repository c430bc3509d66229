// The outage drill (issue 15 part 3), server mode: the database becomes unreachable (a proxy between the API
// and a real TimescaleDB server resets every connection and refuses new ones, or, with `partition: 'silent'`,
// drops every byte and closes nothing) while simulated agents write.
// Meanwhile ingest, a read and /ready are probed every half second: the report holds every status, whether
// each 503 carried Retry-After and the error format, and the slowest answer. Two alert rules watch the fleet:
// one firing throughout (must neither resolve nor open again) and agent.offline (must not fire on the
// missing data once the database is back). test/drills/database-outage.test.ts asserts on the report (with
// TEST_DATABASE_URL); `npm run bench:drills -- --database-url …` runs the 60-second version.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { sql } from 'kysely'
import { openStore } from '../services/store/open-store.ts'
import { prepareStore } from '../services/store/prepare-store.ts'
import { bootstrapAdmin } from '../services/auth/bootstrap-admin.ts'
import { buildApp } from '../services/api/app.ts'
import { BENCH_ADMIN, benchAgent, benchLogin } from './bench-api.ts'
import { SimulatedFleet, accountFleet, type FleetAccount } from './simulated-fleet.ts'
import { SimulatedHost } from './simulated-host.ts'
import { TcpProxy } from './tcp-proxy.ts'

export interface OutageDrillOptions {
  /** A TimescaleDB server; the drill makes a database of its own there and drops it at the end. */
  serverUrl: string
  agents: number
  intervalMs: number
  outageMs: number
  /** ALERT_ABSENCE_GRACE for the drill's API; the agents' backoff caps at half of it. */
  graceMs: number
  /** `reset` (default): connections reset, new ones refused; `silent`: nothing answers and nothing closes. */
  partition?: 'reset' | 'silent'
  /** DATABASE_QUERY_TIMEOUT and DATABASE_CONNECT_TIMEOUT for the drill's API (the product's defaults unless set). */
  queryTimeoutMs?: number
  connectTimeoutMs?: number
  progress?: (line: string) => void
}

export type Probe = 'ready' | 'ingest' | 'agents'

export interface OutageDrillReport {
  /** Each probe's statuses during the outage, in order. */
  statuses: Record<Probe, number[]>
  slowestMs: Record<Probe, number>
  /** 503s without Retry-After or outside the error format. */
  faults: string[]
  maxBuffering: number
  /** The always-firing rule's events before, right after and well after the outage; agent.offline's events. */
  firingBefore: Record<string, number>
  firingAtReturn: Record<string, number>
  firingAfter: Record<string, number>
  offlineEvents: string[]
  /** From the database's return to /ready answering 200, and to every agent's buffer empty. */
  readyAfterMs: number
  caughtUpAfterMs: number
  drained: boolean
  setAside: number
  /** Batches still in the agents' buffers at the end (each would be replayed by a restarted agent; a drill expects none). */
  leftBuffered: number
  account: FleetAccount
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function runOutageDrill(opts: OutageDrillOptions): Promise<OutageDrillReport> {
  const say = opts.progress ?? (() => {})
  const cleanups: Array<() => Promise<unknown>> = []
  try {
    // A database of its own on the server.
    const dbName = `hostpulse_drill_${randomBytes(4).toString('hex')}`
    const admin = new pg.Client({ connectionString: opts.serverUrl })
    await admin.connect()
    await admin.query(`create database ${dbName}`)
    cleanups.unshift(async () => { await admin.query(`drop database if exists ${dbName} with (force)`); await admin.end() })
    const target = new URL(opts.serverUrl)
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432))
    await proxy.start()
    cleanups.unshift(() => proxy.close())
    const viaProxy = new URL(opts.serverUrl)
    viaProxy.host = `127.0.0.1:${proxy.port}`
    viaProxy.pathname = `/${dbName}`

    const store = await openStore({ backend: 'server', databaseUrl: viaProxy.toString(), poolSize: 6, queryTimeoutMs: opts.queryTimeoutMs, connectTimeoutMs: opts.connectTimeoutMs })
    cleanups.unshift(() => store.close())
    await prepareStore(store, { retention: { raw: '30d', minute: '90d', hour: '90d', day: '365d' } })
    await bootstrapAdmin(store.db, BENCH_ADMIN.username, BENCH_ADMIN.password)
    const app = await buildApp({
      store, jwtSecret: 'd'.repeat(48), accessTtlSeconds: 3600, refreshTtlSeconds: 3600, requestTimeoutMs: 30_000,
      rateLimits: { auth: 1e9, read: 1e9, write: 1e9, ingest: 1e9 },
      alerting: { evaluate: true, tickMs: 500, absenceGraceMs: opts.graceMs },
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    cleanups.unshift(() => app.close())
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    const token = await benchLogin(base)
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }

    const dir = await mkdtemp(join(tmpdir(), 'hostpulse-drill-outage-'))
    cleanups.unshift(() => rm(dir, { recursive: true, force: true }))
    // The agents' backoff caps below the grace, as the real agent's 60 s cap is below the default 90 s grace.
    const fleet = await SimulatedFleet.register(base, token, { agents: opts.agents, intervalMs: opts.intervalMs, dir, namePrefix: 'outage', backoff: { baseMs: 1000, capMs: opts.graceMs / 2 } })
    cleanups.unshift(() => fleet.stop())
    const probeAgent = await benchAgent(base, token, `outage-probe-${randomBytes(3).toString('hex')}`)
    const rule = async (body: Record<string, unknown>) => {
      const res = await fetch(`${base}/api/v1/alerts`, { method: 'POST', headers: auth, body: JSON.stringify({ interval: '1s', group_wait: '0s', agents: fleet.agents.map((a) => a.id), ...body }) })
      if (res.status !== 201) throw new Error(`rule: ${res.status} ${await res.text()}`)
      return ((await res.json()) as { id: string }).id
    }
    const events = async (ruleId: string) => (await sql<{ state: string; n: number }>`
      select state, count(*)::int as n from alert_events where rule_id = ${ruleId} group by state`.execute(store.db)).rows
      .reduce<Record<string, number>>((m, r) => ({ ...m, [r.state]: r.n }), {})
    const alwaysFiring = await rule({ name: 'Always', metric: 'cpu.usage_percent', aggregation: 'last', window: '30s', condition: '>', threshold: -1 })
    const offline = await rule({ name: 'Offline', metric: 'agent.offline', window: `${Math.max(10, (3 * opts.intervalMs) / 1000)}s` })

    fleet.start()
    for (let i = 0; i < 120 && (await events(alwaysFiring)).firing !== opts.agents; i++) await sleep(500)
    const firingBefore = await events(alwaysFiring)
    const silent = opts.partition === 'silent'
    say(`${opts.agents} agents writing every ${opts.intervalMs / 1000} s; the database goes ${silent ? 'silent' : 'away'} for ${opts.outageMs / 1000} s`)

    await (silent ? proxy.silence() : proxy.cut())
    const cutAt = Date.now()
    const statuses: Record<Probe, number[]> = { ready: [], ingest: [], agents: [] }
    const slowestMs: Record<Probe, number> = { ready: 0, ingest: 0, agents: 0 }
    const faults: string[] = []
    const probe = async (name: Probe, path: string, init: RequestInit) => {
      const started = performance.now()
      const res = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(60_000) })
      slowestMs[name] = Math.max(slowestMs[name], performance.now() - started)
      statuses[name].push(res.status)
      const body = await res.json() as { error?: string; code?: number }
      if (res.status === 503 && (res.headers.get('retry-after') === null || body.error !== 'SERVICE_UNAVAILABLE' || body.code !== 503)) {
        faults.push(`${name}: 503 without Retry-After or in another format (${res.headers.get('retry-after')}, ${JSON.stringify(body)})`)
      }
    }
    const host = new SimulatedHost(99, opts.intervalMs)
    while (Date.now() - cutAt < opts.outageMs) {
      await Promise.all([
        probe('ready', '/ready', {}),
        probe('ingest', '/api/v1/ingest', { method: 'POST', headers: { 'x-api-key': probeAgent.api_key, 'content-type': 'application/json' }, body: JSON.stringify(host.batch(Date.now())) }),
        probe('agents', '/api/v1/agents', { headers: auth }),
      ])
      await sleep(500)
    }
    await proxy.restore()
    const restoredAt = performance.now()
    const restoredAtMs = Date.now()
    say(`the database is back; ${fleet.buffering} agents buffering`)
    const firingAtReturn = await events(alwaysFiring)
    let readyAfterMs = -1
    for (let i = 0; i < 120 && readyAfterMs < 0; i++) {
      if ((await fetch(`${base}/ready`)).status === 200) readyAfterMs = performance.now() - restoredAt
      else await sleep(500)
    }
    const drained = await fleet.drain(120_000)
    const caughtUpAfterMs = performance.now() - restoredAt
    await sleep(opts.graceMs + 3000)
    fleet.stopCollecting()
    // What was collected during the grace period (a send may still be in flight) is delivered before stopping.
    await fleet.drain(60_000)
    await fleet.stop()
    const offlineEvents = (await sql<{ started_at: Date }>`select started_at from alert_events where rule_id = ${offline}`.execute(store.db)).rows
      .map((e) => `fired ${((e.started_at.getTime() - restoredAtMs) / 1000).toFixed(1)} s after the return`)
    return {
      statuses, slowestMs, faults, maxBuffering: fleet.maxBuffering, firingBefore, firingAtReturn, firingAfter: await events(alwaysFiring), offlineEvents,
      readyAfterMs, caughtUpAfterMs, drained, setAside: await fleet.setAside(), leftBuffered: await fleet.buffered(), account: await accountFleet(store.db, fleet.agents),
    }
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => {})
  }
}
