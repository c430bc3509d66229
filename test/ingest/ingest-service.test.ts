// The ingest service called directly, no HTTP: what every face relies on. Batches are scrubbed, written once
// (a batch_id seen before is acknowledged, not stored twice), counted and published after commit; checks
// name the batch and field; an empty request stores nothing and tells nobody.
import t from 'tap'
import { ingestService } from '../../services/ingest/ingest-service.ts'
import { checkBatches } from '../../services/ingest/check-batches.ts'
import { IngestBus, type IngestEvent } from '../../services/bus/ingest-bus.ts'
import { DomainError } from '../../services/errors/domain-error.ts'
import type { IngestAccepted, IngestBatch } from '../../contract/ingest-batch.ts'
import { makeBatch, metric, openTestStore, proc } from '../test-client.ts'

t.test('scrub, write once, count, publish', async (t) => {
  const store = await openTestStore(t)
  const org = await store.db.insertInto('organizations').values({ name: 'svc' }).returning('id').executeTakeFirstOrThrow()
  const agent = await store.db.insertInto('agents').values({ org_id: org.id, name: 'svc-01', labels: '{}' }).returning(['id', 'org_id', 'name']).executeTakeFirstOrThrow()
  const feed = new IngestBus()
  const heard: IngestEvent[] = []
  feed.subscribe((e) => heard.push(e))
  const recorded: IngestAccepted[] = []
  const service = ingestService({ db: store.db, feed, record: (_, r) => recorded.push(r), scrubPatterns: [/ticket-\d+/g] })

  const batch = makeBatch({ metrics: [metric('cpu', 'usage_percent', 12)], processes: [proc(7, 'mysql', { cmdline: 'mysql -pSecret ticket-42' })] })
  const first = await service.ingest(agent, [batch])
  t.equal(first.accepted_batches, 1)
  t.match(first.rows, { metrics: 1, processes: 1 })
  const stored = await store.db.selectFrom('process_metrics').select('cmdline').where('agent_id', '=', agent.id).execute()
  t.same(stored.map((r) => r.cmdline), ['mysql -p*** ***'], 'built-in rules and the operator\'s pattern')
  t.same(heard.map((e) => [e.agentId, e.agentName, e.time]), [[agent.id, 'svc-01', batch.time]], 'published once, with the newest time')
  t.equal(recorded.length, 1, 'counted')

  const again = await service.ingest(agent, [structuredClone(batch)])
  t.equal(again.accepted_batches, 0)
  t.equal(again.duplicate_batches, 1, 'the same batch_id is acknowledged again')
  t.equal(heard.length, 1, 'a duplicate tells nobody')
  const { count } = await store.db.selectFrom('metrics').select((eb) => eb.fn.countAll<number>().as('count')).where('agent_id', '=', agent.id).executeTakeFirstOrThrow()
  t.equal(Number(count), 1, 'and stores nothing twice')

  const none = await service.ingest(agent, [])
  t.equal(none.accepted_batches, 0)
  t.equal(recorded.length, 2, 'an empty request is not counted')
})

t.test('checks name the batch and field, as an invalid DomainError', async (t) => {
  const now = Date.parse('2026-06-01T12:00:00Z')
  const good: IngestBatch = { batch_id: crypto.randomUUID(), time: '2026-06-01T11:59:00Z' }
  t.same(checkBatches(good, now), [good])
  const cases: Array<[unknown, string, string]> = [
    [[], '(body)', 'Invalid request: the batch array is empty'],
    [[good, { ...good, metrics: [{ metric_type: 'cpu', metric_name: 'x', value: 'high' }] }], '[1].metrics[0].value', 'Invalid request: [1].metrics[0].value'],
    [{ ...good, time: '2026-06-01T12:06:00Z' }, 'time', 'is in the future'],
    [{ ...good, processes: [{ pid: 1, name: 'a', cpu_percent: 0, memory_bytes: 0, memory_percent: 0, time: '2026-05-30T11:00:00Z' }] }, 'processes[0].time', 'more than a day away'],
    [Array.from({ length: 501 }, () => good), '(body)', 'at most 500 batches'],
  ]
  for (const [body, field, message] of cases) {
    const err = (() => { try { checkBatches(body, now) } catch (e) { return e } })() as DomainError
    t.ok(err instanceof DomainError && err.kind === 'invalid', `${field}: invalid`)
    t.ok(err.details && field in err.details, `${field} is named (${Object.keys(err.details ?? {})})`)
    t.match(err.message, message)
  }
})
