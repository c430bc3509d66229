// Wires collection, delivery, the disk buffer and the server's configuration into a running agent (used by the CLI and `npm start`).
import { join } from 'node:path'
import { BatchCollector, type BatchCollectorOptions } from './collect-batch.ts'
import { DEFAULT_COMMAND_LINES, literalPatterns } from './command-lines.ts'
import { RejectedBatches } from './buffer/rejected-batches.ts'
import { SegmentBuffer } from './buffer/segment-buffer.ts'
import { defaultSettings, type CollectionSettings } from './collection-settings.ts'
import type { BackoffPolicy } from './connection-state.ts'
import { Delivery } from './delivery.ts'
import { resolveApiKey } from './enrollment.ts'
import { collectInventory } from './inventory.ts'
import { LogCollector, type LogShippingOptions } from './logs/log-collector.ts'
import { silentLog, type AgentLog, type LogLevel } from './logger.ts'
import { describeSettings, RemoteConfigPoller } from './remote-config.ts'

export interface AgentOptions {
  serverUrl: string
  /** The agent's key; without one, `enrollToken` registers the host (or a key stored by an earlier enrollment is used). */
  apiKey?: string
  enrollToken?: string
  /** Time between batches unless the server says otherwise; default 10 s. */
  intervalMs?: number
  /** Where unsent batches (`buffer/`), refused ones (`rejected/`) and an enrolled key are kept. */
  dataDir: string
  log?: (level: LogLevel, msg: string) => void
  /** Disk buffer bound by size; default 100 MiB. */
  bufferMaxBytes?: number
  /** Disk buffer bound by age of the batches; default 7 days. */
  bufferMaxAgeMs?: number
  /** Largest replay request; default 4 MiB. */
  segmentMaxBytes?: number
  /** Retry schedule after a failed send; default 1 s doubling to 60 s. */
  backoff?: BackoffPolicy
  /** Per-request timeout; default 15 s. */
  requestTimeoutMs?: number
  /** How long stop() waits for an in-flight request before aborting it; default 3 s. */
  stopGraceMs?: number
  /** How often the server's configuration is fetched again; default 5 min. */
  configRefreshMs?: number
  /** Time between polls while a registration is pending; default 30 s. */
  enrollPollMs?: number
  /** Aborts a start that is still waiting (for an enrollment to be approved). */
  signal?: AbortSignal
  collector?: BatchCollectorOptions
  /** Log files and the journal to ship in the batches; none when absent. */
  logs?: LogShippingOptions
}

export interface RunningAgent {
  /** Stops collecting, lets the in-flight send finish or buffers it to disk. Nothing collected is lost. */
  stop(): Promise<void>
  /** Collects one batch now and resolves once it is delivered, set aside as invalid, or on disk. */
  collectNow(): Promise<void>
  /** What is collected and how often, after the server's configuration. */
  readonly settings: CollectionSettings
}

export const DEFAULT_INTERVAL_MS = 10_000

