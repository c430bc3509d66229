// Reports: asking for one (a pending row the runner picks up), and the runner of this instance.
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import type { Database, ReportFormat } from '../store/database.ts'
import { DEFAULT_REPORT_RUNNER, ReportRunner, type ReportRunnerOptions } from './report-runner.ts'
import { findChromium } from './pdf-printer.ts'
import { createReport, type ReportRow } from './reports-repository.ts'
import type { AgentRow } from '../agents/agents-repository.ts'

export interface ReportsOptions extends Partial<ReportRunnerOptions> {
  /** Generate reports in this instance; default true. An instance that does not still takes requests: another generates them. */
  run?: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    reports: ReportService
  }
}

export interface AskReport {
  orgId: string
  agent: Pick<AgentRow, 'id' | 'name'>
  userId: string | null
  format: ReportFormat
  hours: number
  includeContainers: boolean
}

export class ReportService {
  constructor(private readonly db: Kysely<Database>, readonly runner: ReportRunner | undefined) {}

  /** A pending report of the agent's last `hours`, to the present; the runner is woken. */
  async ask(req: AskReport, now = new Date()): Promise<ReportRow> {
    const report = await createReport(this.db, {
      orgId: req.orgId, agentId: req.agent.id, createdBy: req.userId, format: req.format, timeRangeHours: req.hours,
      includeContainers: req.includeContainers, start: new Date(now.getTime() - req.hours * 3_600_000), end: now,
      name: `Performance Report - ${req.agent.name} - ${now.toISOString().slice(0, 10)}`,
    })
    this.runner?.kick()
    return report
  }
}

export const reportsPlugin = fp(async (app, opts: ReportsOptions) => {
  const chromiumPath = 'chromiumPath' in opts ? opts.chromiumPath : await findChromium()
  const runner = opts.run === false ? undefined : new ReportRunner(app.store.db, app.log, { ...DEFAULT_REPORT_RUNNER, ...opts, chromiumPath })
  app.decorate('reports', new ReportService(app.store.db, runner))
  if (!runner) return
  app.addHook('onReady', async () => { runner.start() })
  app.addHook('onClose', async () => { await runner.stop() })
}, { name: 'hostpulse-reports', dependencies: ['hostpulse-store'] })
