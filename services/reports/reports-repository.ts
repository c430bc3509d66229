// Reports and their files (sql/020): asked, claimed one at a time by an instance's runner, finished or
// failed, listed and read inside one organization, and swept after their retention.
import { sql, type Kysely, type Selectable } from 'kysely'
import type { Database, ReportFormat, ReportsTable } from '../store/database.ts'
import { DomainError } from '../errors/domain-error.ts'

export type ReportRow = Selectable<ReportsTable> & { agent_name: string; agent_number: number }

export const reportNotFound = (id: string | number) => new DomainError('not_found', `Report ${id} not found`)

function selectReports(db: Kysely<Database>) {
  return db.selectFrom('reports as r').innerJoin('agents as a', 'a.id', 'r.agent_id')
    .selectAll('r').select(['a.name as agent_name', 'a.number as agent_number'])
}

export interface NewReport {
  orgId: string
  agentId: string
  createdBy: string | null
  name: string
  format: ReportFormat
  timeRangeHours: number
  includeContainers: boolean
  start: Date
  end: Date
}

export async function createReport(db: Kysely<Database>, r: NewReport): Promise<ReportRow> {
  // One transaction: a runner cannot claim the report between its insert and this read (it would answer "generating").
  return db.transaction().execute(async (trx) => {
    const { id } = await trx.insertInto('reports').values({
      org_id: r.orgId, agent_id: r.agentId, created_by: r.createdBy, name: r.name, format: r.format, time_range_hours: r.timeRangeHours,
      include_containers: r.includeContainers, range_start: r.start, range_end: r.end,
    }).returning('id').executeTakeFirstOrThrow()
    return getReport(trx, r.orgId, id)
  })
}

/** The organization's reports, newest first. */
export function listReports(db: Kysely<Database>, orgId: string, limit: number): Promise<ReportRow[]> {
  return selectReports(db).where('r.org_id', '=', orgId).orderBy('r.created_at', 'desc').orderBy('r.id', 'desc').limit(limit).execute()
}

export async function findReport(db: Kysely<Database>, orgId: string, id: number): Promise<ReportRow | undefined> {
  return selectReports(db).where('r.org_id', '=', orgId).where('r.id', '=', id).executeTakeFirst()
}

export async function getReport(db: Kysely<Database>, orgId: string, id: number): Promise<ReportRow> {
  const row = await findReport(db, orgId, id)
  if (!row) throw reportNotFound(id)
  return row
}

/** A completed report's file by its name, inside the organization. */
export async function findReportFile(db: Kysely<Database>, orgId: string, fileName: string): Promise<{ report: ReportRow; contentType: string; content: Uint8Array } | undefined> {
  const report = await selectReports(db).where('r.org_id', '=', orgId).where('r.file_name', '=', fileName).where('r.status', '=', 'completed').executeTakeFirst()
  if (!report) return undefined
  const file = await db.selectFrom('report_files').select(['content_type', 'content']).where('report_id', '=', report.id).executeTakeFirst()
  return file ? { report, contentType: file.content_type, content: file.content } : undefined
}

/** The oldest pending report, now `generating` under `instance`; undefined when none waits. */
export async function claimNextReport(db: Kysely<Database>, instance: string): Promise<ReportRow | undefined> {
  const claimed = await sql<{ id: number; org_id: string }>`
    update reports set status = 'generating', claimed_by = ${instance}, started_at = now(), heartbeat_at = now()
    where id = (select id from reports where status = 'pending' order by id limit 1 for update skip locked)
    returning id, org_id`.execute(db)
  const row = claimed.rows[0]
  return row ? getReport(db, row.org_id, row.id) : undefined
}

/** The runner still works on it. */
export async function touchReport(db: Kysely<Database>, id: number, instance: string): Promise<void> {
  await db.updateTable('reports').set({ heartbeat_at: sql<Date>`now()` }).where('id', '=', id).where('claimed_by', '=', instance).execute()
}

/** Completed with its file, in one transaction; false when the report is no longer this instance's to finish. */
export async function completeReport(db: Kysely<Database>, id: number, instance: string,
  file: { name: string; contentType: string; content: Uint8Array }): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const done = await tx.updateTable('reports')
      .set({ status: 'completed', file_name: file.name, file_size_bytes: file.content.byteLength, completed_at: sql<Date>`now()`, error_message: null })
      .where('id', '=', id).where('claimed_by', '=', instance).where('status', '=', 'generating').executeTakeFirst()
    if (Number(done.numUpdatedRows) === 0) return false
    await tx.insertInto('report_files').values({ report_id: id, content_type: file.contentType, content: file.content }).execute()
    return true
  })
}

export async function failReport(db: Kysely<Database>, id: number, message: string): Promise<void> {
  await db.updateTable('reports').set({ status: 'failed', error_message: message, completed_at: sql<Date>`now()` })
    .where('id', '=', id).where('status', 'in', ['pending', 'generating']).execute()
}

/**
 * Reports left `generating` by an instance that stopped (killed, restarted, crashed): a running instance
 * touches its report every few seconds, so a heartbeat older than `staleSeconds` means nobody works on it.
 */
export async function failInterruptedReports(db: Kysely<Database>, staleSeconds: number, message: string): Promise<number> {
  const res = await db.updateTable('reports').set({ status: 'failed', error_message: message, completed_at: sql<Date>`now()` })
    .where('status', '=', 'generating')
    .where((eb) => eb.or([eb('heartbeat_at', 'is', null), eb('heartbeat_at', '<', sql<Date>`now() - make_interval(secs => ${staleSeconds})`)]))
    .executeTakeFirst()
  return Number(res.numUpdatedRows)
}

/** Reports (and with them their files) created more than `days` ago; how many went. */
export async function deleteExpiredReports(db: Kysely<Database>, days: number): Promise<number> {
  const res = await db.deleteFrom('reports').where('created_at', '<', sql<Date>`now() - make_interval(days => ${days})`)
    .where('status', 'in', ['completed', 'failed']).executeTakeFirst()
  return Number(res.numDeletedRows)
}
