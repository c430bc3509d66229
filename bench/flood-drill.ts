// Floods and slow consumers (issue 15 part 4), shared by the CI drill (test/drills/floods.test.ts) and
// `npm run bench:floods`. The API runs as operators run it (services/main.ts) in a child process, so the
// client sockets do not share its descriptor limit and the RSS read from /proc is the server's own. A victim
// client keeps doing normal requests (GET /health, GET /api/v1/agents, an agent's ingest) while each flood
// runs: WebSocket clients that never read, one agent at 100× its rate, a 50 MiB body, connections that
// never send a byte. Each case reports the victim's latencies and the server's RSS before, at peak and after.
import net from 'node:net'
import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import WebSocket from 'ws'
import { INGEST_PATH, type IngestBatch } from '../contract/ingest-batch.ts'
import { freePort, login, startApi, type ApiProcess } from './api-process.ts'
import { benchAgent } from './bench-api.ts'
import { percentile } from './fleet-data.ts'
import { SimulatedHost } from './simulated-host.ts'

/** What the issue asks of every case: the victim's p99 under this. */
export const TARGET_P99_MS = 1000
/** An agent's normal pace (agent default interval 10 s); the runaway sends 100 times as often. */
const NORMAL_INTERVAL_MS = 10_000
const RUNAWAY_INTERVAL_MS = NORMAL_INTERVAL_MS / 100
/** The product's per-key ingest budget (RATE_LIMIT_INGEST default): 600 a minute, 100× the normal pace. */
export const INGEST_BUDGET_PER_MINUTE = 600
/** One victim request every 50 ms at most: 100 samples (a p99 that is not just the maximum) in 5 s. */
const VICTIM_GAP_MS = 50
/** The victim's requests each case needs, so its p99 is not just its maximum. */
export const VICTIM_MIN_REQUESTS = 100
const VICTIM_TIMEOUT_MS = 10_000
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const MiB = 1024 * 1024

/** `at`: ms after the victim started. */
export interface VictimSample { kind: 'health' | 'agents' | 'ingest'; at: number; ms: number; status: number }

/** A client doing normal requests one after another (one every 50 ms at most), timing each; status 0: no answer. */
class Victim {
  private samples: VictimSample[] = []
  private running: Promise<void> | undefined
  private stopping = false
  private readonly host = new SimulatedHost(0)

  constructor(private readonly base: string, private readonly token: string, private readonly agentKey: string) {}

  start(): void {
    this.samples = []
    this.stopping = false
    this.running = this.loop()
  }

  /** Requests answered so far in this run. */
  get requests(): number {
    return this.samples.length
  }

  async stop(): Promise<VictimSample[]> {
    this.stopping = true
    await this.running
    return this.samples
  }

  private async loop(): Promise<void> {
    const kinds: VictimSample['kind'][] = ['health', 'agents', 'ingest']
    const start = performance.now()
    for (let i = 0; !this.stopping; i++) {
      const kind = kinds[i % kinds.length]
      const t0 = performance.now()
      const status = await this.request(kind)
      const ms = performance.now() - t0
      this.samples.push({ kind, at: t0 - start, ms, status })
      await sleep(Math.max(0, VICTIM_GAP_MS - ms))
    }
  }

  private async request(kind: VictimSample['kind']): Promise<number> {
    const init: RequestInit = { signal: AbortSignal.timeout(VICTIM_TIMEOUT_MS) }
    let url = `${this.base}/health`
    if (kind === 'agents') {
      url = `${this.base}/api/v1/agents`
      init.headers = { authorization: `Bearer ${this.token}` }
    } else if (kind === 'ingest') {
      url = `${this.base}${INGEST_PATH}`
      init.method = 'POST'
      init.headers = { 'content-type': 'application/json', 'x-api-key': this.agentKey }
      init.body = JSON.stringify(this.host.batch(Date.now()))
    }
    try {
      const res = await fetch(url, init)
      await res.arrayBuffer()
      return res.status
    } catch {
      return 0
    }
  }
}

