// The pure evaluator as tables: each case is a rule and a timeline of observations; every step names the
// state it must reach and the notifications it must produce. No database.
import t from 'tap'
import {
  evaluateAlert, levelOf, thresholdFor, INACTIVE, type AlertState, type EvaluationContext, type LifecycleRule, type Observation,
} from '../../services/alerting/evaluator.ts'

const T0 = Date.parse('2026-06-01T00:00:00Z')
const at = (s: number) => new Date(T0 + s * 1000)

const base: LifecycleRule = {
  condition: '>', threshold: 90, warning_threshold: null, recovery_threshold: null, for_seconds: 0, severity: 'critical',
  repeat_interval_seconds: null, notify_on_resolve: true,
}

const v = (value: number): Observation => ({ kind: 'value', value })
const missing: Observation = { kind: 'missing' }
const holds = (value: number | null = null): Observation => ({ kind: 'condition', holds: true, value })
const clear = (value: number | null = null): Observation => ({ kind: 'condition', holds: false, value })

interface Step {
  /** Seconds after T0. */
  at: number
  obs: Observation
  ctx?: Partial<EvaluationContext>
  /** Expected state (and severity when given) after the step. */
  state: AlertState['state']
  severity?: AlertState['severity']
  /** Expected notification kinds, in order ([] = none). */
  notify: string[]
  /** Expected event actions other than notify (open_event, close_event, update_event:escalated …). */
  events?: string[]
}

interface Case { name: string; rule?: Partial<LifecycleRule>; steps: Step[] }

