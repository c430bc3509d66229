// The bus between alert evaluation and the live view: one NOTIFY per alert event opened or closed, sent
// inside the writing transaction so listeners hear only of committed changes. Both sides import this.
import { sql, type QueryExecutorProvider } from 'kysely'
import { Type, type Static } from 'typebox'
import { Compile } from 'typebox/compile'

/** The channel the live view listens on; one JSON notice per event opened or closed. */
export const ALERTS_CHANNEL = 'hostpulse_alerts'

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])

export const AlertNotice = Type.Object({
  org_id: Type.String(),
  event_id: Type.String(),
  rule_id: Nullable(Type.String()),
  rule_name: Type.String(),
  agent_id: Nullable(Type.String()),
  agent_name: Type.String(),
  severity: Type.String(),
  state: Type.Union([Type.Literal('firing'), Type.Literal('resolved')]),
  value: Nullable(Type.Number()),
  summary: Type.String(),
  started_at: Type.String(),
  resolved_at: Nullable(Type.String()),
})
export type AlertNotice = Static<typeof AlertNotice>

/** An alert event row (or what the evaluator is about to write) → its notice. */
export interface NoticeSource {
  org_id: string; id: string; rule_id: string | null; rule_name: string; agent_id: string | null; agent_name: string
  severity: string; value: number | null; summary: string; started_at: Date
}

export function alertNotice(e: NoticeSource, resolvedAt: Date | null): AlertNotice {
  return {
    org_id: e.org_id, event_id: e.id, rule_id: e.rule_id, rule_name: e.rule_name, agent_id: e.agent_id, agent_name: e.agent_name,
    severity: e.severity, state: resolvedAt ? 'resolved' : 'firing', value: e.value, summary: e.summary,
    started_at: e.started_at.toISOString(), resolved_at: resolvedAt?.toISOString() ?? null,
  }
}

export async function sendAlertNotice(db: QueryExecutorProvider, notice: AlertNotice): Promise<void> {
  // NOTIFY payloads are capped at 8,000 bytes: the summary is cut well below that.
  const payload = JSON.stringify({ ...notice, summary: notice.summary.slice(0, 1000) })
  await sql`select pg_notify(${ALERTS_CHANNEL}, ${payload})`.execute(db)
}

const MinimalNotice = Type.Object({ org_id: Type.String(), event_id: Type.String(), state: Type.Union([Type.Literal('firing'), Type.Literal('resolved')]) })
const checkMinimal = Compile(MinimalNotice)
const str = (v: unknown): v is string => typeof v === 'string'
const strOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string'

/**
 * A payload from the channel → the notice, or undefined when it is not one. Tolerant past the three fields
 * that identify it: a notice from an older instance still reaches clients, with defaults for what it lacks.
 */
export function parseAlertNotice(payload: string): AlertNotice | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(payload)
  } catch {
    return undefined
  }
  if (!checkMinimal.Check(raw)) return undefined
  const p = raw as Static<typeof MinimalNotice> & Record<string, unknown>
  const { org_id, event_id, state } = p
  return {
    org_id, event_id, state,
    rule_id: strOrNull(p.rule_id) ? p.rule_id : null, rule_name: str(p.rule_name) ? p.rule_name : '',
    agent_id: strOrNull(p.agent_id) ? p.agent_id : null, agent_name: str(p.agent_name) ? p.agent_name : '',
    severity: str(p.severity) ? p.severity : 'critical',
    value: typeof p.value === 'number' ? p.value : null, summary: str(p.summary) ? p.summary : '',
    started_at: str(p.started_at) ? p.started_at : new Date().toISOString(), resolved_at: str(p.resolved_at) ? p.resolved_at : null,
  }
}
