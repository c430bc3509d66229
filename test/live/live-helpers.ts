// Live-view tests: the real API (embedded store, HTTP on 127.0.0.1) with chosen live options, and a
// WebSocket client (the `ws` package) that collects messages and waits for one with a deadline.
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import type { AppOptions } from '../../services/api/app.ts'
import { bootstrapAdmin } from '../../services/auth/bootstrap-admin.ts'
import type { Store } from '../../services/store/open-store.ts'
import { ADMIN, listenApp, openTestStore, type CreatedAgent, type Reply, type RequestOptions } from '../test-client.ts'
import { clientOn } from '../security/security-helpers.ts'

export { clientOn, listenApp, startClient, type TestClient } from '../test-client.ts'

export interface WsClient {
  ws: WebSocket
  /** Every message received so far, parsed. */
  messages: any[]
  /** The first message (at or after `from`) matching `match`, within `timeoutMs`. */
  waitFor(match: (m: any) => boolean, timeoutMs?: number, from?: number): Promise<any>
  /** Resolves with the close code once the server closed or dropped the connection. */
  closed: Promise<number>
  close(): void
}

export interface ConnectOptions { protocols?: string[]; headers?: Record<string, string>; autoPong?: boolean }

/** Opens a WebSocket and collects its messages; closed at teardown. Rejects if the upgrade is refused. */
export async function connectWs(t: Test, url: string, opts: ConnectOptions = {}): Promise<WsClient> {
  const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers, autoPong: opts.autoPong ?? true })
  const messages: any[] = []
  const waiters = new Set<() => void>()
  ws.on('message', (data) => {
    messages.push(JSON.parse(data.toString()))
    for (const w of waiters) w()
  })
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
  t.teardown(() => { if (ws.readyState !== WebSocket.CLOSED) ws.terminate() })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to the upgrade of ${url.replace(/token=[^&]+/, 'token=…')} within 10 s`)), 10_000)
    ws.once('open', () => { clearTimeout(timer); resolve() })
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
  })
  // A deadline for something that must arrive, not a latency target (bench:live measures that): generous,
  // so a CI machine busy with other test files does not fail a message that is only late.
  const waitFor = (match: (m: any) => boolean, timeoutMs = 15_000, from = 0) => new Promise<any>((resolve, reject) => {
    const check = () => {
      const found = messages.slice(from).find(match)
      if (found === undefined) return false
      waiters.delete(check)
      clearTimeout(timer)
      resolve(found)
      return true
    }
    const timer = setTimeout(() => {
      waiters.delete(check)
      reject(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(messages.slice(from)).slice(0, 800)}`))
    }, timeoutMs)
    if (!check()) waiters.add(check)
  })
  return { ws, messages, waitFor, closed, close: () => ws.close() }
}

/** What a refused upgrade answered: status and parsed body (the error format). */
export function refusedUpgrade(url: string, opts: ConnectOptions = {}): Promise<{ status: number; body: any; protocol?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers })
    setTimeout(() => reject(new Error('no answer to the upgrade within 10 s')), 10_000).unref()
    ws.once('open', () => {
      ws.terminate()
      reject(new Error('the upgrade was accepted'))
    })
    ws.once('error', () => undefined)
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => {
        ws.terminate()
        let body: unknown
        try { body = JSON.parse(text) } catch { body = text }
        resolve({ status: res.statusCode ?? 0, body })
      })
    })
  })
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function until<T>(check: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
