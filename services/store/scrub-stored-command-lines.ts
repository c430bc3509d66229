// Scrubs the command lines already stored in process_metrics with the rules the ingest path applies, so
// credentials stored before those rules existed (or before an extra pattern was configured) are gone too.
// Compressed chunks included: TimescaleDB decompresses just the batches an UPDATE touches.
import { sql, type Kysely } from 'kysely'
import { scrubCommandLine } from '../../contract/command-line-secrets.ts'

export interface ScrubReport { distinct: number; changed: number; rows: number }

/** Distinct command lines rewritten per statement: each statement scans the table once. */
const CHANGES_PER_STATEMENT = 1000

/** Takes any Kysely: a frozen migration calls it as well as the CLI. */
export async function scrubStoredCommandLines<DB>(db: Kysely<DB>, extra: readonly RegExp[] = [], progress: (msg: string) => void = () => {}): Promise<ScrubReport> {
  const { rows: lines } = await sql<{ cmdline: string }>`select distinct cmdline from process_metrics where cmdline <> ''`.execute(db)
  const changes = lines.map((r) => [r.cmdline, scrubCommandLine(r.cmdline, extra)] as const).filter(([before, after]) => before !== after)
  progress(`command lines: ${lines.length} distinct, ${changes.length} hold credentials`)
  let rows = 0
  for (let i = 0; i < changes.length; i += CHANGES_PER_STATEMENT) {
    const part = changes.slice(i, i + CHANGES_PER_STATEMENT)
    const result = await sql`update process_metrics p set cmdline = c.after
      from unnest(${part.map((c) => c[0])}::text[], ${part.map((c) => c[1])}::text[]) as c(before, after)
      where p.cmdline = c.before`.execute(db)
    rows += Number(result.numAffectedRows ?? 0)
    progress(`command lines: ${Math.min(i + CHANGES_PER_STATEMENT, changes.length)}/${changes.length} scrubbed (${rows} rows)`)
  }
  return { distinct: lines.length, changed: changes.length, rows }
}