export interface VictimSummary { requests: number; p50: number; p99: number; max: number; failed: number; statuses: Record<number, number> }

function summarize(samples: VictimSample[]): VictimSummary {
  const ms = samples.map((s) => s.ms)
  const statuses: Record<number, number> = {}
  for (const s of samples) statuses[s.status] = (statuses[s.status] ?? 0) + 1
  return {
    requests: samples.length, p50: percentile(ms, 0.5), p99: percentile(ms, 0.99), max: Math.max(...ms),
    failed: samples.filter((s) => s.status === 0 || s.status >= 500).length, statuses,
  }
}

export interface Measured<T> {
  name: string
  result: T
  victim: VictimSummary
  samples: VictimSample[]
  /** Server RSS in MiB: before the flood, the highest seen during it (sampled every 100 ms), after it settled. */
  rss: { before: number; peak: number; after: number }
}

/** One line for a case: the victim's p50/p99 against the target and the server's RSS. */
export function describeCase(m: Measured<unknown>): string {
  const v = m.victim
  return `${m.name}: victim p50 ${v.p50.toFixed(1)} ms, p99 ${v.p99.toFixed(1)} ms (${(v.p99 / TARGET_P99_MS).toFixed(3)} of the ${TARGET_P99_MS / 1000} s target), ` +
    `max ${v.max.toFixed(0)} ms over ${v.requests} requests, ${v.failed} failed; server RSS ${m.rss.before} MiB before, ${m.rss.peak} MiB peak, ${m.rss.after} MiB after`
}

export interface WsFloodResult {
  /** Never-reading clients opened, on /ws/metrics/:agent_id and on /ws/live. */
  metricsClients: number
  liveClients: number
  upgradeSeconds: number
  /** Ingests of the wide agent while they sat there, and what a reading client beside them received. */
  ingests: number
  readerMessages: number
  readerBytes: number
  readerDropNotices: number
  /** The reading client received the last ingest's values. */
  readerGotLast: boolean
  /** Messages the server dropped for clients that did not read (hostpulse_ws_messages_dropped_total). */
  dropped: { metrics: number; live: number }
  /** Never-reading sockets the server closed during the feed. */
  closedByServer: number
  clientsGaugeAfterClose: number
}

export interface RunawayResult {
  sent: number
  statuses: Record<number, number>
  /** The same agent past its budget: requests until the first refusal, and that refusal. */
  burst: { sent: number; status: number; body: any; retryAfter: string | null; accepted: number }
}

export interface BodyResult {
  status: number
  body: any
  connection: string | undefined
  /** Bytes the client had handed to its socket when the answer came, and how long it took. */
  sentBeforeAnswer: number
  ms: number
}

export interface IdleResult {
  opened: number
  openSeconds: number
  closedByServer: number
  /** Seconds after the last one opened: the first and the last closed by the server. */
  firstCloseSeconds: number
  lastCloseSeconds: number
  /** What the server wrote before closing (Node's 408 for a request that never came). */
  answered408: number
  silent: number
}

export class FloodDrill {
  private readonly victim: Victim
  /** The wide agent's next batch number (its values say which batch they came from). */
  private wideSeq = 0

  private constructor(readonly api: ApiProcess, readonly base: string, readonly port: number, readonly token: string,
    private readonly agents: { victim: string; wide: { id: string; key: string }; runaway: string; body: string }) {
    this.victim = new Victim(base, token, agents.victim)
  }

