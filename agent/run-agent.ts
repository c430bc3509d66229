// Wires collection, delivery and the disk buffer into a running agent (used by the CLI and `npm start`).
import { join } from 'node:path'
import { BatchCollector } from './collect-batch.ts'
import { SegmentBuffer } from './buffer/segment-buffer.ts'
import type { BackoffPolicy } from './connection-state.ts'
import { Delivery } from './delivery.ts'
import { silentLog, type AgentLog, type LogLevel } from './logger.ts'

export interface AgentOptions {
  serverUrl: string
  apiKey: string
  /** Time between batches; default 10 s. */
  intervalMs?: number
  /** Where unsent batches are kept (in `<dataDir>/buffer`). */
  dataDir: string
  log?: (level: LogLevel, msg: string) => void
  /** Disk buffer bound; default 100 MiB. */
  bufferMaxBytes?: number
  /** Largest replay request; default 4 MiB. */
  segmentMaxBytes?: number
  /** Retry schedule after a failed send; default 1 s doubling to 60 s. */
  backoff?: BackoffPolicy
  /** Per-request timeout; default 15 s. */
  requestTimeoutMs?: number
  /** How long stop() waits for an in-flight request before aborting it; default 3 s. */
  stopGraceMs?: number
}

export interface RunningAgent {
  /** Stops collecting, lets the in-flight send finish or buffers it to disk. Nothing collected is lost. */
  stop(): Promise<void>
  /** Collects one batch now and resolves once it is delivered, dropped as invalid, or on disk. */
  collectNow(): Promise<void>
}

export const DEFAULT_INTERVAL_MS = 10_000

export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const log: AgentLog = opts.log ?? silentLog
  const intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS
  checkOptions(opts, intervalMs)

  const buffer = await SegmentBuffer.open(join(opts.dataDir, 'buffer'), {
    maxBytes: opts.bufferMaxBytes, segmentMaxBytes: opts.segmentMaxBytes, log,
  })
  const delivery = new Delivery({
    target: { serverUrl: opts.serverUrl, apiKey: opts.apiKey, timeoutMs: opts.requestTimeoutMs ?? 15_000 },
    buffer, log, backoff: opts.backoff, stopGraceMs: opts.stopGraceMs,
  })
  const collector = new BatchCollector(log)
  // Prime the delta counters so the first real batch already has CPU, I/O and rate figures.
  await collector.collect()
  if (!buffer.isEmpty) void delivery.drain()

  let stopped = false
  // Collections run one at a time: collectors keep "previous" counters that must not interleave.
  let collecting: Promise<void> = Promise.resolve()
  const collectNow = (): Promise<void> => {
    const run = collecting.then(async () => {
      const started = performance.now()
      const batch = await collector.collect()
      log('debug', `collected batch ${batch.batch_id} in ${(performance.now() - started).toFixed(0)} ms`)
      await delivery.submit(batch)
    })
    collecting = run.catch(err => log('error', `collection failed: ${(err as Error).stack ?? err}`))
    return run
  }

  // Fixed-rate schedule that skips a tick rather than piling up when a collection overruns.
  const startedAt = performance.now()
  let ticks = 0
  let timer: NodeJS.Timeout | undefined
  const scheduleNext = () => {
    if (stopped) return
    ticks = Math.max(ticks + 1, Math.ceil((performance.now() - startedAt) / intervalMs))
    timer = setTimeout(() => { void collectNow().catch(() => {}).finally(scheduleNext) }, startedAt + ticks * intervalMs - performance.now())
  }
  scheduleNext()
  log('info', `agent started: sending to ${opts.serverUrl} every ${intervalMs / 1000} s; buffer in ${buffer.dir}`)

  return {
    collectNow,
    async stop() {
      if (stopped) return
      stopped = true
      clearTimeout(timer)
      // Start the delivery's grace period now: a collection in progress may be waiting on a hung send.
      await Promise.all([collecting, delivery.stop()])
      await delivery.stop() // a batch submitted while we waited is on disk only once this returns
      log('info', buffer.isEmpty ? 'agent stopped; nothing left unsent' : `agent stopped; ${buffer.segmentCount} segment(s) kept in ${buffer.dir} for the next start`)
    },
  }
}

/** Fails at start with the cause and the fix, instead of at the first send. */
function checkOptions(opts: AgentOptions, intervalMs: number): void {
  let url: URL
  try {
    url = new URL(opts.serverUrl)
  } catch {
    throw new Error(`server URL "${opts.serverUrl}" is not a URL; give one like http://127.0.0.1:8080`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`server URL "${opts.serverUrl}" must start with http:// or https://`)
  if (!opts.apiKey) throw new Error('no API key; create one on the server and pass it as apiKey (CLI: --api-key or HOSTPULSE_API_KEY)')
  if (!opts.dataDir) throw new Error('no data directory for the disk buffer; pass dataDir')
  if (!(intervalMs >= 100)) throw new Error(`interval ${intervalMs} ms is too short; use at least 100 ms (10 s is usual)`)
}
