// The shared test client: one real API per test file (an embedded store in a temp dir, migrated, an admin,
// an HTTP server on 127.0.0.1) and small fetch and data helpers. Everything it opens is closed at teardown.
import { createHmac, randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { buildApp, type AppOptions } from '../services/api/app.ts'
import { openStore, type Store } from '../services/store/open-store.ts'
import { prepareStore } from '../services/store/prepare-store.ts'
import { bootstrapAdmin } from '../services/auth/bootstrap-admin.ts'
import { hashPassword } from '../services/auth/secrets.ts'
import type { DiskItem, IngestBatch, MetricItem, NetworkItem, ProcessItem } from '../contract/ingest-batch.ts'

export const ADMIN = { username: 'admin', password: 'admin-password-1' }
export const JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789'
export const ACCESS_TTL = 900
export const REFRESH_TTL = 86_400
export const RETENTION = { raw: '30d', minute: '90d', hour: '90d', day: '365d' }
/** Budgets no functional test reaches; the rate-limit tests use small ones of their own. */
export const GENEROUS_LIMITS = {
  rateLimits: { windowMs: 60_000, auth: 100_000, read: 100_000, write: 100_000, ingest: 100_000, perf_auth: 100_000, perf_read: 100_000, perf_write: 100_000 },
  loginThrottle: { windowMs: 60_000, maxFailuresPerUser: 100_000, maxFailuresPerIp: 100_000 },
}

export interface Reply<T = any> { status: number; body: T; text: string; headers: Headers }

export interface RequestOptions {
  body?: unknown
  /** Sent as is (for unparsable JSON). */
  rawBody?: string
  token?: string
  apiKey?: string
  headers?: Record<string, string>
}

export interface CreatedAgent { id: string; name: string; api_key: string; [k: string]: unknown }

/** The one test client every test file uses: the real API over HTTP with an admin token, whatever options the app runs with. */
export interface TestClient {
  app: FastifyInstance
  store: Store
  url: string
  wsUrl: string
  orgId: string
  adminToken: string
  request<T = any>(method: string, path: string, opts?: RequestOptions): Promise<Reply<T>>
  /** The same as request. */
  req<T = any>(method: string, path: string, opts?: RequestOptions): Promise<Reply<T>>
  get<T = any>(path: string, token?: string): Promise<Reply<T>>
  post<T = any>(path: string, body: unknown, opts?: Omit<RequestOptions, 'body'>): Promise<Reply<T>>
  login(username: string, password: string): Promise<{ token: string; refresh_token: string; expires_in: number }>
  /** An agent, created through the API (throws unless 201). */
  createAgent(name: string, token?: string, fields?: Record<string, unknown>): Promise<CreatedAgent>
  /** POST /api/v1/ingest with an agent key; the reply, whatever its status. */
  ingest(apiKey: string, body: unknown): Promise<Reply>
  /** The same, throwing unless 202: for tests about what happens after data arrives. */
  ingestOk(apiKey: string, body: unknown): Promise<Reply>
  /** A user of the caller's organization, created through the API; its id and a token. */
  user(role: 'admin' | 'editor' | 'viewer', token?: string, username?: string): Promise<{ id: string; username: string; password: string; token: string }>
}

let userCounter = 0
export const unique = (prefix: string) => `${prefix}-${process.pid}-${++userCounter}`

/** A client of an app already listening at `url` (another instance on the same store, say). */
export function clientOn(app: FastifyInstance, store: Store, url: string, orgId: string, adminToken = ''): TestClient {
  const req = <T = any>(method: string, path: string, opts?: RequestOptions) => request<T>(url, method, path, opts)
  const client: TestClient = {
    app, store, url, wsUrl: url.replace(/^http/, 'ws'), orgId, adminToken,
    request: req,
    req,
    get: (path, token = client.adminToken) => req('GET', path, { token }),
    post: (path, body, opts = {}) => req('POST', path, { ...opts, body }),
    login: async (username, password) => {
      const res = await req('POST', '/api/v1/auth/login', { body: { username, password } })
      if (res.status !== 200) throw new Error(`login as ${username} failed: ${res.status} ${res.text}`)
      return res.body
    },
    createAgent: async (name, token = client.adminToken, fields = {}) => {
      const res = await req('POST', '/api/v1/agents', { token, body: { name, ...fields } })
      if (res.status !== 201) throw new Error(`creating agent ${name} failed: ${res.status} ${res.text}`)
      return res.body as CreatedAgent
    },
    ingest: (apiKey, body) => req('POST', '/api/v1/ingest', { apiKey, body }),
    ingestOk: async (apiKey, body) => {
      const res = await req('POST', '/api/v1/ingest', { apiKey, body })
      if (res.status !== 202) throw new Error(`ingest failed: ${res.status} ${res.text}`)
      return res
    },
    user: async (role, token = client.adminToken, username = unique(role)) => {
      const password = `pw-${username}-secret`
      const res = await req('POST', '/api/v1/users', { token, body: { username, password, role } })
      if (res.status !== 201) throw new Error(`creating user ${username} failed: ${res.status} ${res.text}`)
      return { id: res.body.id, username, password, token: (await client.login(username, password)).token }
    },
  }
  return client
}

export async function request<T = any>(baseUrl: string, method: string, path: string, opts: RequestOptions = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...opts.headers }
  let body: string | undefined
  if (opts.rawBody !== undefined) {
    body = opts.rawBody
    headers['content-type'] ??= 'application/json'
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body)
    headers['content-type'] ??= 'application/json'
  }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`
  if (opts.apiKey !== undefined) headers['x-api-key'] = opts.apiKey
  const res = await fetch(baseUrl + path, { method, headers, body })
  const text = await res.text()
  let parsed: unknown = undefined
  try { parsed = text ? JSON.parse(text) : undefined } catch { parsed = undefined }
  return { status: res.status, body: parsed as T, text, headers: res.headers }
}

/** Opens a migrated embedded store in a fresh temp dir; closed (and the dir removed) at teardown. */
export async function openTestStore(t: Test, migrate = true): Promise<Store> {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-api-test-'))
  const store = await openStore({ backend: 'embedded', dataDir: join(dir, 'pg') })
  t.teardown(async () => {
    await store.close().catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
  })
  // A store that never ran a query does not end its worker thread on close (see health.test.ts).
  await store.ping()
  if (migrate) await prepareStore(store, { retention: RETENTION })
  return store
}

/** A listening app on `store` (with option `overrides`), closed at teardown (the app never closes the store: its opener does). */
export async function listenApp(t: Test, store: Store, overrides: Partial<AppOptions> = {}): Promise<{ app: FastifyInstance; url: string }> {
  const app = await buildApp({ store, jwtSecret: JWT_SECRET, accessTtlSeconds: ACCESS_TTL, refreshTtlSeconds: REFRESH_TTL, ...GENEROUS_LIMITS, ...overrides })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  t.teardown(() => app.close())
  return { app, url: `http://127.0.0.1:${port}` }
}

