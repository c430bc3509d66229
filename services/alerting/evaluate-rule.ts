// One rule evaluated in one short transaction: take the rule's advisory lock, re-check it is still due,
// read its observations and states, run the pure evaluator per series, and write states, events, outbox
// rows and live notices (the alert bus) together.
import { sql, type Kysely, type Transaction } from 'kysely'
import type { AlertSeverity, Database, NotificationKind } from '../store/database.ts'
import type { RetentionDays } from '../query/resolution-for-range.ts'
import { evaluateAlert, INACTIVE, thresholdFor, type AlertState, type EvaluationContext, type Observation } from './evaluator.ts'
import { observeRule, type SelectedAgent } from './rule-query.ts'
import { activeSilences, isSilenced, type AlertIdentity } from './silence-matching.ts'
import { enqueueNotifications } from './outbox.ts'
import { renderAnnotations } from './alert-text.ts'
import { alertNotice, sendAlertNotice } from '../bus/alert-bus.ts'
import type { RuleRow } from './rule-definition.ts'

/** First key of the two-key advisory lock: rule evaluation (the second is the rule id's hash). */
export const LOCK_NAMESPACE = 0x68_70_61_6c // "hpal"

/**
 * First key of the organization-wide lock an agent deletion takes exclusively (the second is the org id's
 * hash); evaluations of the organization's rules try it shared and skip the rule while a deletion runs, so
 * none opens an alert for an agent that is going away.
 */
export const AGENT_DELETION_NAMESPACE = 0x68_70_61_64 // "hpad"

