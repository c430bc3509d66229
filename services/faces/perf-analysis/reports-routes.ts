// Seed 004 §5: performance reports of a collector, asked (202, generated in the background by the reports
// service), listed, followed, and their files downloaded with a token of the report's organization.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from 'typebox'
import type { PerfAnalysisOptions } from './face-options.ts'
import { PERF_ERRORS, PERF_WRITE_ERRORS } from './perf-errors.ts'
import { Time, collectorFor, seconds } from './perf-shapes.ts'
import { principalOf } from '../../auth/auth-plugin.ts'
import { DomainError, invalidField } from '../../errors/domain-error.ts'
import { Nullable } from '../../http/response-schemas.ts'
import { findReport, findReportFile, listReports, reportNotFound, type ReportRow } from '../../reports/reports-repository.ts'

/** A list shows the organization's newest reports, this many at most. */
const MAX_LISTED = 500
/** Ranges a report may cover: the appendix's, as hours. */
const REPORT_HOURS = [1, 6, 24, 168, 720]

const ReportOut = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  collector_id: Type.Integer(),
  collector_name: Type.String(),
  status: Type.Unsafe<ReportRow['status']>({ type: 'string', enum: ['pending', 'generating', 'completed', 'failed'] }),
  format: Type.Unsafe<ReportRow['format']>({ type: 'string', enum: ['html', 'pdf'] }),
  file_url: Nullable(Type.String({ description: 'GET it with a bearer token of the report\'s organization' })),
  file_size_bytes: Nullable(Type.Integer({ description: 'bytes' })),
  time_range_hours: Type.Integer(),
  created_at: Time,
  completed_at: Nullable(Time),
  error_message: Nullable(Type.String()),
})
const AskedOut = Type.Pick(ReportOut, ['id', 'name', 'collector_id', 'status', 'format', 'created_at'])

const GenerateIn = Type.Object({
  collector_id: Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'a collector of your organization' }),
  format: Type.Optional(Type.Unsafe<'html' | 'pdf'>({ type: 'string', enum: ['html', 'pdf'], description: 'html (default) or pdf' })),
  time_range_hours: Type.Optional(Type.Unsafe<number>({ type: 'integer', enum: REPORT_HOURS, description: '1, 6, 24 (default), 168 or 720' })),
  include_containers: Type.Optional(Type.Boolean({ description: 'default true' })),
}, { additionalProperties: false })

const ReportParam = Type.Object({ id: Type.String({ maxLength: 64 }) })
const FileParam = Type.Object({ file: Type.String({ maxLength: 64 }) })

export const FILE_PREFIX = '/media/reports/'

function reportJson(r: ReportRow): Static<typeof ReportOut> {
  return {
    id: r.id, name: r.name, collector_id: r.agent_number, collector_name: r.agent_name, status: r.status, format: r.format,
    file_url: r.status === 'completed' && r.file_name ? `${FILE_PREFIX}${r.file_name}` : null,
    file_size_bytes: r.status === 'completed' ? r.file_size_bytes : null,
    time_range_hours: r.time_range_hours, created_at: seconds(r.created_at), completed_at: seconds(r.completed_at), error_message: r.error_message,
  }
}

export const reportsRoutes: FastifyPluginAsyncTypebox<PerfAnalysisOptions> = async (app) => {
  const db = app.store.db
  const tags = ['perfanalysis: reports']

  app.get('/api/v1/reports/', {
    onRequest: app.authenticate, config: { rateBudget: 'perf_read' },
    schema: { summary: 'The organization\'s reports, newest first (seed 004 §5.1)', tags, response: { 200: Type.Array(ReportOut), ...PERF_ERRORS } },
  }, async (request) => {
    const { orgId } = principalOf(request)
    return (await listReports(db, orgId, MAX_LISTED)).map(reportJson)
  })

  app.post('/api/v1/reports/generate/', {
    onRequest: app.authenticate, config: { rateBudget: 'perf_write' }, bodyLimit: 4 * 1024,
    schema: {
      summary: 'Ask for a report of a collector over the last hours; generated in the background (seed 004 §5.2)', tags, body: GenerateIn,
      response: { 202: AskedOut, ...PERF_WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const body = request.body
    let agent
    try {
      agent = await collectorFor(db, p.orgId, String(body.collector_id))
    } catch (err) {
      if (err instanceof DomainError && err.kind === 'not_found') throw invalidField('collector_id', `is not a collector of your organization (${body.collector_id})`)
      throw err
    }
    const report = await app.reports.ask({
      orgId: p.orgId, agent, userId: p.userId, format: body.format ?? 'html', hours: body.time_range_hours ?? 24, includeContainers: body.include_containers ?? true,
    })
    const { id, name, collector_id, status, format, created_at } = reportJson(report)
    return reply.code(202).send({ id, name, collector_id, status, format, created_at })
  })

  app.get('/api/v1/reports/:id/', {
    onRequest: app.authenticate, config: { rateBudget: 'perf_read' },
    schema: { summary: 'One report and its status (seed 004 §5.3)', tags, params: ReportParam, response: { 200: ReportOut, ...PERF_ERRORS } },
  }, async (request) => {
    const { orgId } = principalOf(request)
    const id = request.params.id
    const report = /^\d{1,9}$/.test(id) ? await findReport(db, orgId, Number(id)) : undefined
    if (!report) throw reportNotFound(JSON.stringify(id))
    return reportJson(report)
  })

  app.get(`${FILE_PREFIX}:file`, {
    onRequest: app.authenticate, config: { rateBudget: 'perf_read' },
    schema: {
      summary: 'A completed report\'s file (its file_url), for a token of the report\'s organization', tags, params: FileParam,
      response: PERF_ERRORS,
    },
  }, async (request, reply) => {
    const { orgId } = principalOf(request)
    const name = request.params.file
    const file = /^report_\d{1,9}_\d{8}\.(html|pdf)$/.test(name) ? await findReportFile(db, orgId, name) : undefined
    if (!file) throw new DomainError('not_found', `Report file ${JSON.stringify(name)} not found (file names are the file_url of a completed report)`)
    // A report is a document of its own, never a page of this site: no scripts, nothing fetched, saved rather than run.
    return reply
      .header('content-type', file.contentType)
      .header('content-disposition', `attachment; filename="${name}"`)
      .header('content-security-policy', "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:")
      .header('cache-control', 'private, no-store')
      // The file's bytes as they are: only the errors have a (JSON) schema.
      .send(Buffer.from(file.content.buffer, file.content.byteOffset, file.content.byteLength) as never)
  })
}
