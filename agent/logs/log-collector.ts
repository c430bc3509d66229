// Log lines for the agent's batches: the files named in the configuration and the systemd journal. Each
// collection drains what arrived, within a budget of lines and bytes; positions are saved once the batch
// holding the lines is delivered or on disk (commit), so a restart resends nothing and skips nothing.
import { resolve } from 'node:path'
import type { LogItem } from '../../contract/ingest-batch.ts'
import { silentLog, type AgentLog } from '../logger.ts'
import { FileTail } from './file-tail.ts'
import { findExecutable, JournalFollower } from './journal.ts'
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_LINES, LogBudget } from './log-budget.ts'
import { guessLevel, sourceName, storableText } from './log-line.ts'
import { readLogPositions, writeLogPositions, type LogPositions } from './log-positions.ts'

/** What to ship, as the flags say it. */
export interface LogShippingOptions {
  /** Files to follow (`--log-file`, HOSTPULSE_LOG_FILES). */
  files: string[]
  /** Follow the systemd journal when journalctl is on PATH; default true (`--no-journal` turns it off). */
  journal?: boolean
  /** Per collection; default 1000 lines and 256 KiB of messages. */
  maxLines?: number
  maxBytes?: number
}

export interface LogCollectorOptions extends LogShippingOptions {
  /** Where the shipped positions are kept; without one they live in memory only. */
  stateFile?: string
  log?: AgentLog
  /** First wait before journalctl is started again after it died; default 1 s, doubling to 60 s. */
  journalRestartMs?: number
}

/** The source of the agent's own lines about log shipping. */
export const AGENT_SOURCE = 'hostpulse-agent'

export class LogCollector {
  private lastWritten = ''
  /** Each collection starts with the next source, so one busy file cannot always go first. */
  private turn = 0
  private readonly problems = new Map<string, string>()

  private constructor(
    private readonly tails: FileTail[],
    readonly journal: JournalFollower | undefined,
    private readonly opts: LogCollectorOptions,
    private readonly log: AgentLog,
  ) {}

  /** Opens every file (at its end on a first start, else where the last run stopped) and starts journalctl once. */
  static async open(opts: LogCollectorOptions): Promise<LogCollector> {
    const log = opts.log ?? silentLog
    const saved = opts.stateFile ? await readLogPositions(opts.stateFile) : { positions: { files: {} } as LogPositions }
    if (saved.problem) log('warn', `${saved.problem}; log files are read from their end`)
    const paths = [...new Set(opts.files.map((f) => resolve(f)))]
    const tails = paths.map((path) => new FileTail(path, saved.positions.files[path], log))
    await Promise.all(tails.map((tail) => tail.start()))
    let journal: JournalFollower | undefined
    if (opts.journal !== false) {
      const command = await findExecutable('journalctl')
      if (command) {
        const budget = new LogBudget(opts.maxLines, opts.maxBytes)
        journal = new JournalFollower({
          command, afterCursor: saved.positions.journal_cursor, log,
          // Ten collections' worth of lines, eight of bytes: bounded memory however loud the host gets.
          maxQueuedLines: 10 * budget.maxLines, maxQueuedBytes: 8 * budget.maxBytes, restartMinMs: opts.journalRestartMs,
        })
        journal.start()
      } else {
        log('info', 'journalctl is not on PATH: the systemd journal is not shipped')
      }
    }
    const collector = new LogCollector(tails, journal, opts, log)
    // The starting positions are kept at once: a restart before the first batch resumes here, not at the end again.
    await collector.commit()
    return collector
  }

  /** What arrived since the last drain, oldest first per source, within this collection's budget. */
  async drain(): Promise<LogItem[]> {
    const budget = new LogBudget(this.opts.maxLines ?? DEFAULT_MAX_LINES, this.opts.maxBytes ?? DEFAULT_MAX_BYTES)
    const items: LogItem[] = []
    const dropped = this.journal?.takeDropped() ?? 0
    if (dropped > 0) {
      const message = `dropped ${dropped} journal line${dropped === 1 ? '' : 's'}: more arrived than ${budget.maxLines} lines or ${budget.maxBytes} bytes per collection can ship`
      this.log('warn', message)
      budget.take(Buffer.byteLength(message))
      items.push({ source: AGENT_SOURCE, level: 'warning', message, fields: { dropped } })
    }
    const sources: Array<() => Promise<void>> = [
      ...(this.journal ? [async () => { items.push(...this.journal!.take(budget)) }] : []),
      ...this.tails.map((tail) => () => this.readFile(tail, budget, items)),
    ]
    for (let i = 0; i < sources.length && !budget.spent; i++) await sources[(this.turn + i) % sources.length]()
    this.turn = sources.length > 0 ? (this.turn + 1) % sources.length : 0
    return items
  }

  /** Saves how far each source has been drained; call once the drained lines are delivered or on disk. */
  async commit(): Promise<void> {
    if (!this.opts.stateFile) return
    const files = Object.fromEntries(this.tails.flatMap((t) => {
      const p = t.position()
      return p ? [[t.path, p]] : []
    }))
    const cursor = this.journal?.cursor
    const text = JSON.stringify({ files, ...(cursor ? { journal_cursor: cursor } : {}) })
    if (text === this.lastWritten) return
    try {
      await writeLogPositions(this.opts.stateFile, JSON.parse(text) as LogPositions)
      this.lastWritten = text
    } catch (err) {
      this.log('warn', `cannot save log positions to ${this.opts.stateFile} (${(err as Error).message}); after a restart some lines may be sent again`)
    }
  }

  /** Saves the positions, stops journalctl and closes the files. */
  async close(): Promise<void> {
    await this.commit()
    await Promise.all([this.journal?.stop(), ...this.tails.map((t) => t.close())])
  }

  private async readFile(tail: FileTail, budget: LogBudget, items: LogItem[]): Promise<void> {
    let lines: string[]
    try {
      lines = await tail.read(budget)
      this.problems.delete(tail.path)
    } catch (err) {
      // Said once per distinct problem, not every collection.
      const problem = (err as Error).message
      if (this.problems.get(tail.path) !== problem) this.log('warn', `reading log file ${tail.path} failed: ${problem}`)
      this.problems.set(tail.path, problem)
      return
    }
    const source = sourceName(tail.path)
    for (const text of lines) items.push({ source, level: guessLevel(text), message: storableText(text) })
  }
}
