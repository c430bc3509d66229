// The live view's notice of an alert event opened or closed: pg_notify on one channel, sent inside the
// writing transaction so listeners hear only of committed changes.
import { sql, type Kysely } from 'kysely'
import type { AlertSeverity, Database } from '../store/database.ts'

/** The channel the live view listens on; one JSON notice per event opened or closed. */
export const ALERTS_CHANNEL = 'hostpulse_alerts'

export interface AlertNotice {
  org_id: string
  event_id: string
  rule_id: string | null
  rule_name: string
  agent_id: string | null
  agent_name: string
  severity: AlertSeverity
  state: 'firing' | 'resolved'
  value: number | null
  summary: string
  started_at: string
  resolved_at: string | null
}

export async function sendAlertNotice(db: Kysely<Database>, notice: AlertNotice): Promise<void> {
  // NOTIFY payloads are capped at 8,000 bytes: the summary is cut well below that.
  const payload = JSON.stringify({ ...notice, summary: notice.summary.slice(0, 1000) })
  await sql`select pg_notify(${ALERTS_CHANNEL}, ${payload})`.execute(db)
}
