// The evaluation loop inside real apps: new data is evaluated within about a second (not an interval
// later), two instances on one database produce one event and one notification, a restart while firing
// neither forgets the alert nor notifies it again, and the loop's Prometheus metrics are exported.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../services/api/app.ts'
import { ACCESS_TTL, GENEROUS_LIMITS, JWT_SECRET, REFRESH_TTL, makeBatch, metric, request, startClient, type TestClient } from '../test-client.ts'
import { listenAppWith } from '../query/query-helpers.ts'
import { addChannel, silentLog, waitFor } from './evaluation-helpers.ts'
import { evaluateRule } from '../../services/alerting/evaluate-rule.ts'
import { EvaluationLoop } from '../../services/alerting/evaluation-loop.ts'
import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../../services/store/database.ts'


const evaluating = { alerting: { evaluate: true, tickMs: 200, ingestDebounceMs: 300 } }
/** The loop's default dataTriggerGapMs (evaluation-loop.ts): new data re-evaluates a rule this long after its last evaluation at the soonest. */
const DATA_TRIGGER_GAP_MS = 2000
/** Slack for a slow, busy machine on top of the loop's own delays. */
const SLACK_MS = 5000

async function evaluatingApp(api: TestClient) {
  const app = await buildApp({ store: api.store, jwtSecret: JWT_SECRET, accessTtlSeconds: ACCESS_TTL, refreshTtlSeconds: REFRESH_TTL, ...GENEROUS_LIMITS, ...evaluating })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app
}

const cpu = (value: number) => makeBatch({ metrics: [metric('cpu', 'usage_percent', value)], disks: [], networks: [], processes: [] })

t.test('evaluateRule: of two evaluations of one rule at once, exactly one runs', async (t) => {
  const api = await startClient(t)
  const rule = await api.post('/api/v1/alerts', { name: 'Once', metric: 'cpu.usage_percent', threshold: 90 }, { token: api.adminToken })
  const now = new Date()
  const staleBefore = new Date(now.getTime() - 15_000 + 1)
  const outcomes = await Promise.all([1, 2, 3].map(() => evaluateRule(api.store.db, rule.body.id, now, staleBefore)))
  t.same(outcomes.map((o) => o.evaluated).sort(), [false, false, true])
})

/** `db` whose every transaction runs inside `around` (which calls `run` to run it). */
function aroundTransactions(db: Kysely<Database>, around: <T>(run: () => Promise<T>) => Promise<T>) {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'transaction') {
        return () => {
          const builder = target.transaction()
          return { execute: <T>(fn: (trx: Transaction<Database>) => Promise<T>) => around(() => builder.execute(fn)) }
        }
      }
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/** `db` whose transactions are counted while they run (started, not yet committed or rolled back). */
function countingTransactions(db: Kysely<Database>) {
  const seen = { inFlight: 0, max: 0, total: 0 }
  const counted = aroundTransactions(db, async (run) => {
    seen.total++
    seen.max = Math.max(seen.max, ++seen.inFlight)
    try { return await run() } finally { seen.inFlight-- }
  })
  return { db: counted, seen }
}

t.test('concurrency: due rules are shared by that many workers, each evaluated once, a failing one stopping none', async (t) => {
  const api = await startClient(t)
  const db = api.store.db
  const agent = await api.createAgent('pool-agent')
  t.equal((await api.ingest(agent.api_key, cpu(95))).status, 202)
  const ids: string[] = []
  for (let i = 0; i < 6; i++) {
    const res = await api.post('/api/v1/alerts', { name: `Pool ${i}`, metric: 'cpu.usage_percent', window: '5m', threshold: 50 + i, agents: ['pool-agent'] }, { token: api.adminToken })
    t.equal(res.status, 201)
    ids.push(res.body.id)
  }
  const broken = await db.insertInto('alert_rules').values({
    org_id: api.orgId, name: 'Pool broken', metric: 'disk.no_such_field', threshold: 1, labels: '{}', tags: '{}', annotations: '{}', agents: ['pool-agent'],
  }).returning('id').executeTakeFirstOrThrow()
  const all = [...ids, broken.id]

  for (const [concurrency, expectedMax] of [[undefined, 1], [3, 3]] as const) {
    await db.updateTable('alert_rules').set({ last_evaluated_at: null, last_evaluation_error: null }).where('id', 'in', all).execute()
    const counting = countingTransactions(db)
    const loop = new EvaluationLoop(counting.db, silentLog, undefined, { concurrency })
    const result = await loop.runCycle()
    t.match(result, { rules: 7, evaluated: 6, errors: 1 }, `concurrency ${concurrency ?? 'default'}: every due rule once, the broken one counted as an error`)
    t.equal(counting.seen.total, 7, 'one transaction per rule')
    t.equal(counting.seen.max, expectedMax, `at most ${expectedMax} evaluation(s) at once, and that many`)
    const rows = await db.selectFrom('alert_rules').select(['id', 'last_evaluated_at', 'last_evaluation_error']).where('id', 'in', all).execute()
    t.ok(rows.every((r) => r.last_evaluated_at !== null), 'each rule is marked evaluated')
    t.match(rows.find((r) => r.id === broken.id)?.last_evaluation_error, /no_such_field/, 'the error is on the broken rule')
  }
  const events = await db.selectFrom('alert_events').select('rule_id').where('rule_id', 'in', ids).execute()
  t.same(events.map((e) => e.rule_id).sort(), [...ids].sort(), 'each rule fired once: the second cycle kept the events of the first')

  // Two loops of 3 workers each over the same due rules: every rule is evaluated by exactly one of them.
  await db.updateTable('alert_rules').set({ last_evaluated_at: null }).where('id', 'in', all).execute()
  const [a, b] = await Promise.all([1, 2].map(() => new EvaluationLoop(db, silentLog, undefined, { concurrency: 3 }).runCycle()))
  t.equal(a.evaluated + a.errors + b.evaluated + b.errors, 7, `${a.evaluated + a.errors} + ${b.evaluated + b.errors} evaluations: seven in all`)
})

