// The alert lifecycle of one rule × agent × series as a pure function: (rule, previous state, observation,
// now, context) → next state and the actions it implies. No database, no clock, no I/O: the evaluation
// loop feeds it and carries out its actions (evaluate-rule.ts).
//
//   inactive ──condition──▶ pending ──held for `for`──▶ firing ──condition gone──▶ resolved
//       ▲        (for = 0: straight to firing)  │                     ▲ escalation: severity changes
//       └──────────condition gone (a flap: no event, no notification)┘
//
// Decisions, in one place:
// - Missing data (no sample in the window) never resolves: a firing alert stays firing. A pending one
//   goes back to inactive (as Prometheus does), so `for` counts only time the condition was seen holding.
// - A series gone from an agent that still reports other series of the rule (process exited, disk
//   unmounted, interface removed) is not missing but ended: it is observed as "condition does not hold"
//   (evaluate-rule.ts) and resolves. An agent with no series at all keeps its states (agent down is
//   agent.offline's business).
// - recovery_threshold is the hysteresis of `threshold`: once firing at the rule's severity, the alert
//   stays at that severity until the value is past recovery_threshold (then warning, if past
//   warning_threshold, or resolved). The warning level has no hysteresis of its own.
// - Escalation (to a higher severity) while firing notifies as `firing` again and restarts the repeat
//   timer; de-escalation only updates the event (nobody needs waking up for good news). An escalation a
//   silence muted is told once the silence ends: the alert is then at a severity above the one its last
//   notification told of and the one it was acknowledged at (told even when acknowledged, as any escalation).
// - Repeats go out every repeat_interval after the last notification while firing, unless the event is
//   acknowledged (until its ack expires) or the alert is silenced.
// - A silenced alert changes state and writes history but notifies nothing. If it fired while silenced,
//   it is notified as `firing` once the silence ends (and it is not acknowledged), still firing.
// - `resolved` is notified only when notify_on_resolve and the firing itself was notified and the alert
//   is not silenced: nobody hears of an end to something they never heard of. It is queued by whoever
//   actually closed the event (the evaluator only if its close updated the row): a manual resolve and a
//   rule deleted, disabled or re-scoped queue it too, taking the rule's evaluation lock, so the two never
//   interleave and the end is told once.
import type { AlertCondition, AlertLifecycleState, AlertSeverity, NotificationKind } from '../store/database.ts'

/** The parts of a rule the lifecycle depends on. */
export interface LifecycleRule {
  condition: AlertCondition
  threshold: number | null
  warning_threshold: number | null
  recovery_threshold: number | null
  for_seconds: number
  severity: AlertSeverity
  repeat_interval_seconds: number | null
  notify_on_resolve: boolean
}

export interface AlertState {
  state: AlertLifecycleState
  severity: AlertSeverity | null
  value: number | null
  pendingSince: Date | null
  firingSince: Date | null
  /** When the last notification for the current firing was queued; null: not notified yet. */
  lastNotifiedAt: Date | null
  /** The severity the last notification for the current firing told of; null: not notified yet. */
  notifiedSeverity: AlertSeverity | null
}

export type Observation =
  /** The aggregated value over the window (threshold rules). */
  | { kind: 'value'; value: number }
  /** No sample in the window: never resolves; a pending alert starts over. */
  | { kind: 'missing' }
  /** Special kinds (agent offline, process absent, no data) decide the condition themselves. */
  | { kind: 'condition'; holds: boolean; value: number | null }

export interface EvaluationContext {
  /** A silence or maintenance window matches the alert now. */
  silenced: boolean
  /** The open event is acknowledged and the acknowledgement has not expired. */
  acknowledged: boolean
  /** The severity the open event was at when it was acknowledged (even if that has expired): someone knows of it. */
  acknowledgedSeverity?: AlertSeverity | null
}

export type AlertAction =
  | { type: 'open_event' }
  | { type: 'update_event'; change: 'escalated' | 'deescalated' }
  | { type: 'close_event' }
  | { type: 'notify'; kind: NotificationKind }

export interface Evaluation {
  state: AlertState
  actions: AlertAction[]
  /** The state differs from the previous one (the caller writes only what changed). */
  changed: boolean
}

export const INACTIVE: AlertState = { state: 'inactive', severity: null, value: null, pendingSince: null, firingSince: null, lastNotifiedAt: null, notifiedSeverity: null }

const RANK: Record<AlertSeverity, number> = { info: 0, warning: 1, critical: 2 }
const higher = (a: AlertSeverity | null, b: AlertSeverity | null) => a === null ? b : b === null || RANK[a] >= RANK[b] ? a : b

/**
 * Whether an alert's end is announced: only when its rule asks, when its firing was announced (nobody hears
 * of the end of something they never heard of) and when no silence matches it now.
 */
export function announcesResolve(c: { notifyOnResolve: boolean; firingNotified: boolean; silenced: boolean }): boolean {
  return c.notifyOnResolve && c.firingNotified && !c.silenced
}

export function conditionHolds(condition: AlertCondition, value: number, threshold: number): boolean {
  switch (condition) {
    case '>': return value > threshold
    case '>=': return value >= threshold
    case '<': return value < threshold
    case '<=': return value <= threshold
    case '==': return value === threshold
    case '!=': return value !== threshold
  }
}