const cases: Case[] = [
  {
    name: 'for 0s: fires at once and resolves when the value drops',
    steps: [
      { at: 0, obs: v(50), state: 'inactive', notify: [] },
      { at: 15, obs: v(95), state: 'firing', severity: 'critical', notify: ['firing'], events: ['open_event'] },
      { at: 30, obs: v(96), state: 'firing', notify: [] },
      { at: 45, obs: v(80), state: 'resolved', notify: ['resolved'], events: ['close_event'] },
      { at: 60, obs: v(80), state: 'resolved', notify: [] },
    ],
  },
  {
    name: 'for 30s: pending first, fires once the condition held 30 s',
    rule: { for_seconds: 30 },
    steps: [
      { at: 0, obs: v(95), state: 'pending', severity: 'critical', notify: [] },
      { at: 15, obs: v(95), state: 'pending', notify: [] },
      { at: 29, obs: v(99), state: 'pending', notify: [] },
      { at: 30, obs: v(99), state: 'firing', notify: ['firing'], events: ['open_event'] },
      { at: 45, obs: v(10), state: 'resolved', notify: ['resolved'], events: ['close_event'] },
    ],
  },
  {
    name: 'flapping: a pending alert that clears before `for` produces nothing',
    rule: { for_seconds: 60 },
    steps: [
      { at: 0, obs: v(95), state: 'pending', notify: [] },
      { at: 15, obs: v(50), state: 'inactive', notify: [] },
      { at: 30, obs: v(95), state: 'pending', notify: [] },
      { at: 45, obs: v(50), state: 'inactive', notify: [] },
      { at: 60, obs: v(95), state: 'pending', notify: [] },
      { at: 119, obs: v(95), state: 'pending', notify: [] },
      { at: 120, obs: v(95), state: 'firing', notify: ['firing'], events: ['open_event'] },
    ],
  },
  {
    name: 'a resolved alert that comes back opens a new event',
    steps: [
      { at: 0, obs: v(95), state: 'firing', notify: ['firing'], events: ['open_event'] },
      { at: 15, obs: v(10), state: 'resolved', notify: ['resolved'], events: ['close_event'] },
      { at: 30, obs: v(95), state: 'firing', notify: ['firing'], events: ['open_event'] },
    ],
  },
  {
    name: 'hysteresis: stays firing between recovery and threshold, resolves past recovery',
    rule: { recovery_threshold: 85 },
    steps: [
      { at: 0, obs: v(91), state: 'firing', notify: ['firing'] },
      { at: 15, obs: v(88), state: 'firing', severity: 'critical', notify: [] },
      { at: 30, obs: v(85.5), state: 'firing', notify: [] },
      { at: 45, obs: v(85), state: 'resolved', notify: ['resolved'] },
      { at: 60, obs: v(88), state: 'resolved', notify: [], events: [] },
      { at: 75, obs: v(90.1), state: 'firing', notify: ['firing'] },
    ],
  },
  {
    name: 'hysteresis does not hold a pending alert: it must reach the threshold itself',
    rule: { recovery_threshold: 85, for_seconds: 30 },
    steps: [
      { at: 0, obs: v(91), state: 'pending', notify: [] },
      { at: 15, obs: v(88), state: 'inactive', notify: [] },
    ],
  },
  {
    name: 'hysteresis with condition <: resolves once the value rises past recovery',
    rule: { condition: '<', threshold: 10, recovery_threshold: 15 },
    steps: [
      { at: 0, obs: v(9), state: 'firing', notify: ['firing'] },
      { at: 15, obs: v(12), state: 'firing', notify: [] },
      { at: 30, obs: v(15), state: 'resolved', notify: ['resolved'] },
    ],
  },
  {
    name: 'warning then critical: escalation updates the event and notifies again',
    rule: { warning_threshold: 75 },
    steps: [
      { at: 0, obs: v(80), state: 'firing', severity: 'warning', notify: ['firing'], events: ['open_event'] },
      { at: 15, obs: v(95), state: 'firing', severity: 'critical', notify: ['firing'], events: ['update_event:escalated'] },
      { at: 30, obs: v(80), state: 'firing', severity: 'warning', notify: [], events: ['update_event:deescalated'] },
      { at: 45, obs: v(70), state: 'resolved', notify: ['resolved'], events: ['close_event'] },
    ],
  },
  {
    name: 'the issue\'s rule (critical 90, warning 75, recovery 85): critical holds down to 85, then warning',
    rule: { warning_threshold: 75, recovery_threshold: 85 },
    steps: [
      { at: 0, obs: v(92), state: 'firing', severity: 'critical', notify: ['firing'] },
      { at: 15, obs: v(87), state: 'firing', severity: 'critical', notify: [] },
      { at: 30, obs: v(84), state: 'firing', severity: 'warning', notify: [], events: ['update_event:deescalated'] },
      { at: 45, obs: v(87), state: 'firing', severity: 'warning', notify: [], events: [] },
      { at: 60, obs: v(74), state: 'resolved', notify: ['resolved'] },
    ],
  },
  {
    name: 'pending severity follows the value; fires at the severity it has then',
    rule: { warning_threshold: 75, for_seconds: 30 },
    steps: [
      { at: 0, obs: v(80), state: 'pending', severity: 'warning', notify: [] },
      { at: 15, obs: v(95), state: 'pending', severity: 'critical', notify: [] },
      { at: 30, obs: v(96), state: 'firing', severity: 'critical', notify: ['firing'] },
    ],
  },
  {
    name: 'rule severity warning with only a threshold: fires at warning',
    rule: { severity: 'warning' },
    steps: [{ at: 0, obs: v(95), state: 'firing', severity: 'warning', notify: ['firing'] }],
  },
  {
    name: 'repeat every repeat_interval while firing',
    rule: { repeat_interval_seconds: 60 },
    steps: [
      { at: 0, obs: v(95), state: 'firing', notify: ['firing'] },
      { at: 30, obs: v(95), state: 'firing', notify: [] },
      { at: 59, obs: v(95), state: 'firing', notify: [] },
      { at: 60, obs: v(95), state: 'firing', notify: ['repeat'] },
      { at: 90, obs: v(95), state: 'firing', notify: [] },
      { at: 120, obs: v(95), state: 'firing', notify: ['repeat'] },
    ],
  },
  {
    name: 'no repeat_interval: one notification per firing',
    steps: [
      { at: 0, obs: v(95), state: 'firing', notify: ['firing'] },
      { at: 3600, obs: v(95), state: 'firing', notify: [] },
      { at: 86400, obs: v(95), state: 'firing', notify: [] },
    ],
  },
  {
    name: 'acknowledged: no repeats; they resume when the acknowledgement expires',
    rule: { repeat_interval_seconds: 60 },
    steps: [
      { at: 0, obs: v(95), state: 'firing', notify: ['firing'] },
      { at: 60, obs: v(95), ctx: { acknowledged: true }, state: 'firing', notify: [] },
      { at: 120, obs: v(95), ctx: { acknowledged: true }, state: 'firing', notify: [] },
      { at: 135, obs: v(95), state: 'firing', notify: ['repeat'] },
      { at: 150, obs: v(95), state: 'firing', notify: [] },
      { at: 195, obs: v(95), state: 'firing', notify: ['repeat'] },
    ],
  },
  {
    name: 'acknowledged: the resolution is still notified',
    rule: { repeat_interval_seconds: 60 },
    steps: [
      { at: 0, obs: v(95), state: 'firing', notify: ['firing'] },
      { at: 60, obs: v(10), ctx: { acknowledged: true }, state: 'resolved', notify: ['resolved'] },
    ],
  },
  {
    name: 'silenced at firing: state and event change, no notification; notified when the silence ends',
    steps: [
      { at: 0, obs: v(95), ctx: { silenced: true }, state: 'firing', notify: [], events: ['open_event'] },
      { at: 15, obs: v(95), ctx: { silenced: true }, state: 'firing', notify: [] },
      { at: 30, obs: v(95), state: 'firing', notify: ['firing'] },
      { at: 45, obs: v(95), state: 'firing', notify: [] },
    ],
  },
  {
    name: 'fired and resolved inside a silence: history only, no resolved notification either',
    steps: [
      { at: 0, obs: v(95), ctx: { silenced: true }, state: 'firing', notify: [], events: ['open_event'] },
      { at: 15, obs: v(10), ctx: { silenced: true }, state: 'resolved', notify: [], events: ['close_event'] },
      { at: 30, obs: v(10), state: 'resolved', notify: [] },
    ],
  },
  {
    name: 'fired silenced, resolved after the silence without ever being notified: no resolved message',
    steps: [
      { at: 0, obs: v(95), ctx: { silenced: true }, state: 'firing', notify: [] },
      { at: 15, obs: v(10), state: 'resolved', notify: [], events: ['close_event'] },
    ],
  },
  {
    name: 'silence mutes repeats; they resume after it',
    rule: { repeat_interval_seconds: 60 },
    steps: [
      { at: 0, obs: v(95), state: 'firing', notify: ['firing'] },
      { at: 60, obs: v(95), ctx: { silenced: true }, state: 'firing', notify: [] },
      { at: 90, obs: v(95), state: 'firing', notify: ['repeat'] },
    ],
  },
  {
    name: 'silenced at resolution: closed without a message',
    steps: [
      { at: 0, obs: v(95), state: 'firing', notify: ['firing'] },
      { at: 15, obs: v(10), ctx: { silenced: true }, state: 'resolved', notify: [], events: ['close_event'] },
    ],
  },
  {
    name: 'fired while silenced, acknowledged, silence ends: no message (someone already knows)',
    steps: [
      { at: 0, obs: v(95), ctx: { silenced: true }, state: 'firing', notify: [] },
      { at: 15, obs: v(95), ctx: { acknowledged: true }, state: 'firing', notify: [] },
    ],
  },
  {
    name: 'escalation during a silence: event updated, no message; told once the silence ends',
    rule: { warning_threshold: 75 },
    steps: [
      { at: 0, obs: v(80), state: 'firing', severity: 'warning', notify: ['firing'] },
      { at: 15, obs: v(95), ctx: { silenced: true }, state: 'firing', severity: 'critical', notify: [], events: ['update_event:escalated'] },
      { at: 30, obs: v(95), ctx: { silenced: true }, state: 'firing', severity: 'critical', notify: [], events: [] },
      { at: 45, obs: v(95), state: 'firing', severity: 'critical', notify: ['firing'], events: [] },
      { at: 60, obs: v(95), state: 'firing', severity: 'critical', notify: [] },
    ],
  },
  {
    name: 'escalation during a silence, acknowledged: still told when the silence ends (as any escalation)',
    rule: { warning_threshold: 75 },
    steps: [
      { at: 0, obs: v(80), state: 'firing', severity: 'warning', notify: ['firing'] },
      { at: 15, obs: v(95), ctx: { silenced: true, acknowledged: true }, state: 'firing', severity: 'critical', notify: [] },
      { at: 30, obs: v(95), ctx: { acknowledged: true }, state: 'firing', severity: 'critical', notify: ['firing'] },
    ],
  },
  {
    name: 'fired silenced, acknowledged at warning, escalated inside the silence: told when it ends',
    rule: { warning_threshold: 75 },
    steps: [
      { at: 0, obs: v(80), ctx: { silenced: true }, state: 'firing', severity: 'warning', notify: [] },
      { at: 15, obs: v(95), ctx: { silenced: true, acknowledged: true, acknowledgedSeverity: 'warning' }, state: 'firing', severity: 'critical', notify: [] },
      { at: 30, obs: v(95), ctx: { acknowledged: true, acknowledgedSeverity: 'warning' }, state: 'firing', severity: 'critical', notify: ['firing'] },
      { at: 45, obs: v(95), ctx: { acknowledged: true, acknowledgedSeverity: 'warning' }, state: 'firing', severity: 'critical', notify: [] },
    ],
  },
  {
    name: 'fired silenced, acknowledged at critical: nothing to tell when the silence ends',
    rule: { warning_threshold: 75 },
    steps: [
      { at: 0, obs: v(80), ctx: { silenced: true }, state: 'firing', severity: 'warning', notify: [] },
      { at: 15, obs: v(95), ctx: { silenced: true }, state: 'firing', severity: 'critical', notify: [] },
      { at: 30, obs: v(95), ctx: { acknowledged: true, acknowledgedSeverity: 'critical' }, state: 'firing', severity: 'critical', notify: [] },
    ],
  },
  {
    name: 'up and back down inside a silence: nothing new to tell after it',
    rule: { warning_threshold: 75 },
    steps: [
      { at: 0, obs: v(80), state: 'firing', severity: 'warning', notify: ['firing'] },
      { at: 15, obs: v(95), ctx: { silenced: true }, state: 'firing', severity: 'critical', notify: [] },
      { at: 30, obs: v(80), ctx: { silenced: true }, state: 'firing', severity: 'warning', notify: [], events: ['update_event:deescalated'] },
      { at: 45, obs: v(80), state: 'firing', severity: 'warning', notify: [] },
    ],
  },
  {
    name: 'told at critical, down to warning, back to critical: told again (an escalation)',
    rule: { warning_threshold: 75 },
    steps: [
      { at: 0, obs: v(95), state: 'firing', severity: 'critical', notify: ['firing'] },
      { at: 15, obs: v(80), state: 'firing', severity: 'warning', notify: [] },
      { at: 30, obs: v(95), state: 'firing', severity: 'critical', notify: ['firing'], events: ['update_event:escalated'] },
    ],
  },
  {
    name: 'notify_on_resolve false: no resolved message',
    rule: { notify_on_resolve: false },
    steps: [
      { at: 0, obs: v(95), state: 'firing', notify: ['firing'] },
      { at: 15, obs: v(10), state: 'resolved', notify: [], events: ['close_event'] },
    ],
  },
  {
    name: 'missing data keeps a firing alert firing (never resolves by accident)',
    steps: [
      { at: 0, obs: v(95), state: 'firing', notify: ['firing'] },
      { at: 15, obs: missing, state: 'firing', notify: [], events: [] },
      { at: 300, obs: missing, state: 'firing', notify: [] },
      { at: 315, obs: v(10), state: 'resolved', notify: ['resolved'] },
    ],
  },
  {
    name: 'missing data still repeats a firing alert',
    rule: { repeat_interval_seconds: 60 },
    steps: [
      { at: 0, obs: v(95), state: 'firing', notify: ['firing'] },
      { at: 60, obs: missing, state: 'firing', notify: ['repeat'] },
    ],
  },
  {
    name: 'missing data sends a pending alert back to inactive: `for` starts over after a gap',
    rule: { for_seconds: 300 },
    steps: [
      { at: 0, obs: v(95), state: 'pending', notify: [] },
      { at: 15, obs: missing, state: 'inactive', notify: [], events: [] },
      { at: 615, obs: v(95), state: 'pending', notify: [], events: [] },
      { at: 900, obs: v(95), state: 'pending', notify: [] },
      { at: 915, obs: v(95), state: 'firing', notify: ['firing'], events: ['open_event'] },
    ],
  },
  {
    name: 'missing data on an inactive series: stays inactive',
    steps: [{ at: 0, obs: missing, state: 'inactive', notify: [] }],
  },
  {
    name: 'conditions: >= fires at the threshold itself',
    rule: { condition: '>=' },
    steps: [
      { at: 0, obs: v(89.99), state: 'inactive', notify: [] },
      { at: 15, obs: v(90), state: 'firing', notify: ['firing'] },
    ],
  },
  {
    name: 'conditions: < and <= (low free space)',
    rule: { condition: '<=', threshold: 5, warning_threshold: 10 },
    steps: [
      { at: 0, obs: v(11), state: 'inactive', notify: [] },
      { at: 15, obs: v(10), state: 'firing', severity: 'warning', notify: ['firing'] },
      { at: 30, obs: v(5), state: 'firing', severity: 'critical', notify: ['firing'] },
      { at: 45, obs: v(20), state: 'resolved', notify: ['resolved'] },
    ],
  },
  {
    name: 'conditions: == and !=',
    rule: { condition: '==', threshold: 0 },
    steps: [
      { at: 0, obs: v(1), state: 'inactive', notify: [] },
      { at: 15, obs: v(0), state: 'firing', notify: ['firing'] },
      { at: 30, obs: v(2), state: 'resolved', notify: ['resolved'] },
    ],
  },
  {
    name: 'conditions: != fires on any other value',
    rule: { condition: '!=', threshold: 1 },
    steps: [
      { at: 0, obs: v(1), state: 'inactive', notify: [] },
      { at: 15, obs: v(0), state: 'firing', notify: ['firing'] },
    ],
  },
  {
    name: 'a rule with only a warning threshold warns and never goes critical',
    rule: { threshold: null, warning_threshold: 80 },
    steps: [
      { at: 0, obs: v(70), state: 'inactive', notify: [] },
      { at: 15, obs: v(85), state: 'firing', severity: 'warning', notify: ['firing'] },
      { at: 30, obs: v(99), state: 'firing', severity: 'warning', notify: [] },
      { at: 45, obs: v(75), state: 'resolved', notify: ['resolved'] },
    ],
  },
  {
    name: 'special kinds: the observation decides; for applies as well',
    rule: { threshold: null, for_seconds: 20 },
    steps: [
      { at: 0, obs: holds(65), state: 'pending', severity: 'critical', notify: [] },
      { at: 20, obs: holds(85), state: 'firing', notify: ['firing'] },
      { at: 35, obs: clear(3), state: 'resolved', notify: ['resolved'] },
    ],
  },
  {
    name: 'special kinds: a firing condition that stays holds fires once',
    rule: { threshold: null },
    steps: [
      { at: 0, obs: holds(), state: 'firing', notify: ['firing'] },
      { at: 15, obs: holds(), state: 'firing', notify: [] },
    ],
  },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    const rule = { ...base, ...c.rule }
    let state: AlertState | undefined
    for (const step of c.steps) {
      const ctx = { silenced: false, acknowledged: false, ...step.ctx }
      const out = evaluateAlert(rule, state, step.obs, at(step.at), ctx)
      const label = `t=${step.at}s`
      t.equal(out.state.state, step.state, `${label}: state ${step.state}`)
      if (step.severity !== undefined) t.equal(out.state.severity, step.severity, `${label}: severity ${step.severity}`)
      t.same(out.actions.filter((a) => a.type === 'notify').map((a) => (a as { kind: string }).kind), step.notify, `${label}: notifies ${JSON.stringify(step.notify)}`)
      if (step.events !== undefined) {
        const events = out.actions.filter((a) => a.type !== 'notify').map((a) => a.type === 'update_event' ? `update_event:${a.change}` : a.type)
        t.same(events, step.events, `${label}: event actions ${JSON.stringify(step.events)}`)
      }
      state = out.state
    }
  })
}

