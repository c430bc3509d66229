// A real HTTP ingest endpoint on 127.0.0.1 for delivery tests: records what arrives, answers as told.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { INGEST_PATH, type IngestBatch } from '../../contract/ingest-batch.ts'

export interface ReceivedRequest { apiKey: string | undefined; isArray: boolean; batchIds: string[] }

/** Decides the answer per request; default 202 like the real server. */
export type Responder = (batches: IngestBatch[], req: IncomingMessage) => { status: number; body?: unknown; headers?: Record<string, string> } | 'hang'

/** Any other path (config, registration): default 404 like a server without that endpoint. */
export type OtherResponder = (req: IncomingMessage, body: string) => { status: number; body?: unknown }

export interface OtherRequest { method: string; url: string; headers: IncomingMessage['headers']; body: string; at: number }

export class IngestServer {
  readonly requests: ReceivedRequest[] = []
  /** batch_ids the server accepted (202), in arrival order, duplicates included. */
  readonly accepted: string[] = []
  respond: Responder = () => ({ status: 202 })
  other: OtherResponder = () => ({ status: 404, body: { message: 'Not Found' } })
  /** Requests to paths other than the ingest endpoint. */
  readonly otherRequests: OtherRequest[] = []
  /** When each ingest request arrived (Date.now()). */
  readonly arrivals: number[] = []
  private server: Server | undefined
  private hung: Array<() => void> = []

  constructor(readonly port: number) {}

  static async freePort(): Promise<number> {
    const probe = createServer()
    await new Promise<void>(r => probe.listen(0, '127.0.0.1', r))
    const { port } = probe.address() as { port: number }
    await new Promise(r => probe.close(r))
    return port
  }

  get url(): string { return `http://127.0.0.1:${this.port}` }

  async start(): Promise<this> {
    this.server = createServer(async (req, res) => {
      let text = ''
      for await (const chunk of req) text += chunk
      if (req.url !== INGEST_PATH || req.method !== 'POST') {
        this.otherRequests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: text, at: Date.now() })
        const answer = this.other(req, text)
        res.writeHead(answer.status, { 'content-type': 'application/json' })
        return void res.end(JSON.stringify(answer.body ?? {}))
      }
      this.arrivals.push(Date.now())
      const body = JSON.parse(text) as IngestBatch | IngestBatch[]
      const batches = Array.isArray(body) ? body : [body]
      this.requests.push({ apiKey: req.headers['x-api-key'] as string | undefined, isArray: Array.isArray(body), batchIds: batches.map(b => b.batch_id) })
      const answer = this.respond(batches, req)
      if (answer === 'hang') return void this.hung.push(() => res.destroy())
      if (answer.status >= 200 && answer.status < 300) this.accepted.push(...batches.map(b => b.batch_id))
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers })
      res.end(JSON.stringify(answer.body ?? {
        accepted_batches: batches.length, duplicate_batches: 0,
        rows: { metrics: 0, disks: 0, networks: 0, processes: 0, sessions: 0, containers: 0, logs: 0 }, batch_ids: batches.map(b => b.batch_id),
      }))
    })
    await new Promise<void>(r => this.server!.listen(this.port, '127.0.0.1', r))
    return this
  }

  async stop(): Promise<void> {
    for (const end of this.hung.splice(0)) end()
    this.server?.closeAllConnections()
    await new Promise(r => this.server ? this.server.close(r) : r(undefined))
  }
}

/** Polls until `check` holds; fails with `what` after `ms`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 20))
  }
}

/** A fresh data dir, removed when the test ends. */
export async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-agent-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** batch_ids in a buffer dir, oldest first, as the files hold them. */
export async function bufferedIds(bufferDir: string): Promise<string[]> {
  const names = (await readdir(bufferDir).catch(() => [] as string[])).filter(n => n.endsWith('.jsonl')).sort()
  const ids: string[] = []
  for (const n of names) {
    for (const line of (await readFile(join(bufferDir, n), 'utf8')).split('\n')) if (line) ids.push((JSON.parse(line) as IngestBatch).batch_id)
  }
  return ids
}

/** Fake batches are an hour old plus `n` seconds: inside the buffer's default age bound, in order. */
const FAKE_EPOCH = Date.now() - 3600_000

/** A small valid batch; `n` makes its size and order visible. */
export function fakeBatch(n: number, padding = 0, time = new Date(FAKE_EPOCH + n * 1000)): IngestBatch {
  return {
    batch_id: crypto.randomUUID(),
    time: time.toISOString(),
    host: { hostname: 'test-host' },
    metrics: [{ metric_type: 'test', metric_name: 'n', value: n, tags: { pad: 'x'.repeat(padding) } }],
  }
}

export function logRecorder(): { lines: string[]; log: (level: string, msg: string) => void } {
  const lines: string[] = []
  return { lines, log: (level, msg) => { lines.push(`${level} ${msg}`) } }
}