/** The severity a value is at, or null; `firingAt` is the current severity of a firing alert (hysteresis). */
export function levelOf(rule: LifecycleRule, value: number, firingAt: AlertSeverity | null): AlertSeverity | null {
  if (rule.threshold !== null) {
    if (conditionHolds(rule.condition, value, rule.threshold)) return rule.severity
    if (firingAt === rule.severity && rule.recovery_threshold !== null && conditionHolds(rule.condition, value, rule.recovery_threshold)) return rule.severity
  }
  if (rule.warning_threshold !== null && conditionHolds(rule.condition, value, rule.warning_threshold)) return 'warning'
  return null
}

/** The threshold that the given severity corresponds to (for messages and the event row). */
export function thresholdFor(rule: LifecycleRule, severity: AlertSeverity | null): number | null {
  if (severity === 'warning' && rule.warning_threshold !== null && rule.severity !== 'warning') return rule.warning_threshold
  return rule.threshold ?? rule.warning_threshold
}

const sameTime = (a: Date | null, b: Date | null) => (a?.getTime() ?? null) === (b?.getTime() ?? null)

function differs(a: AlertState, b: AlertState): boolean {
  return a.state !== b.state || a.severity !== b.severity || !sameTime(a.pendingSince, b.pendingSince)
    || !sameTime(a.firingSince, b.firingSince) || !sameTime(a.lastNotifiedAt, b.lastNotifiedAt) || a.notifiedSeverity !== b.notifiedSeverity
    // Values of live alerts are shown; those of quiet series are not worth a write.
    || ((b.state === 'pending' || b.state === 'firing') && a.value !== b.value)
}

export function evaluateAlert(
  rule: LifecycleRule, previous: AlertState | undefined, observation: Observation, now: Date, context: EvaluationContext,
): Evaluation {
  const prev = previous ?? INACTIVE
  const value = observation.kind === 'missing' ? prev.value : observation.kind === 'value' ? observation.value : observation.value
  const level: AlertSeverity | null | 'unknown' = observation.kind === 'missing' ? 'unknown'
    : observation.kind === 'condition' ? (observation.holds ? rule.severity : null)
      : levelOf(rule, observation.value, prev.state === 'firing' ? prev.severity : null)
  const actions: AlertAction[] = []
  const done = (state: AlertState): Evaluation => ({ state, actions, changed: differs(prev, state) })

  const fire = (severity: AlertSeverity): Evaluation => {
    actions.push({ type: 'open_event' })
    if (!context.silenced) actions.push({ type: 'notify', kind: 'firing' })
    return done({ state: 'firing', severity, value, pendingSince: prev.pendingSince ?? now, firingSince: now,
      lastNotifiedAt: context.silenced ? null : now, notifiedSeverity: context.silenced ? null : severity })
  }

  switch (prev.state) {
    case 'inactive':
    case 'resolved': {
      if (level === 'unknown' || level === null) return done({ ...prev, value: prev.value })
      if (rule.for_seconds === 0) return fire(level)
      return done({ state: 'pending', severity: level, value, pendingSince: now, firingSince: null, lastNotifiedAt: null, notifiedSeverity: null })
    }
    case 'pending': {
      // A flap or a gap: it never fired, so nothing to tell, and `for` starts over when it is seen again.
      if (level === 'unknown' || level === null) return done({ ...INACTIVE })
      const since = prev.pendingSince ?? now
      if (now.getTime() - since.getTime() >= rule.for_seconds * 1000) return fire(level)
      return done({ ...prev, severity: level, value, pendingSince: since })
    }
    case 'firing': {
      if (level === null) {
        actions.push({ type: 'close_event' })
        if (announcesResolve({ notifyOnResolve: rule.notify_on_resolve, firingNotified: prev.lastNotifiedAt !== null, silenced: context.silenced })) actions.push({ type: 'notify', kind: 'resolved' })
        return done({ state: 'resolved', severity: prev.severity, value, pendingSince: null, firingSince: null, lastNotifiedAt: null, notifiedSeverity: null })
      }
      const severity = level === 'unknown' ? (prev.severity ?? rule.severity) : level
      let { lastNotifiedAt, notifiedSeverity } = prev
      const escalated = prev.severity !== null && RANK[severity] > RANK[prev.severity]
      if (prev.severity !== null && severity !== prev.severity) actions.push({ type: 'update_event', change: escalated ? 'escalated' : 'deescalated' })
      if (!context.silenced) {
        // Above what anyone was told or acknowledged: an escalation now, or one a silence muted.
        const known = higher(notifiedSeverity, context.acknowledgedSeverity ?? null)
        const untoldRise = escalated || (known !== null && RANK[severity] > RANK[known])
        const repeatDue = rule.repeat_interval_seconds !== null && lastNotifiedAt !== null
          && now.getTime() - lastNotifiedAt.getTime() >= rule.repeat_interval_seconds * 1000
        if (untoldRise || (lastNotifiedAt === null && !context.acknowledged)) {
          actions.push({ type: 'notify', kind: 'firing' })
          lastNotifiedAt = now
          notifiedSeverity = severity
        } else if (repeatDue && !context.acknowledged) {
          actions.push({ type: 'notify', kind: 'repeat' })
          lastNotifiedAt = now
          notifiedSeverity = severity
        }
      }
      return done({ ...prev, severity, value, lastNotifiedAt, notifiedSeverity })
    }
  }
}