/** `db` whose transactions each take at least `ms` longer: evaluation cycles as long as a large fleet's. */
const slowTransactions = (db: Kysely<Database>, ms: number) =>
  aroundTransactions(db, async (run) => { await new Promise((resolve) => setTimeout(resolve, ms)); return run() })

t.test('long evaluation cycles widen the data trigger gap, never past a rule\'s interval', async (t) => {
  const api = await startClient(t)
  const db = api.store.db
  const agent = await api.createAgent('slow-agent')
  t.equal((await api.ingest(agent.api_key, cpu(95))).status, 202)
  const rule = await api.post('/api/v1/alerts', { name: 'Slow', metric: 'cpu.usage_percent', window: '5m', threshold: 50, interval: '1m', agents: ['slow-agent'] }, { token: api.adminToken })
  t.equal(rule.status, 201)
  const slow = slowTransactions(db, 400)
  // share 0.02: data-triggered cycles may take 2 % of the time; one 400 ms cycle (a fifth of it in the moving
  // average) then keeps new data away for about 4 s.
  for (const [share, dueAfter3s] of [[0.02, false], [undefined, true]] as const) {
    let now = Date.now() + 1_000
    const clock = () => new Date(now)
    await db.updateTable('alert_rules').set({ last_evaluated_at: null }).where('id', '=', rule.body.id).execute()
    // Not started, and the data's debounced tick an hour away: cycles run only here.
    const loop = new EvaluationLoop(slow, silentLog, undefined, { clock, dataTriggerShare: share, ingestDebounceMs: 3_600_000 })
    t.teardown(() => loop.stop())
    t.match(await loop.runCycle(), { evaluated: 1 }, 'evaluated once, by schedule')
    const gap = loop.dataTriggerGapMs()
    if (share === undefined) t.equal(gap, DATA_TRIGGER_GAP_MS, `default share 0.1: one 400 ms cycle leaves the ${DATA_TRIGGER_GAP_MS} ms gap`)
    else t.ok(gap > 3_000, `share ${share}: the gap widened to ${gap} ms after a cycle of 400+ ms`)
    now += 3_000
    loop.dataArrived(api.orgId)
    t.match(await loop.runCycle(), { evaluated: dueAfter3s ? 1 : 0 }, `data 3 s after the evaluation ${dueAfter3s ? 'makes the rule due' : 'does not make it due yet'}`)
    now += 60_000
    t.match(await loop.runCycle(), { evaluated: 1 }, 'its 1-minute interval still brings it round')
  }
})