/** Waits for the rule's evaluation lock (until commit): changes to its alerts never interleave with an evaluation. */
export async function lockRuleAlerts(trx: Kysely<Database>, ruleId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(${LOCK_NAMESPACE}, hashtext(${ruleId}))`.execute(trx)
}

export interface RuleOutcome {
  /** False when another instance holds the rule, or it was evaluated since `staleBefore`, or it is gone/disabled. */
  evaluated: boolean
  series: number
  opened: number
  closed: number
  notifications: number
  /** Why the evaluation failed (recorded on the rule under its lock; nothing else of it was written). */
  error?: string
}

interface StateRow {
  agent_id: string
  series_key: string
  series_tags: Record<string, string>
  state: AlertState['state']
  severity: AlertSeverity | null
  value: number | null
  pending_since: Date | null
  firing_since: Date | null
  last_notified_at: Date | null
  notified_severity: AlertSeverity | null
  event_id: string | null
  event_state: 'firing' | 'resolved' | null
  acknowledged_at: Date | null
  ack_expires_at: Date | null
  acknowledged_severity: AlertSeverity | null
  agent_name: string | null
  agent_labels: Record<string, string> | null
}

interface Work {
  agent: SelectedAgent
  seriesKey: string
  seriesTags: Record<string, string>
  observation: Observation
  row?: StateRow
}

const SKIPPED: RuleOutcome = { evaluated: false, series: 0, opened: 0, closed: 0, notifications: 0 }

/**
 * Evaluates rule `ruleId` at `now` unless it was evaluated at or after `staleBefore` (another instance
 * got there first). A failure of the rule itself (a query it cannot run) is rolled back to a savepoint and
 * recorded on the rule in the same transaction, so no other instance retries it before its next interval;
 * anything else (the database gone) throws, and the caller records it with recordEvaluationError.
 */
export async function evaluateRule(db: Kysely<Database>, ruleId: string, now: Date, staleBefore: Date, retentionDays?: RetentionDays): Promise<RuleOutcome> {
  return db.transaction().execute(async (trx) => {
    const { rows: [lock] } = await sql<{ got: boolean }>`select pg_try_advisory_xact_lock(${LOCK_NAMESPACE}, hashtext(${ruleId})) as got`.execute(trx)
    if (!lock?.got) return SKIPPED
    // Re-read under the lock: the rule may have been evaluated, changed, disabled or deleted meanwhile.
    const rule = await trx.selectFrom('alert_rules').selectAll().where('id', '=', ruleId).where('enabled', '=', true).executeTakeFirst()
    if (!rule || (rule.last_evaluated_at !== null && rule.last_evaluated_at >= staleBefore)) return SKIPPED
    // Never waits: an agent of the organization is being deleted; the rule is still due at the next tick.
    const { rows: [org] } = await sql<{ got: boolean }>`
      select pg_try_advisory_xact_lock_shared(${AGENT_DELETION_NAMESPACE}, hashtext(${rule.org_id})) as got`.execute(trx)
    if (!org?.got) return SKIPPED
    await sql`savepoint rule_evaluation`.execute(trx)
    let outcome: RuleOutcome
    try {
      outcome = await applyRule(trx, rule, now, retentionDays)
    } catch (err) {
      await sql`rollback to savepoint rule_evaluation`.execute(trx)
      outcome = { ...SKIPPED, evaluated: true, error: errorText(err) }
    }
    await trx.updateTable('alert_rules').set({ last_evaluated_at: now, last_evaluation_error: outcome.error ?? null })
      .where('id', '=', rule.id).execute()
    return outcome
  })
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 1000)

/** Records a failed evaluation so the rule waits one interval and the API shows why. */
export async function recordEvaluationError(db: Kysely<Database>, ruleId: string, now: Date, err: unknown): Promise<void> {
  await db.updateTable('alert_rules').set({ last_evaluated_at: now, last_evaluation_error: errorText(err) })
    .where('id', '=', ruleId).execute()
}

async function applyRule(trx: Transaction<Database>, rule: RuleRow, now: Date, retentionDays?: RetentionDays): Promise<RuleOutcome> {
  const observed = await observeRule(trx, rule, now, retentionDays)
  const { rows: stateRows } = await sql<StateRow>`
    select s.agent_id, s.series_key, s.series_tags, s.state, s.severity, s.value, s.pending_since, s.firing_since, s.last_notified_at, s.notified_severity,
           s.event_id, e.state as event_state, e.acknowledged_at, e.ack_expires_at, e.acknowledged_severity, a.name as agent_name, a.labels as agent_labels
    from alert_states s
    left join alert_events e on e.id = s.event_id
    left join agents a on a.id = s.agent_id
    where s.rule_id = ${rule.id}::uuid`.execute(trx)

  const key = (agentId: string, seriesKey: string) => `${agentId}\u0000${seriesKey}`
  const work = new Map<string, Work>()
  for (const s of observed.series) work.set(key(s.agent.id, s.seriesKey), { ...s })
  const selected = new Set(observed.agents.map((a) => a.id))
  const reporting = new Set(observed.series.filter((s) => s.observation.kind !== 'missing').map((s) => s.agent.id))
  for (const row of stateRows) {
    const k = key(row.agent_id, row.series_key)
    const known = work.get(k)
    if (known) { known.row = row; continue }
    // A series gone from an agent that still reports (process exited, disk unmounted) has ended, as has
    // the alert of an agent the rule no longer selects; an agent reporting nothing keeps its states.
    const gone = !selected.has(row.agent_id) || reporting.has(row.agent_id)
    work.set(k, {
      agent: { id: row.agent_id, name: row.agent_name ?? row.agent_id, labels: row.agent_labels ?? {} },
      seriesKey: row.series_key, seriesTags: row.series_tags ?? {}, row,
      observation: gone ? { kind: 'condition', holds: false, value: null } : { kind: 'missing' },
    })
  }

  const silences = await activeSilences(trx, rule.org_id, now)
  const outcome: RuleOutcome = { evaluated: true, series: work.size, opened: 0, closed: 0, notifications: 0 }
  const writes: Array<{ w: Work; state: AlertState; eventId: string | null }> = []
  const deletes: Work[] = []

  for (const w of work.values()) {
    const previous = previousState(w.row)
    const eventOpen = w.row?.event_state === 'firing' && previous.state === 'firing'
    const acknowledged = eventOpen && w.row!.acknowledged_at !== null && (w.row!.ack_expires_at === null || w.row!.ack_expires_at > now)
    const context: EvaluationContext = { silenced: false, acknowledged, acknowledgedSeverity: eventOpen ? w.row!.acknowledged_severity : null }
    let result = evaluateAlert(rule, previous, w.observation, now, context)
    if (silences.length > 0) {
      const identity: AlertIdentity = {
        ruleId: rule.id, ruleName: rule.name, agentId: w.agent.id, agentName: w.agent.name,
        severity: result.state.severity ?? rule.severity, labels: { ...w.agent.labels, ...w.seriesTags },
      }
      if (isSilenced(silences, identity)) result = evaluateAlert(rule, previous, w.observation, now, { ...context, silenced: true })
    }
    if (!result.changed && result.actions.length === 0) continue

    let eventId = eventOpen || previous.state !== 'inactive' ? w.row?.event_id ?? null : null
    // Set when this evaluation closed the event: someone else may have resolved it since it was read.
    let closedHere = false
    const text = () => renderAnnotations(rule.annotations, {
      rule: rule.name, agent: w.agent.name, metric: rule.metric, severity: result.state.severity ?? rule.severity,
      value: result.state.value, threshold: thresholdFor(rule, result.state.severity), tags: w.seriesTags,
    }, rule.kind)
    for (const action of result.actions) {
      if (action.type === 'open_event') {
        const t = text()
        const ev = await trx.insertInto('alert_events').values({
          org_id: rule.org_id, rule_id: rule.id, rule_name: rule.name, agent_id: w.agent.id, agent_name: w.agent.name,
          series_key: w.seriesKey, series_tags: JSON.stringify(w.seriesTags), severity: result.state.severity ?? rule.severity,
          state: 'firing', value: result.state.value, threshold: thresholdFor(rule, result.state.severity),
          summary: t.summary, annotations: JSON.stringify(t.annotations), started_at: now,
        }).returning(['id', 'started_at']).executeTakeFirstOrThrow()
        eventId = ev.id
        outcome.opened++
        await notifyLive(trx, rule, w, eventId, result.state, t.summary, ev.started_at, null)
      } else if (action.type === 'update_event' && eventId) {
        const t = text()
        await trx.updateTable('alert_events').set({
          severity: result.state.severity ?? rule.severity, value: result.state.value, threshold: thresholdFor(rule, result.state.severity),
          summary: t.summary, annotations: JSON.stringify(t.annotations), updated_at: now,
        }).where('id', '=', eventId).where('state', '=', 'firing').execute()
      } else if (action.type === 'close_event' && eventId) {
        const closed = await trx.updateTable('alert_events').set({ state: 'resolved', resolved_at: now, value: result.state.value, updated_at: now })
          .where('id', '=', eventId).where('state', '=', 'firing').returning(['started_at', 'summary']).executeTakeFirst()
        if (closed) {
          closedHere = true
          outcome.closed++
          await notifyLive(trx, rule, w, eventId, result.state, closed.summary, closed.started_at, now)
        }
      } else if (action.type === 'notify' && eventId && (action.kind !== 'resolved' || closedHere)) {
        outcome.notifications += await enqueue(trx, rule, eventId, action.kind, now)
      }
    }
    if (result.state.state === 'inactive' && !eventId) deletes.push(w)
    else writes.push({ w, state: result.state, eventId })
  }

  if (writes.length > 0) {
    await trx.insertInto('alert_states').values(writes.map(({ w, state, eventId }) => ({
      rule_id: rule.id, agent_id: w.agent.id, series_key: w.seriesKey, org_id: rule.org_id, series_tags: JSON.stringify(w.seriesTags),
      state: state.state, severity: state.severity, value: state.value, pending_since: state.pendingSince, firing_since: state.firingSince,
      last_evaluated_at: now, last_notified_at: state.lastNotifiedAt, notified_severity: state.notifiedSeverity, event_id: eventId,
    }))).onConflict((oc) => oc.columns(['rule_id', 'agent_id', 'series_key']).doUpdateSet((eb) => ({
      series_tags: eb.ref('excluded.series_tags'), state: eb.ref('excluded.state'), severity: eb.ref('excluded.severity'),
      value: eb.ref('excluded.value'), pending_since: eb.ref('excluded.pending_since'), firing_since: eb.ref('excluded.firing_since'),
      last_evaluated_at: eb.ref('excluded.last_evaluated_at'), last_notified_at: eb.ref('excluded.last_notified_at'),
      notified_severity: eb.ref('excluded.notified_severity'), event_id: eb.ref('excluded.event_id'),
    }))).execute()
  }
  for (const w of deletes) {
    if (!w.row) continue
    await trx.deleteFrom('alert_states').where('rule_id', '=', rule.id).where('agent_id', '=', w.agent.id).where('series_key', '=', w.seriesKey).execute()
  }
  return outcome
}

/** The stored state as the evaluator reads it; a firing row whose event was resolved by hand starts over. */
function previousState(row: StateRow | undefined): AlertState {
  if (!row) return INACTIVE
  if (row.state === 'firing' && row.event_state !== 'firing') return INACTIVE
  return {
    state: row.state, severity: row.severity, value: row.value === null ? null : Number(row.value),
    pendingSince: row.pending_since, firingSince: row.firing_since, lastNotifiedAt: row.last_notified_at,
    notifiedSeverity: row.notified_severity,
  }
}

function enqueue(trx: Transaction<Database>, rule: RuleRow, eventId: string, kind: NotificationKind, now: Date): Promise<number> {
  return enqueueNotifications(trx, {
    orgId: rule.org_id, eventId, ruleId: rule.id, channelIds: rule.channels, kind, groupWaitSeconds: rule.group_wait_seconds, now,
  })
}

async function notifyLive(trx: Transaction<Database>, rule: RuleRow, w: Work, eventId: string, state: AlertState,
  summary: string, startedAt: Date, resolvedAt: Date | null): Promise<void> {
  await sendAlertNotice(trx, alertNotice({
    org_id: rule.org_id, id: eventId, rule_id: rule.id, rule_name: rule.name, agent_id: w.agent.id, agent_name: w.agent.name,
    severity: state.severity ?? rule.severity, value: state.value, summary, started_at: startedAt,
  }, resolvedAt))
}
