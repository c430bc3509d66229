// The connection state machine and backoff schedule as pure functions.
import t from 'tap'
import { backoffDelay, DEFAULT_BACKOFF, INITIAL_STATE, maySend, nextState, type ConnectionState } from '../../agent/connection-state.ts'
import { defaultDataDir, parseDuration } from '../../agent/cli-options.ts'

t.test('backoff doubles from 1 s to a 60 s cap, jittered within [step/2, step]', async t => {
  const steps = [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]
  steps.forEach((step, i) => {
    t.equal(backoffDelay(i + 1, DEFAULT_BACKOFF, () => 0), step / 2, `attempt ${i + 1} low end`)
    t.equal(backoffDelay(i + 1, DEFAULT_BACKOFF, () => 1), step, `attempt ${i + 1} high end`)
  })
  t.equal(backoffDelay(500, DEFAULT_BACKOFF, () => 1), 60000, 'huge attempt counts stay at the cap')
})

t.test('transitions: connecting → online ⇄ backoff, unauthorized waits the cap', async t => {
  const now = 1_000_000
  const half = () => 0.5
  let s: ConnectionState = INITIAL_STATE
  t.ok(maySend(s, now), 'a fresh agent may send')
  s = nextState(s, { type: 'failed' }, now, DEFAULT_BACKOFF, half)
  t.same(s, { kind: 'backoff', failures: 1, retryAt: now + 750 })
  t.notOk(maySend(s, now + 749))
  t.ok(maySend(s, now + 750))
  s = nextState(s, { type: 'retry_due' }, now + 750, DEFAULT_BACKOFF, half)
  t.same(s, { kind: 'connecting', failures: 1 })
  s = nextState(s, { type: 'failed' }, now, DEFAULT_BACKOFF, half)
  t.same(s, { kind: 'backoff', failures: 2, retryAt: now + 1500 }, 'second failure waits longer')
  s = nextState(s, { type: 'delivered' }, now, DEFAULT_BACKOFF, half)
  t.same(s, { kind: 'online' })
  s = nextState(s, { type: 'failed' }, now, DEFAULT_BACKOFF, half)
  t.equal((s as { failures: number }).failures, 1, 'a new outage starts the schedule over')
  s = nextState({ kind: 'online' }, { type: 'key_refused' }, now, DEFAULT_BACKOFF, half)
  t.same(s, { kind: 'unauthorized', failures: 1, retryAt: now + 60_000 })
  t.same(nextState({ kind: 'online' }, { type: 'retry_due' }, now, DEFAULT_BACKOFF), { kind: 'online' }, 'a stale timer changes nothing')
})

t.test('durations and the default data dir', async t => {
  const cases: Array<[string, number]> = [['10s', 10_000], ['500ms', 500], ['1.5m', 90_000], ['2h', 7_200_000], ['7d', 604_800_000], ['15', 15_000]]
  for (const [text, ms] of cases) t.equal(parseDuration(text), ms, text)
  for (const bad of ['', 'ten', '10 seconds', '-1s', '1w']) t.throws(() => parseDuration(bad), /is not a duration; write it like 10s/, bad)
  t.equal(defaultDataDir({ XDG_STATE_HOME: '/var/state', HOME: '/home/a' }), '/var/state/hostpulse-agent')
  t.equal(defaultDataDir({ HOME: '/home/a' }), '/home/a/.local/state/hostpulse-agent')
})
