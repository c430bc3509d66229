// What one notification says, whatever the channel: the rule, the kind (firing, repeat, resolved) and
// every alert of the group. Senders only format this; they never read the database.
import type { Selectable } from 'kysely'
import type { AlertEventsTable, AlertSeverity, NotificationKind } from '../store/database.ts'

export interface AlertItem {
  event_id: string
  agent: string
  agent_id: string | null
  /** The series within the agent (e.g. `mount_point=/`), '' for a scalar metric. */
  series: string
  series_tags: Record<string, string>
  severity: AlertSeverity
  state: 'firing' | 'resolved'
  value: number | null
  threshold: number | null
  summary: string
  started_at: string
  resolved_at: string | null
  /** The host page, when a public URL is configured and the agent still exists. */
  url: string | null
}

export interface AlertMessage {
  kind: NotificationKind
  rule: { id: string | null; name: string }
  /** The highest severity among the alerts. */
  severity: AlertSeverity
  alerts: AlertItem[]
  /** Shared by every outbox row this message delivers (alert_notifications.message_id). */
  message_id: string
  /** A test-send from the API, not a real alert. */
  test: boolean
}

export type AlertEventRow = Pick<Selectable<AlertEventsTable>, 'id' | 'rule_id' | 'rule_name' | 'agent_id' | 'agent_name' | 'series_key'
  | 'series_tags' | 'severity' | 'state' | 'value' | 'threshold' | 'summary' | 'started_at' | 'resolved_at'>

const SEVERITY_RANK: Record<AlertSeverity, number> = { info: 0, warning: 1, critical: 2 }

/** Slack attachment / HTML colours; Discord takes the same as an integer. */
export const COLOURS = { critical: '#E01E5A', warning: '#ECB22E', info: '#36C5F0', resolved: '#2EB67D' } as const

export function hostUrl(publicUrl: string | undefined, agentId: string | null): string | null {
  if (!publicUrl || !agentId) return null
  return `${publicUrl.replace(/\/+$/, '')}/#/hosts/${encodeURIComponent(agentId)}`
}

export function buildAlertMessage(input: {
  kind: NotificationKind; ruleId: string | null; events: AlertEventRow[]; messageId: string; publicUrl?: string; test?: boolean
}): AlertMessage {
  const alerts: AlertItem[] = input.events.map((e) => ({
    event_id: e.id, agent: e.agent_name, agent_id: e.agent_id, series: e.series_key, series_tags: e.series_tags ?? {},
    severity: e.severity, state: e.state, value: e.value, threshold: e.threshold, summary: e.summary,
    started_at: new Date(e.started_at).toISOString(), resolved_at: e.resolved_at ? new Date(e.resolved_at).toISOString() : null,
    url: hostUrl(input.publicUrl, e.agent_id),
  }))
  alerts.sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || a.agent.localeCompare(b.agent) || a.series.localeCompare(b.series))
  const severity = alerts.reduce<AlertSeverity>((top, a) => (SEVERITY_RANK[a.severity] > SEVERITY_RANK[top] ? a.severity : top), 'info')
  return {
    kind: input.kind, rule: { id: input.ruleId, name: input.events[0]?.rule_name ?? 'unknown rule' },
    severity, alerts, message_id: input.messageId, test: input.test ?? false,
  }
}

/** The message a test-send delivers: shaped like a real firing alert, marked as a test everywhere. */
export function testMessage(channelName: string, messageId: string, publicUrl?: string): AlertMessage {
  const now = new Date().toISOString()
  return {
    kind: 'firing', rule: { id: null, name: 'hostpulse test notification' }, severity: 'info', message_id: messageId, test: true,
    alerts: [{
      event_id: messageId, agent: 'hostpulse', agent_id: null, series: '', series_tags: {}, severity: 'info', state: 'firing',
      value: null, threshold: null, summary: `Test of the notification channel "${channelName}": if you read this, it works.`,
      started_at: now, resolved_at: null, url: publicUrl ? publicUrl.replace(/\/+$/, '') + '/' : null,
    }],
  }
}

export function colourOf(message: AlertMessage): string {
  return message.kind === 'resolved' ? COLOURS.resolved : COLOURS[message.severity]
}

/** `server-001` or `server-001 (mount_point=/)`. */
export function alertLabel(a: AlertItem): string {
  return a.series ? `${a.agent} (${a.series})` : a.agent
}

export function formatValue(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return 'n/a'
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 100) / 100)
}

/** `[CRITICAL] High CPU firing on server-001 (+2 more)`; the email subject and every title. */
export function subjectOf(message: AlertMessage): string {
  if (message.test) return `[TEST] ${message.alerts[0]?.summary ?? 'hostpulse test notification'}`
  const first = message.alerts[0]
  const more = message.alerts.length > 1 ? ` (+${message.alerts.length - 1} more)` : ''
  const on = first ? ` on ${alertLabel(first)}${more}` : ''
  if (message.kind === 'resolved') return `[RESOLVED] ${message.rule.name} resolved${on}`
  const verb = message.kind === 'repeat' ? 'still firing' : 'firing'
  return `[${message.severity.toUpperCase()}] ${message.rule.name} ${verb}${on}`
}

/** One plain line per alert: `server-001 (mount_point=/): critical, value 95.2 (threshold 90), since …`. */
export function alertText(a: AlertItem): string {
  const when = a.state === 'resolved' && a.resolved_at ? `resolved ${a.resolved_at}` : `since ${a.started_at}`
  const threshold = a.threshold === null ? '' : ` (threshold ${formatValue(a.threshold)})`
  const summary = a.summary ? ` — ${a.summary}` : ''
  return `${alertLabel(a)}: ${a.severity}, value ${formatValue(a.value)}${threshold}, ${when}${summary}`
}