  /**
   * The API with the product's limits (ingest 600 a minute per key, writes 60) except reads: one user opens
   * every stream here, and 300 upgrades a minute would refuse the rest (a read budget, not what this measures).
   * HTTP_REQUEST_TIMEOUT sets Node's headersTimeout to min(it, 30 s): how long a connection that sends nothing lives.
   */
  static async start(dataDir: string, requestTimeout: string): Promise<FloodDrill> {
    const port = await freePort()
    const api = await startApi(port, {
      HOSTPULSE_DATA_DIR: dataDir, HTTP_REQUEST_TIMEOUT: requestTimeout,
      RATE_LIMIT_INGEST: String(INGEST_BUDGET_PER_MINUTE), RATE_LIMIT_WRITE: '60', RATE_LIMIT_READ: '1000000',
    })
    try {
      const token = await login(api.url)
      const made = async (name: string) => benchAgent(api.url, token, `${name}-${randomUUID().slice(0, 6)}`)
      const [victim, wide, runaway, body] = [await made('victim'), await made('wide'), await made('runaway'), await made('big-body')]
      return new FloodDrill(api, api.url, port, token, { victim: victim.api_key, wide: { id: wide.id, key: wide.api_key }, runaway: runaway.api_key, body: body.api_key })
    } catch (err) {
      api.child.kill('SIGKILL')
      throw err
    }
  }

