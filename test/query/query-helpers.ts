// Helpers the query tests share beyond test/test-client.ts: an app built with extra options, users of
// a given role, a pager over the `end`-paginated listings, and the statistics the API must reproduce.
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp, type AppOptions } from '../../services/api/app.ts'
import { hashPassword } from '../../services/auth/secrets.ts'
import { ACCESS_TTL, GENEROUS_LIMITS, JWT_SECRET, REFRESH_TTL, request, type TestClient, type Reply } from '../test-client.ts'

/** A second app on `api`'s store with extra buildApp options (e.g. onlineWindowSeconds), closed at teardown. */
export async function listenAppWith(t: Test, api: TestClient, extra: Partial<AppOptions>): Promise<{ app: FastifyInstance; get: (path: string, token?: string) => Promise<Reply> }> {
  const app = await buildApp({ store: api.store, jwtSecret: JWT_SECRET, accessTtlSeconds: ACCESS_TTL, refreshTtlSeconds: REFRESH_TTL, ...GENEROUS_LIMITS, ...extra })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${port}`
  return { app, get: (path, token = api.adminToken) => request(url, 'GET', path, { token }) }
}

/** A user of `role` in `orgId` (default: the admin's organization), inserted directly; returns its token and id. */
export async function addUser(api: TestClient, username: string, role: 'admin' | 'editor' | 'viewer', orgId = api.orgId): Promise<{ token: string; id: string }> {
  const password = `${username}-password-1`
  const row = await api.store.db.insertInto('users').values({ org_id: orgId, username, role, password_hash: await hashPassword(password) })
    .returning('id').executeTakeFirstOrThrow()
  const { token } = await api.login(username, password)
  return { token, id: row.id }
}

/**
 * Walks a listing (range, disk, network, process) back in time: each next page asks `end = next_end`, or
 * `cursor = next_cursor` when no next_end can be given.
 * Fails the test on a non-200 page or a next_end that is not the page's oldest time.
 */
export async function walkListing(t: Test, api: TestClient, path: string, query: Record<string, string>, limit: number, maxPages = 500) {
  const rows: any[] = []
  const pageSizes: number[] = []
  let next: Record<string, string> = {}
  for (let page = 0; page < maxPages; page++) {
    const q = new URLSearchParams({ ...query, limit: String(limit), ...next })
    const res = await api.get(`${path}?${q}`)
    if (res.status !== 200) { t.fail(`page ${page}: ${res.status} ${res.text}`); break }
    rows.push(...res.body.metrics)
    pageSizes.push(res.body.count)
    if (res.body.count > limit) t.fail(`page ${page}: ${res.body.count} rows for limit ${limit}`)
    // next_end (seed 001) when the page ends on a whole instant; next_cursor when one instant fills it.
    if (!res.body.next_end && !res.body.next_cursor) break
    const oldest = res.body.metrics[res.body.metrics.length - 1]?.time
    if (res.body.next_end && res.body.next_end !== oldest) t.fail(`page ${page}: next_end ${res.body.next_end} is not the oldest time ${oldest}`)
    next = res.body.next_end ? { end: res.body.next_end } : { cursor: res.body.next_cursor }
  }
  return { rows, pageSizes }
}

/** PostgreSQL percentile_cont: linear interpolation between the two nearest ranks of the sorted values. */
export function percentileCont(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  const pos = p * (s.length - 1)
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return s[lo] + (s[hi] - s[lo]) * (pos - lo)
}

/** Sample standard deviation (PostgreSQL stddev_samp). */
export function stddevSamp(values: number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1))
}

/** The statistics set of seed 004, computed here from raw values in time order. */
export function expectedStats(valuesInTimeOrder: number[]) {
  const v = valuesInTimeOrder
  return {
    min: Math.min(...v), max: Math.max(...v), avg: v.reduce((a, b) => a + b, 0) / v.length, stddev: stddevSamp(v),
    current: v[v.length - 1], p50: percentileCont(v, 0.5), p75: percentileCont(v, 0.75), p90: percentileCont(v, 0.9),
    p95: percentileCont(v, 0.95), p97_5: percentileCont(v, 0.975), p99: percentileCont(v, 0.99), p100: percentileCont(v, 1), count: v.length,
  }
}

/** Asserts two numbers agree to `tol`, relative to their size (absolute below 1). */
export function near(t: Test, actual: unknown, expected: number, msg: string, tol = 1e-9): void {
  const ok = typeof actual === 'number' && Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected))
  t.ok(ok, `${msg}: ${actual} ≈ ${expected}`)
}

/** An ISO time `ms` after the epoch-aligned `base`. */
export const isoAt = (base: number, ms: number) => new Date(base + ms).toISOString()

/** Now, floored to a whole `unitMs` (minute, hour) so that buckets line up with known data. */
export const floorTo = (unitMs: number, from = Date.now()) => Math.floor(from / unitMs) * unitMs

export const MINUTE = 60_000
export const HOUR = 3_600_000
export const DAY = 86_400_000
