// Evaluation against the real database: data ingested through the API, rules created through the API,
// one evaluation cycle at a time with a clock the test moves. Checks states, event rows and outbox rows.
import t from 'tap'
import { sql } from 'kysely'
import { assertError, disk, makeBatch, metric, proc, startClient, type TestClient, type CreatedAgent } from '../test-client.ts'
import { EvaluationLoop } from '../../services/alerting/evaluation-loop.ts'
import { addChannel, issueRule, recordingDb, ruleLockAt, silentLog, waitFor } from './evaluation-helpers.ts'
import { AGENT_DELETION_NAMESPACE, LOCK_NAMESPACE, evaluateRule } from '../../services/alerting/evaluate-rule.ts'
import { retireAgentAlerts } from '../../services/alerting/rules-repository.ts'


/** A loop whose clock the test sets; each `cycle(at)` runs one evaluation cycle at that time. */
function loopAt(api: TestClient) {
  let now = new Date()
  const loop = new EvaluationLoop(api.store.db, silentLog, undefined, { clock: () => now })
  return {
    cycle: async (at: Date) => { now = at; return loop.runCycle() },
  }
}

const iso = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString()
const plus = (d: Date, s: number) => new Date(d.getTime() + s * 1000)

async function send(api: TestClient, agent: CreatedAgent, at: Date, parts: Parameters<typeof makeBatch>[0]) {
  const res = await api.ingest(agent.api_key, makeBatch({ time: iso(at), metrics: [], disks: [], networks: [], processes: [], ...parts }))
  if (res.status !== 202) throw new Error(`ingest failed: ${res.status} ${res.text}`)
}

async function createRule(api: TestClient, body: Record<string, unknown>): Promise<string> {
  const res = await api.post('/api/v1/alerts', body, { token: api.adminToken })
  if (res.status !== 201) throw new Error(`rule refused: ${res.status} ${res.text}`)
  return res.body.id
}

const statesOf = (api: TestClient, ruleId: string) => api.store.db.selectFrom('alert_states').selectAll().where('rule_id', '=', ruleId).orderBy('series_key').execute()
const eventsOf = (api: TestClient, ruleId: string) => api.store.db.selectFrom('alert_events').selectAll().where('rule_id', '=', ruleId).orderBy('started_at').orderBy('agent_name').execute()
const outboxOf = (api: TestClient, ruleId: string) => api.store.db.selectFrom('alert_notifications').selectAll().where('rule_id', '=', ruleId).orderBy('created_at').execute()

