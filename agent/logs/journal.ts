// The systemd journal, followed by one `journalctl --follow -o json` for the agent's whole life (started
// again with backoff if it dies, after the last entry it delivered). Entries wait in a bounded queue until
// a collection takes them; when more arrive than collections take, the oldest go and are counted.
import { spawn, type ChildProcess } from 'node:child_process'
import { access, constants } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import { createInterface } from 'node:readline'
import type { LogItem } from '../../contract/ingest-batch.ts'
import type { AgentLog } from '../logger.ts'
import type { LogBudget } from './log-budget.ts'
import { sourceName, storableText, type LogLevel } from './log-line.ts'

/** An executable named `name` on PATH, or undefined. */
export async function findExecutable(name: string, pathVariable = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const dir of pathVariable.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name)
    try {
      await access(candidate, constants.X_OK)
      return candidate
    } catch { /* next */ }
  }
  return undefined
}

/** syslog priorities 0-7 (emerg … debug) as the store's levels. */
const PRIORITY_LEVELS: LogLevel[] = ['critical', 'critical', 'critical', 'error', 'warning', 'notice', 'info', 'debug']
/** The server takes item times within a day of the batch; an older entry (a long outage replayed) keeps its time in fields. */
const MAX_ENTRY_AGE_MS = 23 * 3_600_000
const MAX_ENTRY_AHEAD_MS = 4 * 60_000

/** journalctl writes a field that is not valid UTF-8 as an array of bytes. */
function fieldText(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (Array.isArray(value) && value.every((b) => Number.isInteger(b))) return Buffer.from(value as number[]).toString('utf8')
  return undefined
}

/** One `journalctl -o json` line as a log item and its cursor; undefined for a line that is not an entry. */
export function journalEntry(line: string, now = Date.now()): { item: LogItem; cursor: string | undefined } | undefined {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(line) as Record<string, unknown>
  } catch {
    return undefined
  }
  if (!entry || typeof entry !== 'object' || Array.isArray(entry)) return undefined
  const message = fieldText(entry.MESSAGE)
  if (message === undefined) return undefined
  const priority = Number(fieldText(entry.PRIORITY) ?? 6)
  const unit = fieldText(entry._SYSTEMD_UNIT)
  const source = fieldText(entry.SYSLOG_IDENTIFIER) || unit || fieldText(entry._COMM) || 'journal'
  const fields: Record<string, unknown> = {}
  if (unit) fields.unit = storableText(unit, 255)
  const pid = Number(fieldText(entry._PID))
  if (Number.isSafeInteger(pid) && pid > 0) fields.pid = pid
  const item: LogItem = {
    source: sourceName(source),
    level: PRIORITY_LEVELS[Number.isInteger(priority) && priority >= 0 && priority <= 7 ? priority : 6],
    message: storableText(message),
    fields,
  }
  const micros = Number(fieldText(entry.__REALTIME_TIMESTAMP))
  if (Number.isFinite(micros) && micros > 0) {
    const time = new Date(Math.floor(micros / 1000)).toISOString()
    const ms = Date.parse(time)
    if (ms >= now - MAX_ENTRY_AGE_MS && ms <= now + MAX_ENTRY_AHEAD_MS) item.time = time
    else fields.journal_time = time
  }
  return { item, cursor: fieldText(entry.__CURSOR) }
}

export interface JournalOptions {
  /** journalctl's path. */
  command: string
  /** Continue after this entry (the last one shipped before a restart); without it, from now on. */
  afterCursor?: string
  /** The queue's bounds; beyond them the oldest entries are dropped. */
  maxQueuedLines: number
  maxQueuedBytes: number
  /** Wait before starting journalctl again after it exited: doubling from min to max. */
  restartMinMs?: number
  restartMaxMs?: number
  log: AgentLog
}

interface Queued { item: LogItem; cursor: string | undefined; bytes: number }