  /** The server process's resident set, MiB (VmRSS of /proc/<pid>/status). */
  rssMiB(): number {
    const status = readFileSync(`/proc/${this.api.child.pid}/status`, 'utf8')
    return Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024)
  }

  /**
   * Runs `flood` while the victim does its requests (for `minMs` at least, so a short flood still has a
   * sample, and on until it made VICTIM_MIN_REQUESTS); RSS sampled throughout and `settleMs` after.
   */
  async measure<T>(name: string, flood: () => Promise<T>, opts: { settleMs: number; minMs: number }): Promise<Measured<T>> {
    const before = this.rssMiB()
    let peak = before
    const sampler = setInterval(() => { peak = Math.max(peak, this.rssMiB()) }, 100)
    try {
      this.victim.start()
      const minimum = sleep(opts.minMs)
      const result = await flood().catch(async (err: unknown) => {
        await this.victim.stop()
        throw err
      })
      await minimum
      // On until the victim has its samples (up to four times the minimum): a slower or busier machine gives
      // it fewer per second, and a p99 of a few dozen requests is only their maximum.
      const until = performance.now() + 3 * opts.minMs
      while (this.victim.requests < VICTIM_MIN_REQUESTS && performance.now() < until) await sleep(100)
      const samples = await this.victim.stop()
      await sleep(opts.settleMs)
      const after = this.rssMiB()
      return { name, result, victim: summarize(samples), samples, rss: { before, peak: Math.max(peak, after), after } }
    } finally {
      clearInterval(sampler)
    }
  }

  /** A value of the server's Prometheus metrics (summed over series matching `labels`), 0 when absent. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = await (await fetch(`${this.base}/metrics`, { headers: { authorization: `Bearer ${this.token}` } })).text()
    let sum = 0
    for (const line of text.split('\n')) {
      const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line)
      if (!m || m[1] !== name) continue
      const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]))
      if (Object.entries(labels).every(([k, v]) => (v.startsWith('~') ? new RegExp(`^${v.slice(1)}$`).test(have[k] ?? '') : have[k] === v))) sum += Number(m[4])
    }
    return sum
  }

  /** Requests the server answered 5xx since it started (by its own request histogram). */
  serverErrors(): Promise<number> {
    return this.metric('hostpulse_http_request_duration_seconds_count', { status: '~5..' })
  }

  /**
   * `clients` WebSockets upgraded by hand on raw sockets that are then never read (a stuck tab, a hostile
   * client), half on the wide agent's /ws/metrics stream and half on /ws/live, while that agent ingests 1,000
   * series with long tags every 250 ms (about 650 KB pushed to each metrics client per ingest). A `ws` client
   * that reads sits beside them on the same stream. `distinctFilters`: each metrics client first sends a filter
   * of its own (selecting the same series), so no two share the server's serialized messages: the worst case.
   */
  async neverReadingClients(clients: number, feedSeconds: number, distinctFilters = false): Promise<WsFloodResult> {
    const reader = new WebSocket(`ws://127.0.0.1:${this.port}/ws/metrics/${this.agents.wide.id}`, { headers: { authorization: `Bearer ${this.token}` } })
    let readerMessages = 0
    let readerBytes = 0
    let readerDropNotices = 0
    let awaited = ''
    let readerGotLast = false
    reader.on('message', (data: Buffer) => {
      readerMessages++
      readerBytes += data.length
      if (data.subarray(0, 40).toString().includes('"dropped"')) readerDropNotices++
      if (awaited && data.includes(awaited)) readerGotLast = true
    })
    await new Promise((resolve, reject) => { reader.once('open', resolve); reader.once('error', reject) })

    const droppedBefore = { metrics: await this.metric('hostpulse_ws_messages_dropped_total', { stream: 'metrics' }), live: await this.metric('hostpulse_ws_messages_dropped_total', { stream: 'live' }) }
    const sockets: net.Socket[] = []
    let closedByServer = 0
    let closing = false
    const t0 = performance.now()
    const paths = Array.from({ length: clients }, (_, i) => (i % 2 === 0 ? `/ws/metrics/${this.agents.wide.id}` : '/ws/live'))
    // Twenty upgrades at a time, as many tabs opening at once would.
    for (let i = 0; i < paths.length; i += 20) {
      const opening = paths.slice(i, i + 20).map((p, j) => neverReadingSocket(this.port, p, this.token,
        distinctFilters && p !== '/ws/live' ? JSON.stringify({ type: 'filter', metric_types: ['app'], metric_names: ['requests_per_sec', `client_${i + j}`] }) : undefined))
      for (const socket of await Promise.all(opening)) {
        socket.on('close', () => { if (!closing) closedByServer++ })
        sockets.push(socket)
      }
    }
    const upgradeSeconds = (performance.now() - t0) / 1000

    let ingests = 0
    // The feed lasts `feedSeconds`, and longer (up to four times) until the victim has its samples under it:
    // the streams slow the victim down, so a fixed time would give it fewer on a slower machine.
    const feedFrom = performance.now()
    const feeding = (): boolean => {
      const elapsed = performance.now() - feedFrom
      return elapsed < feedSeconds * 1000 || (this.victim.requests < VICTIM_MIN_REQUESTS && elapsed < 4 * feedSeconds * 1000)
    }
    for (let seq = this.wideSeq; feeding(); seq++) {
      const started = performance.now()
      const res = await this.ingest(this.agents.wide.key, wideBatch(seq))
      if (res.status !== 202) throw new Error(`the wide agent's ingest answered ${res.status}: ${JSON.stringify(res.body)}`)
      ingests++
      this.wideSeq = seq + 1
      awaited = `"value":${wideValue(seq, WIDE_SERIES - 1)},`
      await sleep(Math.max(0, 250 - (performance.now() - started)))
    }
    for (let i = 0; i < 100 && !readerGotLast; i++) await sleep(100)
    const dropped = {
      metrics: await this.metric('hostpulse_ws_messages_dropped_total', { stream: 'metrics' }) - droppedBefore.metrics,
      live: await this.metric('hostpulse_ws_messages_dropped_total', { stream: 'live' }) - droppedBefore.live,
    }
    closing = true
    for (const s of sockets) s.destroy()
    reader.close()
    let clientsGaugeAfterClose = Infinity
    for (let i = 0; i < 50 && clientsGaugeAfterClose > 0; i++) {
      await sleep(100)
      clientsGaugeAfterClose = await this.metric('hostpulse_ws_clients')
    }
    return {
      metricsClients: paths.filter((p) => p !== '/ws/live').length, liveClients: paths.filter((p) => p === '/ws/live').length, upgradeSeconds,
      ingests, readerMessages, readerBytes, readerDropNotices, readerGotLast, dropped, closedByServer, clientsGaugeAfterClose,
    }
  }

  /**
   * One agent sending a realistic host's batch every 100 ms (100× the 10 s default) for `seconds`, up to 8 in
   * flight; then the same agent bursting small batches as fast as it can until it is refused (at most 1,000).
   */
  async runawayAgent(seconds: number): Promise<RunawayResult> {
    const host = new SimulatedHost(1, RUNAWAY_INTERVAL_MS)
    const statuses: Record<number, number> = {}
    const inFlight = new Set<Promise<void>>()
    let sent = 0
    const t0 = performance.now()
    for (let next = t0; next < t0 + seconds * 1000; next += RUNAWAY_INTERVAL_MS) {
      await sleep(Math.max(0, next - performance.now()))
      if (inFlight.size >= 8) await Promise.race(inFlight)
      sent++
      const p = this.ingest(this.agents.runaway, host.batch(Date.now())).then((res) => { statuses[res.status] = (statuses[res.status] ?? 0) + 1 })
      inFlight.add(p)
      void p.finally(() => inFlight.delete(p))
    }
    await Promise.all(inFlight)

    let burstSent = 0
    let accepted = 0
    let refusal: { status: number; body: any; retryAfter: string | null } | undefined
    const small = () => ({ batch_id: randomUUID(), time: new Date().toISOString(), metrics: [{ metric_type: 'cpu', metric_name: 'usage_percent', value: 1, tags: {} }] })
    while (!refusal && burstSent < 1000) {
      const answers = await Promise.all(Array.from({ length: 8 }, () => { burstSent++; return this.ingest(this.agents.runaway, small()) }))
      accepted += answers.filter((a) => a.status === 202).length
      const refused = answers.find((a) => a.status !== 202)
      if (refused) refusal = refused
    }
    return { sent, statuses, burst: { sent: burstSent, accepted, ...(refusal ?? { status: 0, body: undefined, retryAfter: null }) } }
  }

  /** `bytes` of body to POST /api/v1/ingest with a valid agent key, announced by Content-Length or chunked. */
  hugeBody(bytes: number, chunked: boolean): Promise<BodyResult> {
    return postHugeBody(this.port, this.agents.body, bytes, chunked)
  }

  /**
   * `count` TCP connections that never send a byte, opened 250 at a time; waits up to `waitMs` for the
   * server to close them.
   */
  async idleConnections(count: number, waitMs: number): Promise<IdleResult> {
    const t0 = performance.now()
    const closes: number[] = []
    let answered408 = 0
    let silent = 0
    const sockets: net.Socket[] = []
    for (let i = 0; i < count; i += 250) {
      const batch = await Promise.all(Array.from({ length: Math.min(250, count - i) }, () => new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(this.port, '127.0.0.1')
        let first = ''
        s.on('data', (d) => { if (first.length < 64) first += d.toString('latin1') })
        s.on('error', () => undefined)
        s.once('connect', () => resolve(s))
        s.once('close', () => {
          closes.push(performance.now())
          if (first.startsWith('HTTP/1.1 408')) answered408++
          else if (first === '') silent++
        })
        setTimeout(() => reject(new Error('an idle connection was not accepted within 10 s')), 10_000).unref()
      })))
      sockets.push(...batch)
    }
    const openedAt = performance.now()
    const deadline = openedAt + waitMs
    while (closes.length < count && performance.now() < deadline) await sleep(100)
    const closedByServer = closes.length
    for (const s of sockets) s.destroy()
    const sorted = closes.sort((a, b) => a - b)
    return {
      opened: count, openSeconds: (openedAt - t0) / 1000, closedByServer,
      firstCloseSeconds: closedByServer ? (sorted[0] - openedAt) / 1000 : NaN,
      lastCloseSeconds: closedByServer ? (sorted[closedByServer - 1] - openedAt) / 1000 : NaN,
      answered408, silent,
    }
  }

  private async ingest(key: string, body: unknown): Promise<{ status: number; body: any; retryAfter: string | null }> {
    const res = await fetch(`${this.base}${INGEST_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(body) })
    const text = await res.text()
    let parsed: unknown = text
    try { parsed = JSON.parse(text) } catch { /* kept as text */ }
    return { status: res.status, body: parsed, retryAfter: res.headers.get('retry-after') }
  }

  /** SIGINT, as an operator stops it: resolves with the exit code. */
  async stop(): Promise<number | null> {
    this.api.child.kill('SIGINT')
    return this.api.exited
  }
}

/** 1,000 series with long tags: about 650 KB of WebSocket messages per ingest for each client of the agent. */
function wideBatch(seq: number): IngestBatch {
  const padding = 'x'.repeat(WIDE_PADDING)
  return {
    batch_id: randomUUID(), time: new Date().toISOString(), disks: [], networks: [], processes: [],
    metrics: Array.from({ length: WIDE_SERIES }, (_, n) => ({ metric_type: 'app', metric_name: 'requests_per_sec', value: wideValue(seq, n), tags: { endpoint: `/${padding}/${n}` } })),
  }
}
const WIDE_SERIES = 1000
const WIDE_PADDING = 600
const wideValue = (seq: number, n: number) => seq * WIDE_SERIES + n

/** A WebSocket upgraded by hand on a raw socket, which is then never read again. */
function neverReadingSocket(port: number, path: string, token: string, message?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let head = ''
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer to the upgrade of ${path} within 10 s`)) }, 10_000)
    socket.on('error', () => undefined)
    socket.once('connect', () => socket.write([`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13', `Authorization: Bearer ${token}`, '', ''].join('\r\n')))
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      socket.off('data', onData)
      clearTimeout(timer)
      if (!head.startsWith('HTTP/1.1 101')) {
        socket.destroy()
        reject(new Error(`the upgrade of ${path} was refused: ${head.split('\r\n')[0]}`))
        return
      }
      if (message) socket.write(clientFrame(message))
      // From here on the frames pile up in the kernel's buffers, then in the server's.
      socket.pause()
      resolve(socket)
    }
    socket.on('data', onData)
  })
}

/** Streams `bytes` of JSON whitespace in 1 MiB writes (honouring backpressure) until the server answers or closes. */
function postHugeBody(port: number, apiKey: string, bytes: number, chunked: boolean): Promise<BodyResult> {
  return new Promise((resolve) => {
    const t0 = performance.now()
    const socket = net.connect(port, '127.0.0.1')
    let answer = Buffer.alloc(0)
    let sent = 0
    let sentBeforeAnswer = -1
    let finished = false
    const chunk = Buffer.alloc(MiB, 0x20)
    const frame = chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk
    const finish = () => {
      if (finished) return
      finished = true
      socket.destroy()
      const text = answer.toString('utf8')
      const [head, ...rest] = text.split('\r\n\r\n')
      const headers = Object.fromEntries(head.split('\r\n').slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
      let body: unknown = rest.join('\r\n\r\n')
      try { body = JSON.parse(body as string) } catch { /* kept as text */ }
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), body, connection: headers.connection, sentBeforeAnswer: sentBeforeAnswer < 0 ? sent : sentBeforeAnswer, ms: performance.now() - t0 })
    }
    socket.on('data', (d: Buffer) => {
      if (sentBeforeAnswer < 0) sentBeforeAnswer = sent
      answer = Buffer.concat([answer, d])
      const end = answer.indexOf('\r\n\r\n')
      const length = end < 0 ? NaN : Number(/content-length: (\d+)/i.exec(answer.subarray(0, end).toString())?.[1])
      if (end >= 0 && answer.length >= end + 4 + length) finish()
    })
    socket.on('error', () => undefined)
    socket.on('close', finish)
    socket.once('connect', () => {
      socket.write([`POST ${INGEST_PATH} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Content-Type: application/json', `X-API-Key: ${apiKey}`,
        chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${bytes}`, '', ''].join('\r\n'))
      const pump = () => {
        while (!finished && sentBeforeAnswer < 0 && sent < bytes) {
          sent += chunk.length
          if (!socket.write(frame)) { socket.once('drain', pump); return }
        }
        if (chunked && sent >= bytes && !finished) socket.write('0\r\n\r\n')
      }
      pump()
    })
  })
}

/** A client's text frame (masked, as RFC 6455 requires of clients), under 64 KiB. */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text)
  const mask = randomBytes(4)
  const length = payload.length < 126 ? Buffer.from([0x80 | payload.length]) : Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 255])
  return Buffer.concat([Buffer.from([0x81]), length, mask, payload.map((b, i) => b ^ mask[i % 4])])
}
