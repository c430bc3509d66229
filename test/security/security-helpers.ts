// Security tests: the real API (embedded store, HTTP on 127.0.0.1) with chosen limits and options,
// plus helpers to make organizations, users, agents and data through the API itself, a loopback receiver
// for notification channels, and raw WebSocket upgrade attempts.
import http from 'node:http'
import { randomBytes, randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { AppOptions } from '../../services/api/app.ts'
import { bootstrapAdmin } from '../../services/auth/bootstrap-admin.ts'
import type { Store } from '../../services/store/open-store.ts'
import type { NotifyOptions } from '../../services/notify/notify-plugin.ts'
import { PERF_ANALYSIS_PATHS } from '../../services/faces/perf-analysis/perf-analysis-face.ts'
import { ADMIN, assertError, listenApp, openTestStore, request, type Reply, type RequestOptions } from '../test-client.ts'

export { clientOn, listenApp, startClient, unique, type TestClient } from '../test-client.ts'

/** A request a loopback receiver got. */
export interface Received { path: string; headers: http.IncomingHttpHeaders; body: string }

/** An HTTP server on 127.0.0.1 that answers 200 to everything and records what it got; closed at teardown. */
export async function startLoopbackReceiver(t: Test): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, received }
}

/**
 * Notify options that keep every channel target on this machine: loopback targets are allowed (the
 * receivers live there), and no host name is ever resolved (the resolver refuses and records each name),
 * so nothing a test stores can send traffic or DNS queries anywhere else.
 */
export function loopbackOnlyNotify(lookedUp: string[] = []): NotifyOptions {
  return {
    allowPrivateTargets: true,
    // Cross-organization and injection tests send many test-sends; the limit has its own test.
    testSendLimit: { max: 100_000, windowMs: 60_000 },
    resolve: async (host) => {
      lookedUp.push(host)
      throw Object.assign(new Error(`name lookups are disabled in this test (${host})`), { code: 'ENOTFOUND' })
    },
  }
}

/** What a WebSocket upgrade request got: the HTTP answer when refused, or `upgraded` (101). */
export interface UpgradeAnswer { status: number; upgraded: boolean; body: any; text: string }

/** One raw WebSocket upgrade request (no client library), so a refusal before the upgrade is seen as it is. */
export function upgradeAttempt(url: string, headers: Record<string, string> = {}): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    // A fresh connection each time: a refused upgrade leaves its connection unusable for the next request.
    const req = http.request(url, {
      agent: false,
      headers: {
        connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'), ...headers,
      },
    })
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to the upgrade of ${url} within 10 s`)))
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ status: res.statusCode ?? 0, upgraded: true, body: undefined, text: '' })
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown
        try { body = JSON.parse(text) } catch { body = undefined }
        resolve({ status: res.statusCode ?? 0, upgraded: false, body, text })
      })
    })
    req.on('error', reject)
    req.end()
  })
}

/** A route pattern with every path parameter filled with a fresh uuid (and a trailing wildcard with "x"). */
export const withRandomIds = (url: string) => url.replace(/:[A-Za-z_]+/g, () => randomUUID()).replace(/\*$/, 'x')

/** An error format: the native API's or a compatibility face's. */
export type ErrorFormat = 'native' | 'seed000' | 'drf' | 'perfanalysis' | 'influxdb2'

/**
 * Which error format a route answers in: the native one, seed 000's `{"error"}`, Django REST Framework's
 * `{"detail"}`, or seed 004's `{"error": CODE, "message", "details"}`.
 */
export function errorFormatOf(url: string): ErrorFormat {
  if (PERF_ANALYSIS_PATHS.test(url)) return 'perfanalysis'
  if (/^\/api\/v2\/write(\?|$)/.test(url)) return 'influxdb2'
  if (/^\/api\/(submit|hosts)\//.test(url)) return 'seed000'
  if (/^\/api\/(?!v\d+\/)/.test(url)) return 'drf'
  return 'native'
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** True when `body` is an error in the route's own format (DRF's may name fields instead of a `detail`). */
export function isRouteError(url: string, body: unknown): boolean {
  if (!isPlainObject(body)) return false
  switch (errorFormatOf(url)) {
    case 'drf': {
      if (typeof body.detail === 'string') return true
      const fields = Object.values(body)
      return fields.length > 0 && fields.every((v) => Array.isArray(v) && v.every((m) => typeof m === 'string'))
    }
    case 'perfanalysis':
      return typeof body.error === 'string' && typeof body.message === 'string' && isPlainObject(body.details)
    case 'influxdb2':
      // InfluxDB 2's {"code": "<string>", "message"}: what Telegraf's influxdb_v2 output decodes.
      return typeof body.code === 'string' && typeof body.message === 'string'
    default:
      return typeof body.error === 'string'
  }
}

/** The status a route answers for a refusal the native API gives `status` and `nativeCode`: seed 004 answers a validation failure with 422 (its §7). */
export function routeStatus(url: string, status: number, nativeCode: string): number {
  return errorFormatOf(url) === 'perfanalysis' && nativeCode === 'VALIDATION_ERROR' ? 422 : status
}

/**
 * A refusal in the route's own format, given as the native API would answer it: the native
 * `{"error": CODE, "code", "message"}`, seed 000's `{"error": "…"}`, DRF's `{"detail": "…"}` (a 400 there
 * may name fields instead), seed 004's `{"error": CODE, "message", "details": {…}}` (with the native
 * codes, and 422 where the native status of a VALIDATION_ERROR is 400), or InfluxDB 2's `{"code", "message"}`.
 */
export function assertRouteError(t: Test, url: string, res: Reply, status: number, nativeCode: string, msg = ''): void {
  const format = errorFormatOf(url)
  if (format === 'native') return assertError(t, res, status, nativeCode, msg)
  if (format === 'perfanalysis') {
    const expected = routeStatus(url, status, nativeCode)
    t.equal(res.status, expected, `${msg} status ${expected}`)
    t.equal(res.body?.error, nativeCode, `${msg} error ${nativeCode}`)
    t.ok(typeof res.body?.message === 'string' && res.body.message.length > 0, `${msg} has a message`)
    t.ok(isPlainObject(res.body?.details), `${msg} details is an object (seed 004 format)`)
    return
  }
  t.equal(res.status, status, `${msg} status ${status}`)
  if (format === 'influxdb2') {
    t.type(res.body?.code, 'string', `${msg} {"code": "…"} (InfluxDB 2 format)`)
    t.ok(typeof res.body?.message === 'string' && res.body.message.length > 0, `${msg} has a message`)
    return
  }
  const key = format === 'seed000' ? 'error' : 'detail'
  if (format === 'drf' && status === 400 && res.body && typeof res.body === 'object' && !('detail' in res.body)) {
    t.ok(Object.values(res.body).every((v) => Array.isArray(v) && v.every((m) => typeof m === 'string' && m.length > 0)), `${msg} DRF field errors`)
    return
  }
  t.type(res.body?.[key], 'string', `${msg} {"${key}": "…"} (${format} format)`)
  t.ok(String(res.body?.[key] ?? '').length > 0, `${msg} ${key} is not empty`)
}
