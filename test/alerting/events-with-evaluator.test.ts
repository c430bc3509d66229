// The events API and the real evaluator agree on the lifecycle: an alert resolved by hand while its
// condition still holds starts over (a new event on the next evaluation, notified again), the resolved
// notification goes out only once, and an acknowledgement holds across evaluations.
import t from 'tap'
import { makeBatch, metric, startClient } from '../test-client.ts'
import { evaluateRule, LOCK_NAMESPACE } from '../../services/alerting/evaluate-rule.ts'
import { resolveEvent } from '../../services/alerting/event-actions.ts'
import { addChannel, recordingDb, ruleLockAt } from './evaluation-helpers.ts'

const cpu = (value: number) => makeBatch({ metrics: [metric('cpu', 'usage_percent', value)], disks: [], networks: [], processes: [] })

t.test('resolve and acknowledge with the evaluator', async (t) => {
  const api = await startClient(t)
  const db = api.store.db
  const channel = await addChannel(db, api.orgId, 'ops')
  const agent = await api.createAgent('server-001')
  const rule = await api.post('/api/v1/alerts', {
    name: 'High CPU', metric: 'cpu.usage_percent', window: '1m', threshold: 90, for: '0s', agents: ['server-001'],
    channels: [channel], repeat_interval: '1h', notify_on_resolve: true,
  }, { token: api.adminToken })
  t.equal(rule.status, 201, `rule created: ${rule.text.slice(0, 200)}`)
  t.equal((await api.ingest(agent.api_key, cpu(97))).status, 202)

  const ruleId: string = rule.body.id
  const base = Date.now()
  const evaluateAt = (offsetMs: number) => evaluateRule(db, ruleId, new Date(base + offsetMs), new Date(base + offsetMs))
  const events = () => db.selectFrom('alert_events').selectAll().where('rule_id', '=', ruleId).orderBy('started_at').execute()
  const outbox = () => db.selectFrom('alert_notifications').select(['event_id', 'kind']).where('rule_id', '=', ruleId).orderBy('created_at').execute()

  await evaluateAt(0)
  const [first] = await events()
  t.equal(first?.state, 'firing', 'the evaluator opened an event')
  t.same((await outbox()).map((n) => n.kind), ['firing'])

  const resolved = await api.post(`/api/v1/alerts/events/${first.id}/resolve`, { comment: 'restarted the job' }, { token: api.adminToken })
  t.equal(resolved.status, 200)
  t.same((await outbox()).map((n) => [n.event_id, n.kind]), [[first.id, 'firing'], [first.id, 'resolved']], 'one resolved notification')

  await evaluateAt(1000)
  const [again, second] = await events()
  t.match(again, { id: first.id, state: 'resolved', resolve_comment: 'restarted the job' }, 'the evaluator leaves the resolved event alone')
  t.ok(again.resolved_by, 'still marked as resolved by hand')
  t.equal(second?.state, 'firing', 'the condition still holds: a new event')
  t.same((await outbox()).map((n) => [n.event_id, n.kind]), [[first.id, 'firing'], [first.id, 'resolved'], [second.id, 'firing']],
    'the new event is notified; the old one gets nothing more')

  const acked = await api.post(`/api/v1/alerts/events/${second.id}/ack`, { expires_in: '2h' }, { token: api.adminToken })
  t.equal(acked.status, 200)
  await evaluateAt(2000)
  const after = await api.get(`/api/v1/alerts/events/${second.id}`)
  t.match(after.body, { state: 'firing', acknowledged: true }, 'the acknowledgement holds across evaluations')
  t.equal((await events()).length, 2, 'no third event')
  t.same(after.body.notifications.map((n: any) => n.kind), ['firing'], 'its delivery log')

  // One embedded connection cannot race the two: check the order of what resolve runs instead.
  const recorded = recordingDb(db)
  await resolveEvent(recorded.db, api.orgId, second.id, { userId: resolved.body.resolved_by, comment: null, now: new Date() })
  const lockAt = ruleLockAt(recorded.queries, LOCK_NAMESPACE, ruleId)
  const rowLockAt = recorded.queries.findIndex((q) => q.includes('ForUpdate'))
  t.ok(lockAt >= 0 && lockAt < rowLockAt, `a manual resolve waits for the rule's evaluation lock before it locks the event (at ${lockAt}, row lock at ${rowLockAt})`)
  t.same((await outbox()).filter((n) => n.event_id === second.id).map((n) => n.kind), ['firing', 'resolved'], 'and still notifies its end')
})
