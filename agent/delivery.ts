// Sends batches to the server, buffering to disk whatever cannot be sent and replaying it in order.
import type { IngestBatch } from '../contract/ingest-batch.ts'
import type { RejectedBatches } from './buffer/rejected-batches.ts'
import type { SegmentBuffer } from './buffer/segment-buffer.ts'
import {
  DEFAULT_BACKOFF, INITIAL_STATE, maySend, nextState,
  type BackoffPolicy, type ConnectionEvent, type ConnectionState,
} from './connection-state.ts'
import type { AgentLog } from './logger.ts'
import { sendBatches, type SendOutcome, type SendTarget } from './send-batches.ts'

export interface DeliveryOptions {
  target: SendTarget
  buffer: SegmentBuffer
  /** Where batches the server refused for good are set aside. */
  rejected: RejectedBatches
  log: AgentLog
  backoff?: BackoffPolicy
  /** How long stop() lets an in-flight request finish before aborting it (its batches stay on disk). */
  stopGraceMs?: number
}

/**
 * All work runs on one promise queue, so sends, buffer writes and replays never interleave and batches
 * reach the server in collection order. While anything is buffered, new batches join the buffer's tail (or,
 * when the buffer cannot take them, are sent once what it holds has been replayed).
 */
export class Delivery {
  private state: ConnectionState = INITIAL_STATE
  private queue: Promise<void> = Promise.resolve()
  private retryTimer: NodeJS.Timeout | undefined
  private stopping = false
  private readonly abort = new AbortController()
  private readonly backoff: BackoffPolicy
  private readonly stopGraceMs: number
  /** Rejection messages already logged at warn level: a server refusing every batch says so once. */
  private readonly rejectionsSeen = new Set<string>()
  /**
   * Batches a replay sends per request. Halved when a replay request times out (a slow uplink cannot carry a
   * whole segment within the request timeout), unlimited again once the buffer is empty.
   */
  private replayBatches = Number.POSITIVE_INFINITY
  /** The batches of the segment being replayed that the server has taken (or refused for good) so far. */
  private segmentSent: { name: string; ids: Set<string> } = { name: '', ids: new Set() }

  constructor(private readonly opts: DeliveryOptions) {
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF
    this.stopGraceMs = opts.stopGraceMs ?? 3000
  }

  get connection(): ConnectionState { return this.state }

  /** Resolves once the batch is with the server, dropped as invalid, or safely on disk. */
  submit(batch: IngestBatch): Promise<void> {
    return this.enqueue(() => this.deliver(batch))
  }

  /** Replays the disk buffer now, if the connection state allows a send. */
  drain(): Promise<void> {
    return this.enqueue(() => this.replay())
  }