/** The whole API for one test file: store (a fresh one unless given), first admin, app with `overrides`, an admin token. */
export async function startClient(t: Test, overrides: Partial<AppOptions> = {}, store?: Store): Promise<TestClient> {
  store ??= await openTestStore(t)
  const { orgId } = await bootstrapAdmin(store.db, ADMIN.username, ADMIN.password)
  const { app, url } = await listenApp(t, store, overrides)
  const client = clientOn(app, store, url, orgId)
  client.adminToken = (await client.login(ADMIN.username, ADMIN.password)).token
  return client
}

/** A second organization with its own admin, inserted directly (there is no API for it yet). */
export async function createOrgWithAdmin(store: Store, orgName: string, username: string, password: string): Promise<string> {
  const org = await store.db.insertInto('organizations').values({ name: orgName }).returning('id').executeTakeFirstOrThrow()
  await store.db.insertInto('users').values({
    org_id: org.id, username, role: 'admin', password_hash: await hashPassword(password),
  }).execute()
  return org.id
}

export const RAW_TABLES = ['metrics', 'disk_metrics', 'network_metrics', 'process_metrics', 'process_snapshots', 'ingest_batches'] as const
export type RowCounts = Record<(typeof RAW_TABLES)[number], number>

export async function rowCounts(store: Store): Promise<RowCounts> {
  const out = {} as RowCounts
  for (const table of RAW_TABLES) {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(store.db)
    out[table] = rows[0].n
  }
  return out
}