t.test('the evaluation loop in running apps', async (t) => {
  const api = await startClient(t)
  const db = api.store.db
  const channel = await addChannel(db, api.orgId, 'ops')
  const events = (ruleId: string) => db.selectFrom('alert_events').selectAll().where('rule_id', '=', ruleId).execute()
  const outbox = (ruleId: string) => db.selectFrom('alert_notifications').selectAll().where('rule_id', '=', ruleId).execute()
  /** A sample of `app`'s own /metrics (NaN when it has none). */
  const scraped = async (app: FastifyInstance, name: string) => {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${api.adminToken}` } })
    return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(res.body)?.[1] ?? NaN)
  }
  const evaluatedAt = async (ruleId: string) => (await db.selectFrom('alert_rules').select('last_evaluated_at').where('id', '=', ruleId).executeTakeFirstOrThrow()).last_evaluated_at

  await t.test('new data is evaluated at once: a for 0s rule with a 1 h interval fires within a few seconds of the ingest', async (t) => {
    const app = await evaluatingApp(api)
    t.teardown(() => app.close())
    const agent = await api.createAgent('fast-agent')
    const rule = await api.post('/api/v1/alerts', { name: 'Fast', metric: 'cpu.usage_percent', window: '1m', threshold: 90, interval: '1h', agents: ['fast-agent'], channels: [channel] }, { token: api.adminToken })
    t.equal(rule.status, 201)
    const ruleId = rule.body.id
    const first = await waitFor('the first evaluation', () => evaluatedAt(ruleId))
    // The gap is 2 s unless slow cycles widened it (a loaded machine's first cycles): the bound takes the loop's own.
    const gapMs = async () => 1000 * await scraped(app, 'hostpulse_alert_data_trigger_gap_seconds')
    const gapBefore = await gapMs()
    t.equal((await api.ingest(agent.api_key, cpu(97))).status, 202)
    const sent = Date.now()
    const [event] = await waitFor('the firing event', async () => { const e = await events(ruleId); return e.length > 0 && e }, 20_000)
    const delay = Date.now() - sent
    // The rule was evaluated just before the ingest: the data makes it due again after the data trigger's gap,
    // seen by the debounced evaluation or the next tick. Its schedule would take an hour.
    const gap = Math.max(DATA_TRIGGER_GAP_MS, gapBefore, await gapMs())
    const bound = gap + evaluating.alerting.ingestDebounceMs + evaluating.alerting.tickMs + SLACK_MS
    t.ok(delay < bound, `fired ${delay} ms after the ingest, within ${bound} ms (interval is 1 h; data trigger gap ${gap} ms, debounce ${evaluating.alerting.ingestDebounceMs} ms)`)
    t.equal(event.state, 'firing')
    t.ok((await evaluatedAt(ruleId))! > first, 'evaluated again because of the data, not the schedule')
    t.equal((await outbox(ruleId)).length, 1)
    await app.close()
  })

  await t.test('two instances on one database: one event, one notification; a restart while firing sends nothing again', async (t) => {
    const a = await evaluatingApp(api)
    const b = await listenAppWith(t, api, evaluating)
    const agent = await api.createAgent('shared-agent')
    const rule = await api.post('/api/v1/alerts', { name: 'Shared', metric: 'cpu.usage_percent', window: '1m', threshold: 90, interval: '1s', agents: ['shared-agent'], channels: [channel], repeat_interval: '1h' }, { token: api.adminToken })
    const ruleId = rule.body.id
    t.equal((await api.ingest(agent.api_key, cpu(95))).status, 202)
    await waitFor('the firing event', async () => (await events(ruleId)).length > 0, 10_000)
    // Let both instances run several more cycles over the same firing alert.
    const seen = await evaluatedAt(ruleId)
    await waitFor('three more evaluations', async () => ((await evaluatedAt(ruleId))!.getTime() - seen!.getTime()) >= 3000, 15_000)
    t.equal((await events(ruleId)).length, 1, 'one event, not one per instance')
    t.equal((await outbox(ruleId)).length, 1, 'one notification')
    // Exactly one evaluates each time the rule is due: together they evaluate about once a second, not twice.
    const counted = async () => await scraped(a, 'hostpulse_alert_rules_evaluated_total') + await scraped(b.app, 'hostpulse_alert_rules_evaluated_total')
    const n0 = await counted()
    const t0 = Date.now()
    await new Promise((resolve) => setTimeout(resolve, 4000)) // a fixed span to count evaluations in
    const n1 = await counted()
    const span = (Date.now() - t0) / 1000
    t.ok(n1 - n0 <= Math.ceil(span) + 1, `${n1 - n0} evaluations in ${span.toFixed(1)} s by two instances (interval 1 s)`)
    t.ok(n1 - n0 >= 2, 'but they do evaluate')

    await a.close()
    const { app: c } = await listenAppWith(t, api, evaluating)
    t.ok(c, 'restarted instance')
    // Counted by the restarted instance itself, from when it is alone: on a slow machine its first cycle can come
    // 2 s after the last one of the closed instances (so the rule's timestamp alone may move 2 s on one
    // evaluation), and it may have evaluated before the other instance finished closing.
    const evaluatedByC = () => scraped(c, 'hostpulse_alert_rules_evaluated_total')
    await b.app.close()
    const before = await evaluatedAt(ruleId)
    const alone = await evaluatedByC()
    await waitFor('two more evaluations by the restarted instance, alone', async () =>
      (await evaluatedByC()) >= alone + 2 && (await evaluatedAt(ruleId))! > before!, 15_000)
    const [state] = await db.selectFrom('alert_states').selectAll().where('rule_id', '=', ruleId).execute()
    t.equal(state.state, 'firing', 'the restarted instance still knows it fires')
    t.equal((await events(ruleId)).length, 1, 'no second event')
    t.equal((await outbox(ruleId)).length, 1, 'no second notification')

    const metrics = await request(`http://127.0.0.1:${(c.server.address() as { port: number }).port}`, 'GET', '/metrics', { token: api.adminToken })
    t.equal(metrics.status, 200)
    for (const name of ['hostpulse_alert_evaluation_seconds_count', 'hostpulse_alert_rules_evaluated_total', 'hostpulse_alert_evaluation_errors_total']) {
      t.match(metrics.text, new RegExp(`^${name} \\d+`, 'm'), `${name} exported`)
    }
    const firing = /^hostpulse_alerts_firing (\d+)/m.exec(metrics.text)
    t.ok(firing && Number(firing[1]) >= 1, `hostpulse_alerts_firing ${firing?.[1]}`)
    const evaluated = /^hostpulse_alert_rules_evaluated_total (\d+)/m.exec(metrics.text)
    t.ok(evaluated && Number(evaluated[1]) >= 2, 'the restarted instance counted its evaluations')
  })
})