  /** Lets the in-flight request finish (or aborts it after the grace period); anything unsent stays on disk. */
  async stop(): Promise<void> {
    this.stopping = true
    clearTimeout(this.retryTimer)
    const grace = setTimeout(() => this.abort.abort(), this.stopGraceMs)
    try {
      // Work queued while we waited (a last submit) must finish too.
      for (let q = this.queue; ; q = this.queue) { await q; if (q === this.queue) break }
    } finally {
      clearTimeout(grace)
    }
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task).catch(err => this.opts.log('error', `delivery: ${(err as Error).stack ?? err}`))
    this.queue = run
    return run
  }

  private async deliver(batch: IngestBatch): Promise<void> {
    const { buffer } = this.opts
    if (this.stopping || !buffer.isEmpty || !maySend(this.state, Date.now())) {
      if (await this.keep(batch)) {
        if (!this.stopping) await this.replay()
        return
      }
      // The buffer cannot take it (its filesystem read-only, say): a server that is up still gets it now,
      // after what is queued, so batches still reach it in collection order.
      if (this.stopping || !maySend(this.state, Date.now())) return this.lose(batch)
      await this.replay()
      if (!buffer.isEmpty || !maySend(this.state, Date.now())) return this.lose(batch)
    }
    const outcome = await this.send(batch)
    if (outcome.kind === 'rejected') await this.setAside(batch, outcome.status, outcome.message)
    if ((outcome.kind === 'retry' || outcome.kind === 'unauthorized') && !(await this.keep(batch))) this.lose(batch)
  }

  /** Sends the oldest segments while the server takes them; a segment is deleted only after that. */
  private async replay(): Promise<void> {
    const { buffer } = this.opts
    while (!this.stopping && !buffer.isEmpty && maySend(this.state, Date.now())) {
      const segment = await buffer.oldest()
      if (!segment) return
      if (!(await this.sendSegment(segment.name, segment.batches))) return
      try {
        await buffer.remove(segment.name)
      } catch (err) {
        // Delivered all the same: not sent again by this run, so new batches are not held up behind it.
        this.opts.log('warn', `could not delete ${segment.name} after the server took its ${segment.batches.length} batch(es) ` +
          `(${(err as Error).message}); a restart sends them again and the server keeps them once. Fix: check the disk holding ${buffer.dir}`)
        continue
      }
      this.opts.log('debug', `replayed ${segment.batches.length} buffered batch(es) from ${segment.name}`)
    }
    if (buffer.isEmpty) this.replayBatches = Number.POSITIVE_INFINITY
  }

  /**
   * A segment's batches, at most `replayBatches` a request; true once the server has taken (or refused) them
   * all. Those it took are remembered (by batch id, for this segment), so a retry does not upload them again.
   */
  private async sendSegment(name: string, batches: IngestBatch[]): Promise<boolean> {
    if (this.segmentSent.name !== name) this.segmentSent = { name, ids: new Set() }
    const sent = this.segmentSent.ids
    const left = batches.filter((b) => !sent.has(b.batch_id))
    for (let at = 0; at < left.length;) {
      if (this.stopping) return false
      const chunk = left.slice(at, at + Math.min(left.length - at, this.replayBatches))
      if (!(await this.sendChunk(chunk))) return false
      for (const b of chunk) sent.add(b.batch_id)
      at += chunk.length
    }
    return true
  }

  /**
   * True when every batch was either accepted or rejected for good. A rejected array is split in halves
   * so one bad batch does not take 499 good ones with it.
   */
  private async sendChunk(batches: IngestBatch[]): Promise<boolean> {
    const outcome = await this.send(batches.length === 1 ? batches[0] : batches)
    if (outcome.kind === 'accepted') return true
    if (outcome.kind === 'retry' && outcome.timedOut && batches.length > 1) {
      this.replayBatches = Math.max(1, Math.floor(batches.length / 2))
      this.opts.log('info', `a replay of ${batches.length} batches timed out; sending at most ${this.replayBatches} a request`)
    }
    if (outcome.kind !== 'rejected') return false
    if (batches.length === 1) {
      await this.setAside(batches[0], outcome.status, outcome.message)
      return true
    }
    const mid = Math.ceil(batches.length / 2)
    return (await this.sendChunk(batches.slice(0, mid))) && (await this.sendChunk(batches.slice(mid)))
  }

  private async send(body: IngestBatch | IngestBatch[]): Promise<SendOutcome> {
    const outcome = await sendBatches(this.opts.target, body, this.abort.signal)
    const count = Array.isArray(body) ? body.length : 1
    switch (outcome.kind) {
      case 'accepted':
      case 'rejected': // the server answered, so it is reachable
        this.transition({ type: 'delivered' }, `server reachable again; sending ${count} batch(es)`)
        if (outcome.kind === 'accepted') this.opts.log('debug', `delivered ${count} batch(es) (HTTP ${outcome.status})`)
        break
      case 'unauthorized':
        this.transition({ type: 'key_refused' },
          `server refused the API key (HTTP ${outcome.status}: ${outcome.message}); keeping batches on disk. ` +
          'Fix: set a valid key in HOSTPULSE_API_KEY (environment or --config file)')
        break
      case 'retry': {
        const asked = outcome.retryAfterMs !== undefined ? `, server asked to retry after ${(outcome.retryAfterMs / 1000).toFixed(0)} s` : ''
        this.transition({ type: 'failed', retryAfterMs: outcome.retryAfterMs }, `cannot deliver to ${this.opts.target.serverUrl} (${outcome.reason}${asked}); buffering to disk`)
        break
      }
    }
    return outcome
  }

  /** A 4xx other than 401/403/408/429: resending will not help. Kept on disk for a person, logged once per distinct error. */
  private async setAside(batch: IngestBatch, status: number, message: string): Promise<void> {
    let where = ''
    try {
      where = ` in ${await this.opts.rejected.add(batch, status, message)}`
    } catch (err) {
      where = ` (could not write it to ${this.opts.rejected.dir}: ${(err as Error).message})`
    }
    const key = `${status} ${message}`
    const first = !this.rejectionsSeen.has(key)
    if (first && this.rejectionsSeen.size < 100) this.rejectionsSeen.add(key)
    this.opts.log(first ? 'warn' : 'debug',
      `server rejected batch ${batch.batch_id} (HTTP ${status}: ${message}); set it aside${where}, not retried` +
      (first ? '; further batches rejected for the same reason are logged at debug level' : ''))
  }

  /** True once the batch is on disk; false (and logged) when the buffer cannot take it. */
  private async keep(batch: IngestBatch): Promise<boolean> {
    try {
      await this.opts.buffer.append(batch)
      return true
    } catch (err) {
      this.opts.log('error', `could not buffer batch ${batch.batch_id} in ${this.opts.buffer.dir} (${(err as Error).message}). Fix: free disk space or check permissions`)
      return false
    }
  }

  /** A batch neither delivered nor buffered: counted, so the next batch reports it (agent.buffer_dropped_batches_total). */
  private lose(batch: IngestBatch): void {
    this.opts.buffer.countLost(1)
    this.opts.log('error', `batch ${batch.batch_id} is lost (${this.opts.buffer.dropped} batch(es) dropped since start)`)
  }

  private transition(event: ConnectionEvent, why: string): void {
    const before = this.state
    this.state = nextState(before, event, Date.now(), this.backoff)
    const after = this.state
    if (after.kind === 'online') {
      if (before.kind !== 'online' && before.kind !== 'connecting') this.opts.log('info', why)
      else if (before.kind === 'connecting' && before.failures > 0) this.opts.log('info', why)
      return
    }
    if (after.kind === 'backoff' || after.kind === 'unauthorized') {
      const wait = after.retryAt - Date.now()
      // First failure of a streak (and every key refusal) is a warning; the repeats are routine.
      const level = after.kind === 'unauthorized' ? 'error' : after.failures === 1 ? 'warn' : 'info'
      this.opts.log(level, `${why}; attempt ${after.failures}, next try in ${(wait / 1000).toFixed(1)} s`)
      this.scheduleRetry(wait)
    }
  }

  private scheduleRetry(waitMs: number): void {
    clearTimeout(this.retryTimer)
    if (this.stopping) return
    this.retryTimer = setTimeout(() => {
      this.state = nextState(this.state, { type: 'retry_due' }, Date.now(), this.backoff)
      void this.drain()
    }, Math.max(0, waitMs))
    this.retryTimer.unref()
  }
}