export class JournalFollower {
  private queue: Queued[] = []
  private head = 0
  private queuedBytes = 0
  private dropped = 0
  private child: ChildProcess | undefined
  private lastReceived: string | undefined
  private lastTaken: string | undefined
  private stopped = false
  private restartTimer: NodeJS.Timeout | undefined
  private failures = 0
  /** How many times journalctl was started, and how many entries it gave. */
  starts = 0
  received = 0

  constructor(private readonly opts: JournalOptions) {
    this.lastReceived = opts.afterCursor
    this.lastTaken = opts.afterCursor
  }

  /** The cursor of the newest entry taken by a collection: where a restarted agent continues. */
  get cursor(): string | undefined { return this.lastTaken }

  get pid(): number | undefined { return this.child?.pid }

  start(): void {
    if (this.stopped || this.child) return
    const args = ['--follow', '--output=json', '--no-pager', '--quiet', ...(this.lastReceived ? [`--after-cursor=${this.lastReceived}`, '--no-tail'] : ['--lines=0'])]
    const child = spawn(this.opts.command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    this.starts++
    const startedAt = Date.now()
    const receivedBefore = this.received
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-500) })
    createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', (line) => this.receive(line))
    let ended = false
    const onEnd = (why: string) => {
      if (ended) return
      ended = true
      this.child = undefined
      if (this.stopped) return
      // A journalctl that ran a while before dying starts the backoff over.
      this.failures = Date.now() - startedAt > 60_000 ? 1 : this.failures + 1
      if (this.failures >= 3 && this.received === receivedBefore && this.lastReceived) {
        // A cursor journalctl cannot seek to (a damaged state file) must not stop the journal for good.
        this.opts.log('warn', 'journalctl keeps failing to continue after the saved cursor; following the journal from now on')
        this.lastReceived = undefined
      }
      const min = this.opts.restartMinMs ?? 1000
      const delay = Math.min(this.opts.restartMaxMs ?? 60_000, min * 2 ** (this.failures - 1))
      const detail = stderr.trim().split('\n').pop()
      this.opts.log('warn', `journalctl ${why}${detail ? ` (${detail})` : ''}; starting it again in ${(delay / 1000).toFixed(1)} s`)
      this.restartTimer = setTimeout(() => this.start(), delay)
    }
    child.on('error', (err) => onEnd(`could not run: ${err.message}`))
    child.on('close', (code, signal) => onEnd(`exited with ${signal ?? `code ${code}`}`))
  }

  /** How many entries were dropped (queue full) since the last call. */
  takeDropped(): number {
    const dropped = this.dropped
    this.dropped = 0
    return dropped
  }

  /** Entries that fit the budget, oldest first. */
  take(budget: LogBudget): LogItem[] {
    const items: LogItem[] = []
    while (this.head < this.queue.length) {
      const next = this.queue[this.head]
      if (!budget.take(next.bytes)) break
      items.push(next.item)
      if (next.cursor) this.lastTaken = next.cursor
      this.queuedBytes -= next.bytes
      this.head++
    }
    this.compact()
    return items
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.restartTimer)
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const closed = new Promise((resolve) => child.once('close', resolve))
    child.kill('SIGTERM')
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000).unref())])
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }

  private receive(line: string): void {
    const entry = journalEntry(line)
    if (!entry) return
    this.received++
    if (entry.cursor) this.lastReceived = entry.cursor
    const bytes = Buffer.byteLength(entry.item.message)
    this.queue.push({ ...entry, bytes })
    this.queuedBytes += bytes
    while (this.queue.length - this.head > this.opts.maxQueuedLines || (this.queuedBytes > this.opts.maxQueuedBytes && this.queue.length - this.head > 1)) {
      const oldest = this.queue[this.head++]
      this.queuedBytes -= oldest.bytes
      // A dropped entry is not shipped, but a restart must not bring it back either.
      if (oldest.cursor) this.lastTaken = oldest.cursor
      this.dropped++
    }
    this.compact()
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }
}