export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const log: AgentLog = opts.log ?? silentLog
  const intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS
  checkOptions(opts, intervalMs)

  const apiKey = await resolveApiKey({
    serverUrl: opts.serverUrl, dataDir: opts.dataDir, apiKey: opts.apiKey, enrollToken: opts.enrollToken,
    hostInfo: () => collectInventory({ details: opts.collector?.hostDetails, sysRoot: opts.collector?.paths?.sys, placement: opts.collector?.placement, rootfs: opts.collector?.paths?.rootfs }),
    log, pollMs: opts.enrollPollMs, timeoutMs: opts.requestTimeoutMs, signal: opts.signal,
  })
  const target = { serverUrl: opts.serverUrl, apiKey, timeoutMs: opts.requestTimeoutMs ?? 15_000 }
  const buffer = await SegmentBuffer.open(join(opts.dataDir, 'buffer'), {
    maxBytes: opts.bufferMaxBytes, maxAgeMs: opts.bufferMaxAgeMs, segmentMaxBytes: opts.segmentMaxBytes, log,
  })
  const rejected = new RejectedBatches(join(opts.dataDir, 'rejected'))
  const delivery = new Delivery({ target, buffer, rejected, log, backoff: opts.backoff, stopGraceMs: opts.stopGraceMs })
  // The agent's own key and token are hidden in every command line, in whatever form they were passed.
  const commandLines = opts.collector?.commandLines ?? DEFAULT_COMMAND_LINES
  const logs = opts.logs && (opts.logs.files.length > 0 || opts.logs.journal !== false)
    ? await LogCollector.open({ ...opts.logs, stateFile: join(opts.dataDir, 'log-positions.json'), log })
    : undefined
  const collector = new BatchCollector(log, {
    ...opts.collector,
    logs,
    commandLines: { ...commandLines, extraPatterns: [...commandLines.extraPatterns, ...literalPatterns([apiKey, opts.enrollToken])] },
  })

  let stopped = false
  // Fixed-rate schedule that skips a tick rather than piling up when a collection overruns.
  let startedAt = performance.now()
  let ticks = 0
  let timer: NodeJS.Timeout | undefined
  const config = new RemoteConfigPoller({
    target, local: defaultSettings(intervalMs), log, refreshMs: opts.configRefreshMs,
    onChange: () => {
      // A new interval starts counting now; the families and process limit apply at the next collection.
      if (timer === undefined || stopped) return
      clearTimeout(timer)
      startedAt = performance.now()
      ticks = 0
      scheduleNext()
    },
  })

  // Prime the delta counters so the first real batch already has CPU, I/O and rate figures.
  const [answer] = await Promise.all([config.start(), collector.collect()])
  if (answer.kind === 'failed' && answer.unreachable) {
    log('warn', `server ${opts.serverUrl} is not reachable (${answer.reason}); check --server and that the hostpulse server runs. Collecting anyway: batches wait on disk until it answers`)
  }
  if (!buffer.isEmpty) void delivery.drain()

  // Collections run one at a time: collectors keep "previous" counters that must not interleave.
  let collecting: Promise<void> = Promise.resolve()
  const collectNow = (): Promise<void> => {
    const run = collecting.then(async () => {
      const started = performance.now()
      const { collect, maxProcesses } = config.settings
      const batch = await collector.collect({ collect, maxProcesses, logs: true })
      log('debug', `collected batch ${batch.batch_id} in ${(performance.now() - started).toFixed(0)} ms`)
      // Batches the buffer had to drop since the agent started (size or age bound, a full disk), as a counter
      // in every batch once there are any: the loss shows on the server (and can alert), not only in this
      // host's log, and a batch carrying it that is dropped in turn leaves the count to the next one.
      if (buffer.dropped > 0) batch.metrics = [...(batch.metrics ?? []), { metric_type: 'agent', metric_name: 'buffer_dropped_batches_total', value: buffer.dropped }]
      await delivery.submit(batch)
      // The batch is delivered or on disk: its log lines are not read again after a restart.
      await logs?.commit()
    })
    collecting = run.catch(err => log('error', `collection failed: ${(err as Error).stack ?? err}`))
    return run
  }

  const scheduleNext = () => {
    if (stopped) return
    const every = config.settings.intervalMs
    ticks = Math.max(ticks + 1, Math.ceil((performance.now() - startedAt) / every))
    timer = setTimeout(() => { void collectNow().catch(() => {}).finally(scheduleNext) }, startedAt + ticks * every - performance.now())
  }
  scheduleNext()
  log('info', `agent started: sending to ${opts.serverUrl}, ${describeSettings(config.settings)}; buffer in ${buffer.dir}`)

  return {
    collectNow,
    get settings() { return config.settings },
    async stop() {
      if (stopped) return
      stopped = true
      clearTimeout(timer)
      config.stop()
      // Start the delivery's grace period now: a collection in progress may be waiting on a hung send.
      await Promise.all([collecting, delivery.stop()])
      await delivery.stop() // a batch submitted while we waited is on disk only once this returns
      await logs?.close()
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
  if (!opts.dataDir) throw new Error('no data directory for the disk buffer; pass dataDir')
  if (!(intervalMs >= 100)) throw new Error(`interval ${intervalMs} ms is too short; use at least 100 ms (10 s is usual)`)
}