t.test('a state row reset by a manual resolve starts a fresh lifecycle', async (t) => {
  const out = evaluateAlert(base, { ...INACTIVE }, v(95), at(0), { silenced: false, acknowledged: false })
  t.equal(out.state.state, 'firing')
  t.same(out.actions.map((a) => a.type), ['open_event', 'notify'])
})

t.test('changed: only what must be written', async (t) => {
  const quiet = evaluateAlert(base, undefined, v(10), at(0), { silenced: false, acknowledged: false })
  t.notOk(quiet.changed, 'an inactive series that stays inactive writes nothing')
  const firing = evaluateAlert(base, undefined, v(95), at(0), { silenced: false, acknowledged: false })
  t.ok(firing.changed)
  const again = evaluateAlert(base, firing.state, v(95), at(15), { silenced: false, acknowledged: false })
  t.notOk(again.changed, 'same value, same state: nothing to write')
  const moved = evaluateAlert(base, firing.state, v(97), at(30), { silenced: false, acknowledged: false })
  t.ok(moved.changed, 'a live alert\'s new value is written')
  t.equal(moved.state.firingSince?.getTime(), at(0).getTime(), 'firing_since is kept')
})

t.test('levelOf and thresholdFor', async (t) => {
  const rule = { ...base, warning_threshold: 75, recovery_threshold: 80 }
  const table: Array<[number, string | null, string | null]> = [
    [95, null, 'critical'], [85, null, 'warning'], [85, 'critical', 'critical'], [79, 'critical', 'warning'], [70, 'critical', null], [70, null, null],
  ]
  for (const [value, firingAt, expected] of table) {
    t.equal(levelOf(rule, value, firingAt as never), expected, `${value} firing at ${firingAt} → ${expected}`)
  }
  t.equal(thresholdFor(rule, 'critical'), 90)
  t.equal(thresholdFor(rule, 'warning'), 75)
  t.equal(thresholdFor({ ...rule, severity: 'warning' }, 'warning'), 90, 'a warning-severity rule reports its threshold')
})
