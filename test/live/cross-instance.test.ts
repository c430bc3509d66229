// Two API instances on one database: an ingest through instance A reaches the WebSocket clients of
// instance B.
//
// What this proves: A and B are two separate apps (each its own ingest feed, live plugin, HTTP server)
// that share only the Store, i.e. the database. A's feed delivers in process to A's own listeners only;
// the one way an event reaches B's listeners is B's LISTEN on `hostpulse_ingest`, fed by the NOTIFY
// that A issues as SQL (`select pg_notify(...)`) and that PostgreSQL (here the embedded engine's own
// LISTEN/NOTIFY, in its worker thread) delivers at commit. Instance C, on the same store but with
// `listen: false`, is the control: it gets nothing, so no in-process shortcut carries the event. The
// server backend uses the same feed and plugin code; its dedicated LISTEN connection is tested against a
// real PostgreSQL in test/store/notification-listener.test.ts.
import t from 'tap'
import { sql } from 'kysely'
import { bootstrapAdmin } from '../../services/auth/bootstrap-admin.ts'
import { INGEST_CHANNEL } from '../../services/bus/ingest-bus.ts'
import { ALERTS_CHANNEL } from '../../services/bus/alert-bus.ts'
import { ADMIN, makeBatch, metric, minutesAgo, openTestStore } from '../test-client.ts'
import { connectWs, clientOn, listenApp } from './live-helpers.ts'

const store = await openTestStore(t)
const { orgId } = await bootstrapAdmin(store.db, ADMIN.username, ADMIN.password)
const a = await listenApp(t, store, { live: { listen: true } })
const b = await listenApp(t, store, { live: { listen: true } })
const c = await listenApp(t, store, { live: { listen: false } })
const apiA = clientOn(a.app, store, a.url, orgId)
apiA.adminToken = (await apiA.login(ADMIN.username, ADMIN.password)).token
const token = apiA.adminToken
const wsB = b.url.replace(/^http/, 'ws')
const wsC = c.url.replace(/^http/, 'ws')

t.test('an ingest through A reaches the clients of B through LISTEN/NOTIFY, and not C (not listening)', async (t) => {
  const agent = await apiA.createAgent('multi-01')
  const raw: string[] = []
  const unlisten = await store.listen(INGEST_CHANNEL, (payload) => raw.push(payload))
  t.teardown(unlisten)

  const metricsOnB = await connectWs(t, `${wsB}/ws/metrics/multi-01?token=${token}`)
  const fleetOnB = await connectWs(t, `${wsB}/ws/live?token=${token}`)
  const metricsOnC = await connectWs(t, `${wsC}/ws/metrics/multi-01?token=${token}`)
  await metricsOnB.waitFor((m) => m.type === 'metrics')
  await fleetOnB.waitFor((m) => m.type === 'snapshot')
  await metricsOnC.waitFor((m) => m.type === 'metrics')

  const time = minutesAgo(0)
  const started = Date.now()
  await apiA.ingestOk(agent.api_key, makeBatch({ time, metrics: [metric('cpu', 'usage_percent', 42.5)] }))
  const value = await metricsOnB.waitFor((m) => m.type === 'metrics' && m.data['cpu.usage_percent']?.value === 42.5)
  t.comment(`ingest on A → value on B: ${Date.now() - started} ms`)
  t.equal(value.data['cpu.usage_percent'].timestamp, time, 'B\'s client got the value ingested through A')
  const summary = await fleetOnB.waitFor((m) => m.type === 'agent' && m.agent.agent_id === agent.id)
  t.equal(summary.agent.cpu, 42.5, 'and B\'s fleet stream the agent\'s summary')

  t.equal(raw.length, 1, 'one NOTIFY per ingest request')
  const notified = JSON.parse(raw[0])
  t.same(Object.keys(notified).sort(), ['agent_id', 'agent_name', 'org_id', 'src', 'time'], 'the payload holds ids, never values')
  t.match(notified, { org_id: orgId, agent_id: agent.id, agent_name: 'multi-01', time })

  // The control: give C's client the same time B needed, and then some; then a later ingest shows C is alive.
  await new Promise((r) => setTimeout(r, 500))
  t.notOk(metricsOnC.messages.some((m) => m.data?.['cpu.usage_percent']?.value === 42.5), 'C (listen: false) did not get A\'s ingest')
  await apiA.ingestOk(agent.api_key, makeBatch({ time: new Date(Date.parse(time) + 1000).toISOString(), metrics: [metric('cpu', 'usage_percent', 43.5)] }))
  await metricsOnB.waitFor((m) => m.type === 'metrics' && m.data['cpu.usage_percent']?.value === 43.5)
  t.ok(a.app.live.stats().listening && b.app.live.stats().listening && !c.app.live.stats().listening, 'listening as configured')
})

t.test('an ingest through B reaches A\'s clients the same way, exactly once', async (t) => {
  const apiB = clientOn(b.app, store, b.url, orgId, token)
  const agent = await apiB.createAgent('multi-02')
  const onA = await connectWs(t, `${a.url.replace(/^http/, 'ws')}/ws/metrics/multi-02?token=${token}`)
  const onB = await connectWs(t, `${wsB}/ws/metrics/multi-02?token=${token}`)
  await onA.waitFor((m) => m.type === 'metrics')
  await onB.waitFor((m) => m.type === 'metrics')
  await apiB.ingestOk(agent.api_key, makeBatch({ metrics: [metric('memory', 'usage_percent', 12.5)] }))
  await onA.waitFor((m) => m.data?.['memory.usage_percent']?.value === 12.5)
  await onB.waitFor((m) => m.data?.['memory.usage_percent']?.value === 12.5)
  await new Promise((r) => setTimeout(r, 300))
  // B's own NOTIFY comes back to B too; it is recognised as its own and not delivered twice.
  t.equal(onB.messages.filter((m) => m.data?.['memory.usage_percent']).length, 1, 'the ingesting instance\'s client got it once')
  t.equal(onA.messages.filter((m) => m.data?.['memory.usage_percent']).length, 1, 'the other instance\'s client got it once')
})

t.test('alert events NOTIFYed once reach the fleet clients of every listening instance', async (t) => {
  const onA = await connectWs(t, `${a.url.replace(/^http/, 'ws')}/ws/live?token=${token}`)
  const onB = await connectWs(t, `${wsB}/ws/live?token=${token}`)
  await onA.waitFor((m) => m.type === 'snapshot')
  await onB.waitFor((m) => m.type === 'snapshot')
  const event = { org_id: orgId, event_id: '33333333-3333-4333-8333-333333333333', rule_id: null, rule_name: 'load', agent_id: null,
    agent_name: 'multi-01', severity: 'info', state: 'firing', value: 3, summary: 'load high', started_at: minutesAgo(0), resolved_at: null }
  await sql`select pg_notify(${ALERTS_CHANNEL}, ${JSON.stringify(event)})`.execute(store.db)
  t.equal((await onA.waitFor((m) => m.type === 'alert')).event.event_id, event.event_id, 'instance A')
  t.equal((await onB.waitFor((m) => m.type === 'alert')).event.event_id, event.event_id, 'instance B')
})