/** A time `minutesAgo` minutes before now, whole seconds, as RFC3339 UTC. */
export function minutesAgo(minutes: number, from = Date.now()): string {
  const ms = Math.floor((from - minutes * 60_000) / 1000) * 1000
  return new Date(ms).toISOString()
}

export function metric(metric_type: string, metric_name: string, value: number, extra: Partial<MetricItem> = {}): MetricItem {
  return { metric_type, metric_name, value, tags: {}, ...extra }
}

export function disk(mount_point: string, extra: Partial<DiskItem> = {}): DiskItem {
  return {
    device: `/dev/sd${mount_point.length}`, mount_point, filesystem: 'ext4',
    total_bytes: 206900281344, used_bytes: 37557932032, available_bytes: 169325572096, usage_percent: 18.15,
    inodes_total: 26083328, inodes_used: 997477, inodes_percent: 3.82, ...extra,
  }
}

export function network(iface: string, extra: Partial<NetworkItem> = {}): NetworkItem {
  return {
    interface: iface, bytes_sent: 1382943312, bytes_recv: 2505301971, packets_sent: 8523412, packets_recv: 9234521,
    errors_in: 1, errors_out: 2, drop_in: 3, drop_out: 4, is_up: true, ...extra,
  }
}

export function proc(pid: number, name: string, extra: Partial<ProcessItem> = {}): ProcessItem {
  return {
    pid, parent_pid: 1, name, cmdline: `/usr/bin/${name} --serve`, username: 'root', status: 'running',
    cpu_percent: 12.17, memory_bytes: 501776384, memory_percent: 2.04, num_threads: 8, ...extra,
  }
}

/** A complete batch at `time` (default now): three scalar metrics, two disks, one interface, two processes. */
export function makeBatch(overrides: Partial<IngestBatch> = {}): IngestBatch {
  return {
    batch_id: randomUUID(),
    time: minutesAgo(0),
    host: { hostname: 'web-01.example.com', ip_address: '192.168.1.10', os: 'Ubuntu', os_version: '22.04', agent_version: '0.3.0' },
    metrics: [metric('cpu', 'usage_percent', 39.37), metric('cpu', 'load_avg_1', 2.95), metric('memory', 'usage_percent', 75.2)],
    disks: [disk('/'), disk('/boot', { device: '/dev/sda16', total_bytes: 923156480, used_bytes: 122003456, available_bytes: 736509952, usage_percent: 14.21 })],
    networks: [network('eth0')],
    processes: [proc(603576, 'node', { cpu_percent: 144.19 }), proc(600666, 'postgres')],
    ...overrides,
  }
}

/** Asserts the error format `{error, message, code, details?}` with the given code and status. */
export function assertError(t: Test, res: Reply, status: number, error: string, msg = ''): void {
  t.equal(res.status, status, `${msg} status ${status}`)
  t.equal(res.body?.error, error, `${msg} error ${error}`)
  t.equal(res.body?.code, status, `${msg} body code ${status}`)
  t.type(res.body?.message, 'string', `${msg} has a message`)
  t.ok((res.body?.message ?? '').length > 0, `${msg} message is not empty`)
}

/** An HS256 JWT signed with `secret` (to forge tokens the server must refuse). */
export function signJwt(payload: Record<string, unknown>, secret: string): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const head = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(payload)}`
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`
}

/** The claims of a JWT, unverified. */
export const jwtClaims = (token: string): Record<string, any> => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())

/** The `rows` object of a 202 from ingest: every family the contract counts, zero unless given. */
export function acceptedRows(rows: Partial<Record<'metrics' | 'disks' | 'networks' | 'processes' | 'sessions' | 'containers' | 'logs', number>> = {}) {
  return { metrics: 0, disks: 0, networks: 0, processes: 0, sessions: 0, containers: 0, logs: 0, ...rows }
}
