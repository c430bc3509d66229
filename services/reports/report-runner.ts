// Generates reports in the background, one at a time per instance: claims the oldest pending report,
// gathers its data, renders the HTML (and prints the PDF), stores the file, all within a time limit and a
// size limit. It touches the report while it works, so another instance (or this one after a restart)
// marks a report whose generator stopped as failed; it deletes reports past their retention.
import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from '../store/database.ts'
import type { RetentionDays } from '../query/resolution-for-range.ts'
import { getAgent } from '../agents/agents-repository.ts'
import { gatherReport } from './report-data.ts'
import { renderReportHtml } from './report-html.ts'
import { printPdf } from './pdf-printer.ts'
import {
  claimNextReport, completeReport, deleteExpiredReports, failInterruptedReports, failReport, touchReport, type ReportRow,
} from './reports-repository.ts'

export interface ReportRunnerOptions {
  /** Chromium for PDF reports; undefined: none found (PDF reports fail and say so). */
  chromiumPath: string | undefined
  /** A report taking longer fails; default 120 s. */
  timeoutMs: number
  /** A report file larger than this fails instead of being stored; default 50 MiB. */
  maxBytes: number
  /** Reports (and their files) are deleted this many days after they were asked; default 30. */
  retentionDays: number
  /** How often pending reports are looked for when nothing wakes the runner; default 5 s. */
  pollMs: number
  /** How often a report being generated is touched; 3 missed touches mark it interrupted. Default 5 s. */
  heartbeatMs: number
  /** How often interrupted and expired reports are swept; default 60 s. */
  sweepMs: number
  /** Data retention per level, so the report's reads never ask a level for data it has dropped. */
  dataRetentionDays?: RetentionDays
}

export const DEFAULT_REPORT_RUNNER: Omit<ReportRunnerOptions, 'chromiumPath'> = {
  timeoutMs: 120_000, maxBytes: 50 * 1024 * 1024, retentionDays: 30, pollMs: 5000, heartbeatMs: 5000, sweepMs: 60_000,
}

export const INTERRUPTED_MESSAGE = 'Interrupted: the server stopped while generating this report; generate it again'

const MIB = 1024 * 1024

/** A date as the report's file name carries it: 20260111. */
const compactDate = (d: Date) => d.toISOString().slice(0, 10).replaceAll('-', '')

export function reportFileName(report: Pick<ReportRow, 'id' | 'created_at' | 'format'>): string {
  return `report_${report.id}_${compactDate(report.created_at)}.${report.format}`
}

export class ReportRunner {
  /** This process's name on the reports it claims. */
  readonly instance = randomUUID()
  private running = false
  private loop: Promise<void> | undefined
  private wake: (() => void) | undefined
  private current: AbortController | undefined
  private lastSweep = 0
  private readonly db: Kysely<Database>
  private readonly log: FastifyBaseLogger
  private readonly opts: ReportRunnerOptions

  constructor(db: Kysely<Database>, log: FastifyBaseLogger, opts: ReportRunnerOptions) {
    this.db = db
    this.log = log
    this.opts = opts
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.loop = this.run()
  }

  /** A report was asked: look now rather than at the next poll. */
  kick(): void {
    this.wake?.()
  }

  /** Stops claiming; a report being generated is abandoned (it is marked interrupted by the next sweep anywhere). */
  async stop(): Promise<void> {
    this.running = false
    this.current?.abort()
    this.wake?.()
    await this.loop
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (Date.now() - this.lastSweep >= this.opts.sweepMs) await this.sweep()
        const report = await claimNextReport(this.db, this.instance)
        if (report) {
          await this.generate(report)
          continue
        }
      } catch (err) {
        this.log.warn({ err }, 'reports: could not look for pending reports')
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.opts.pollMs)
        this.wake = () => { clearTimeout(timer); resolve() }
      })
      this.wake = undefined
    }
  }

  /** Interrupted reports failed, expired ones deleted. */
  async sweep(): Promise<void> {
    this.lastSweep = Date.now()
    const interrupted = await failInterruptedReports(this.db, Math.ceil((3 * this.opts.heartbeatMs) / 1000), INTERRUPTED_MESSAGE)
    const expired = await deleteExpiredReports(this.db, this.opts.retentionDays)
    if (interrupted + expired > 0) this.log.info({ interrupted, expired }, 'reports: swept interrupted and expired reports')
  }

  private async generate(report: ReportRow): Promise<void> {
    const started = Date.now()
    const abort = new AbortController()
    this.current = abort
    const heartbeat = setInterval(() => { touchReport(this.db, report.id, this.instance).catch(() => {}) }, this.opts.heartbeatMs)
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort()
        reject(new Error(`Generating took longer than ${Math.round(this.opts.timeoutMs / 1000)} s (REPORT_TIMEOUT_SECONDS) and was stopped`))
      }, this.opts.timeoutMs)
    })
    const work = this.produce(report, abort.signal, started)
    try {
      const file = await Promise.race([work, timedOut])
      if (file.content.byteLength > this.opts.maxBytes) {
        throw new Error(`The report is ${(file.content.byteLength / MIB).toFixed(1)} MiB, over the ${(this.opts.maxBytes / MIB).toFixed(0)} MiB limit (REPORT_MAX_MB): choose a shorter range or leave containers out`)
      }
      const done = await completeReport(this.db, report.id, this.instance, { name: reportFileName(report), ...file })
      this.log.info({ report: report.id, format: report.format, bytes: file.content.byteLength, ms: Date.now() - started, stored: done }, 'reports: report completed')
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      this.log.warn({ report: report.id, err: message }, 'reports: report failed')
      await failReport(this.db, report.id, message).catch((e) => this.log.error({ err: e }, 'reports: could not mark a report failed'))
      // One at a time: reads still running after a timeout finish before the next report starts.
      await work.catch(() => {})
    } finally {
      clearTimeout(timer)
      clearInterval(heartbeat)
      this.current = undefined
    }
  }

  private async produce(report: ReportRow, signal: AbortSignal, started: number): Promise<{ contentType: string; content: Uint8Array }> {
    const agent = await getAgent(this.db, report.org_id, report.agent_id)
    const data = await gatherReport(this.db, {
      orgId: report.org_id, agent, start: report.range_start, end: report.range_end, includeContainers: report.include_containers,
      title: report.name, retentionDays: this.opts.dataRetentionDays,
    })
    signal.throwIfAborted()
    const html = renderReportHtml(data)
    if (report.format === 'html') return { contentType: 'text/html; charset=utf-8', content: new TextEncoder().encode(html) }
    const remaining = Math.max(1000, this.opts.timeoutMs - (Date.now() - started))
    return { contentType: 'application/pdf', content: await printPdf(html, { chromiumPath: this.opts.chromiumPath, timeoutMs: remaining, signal }) }
  }
}