t.test('evaluation against the database', async (t) => {
  const api = await startClient(t)
  const db = api.store.db
  const { cycle } = loopAt(api)
  const channel = await addChannel(db, api.orgId, 'ops')
  const channel2 = await addChannel(db, api.orgId, 'ops-2')
  const disabled = await addChannel(db, api.orgId, 'muted', false)
  const T = new Date(Math.floor(Date.now() / 1000) * 1000 - 30 * 60_000) // half an hour ago: room to move forward

  await t.test('threshold rule: above → firing with event and outbox rows; below → resolved with a resolved row', async (t) => {
    const agent = await api.createAgent('server-001')
    const ruleId = await createRule(api, issueRule({ for: '0s', recovery_threshold: null, warning_threshold: null, channels: [channel, channel2, disabled], repeat_interval: null }))
    await send(api, agent, plus(T, -20), { metrics: [metric('cpu', 'usage_percent', 96), metric('cpu', 'usage_percent', 10, { tags: { core: '0' } })] })
    await send(api, agent, plus(T, -10), { metrics: [metric('cpu', 'usage_percent', 98)] })
    const r1 = await cycle(T)
    t.ok(r1.evaluated >= 1, 'evaluated')
    const [state] = await statesOf(api, ruleId)
    t.match(state, { state: 'firing', severity: 'critical', value: 97, series_key: '' }, 'the untagged series fires (per-core series are not the machine)')
    const events = await eventsOf(api, ruleId)
    t.equal(events.length, 1, 'one event')
    t.match(events[0], { state: 'firing', agent_name: 'server-001', rule_name: 'High CPU', value: 97, threshold: 90, summary: 'CPU 97% on server-001', severity: 'critical' })
    t.equal(state.event_id, events[0].id, 'state points at its event')
    const out = await outboxOf(api, ruleId)
    t.same(out.map((n) => [n.channel_name, n.kind, n.status]).sort(), [['ops', 'firing', 'pending'], ['ops-2', 'firing', 'pending']], 'one row per enabled channel')
    t.equal(out[0].next_attempt_at.getTime(), T.getTime() + 10_000, 'sent after group_wait')
    t.equal(out[0].group_key, `${ruleId}:${out[0].channel_id}:firing`)

    const r2 = await cycle(plus(T, 5))
    t.equal(r2.evaluated, 0, 'not due again within its interval')
    await cycle(plus(T, 15))
    t.equal((await outboxOf(api, ruleId)).length, 2, 'still firing: no new notification (no repeat_interval)')

    await send(api, agent, plus(T, 50), { metrics: [metric('cpu', 'usage_percent', 20)] })
    await cycle(plus(T, 75)) // the window (1m) now holds only the 20
    t.equal((await statesOf(api, ruleId))[0].state, 'resolved')
    const closed = await eventsOf(api, ruleId)
    t.match(closed[0], { state: 'resolved', resolved_by: null })
    t.equal(closed[0].resolved_at?.getTime(), plus(T, 75).getTime())
    const all = await outboxOf(api, ruleId)
    t.same(all.filter((n) => n.kind === 'resolved').map((n) => n.channel_name).sort(), ['ops', 'ops-2'], 'resolved notified per channel')
    const rule = await db.selectFrom('alert_rules').select(['last_evaluated_at', 'last_evaluation_error']).where('id', '=', ruleId).executeTakeFirstOrThrow()
    t.same(rule, { last_evaluated_at: plus(T, 75), last_evaluation_error: null })
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })

  await t.test('for 30s: pending, then firing; a flap in between produces nothing', async (t) => {
    const agent = await api.createAgent('for-agent')
    const ruleId = await createRule(api, { name: 'Load', metric: 'cpu.load_avg_1', aggregation: 'max', window: '30s', threshold: 4, for: '30s', agents: ['for-agent'], channels: [channel] })
    const base = plus(T, 100)
    await send(api, agent, plus(base, -5), { metrics: [metric('cpu', 'load_avg_1', 5)] })
    await cycle(base)
    t.match((await statesOf(api, ruleId))[0], { state: 'pending', severity: 'critical' })
    await send(api, agent, plus(base, 15), { metrics: [metric('cpu', 'load_avg_1', 1)] })
    await cycle(plus(base, 40)) // window (10, 40] holds only the 1: the pending alert clears
    t.equal((await statesOf(api, ruleId)).length, 0, 'a cleared pending state leaves no row')
    t.equal((await eventsOf(api, ruleId)).length, 0, 'no event for a flap')
    for (const s of [45, 60, 75]) await send(api, agent, plus(base, s), { metrics: [metric('cpu', 'load_avg_1', 6)] })
    await cycle(plus(base, 60))
    t.equal((await statesOf(api, ruleId))[0].state, 'pending')
    await cycle(plus(base, 80))
    t.equal((await statesOf(api, ruleId))[0].state, 'pending', 'held 20 s of 30')
    await cycle(plus(base, 95))
    t.equal((await statesOf(api, ruleId))[0].state, 'firing', 'held 35 s: fires')
    t.equal((await outboxOf(api, ruleId)).length, 1)
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })

  await t.test('disk rule: one series per mount point, templates with {{mount_point}}', async (t) => {
    const agent = await api.createAgent('disk-agent')
    const ruleId = await createRule(api, {
      name: 'Disk full', metric: 'disk.usage_percent', aggregation: 'last', window: '5m', threshold: 90, agents: ['disk-agent'],
      annotations: { summary: '{{mount_point}} on {{agent}} at {{value}}% ({{threshold}}%), {{unknown}} {{constructor}} {{__proto__}} {{toString}} kept' },
    })
    await send(api, agent, plus(T, 200), { disks: [disk('/', { usage_percent: 40 }), disk('/data', { usage_percent: 97.456 }), disk('/var', { usage_percent: 91 })] })
    await cycle(plus(T, 210))
    const states = await statesOf(api, ruleId)
    t.same(states.map((s) => [s.series_key, s.state, s.series_tags]), [
      ['mount_point=/data', 'firing', { mount_point: '/data' }], ['mount_point=/var', 'firing', { mount_point: '/var' }],
    ], 'the two full mounts fire, / stays quiet (no row)')
    const events = await eventsOf(api, ruleId)
    t.same(events.map((e) => e.summary).sort(), ['/data on disk-agent at 97.46% (90%), {{unknown}} {{constructor}} {{__proto__}} {{toString}} kept', '/var on disk-agent at 91% (90%), {{unknown}} {{constructor}} {{__proto__}} {{toString}} kept'],
      'unknown placeholders stay as written, those named like an Object member too')
    const filtered = await createRule(api, { name: 'Data disk', metric: 'disk.usage_percent', window: '5m', threshold: 90, tags: { mount_point: '/var' }, agents: ['disk-agent'] })
    await cycle(plus(T, 211))
    t.same((await statesOf(api, filtered)).map((s) => s.series_key), ['mount_point=/var'], 'tags narrow the series')
    await db.deleteFrom('alert_rules').where('id', 'in', [ruleId, filtered]).execute()
  })

  await t.test('label selector: only agents whose labels match', async (t) => {
    const dbAgent = await api.createAgent('db-1', api.adminToken, { labels: { role: 'db', env: 'prod' } })
    const webAgent = await api.createAgent('web-1', api.adminToken, { labels: { role: 'web', env: 'prod' } })
    const ruleId = await createRule(api, { name: 'DB memory', metric: 'memory.usage_percent', window: '1m', threshold: 80, labels: { role: 'db' } })
    for (const a of [dbAgent, webAgent]) await send(api, a, plus(T, 300), { metrics: [metric('memory', 'usage_percent', 95)] })
    await cycle(plus(T, 310))
    const events = await eventsOf(api, ruleId)
    t.same(events.map((e) => e.agent_name), ['db-1'])
    const byList = await createRule(api, { name: 'Listed', metric: 'memory.usage_percent', window: '1m', threshold: 80, agents: [webAgent.id] })
    await cycle(plus(T, 311))
    t.same((await eventsOf(api, byList)).map((e) => e.agent_name), ['web-1'], 'agents by id')
    await db.deleteFrom('alert_rules').where('id', 'in', [ruleId, byList]).execute()
  })

  await t.test('agent.offline: old newest data fires, fresh data resolves, never-reported is not offline', async (t) => {
    const stale = await api.createAgent('stale-agent', api.adminToken, { labels: { group: 'offline-test' } })
    const fresh = await api.createAgent('fresh-agent', api.adminToken, { labels: { group: 'offline-test' } })
    await api.createAgent('never-agent', api.adminToken, { labels: { group: 'offline-test' } })
    const ruleId = await createRule(api, { name: 'Offline', metric: 'agent.offline', window: '60s', labels: { group: 'offline-test' }, channels: [channel], annotations: { summary: '{{agent}} silent for {{value}} s' } })
    const base = plus(T, 400)
    await send(api, stale, plus(base, -120), { metrics: [metric('cpu', 'usage_percent', 1)] })
    await send(api, fresh, plus(base, -5), { metrics: [metric('cpu', 'usage_percent', 1)] })
    await cycle(base)
    const events = await eventsOf(api, ruleId)
    t.same(events.map((e) => [e.agent_name, e.summary]), [['stale-agent', 'stale-agent silent for 120 s']])
    await send(api, stale, plus(base, 10), { metrics: [metric('cpu', 'usage_percent', 1)] })
    await cycle(plus(base, 20))
    t.equal((await eventsOf(api, ruleId))[0].state, 'resolved', 'reporting again resolves it')
    t.same((await outboxOf(api, ruleId)).map((n) => n.kind), ['firing', 'resolved'])
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })

  await t.test('process.absent by name and by cmdline pattern; patterns are data, not SQL', async (t) => {
    const agent = await api.createAgent('proc-agent')
    const byName = await createRule(api, { name: 'nginx absent', metric: 'process.absent', tags: { name: 'nginx' }, window: '1m', agents: ['proc-agent'] })
    const byCmd = await createRule(api, { name: 'worker absent', metric: 'process.absent', tags: { cmdline: '*queue-worker --id=7*' }, window: '1m', agents: ['proc-agent'] })
    const literal = await createRule(api, { name: 'percent absent', metric: 'process.absent', tags: { cmdline: "100%'; drop table alert_rules; --" }, window: '1m', agents: ['proc-agent'] })
    const base = plus(T, 500)
    await send(api, agent, plus(base, -10), {
      processes: [proc(10, 'nginx'), proc(11, 'python3', { cmdline: 'python3 /srv/queue-worker --id=7 --verbose' }), proc(12, 'x', { cmdline: "100%'; drop table alert_rules; --" })],
    })
    await cycle(base)
    for (const id of [byName, byCmd, literal]) t.equal((await eventsOf(api, id)).length, 0, 'present: no alert')
    await send(api, agent, plus(base, 70), { processes: [proc(11, 'python3', { cmdline: 'python3 /srv/queue-worker --id=17' }), proc(12, 'x', { cmdline: "100X'; drop table alert_rules; --" })] })
    await cycle(plus(base, 80))
    t.same((await eventsOf(api, byName)).map((e) => e.state), ['firing'], 'nginx gone')
    t.same((await eventsOf(api, byCmd)).map((e) => e.state), ['firing'], '--id=7 gone (--id=17 does not match)')
    t.same((await eventsOf(api, literal)).map((e) => e.state), ['firing'], '% in a pattern is a literal %')
    t.ok(await db.selectFrom('alert_rules').select('id').where('id', '=', literal).executeTakeFirst(), 'the table is still there')
    await cycle(plus(base, 300))
    t.same((await eventsOf(api, byName)).map((e) => e.state), ['firing'], 'no process list at all in the window: not judged, still firing')
    await send(api, agent, plus(base, 310), { processes: [proc(20, 'nginx'), proc(21, 'python3', { cmdline: 'python3 /srv/queue-worker --id=7' })] })
    await cycle(plus(base, 320))
    t.same((await eventsOf(api, byName)).map((e) => e.state), ['resolved'], 'nginx back: resolved')
    t.same((await eventsOf(api, byCmd)).map((e) => e.state), ['resolved'], 'the --id=7 worker back: resolved')
    t.same((await eventsOf(api, literal)).map((e) => e.state), ['firing'], 'the literal pattern still has no match: firing')
    await db.deleteFrom('alert_rules').where('id', 'in', [byName, byCmd, literal]).execute()
  })

  await t.test('deleting an agent resolves its open alerts, announces them and leaves the other agents\' alone', async (t) => {
    const doomed = await api.createAgent('doomed-agent', api.adminToken, { labels: { del: 'yes' } })
    const kept = await api.createAgent('kept-agent', api.adminToken, { labels: { del: 'yes' } })
    const cpuRule = await createRule(api, issueRule({ name: 'Del CPU', for: '0s', agents: [], labels: { del: 'yes' }, channels: [channel], repeat_interval: null }))
    const memRule = await createRule(api, { name: 'Del memory', metric: 'memory.usage_percent', window: '1m', threshold: 90, for: '0s', labels: { del: 'yes' }, channels: [channel] })
    const base = plus(T, 1500)
    for (const agent of [doomed, kept]) await send(api, agent, plus(base, -10), { metrics: [metric('cpu', 'usage_percent', 99), metric('memory', 'usage_percent', 95)] })
    await cycle(base)
    t.same((await eventsOf(api, cpuRule)).map((e) => [e.agent_name, e.state]), [['doomed-agent', 'firing'], ['kept-agent', 'firing']])
    const heard: string[] = []
    const unlisten = await api.store.listen('hostpulse_alerts', (payload) => heard.push(payload))
    t.teardown(unlisten)
    const firingBefore = (await api.get('/api/v1/alerts/events/summary')).body.firing.total

    t.equal((await api.request('DELETE', `/api/v1/agents/${doomed.id}`, { token: api.adminToken })).status, 204)
    for (const ruleId of [cpuRule, memRule]) {
      const events = await eventsOf(api, ruleId)
      t.match(events.find((e) => e.agent_name === 'doomed-agent'), { state: 'resolved', resolve_comment: 'agent deleted', agent_id: null }, 'the deleted agent\'s alert is resolved')
      t.match(events.find((e) => e.agent_name === 'kept-agent'), { state: 'firing' }, 'the other agent\'s alert still fires')
      const resolved = (await outboxOf(api, ruleId)).filter((n) => n.kind === 'resolved')
      t.equal(resolved.length, 1, 'one resolved notification queued for the deleted agent\'s alert')
    }
    t.same((await db.selectFrom('alert_states').select('agent_id').where('rule_id', 'in', [cpuRule, memRule]).execute()).map((s) => s.agent_id),
      [kept.id, kept.id], 'only the kept agent has states')
    t.equal((await api.get('/api/v1/alerts/events/summary')).body.firing.total, firingBefore - 2, 'the summary no longer counts them')
    await waitFor('the resolved announcements', () => heard.filter((h) => JSON.parse(h).state === 'resolved').length === 2)
    await cycle(plus(base, 20))
    t.same((await eventsOf(api, cpuRule)).map((e) => [e.agent_name, e.state]), [['doomed-agent', 'resolved'], ['kept-agent', 'firing']], 'the next evaluation changes nothing')
    assertError(t, await api.request('DELETE', `/api/v1/agents/${doomed.id}`, { token: api.adminToken }), 404, 'NOT_FOUND', 'deleting it again:')
    await db.deleteFrom('alert_rules').where('id', 'in', [cpuRule, memRule]).execute()
  })

  // One embedded connection cannot race two transactions: the locks are checked as recorded queries, and a
  // deletion in progress on another connection is staged by answering the evaluator's try-lock with false.
  await t.test('an agent deletion locks its organization first; evaluations of its rules skip while it runs', async (t) => {
    const orgLockAt = (queries: string[], shared: boolean) => queries.findIndex((q) =>
      q.includes(shared ? 'pg_try_advisory_xact_lock_shared' : 'select pg_advisory_xact_lock(') && q.includes(`"value":${AGENT_DELETION_NAMESPACE}`) && q.includes(`"value":"${api.orgId}"`))
    const agent = await api.createAgent('lock-agent')
    const rules = [
      await createRule(api, { name: 'Lock B', metric: 'cpu.usage_percent', window: '1m', threshold: 90, agents: ['lock-agent'] }),
      await createRule(api, { name: 'Lock A', metric: 'memory.usage_percent', window: '1m', threshold: 90, agents: ['lock-agent'] }),
    ]
    const base = plus(T, 1700)
    await send(api, agent, plus(base, -5), { metrics: [metric('cpu', 'usage_percent', 99), metric('memory', 'usage_percent', 99)] })

    const busy = recordingDb(db, (query, rows) => { if (query.includes('pg_try_advisory_xact_lock_shared')) for (const row of rows) row.got = false })
    const skipped = await evaluateRule(busy.db, rules[0], base, base)
    t.equal(skipped.evaluated, false, 'a deletion holds the organization: the rule is skipped')
    t.ok(orgLockAt(busy.queries, true) > 0, 'after trying the shared organization lock')
    t.same(await statesOf(api, rules[0]), [], 'nothing written')
    t.equal((await db.selectFrom('alert_rules').select('last_evaluated_at').where('id', '=', rules[0]).executeTakeFirstOrThrow()).last_evaluated_at, null, 'still due')

    await cycle(base)
    t.equal((await statesOf(api, rules[0])).length, 1, 'control: without a deletion it is evaluated (and fires)')
    const recorded = recordingDb(db)
    await recorded.db.transaction().execute((trx) => retireAgentAlerts(trx, api.orgId, agent.id, 'test', plus(base, 1)))
    const q = recorded.queries
    const firstWrite = q.findIndex((x) => x.includes('UpdateQueryNode') || x.includes('DeleteQueryNode'))
    const ruleLocks = [...rules].sort().map((id) => ruleLockAt(q, LOCK_NAMESPACE, id))
    t.equal(orgLockAt(q, false), 0, 'the exclusive organization lock comes first')
    t.ok(ruleLocks.every((at, i) => at > 0 && (i === 0 || at > ruleLocks[i - 1])), `then the rules' locks in id order (${ruleLocks.join(', ')})`)
    t.ok(firstWrite > Math.max(...ruleLocks), 'all before the first write')
    await db.deleteFrom('alert_rules').where('id', 'in', rules).execute()
  })

  await t.test('no_data: a reporting agent without samples of the metric', async (t) => {
    const withIt = await api.createAgent('nd-with', api.adminToken, { labels: { nd: 'yes' } })
    const without = await api.createAgent('nd-without', api.adminToken, { labels: { nd: 'yes' } })
    const ruleId = await createRule(api, { name: 'No temperature', metric: 'sensors.temp_c', kind: 'no_data', window: '1m', labels: { nd: 'yes' } })
    const base = plus(T, 600)
    await send(api, withIt, plus(base, -10), { metrics: [metric('sensors', 'temp_c', 40)] })
    await send(api, without, plus(base, -10), { metrics: [metric('cpu', 'usage_percent', 40)] })
    await cycle(base)
    t.same((await eventsOf(api, ruleId)).map((e) => e.agent_name), ['nd-without'])
    await send(api, without, plus(base, 5), { metrics: [metric('sensors', 'temp_c', 41)] })
    await cycle(plus(base, 20))
    t.same((await eventsOf(api, ruleId)).map((e) => e.state), ['resolved'])
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })

  await t.test('missing data keeps a firing threshold alert firing', async (t) => {
    const agent = await api.createAgent('gap-agent')
    const ruleId = await createRule(api, { name: 'Gap', metric: 'memory.usage_percent', window: '1m', threshold: 80, agents: ['gap-agent'] })
    const base = plus(T, 700)
    await send(api, agent, plus(base, -5), { metrics: [metric('memory', 'usage_percent', 99)] })
    await cycle(base)
    await cycle(plus(base, 120))
    await cycle(plus(base, 240))
    t.same((await eventsOf(api, ruleId)).map((e) => e.state), ['firing'], 'no data for 4 minutes: still firing')
    t.equal((await statesOf(api, ruleId))[0].state, 'firing')
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })

  await t.test('a series gone from an agent that still reports resolves; an agent reporting nothing keeps its alert', async (t) => {
    const agent = await api.createAgent('unmount-agent')
    const quiet = await api.createAgent('unmount-quiet')
    const ruleId = await createRule(api, {
      name: 'Disk gone', metric: 'disk.usage_percent', aggregation: 'last', window: '1m', threshold: 90, agents: ['unmount-agent', 'unmount-quiet'], channels: [channel],
    })
    const base = plus(T, 750)
    await send(api, agent, plus(base, -5), { disks: [disk('/', { usage_percent: 40 }), disk('/mnt/usb', { usage_percent: 97 })] })
    await send(api, quiet, plus(base, -5), { disks: [disk('/', { usage_percent: 40 }), disk('/mnt/usb', { usage_percent: 97 })] })
    await cycle(base)
    t.same((await eventsOf(api, ruleId)).map((e) => [e.agent_name, e.state]), [['unmount-agent', 'firing'], ['unmount-quiet', 'firing']])
    await send(api, agent, plus(base, 70), { disks: [disk('/', { usage_percent: 41 })] }) // /mnt/usb unmounted; quiet sends nothing
    await cycle(plus(base, 80))
    const events = await eventsOf(api, ruleId)
    t.same(events.map((e) => [e.agent_name, e.state]), [['unmount-agent', 'resolved'], ['unmount-quiet', 'firing']],
      'the unmounted disk resolves; the silent agent is agent.offline\'s business')
    t.same((await outboxOf(api, ruleId)).filter((n) => n.kind === 'resolved').map((n) => n.event_id), [events[0].id], 'its end is notified')
    t.same((await statesOf(api, ruleId)).map((s) => s.state).sort(), ['firing', 'resolved'])
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })

  await t.test('resolved is queued only when this evaluation closed the event (not when a manual resolve got there first)', async (t) => {
    const agent = await api.createAgent('race-agent')
    const ruleId = await createRule(api, { name: 'Race', metric: 'memory.usage_percent', window: '1m', threshold: 80, agents: ['race-agent'], channels: [channel] })
    const base = plus(T, 780)
    await send(api, agent, plus(base, -5), { metrics: [metric('memory', 'usage_percent', 99)] })
    await cycle(base)
    const [event] = await eventsOf(api, ruleId)
    t.equal(event.state, 'firing')
    // Resolved by hand after the evaluator read the states: the read still shows the event firing.
    await db.updateTable('alert_events').set({ state: 'resolved', resolved_at: plus(base, 10) }).where('id', '=', event.id).execute()
    const stale = recordingDb(db, (query, rows) => {
      if (query.includes('from alert_states s')) for (const row of rows) if (row.event_id === event.id) row.event_state = 'firing'
    })
    await send(api, agent, plus(base, 20), { metrics: [metric('memory', 'usage_percent', 10)] })
    const outcome = await evaluateRule(stale.db, ruleId, plus(base, 30), plus(base, 30)) // the 1m window holds the 99 and the 10: below
    t.ok(outcome.evaluated)
    t.equal(outcome.closed, 0, 'the event was already closed')
    t.same((await outboxOf(api, ruleId)).map((n) => n.kind), ['firing'], 'no second resolved notification')
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })

  await t.test('silence: history written, notification held back until the silence ends', async (t) => {
    const agent = await api.createAgent('quiet-agent', api.adminToken, { labels: { team: 'infra' } })
    const ruleId = await createRule(api, { name: 'Quiet', metric: 'memory.usage_percent', window: '1m', threshold: 80, agents: ['quiet-agent'], channels: [channel] })
    const base = plus(T, 800)
    const silence = await db.insertInto('silences').values({
      org_id: api.orgId, matchers: JSON.stringify({ agent: 'quiet-agent', labels: { team: 'infra' } }), starts_at: plus(base, -60), ends_at: plus(base, 30), comment: 'maintenance',
    }).returning('id').executeTakeFirstOrThrow()
    await send(api, agent, plus(base, -5), { metrics: [metric('memory', 'usage_percent', 99)] })
    await cycle(base)
    t.same((await eventsOf(api, ruleId)).map((e) => e.state), ['firing'], 'the event is written')
    t.equal((await outboxOf(api, ruleId)).length, 0, 'no notification while silenced')
    await send(api, agent, plus(base, 25), { metrics: [metric('memory', 'usage_percent', 99)] })
    await cycle(plus(base, 40))
    t.same((await outboxOf(api, ruleId)).map((n) => n.kind), ['firing'], 'notified once the silence ended, still firing')
    await cycle(plus(base, 60))
    t.equal((await outboxOf(api, ruleId)).length, 1, 'once')
    await db.deleteFrom('silences').where('id', '=', silence.id).execute()
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })

  await t.test('acknowledged: no repeats until the acknowledgement expires', async (t) => {
    const agent = await api.createAgent('ack-agent')
    const ruleId = await createRule(api, { name: 'Ack', metric: 'memory.usage_percent', window: '10m', threshold: 80, agents: ['ack-agent'], channels: [channel], repeat_interval: '1m' })
    const base = plus(T, 900)
    await send(api, agent, plus(base, -5), { metrics: [metric('memory', 'usage_percent', 99)] })
    await cycle(base)
    await cycle(plus(base, 60))
    t.same((await outboxOf(api, ruleId)).map((n) => n.kind), ['firing', 'repeat'], 'repeats every minute')
    const [event] = await eventsOf(api, ruleId)
    await db.updateTable('alert_events').set({ acknowledged_at: plus(base, 61), ack_expires_at: plus(base, 200) }).where('id', '=', event.id).execute()
    await cycle(plus(base, 120))
    await cycle(plus(base, 180))
    t.equal((await outboxOf(api, ruleId)).length, 2, 'no repeat while acknowledged')
    await cycle(plus(base, 240))
    t.same((await outboxOf(api, ruleId)).map((n) => n.kind), ['firing', 'repeat', 'repeat'], 'repeats resume after expiry')
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })

  await t.test('a manual resolve (event resolved, state reset) is tolerated: the alert starts over', async (t) => {
    const agent = await api.createAgent('manual-agent')
    const ruleId = await createRule(api, { name: 'Manual', metric: 'memory.usage_percent', window: '10m', threshold: 80, agents: ['manual-agent'], channels: [channel] })
    const base = plus(T, 1200)
    await send(api, agent, plus(base, -5), { metrics: [metric('memory', 'usage_percent', 99)] })
    await cycle(base)
    const [event] = await eventsOf(api, ruleId)
    await db.updateTable('alert_events').set({ state: 'resolved', resolved_at: plus(base, 1) }).where('id', '=', event.id).execute()
    await db.updateTable('alert_states').set({ state: 'inactive', event_id: null }).where('rule_id', '=', ruleId).execute()
    await cycle(plus(base, 20))
    const events = await eventsOf(api, ruleId)
    t.same(events.map((e) => e.state), ['resolved', 'firing'], 'still above threshold: a new event')
    t.equal(events[0].resolved_at?.getTime(), plus(base, 1).getTime(), 'the manual resolution is left as it was')
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })

  await t.test('an error in one rule is recorded on it and never stops the others', async (t) => {
    const agent = await api.createAgent('err-agent')
    const broken = await db.insertInto('alert_rules').values({
      org_id: api.orgId, name: 'Broken', metric: 'disk.no_such_field', threshold: 1, labels: '{}', tags: '{}', annotations: '{}', agents: ['err-agent'],
    }).returning('id').executeTakeFirstOrThrow()
    const good = await createRule(api, { name: 'Good', metric: 'memory.usage_percent', window: '1m', threshold: 80, agents: ['err-agent'] })
    const base = plus(T, 1300)
    await send(api, agent, plus(base, -5), { metrics: [metric('memory', 'usage_percent', 99)] })
    const result = await cycle(base)
    t.ok(result.errors >= 1, 'the broken rule failed')
    t.equal((await eventsOf(api, good)).length, 1, 'the good rule still fired')
    const row = await db.selectFrom('alert_rules').select(['last_evaluation_error', 'last_evaluated_at']).where('id', '=', broken.id).executeTakeFirstOrThrow()
    t.match(row.last_evaluation_error, /no_such_field/)
    t.ok(row.last_evaluated_at, 'it waits an interval before the next try')
    const shown = await api.get(`/api/v1/alerts/${broken.id}`)
    t.match(shown.body.last_evaluation_error, /no_such_field/, 'the API shows why')
    await db.deleteFrom('alert_rules').where('id', 'in', [broken.id, good]).execute()
  })

  await t.test('warning then critical: escalation updates the event and notifies', async (t) => {
    const agent = await api.createAgent('esc-agent')
    const ruleId = await createRule(api, { name: 'Esc', metric: 'memory.usage_percent', aggregation: 'last', window: '1m', threshold: 90, warning_threshold: 75, agents: ['esc-agent'], channels: [channel] })
    const base = plus(T, 1400)
    await send(api, agent, plus(base, -5), { metrics: [metric('memory', 'usage_percent', 80)] })
    await cycle(base)
    t.match((await eventsOf(api, ruleId))[0], { severity: 'warning', threshold: 75 })
    await send(api, agent, plus(base, 10), { metrics: [metric('memory', 'usage_percent', 95)] })
    await cycle(plus(base, 20))
    const events = await eventsOf(api, ruleId)
    t.equal(events.length, 1, 'the same event')
    t.match(events[0], { severity: 'critical', threshold: 90, value: 95 })
    t.same((await outboxOf(api, ruleId)).map((n) => n.kind), ['firing', 'firing'], 'escalation notifies')
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })

  await t.test('an escalation a silence muted is told once the silence ends, once', async (t) => {
    const agent = await api.createAgent('esc-quiet-agent')
    const ruleId = await createRule(api, { name: 'EscQuiet', metric: 'memory.usage_percent', aggregation: 'last', window: '1m', threshold: 90, warning_threshold: 75, agents: ['esc-quiet-agent'], channels: [channel] })
    const base = plus(T, 1600)
    await send(api, agent, plus(base, -5), { metrics: [metric('memory', 'usage_percent', 80)] })
    await cycle(base)
    t.same((await outboxOf(api, ruleId)).map((n) => n.kind), ['firing'], 'the warning is told')
    t.match((await statesOf(api, ruleId))[0], { severity: 'warning', notified_severity: 'warning' })
    const silence = await db.insertInto('silences').values({
      org_id: api.orgId, matchers: JSON.stringify({ agent: 'esc-quiet-agent' }), starts_at: plus(base, 5), ends_at: plus(base, 45), comment: 'maintenance',
    }).returning('id').executeTakeFirstOrThrow()
    await send(api, agent, plus(base, 10), { metrics: [metric('memory', 'usage_percent', 95)] })
    await cycle(plus(base, 20))
    t.match((await eventsOf(api, ruleId))[0], { severity: 'critical', value: 95 }, 'the event follows the escalation')
    t.equal((await outboxOf(api, ruleId)).length, 1, 'nothing told while silenced')
    t.match((await statesOf(api, ruleId))[0], { severity: 'critical', notified_severity: 'warning' }, 'the state remembers what was told')
    await send(api, agent, plus(base, 40), { metrics: [metric('memory', 'usage_percent', 96)] })
    await cycle(plus(base, 50))
    t.same((await outboxOf(api, ruleId)).map((n) => n.kind), ['firing', 'firing'], 'the escalation is told once the silence ended')
    t.match((await statesOf(api, ruleId))[0], { severity: 'critical', notified_severity: 'critical' })
    await cycle(plus(base, 70))
    t.equal((await outboxOf(api, ruleId)).length, 2, 'and only once')
    await db.deleteFrom('silences').where('id', '=', silence.id).execute()
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })

  await t.test('fired inside a silence and acknowledged at warning: an escalation the silence muted is told when it ends', async (t) => {
    const agent = await api.createAgent('esc-acked-agent')
    const ruleId = await createRule(api, { name: 'EscAcked', metric: 'memory.usage_percent', aggregation: 'last', window: '1m', threshold: 90, warning_threshold: 75, agents: ['esc-acked-agent'], channels: [channel] })
    const base = plus(T, 1750)
    const silence = await db.insertInto('silences').values({
      org_id: api.orgId, matchers: JSON.stringify({ agent: 'esc-acked-agent' }), starts_at: plus(base, -60), ends_at: plus(base, 45), comment: 'maintenance',
    }).returning('id').executeTakeFirstOrThrow()
    await send(api, agent, plus(base, -5), { metrics: [metric('memory', 'usage_percent', 80)] })
    await cycle(base)
    const [event] = await eventsOf(api, ruleId)
    t.match(event, { state: 'firing', severity: 'warning' })
    t.equal((await api.post(`/api/v1/alerts/events/${event.id}/ack`, {}, { token: api.adminToken })).status, 200, 'acknowledged')
    t.match((await eventsOf(api, ruleId))[0], { acknowledged_severity: 'warning' }, 'at the severity it was at')
    await send(api, agent, plus(base, 10), { metrics: [metric('memory', 'usage_percent', 95)] })
    await cycle(plus(base, 20))
    t.match((await eventsOf(api, ruleId))[0], { severity: 'critical', acknowledged_severity: 'warning' })
    t.equal((await outboxOf(api, ruleId)).length, 0, 'nothing told while silenced')
    await send(api, agent, plus(base, 40), { metrics: [metric('memory', 'usage_percent', 96)] })
    await cycle(plus(base, 50))
    t.same((await outboxOf(api, ruleId)).map((n) => n.kind), ['firing'], 'the escalation is told once the silence ended, though acknowledged')
    await cycle(plus(base, 70))
    t.equal((await outboxOf(api, ruleId)).length, 1, 'once')
    await db.deleteFrom('silences').where('id', '=', silence.id).execute()
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })

  await t.test('long windows read the minute aggregate and agree with raw rows', async (t) => {
    const agent = await api.createAgent('long-agent')
    const ruleId = await createRule(api, { name: 'Long', metric: 'cpu.usage_percent', aggregation: 'avg', window: '2h', threshold: 50, agents: ['long-agent'] })
    const base = plus(T, 1500)
    // One sample a minute for 2 hours, inserted set-based (the API would take 120 requests).
    await sql`insert into metrics (time, org_id, agent_id, metric_type, metric_name, value, tags)
      select ${base}::timestamptz - g * interval '1 minute', ${api.orgId}::uuid, ${agent.id}::uuid, 'cpu', 'usage_percent', 40 + (g % 30), '{}'::jsonb
      from generate_series(0, 119) g`.execute(db)
    await db.updateTable('agents').set({ last_metrics_at: base }).where('id', '=', agent.id).execute()
    await cycle(plus(base, 1))
    const [state] = await statesOf(api, ruleId)
    const { rows: [raw] } = await sql<{ v: number }>`select avg(value)::float8 as v from metrics where agent_id = ${agent.id}::uuid and time > ${plus(base, 1 - 7200)}::timestamptz`.execute(db)
    t.ok(state, 'evaluated')
    t.ok(Math.abs(state.value! - raw.v) < 1, `aggregate avg ${state.value} ≈ raw avg ${raw.v}`)
    await db.deleteFrom('alert_rules').where('id', '=', ruleId).execute()
  })
})
