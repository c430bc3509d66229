// WS /ws/live against a real server and embedded TimescaleDB: the snapshot (agents and firing alerts of
// the user's organization only), an agent summary after each ingest, online → offline by the timer, and
// alert events as the evaluator NOTIFYs them on hostpulse_alerts (here sent by the test itself).
import t from 'tap'
import { sql } from 'kysely'
import { createOrgWithAdmin, disk, makeBatch, metric, network } from '../test-client.ts'
import { ALERTS_CHANNEL } from '../../services/bus/alert-bus.ts'
import { connectWs, clientOn, startClient } from './live-helpers.ts'

// Online while the newest sample is this recent: the ingest, its write and the summary's read must fit in it on a
// loaded machine (2 s, with sample times cut to the second, was too tight in CI's worst minutes).
const ONLINE_WINDOW_S = 6
const api = await startClient(t, { live: { statusCheckMs: 200, onlineWindowSeconds: ONLINE_WINDOW_S } })
const db = api.store.db
const SUMMARY_KEYS = ['agent_id', 'cpu', 'disk', 'hostname', 'last_seen', 'load1', 'memory', 'name', 'net_rx', 'net_tx', 'status'].sort()
const ALERT_KEYS = ['agent_id', 'agent_name', 'event_id', 'resolved_at', 'rule_id', 'rule_name', 'severity', 'started_at', 'state', 'summary', 'value'].sort()

const a = await api.createAgent('fleet-a')
await api.createAgent('fleet-b')
const pending = await api.createAgent('fleet-pending')
await db.updateTable('agents').set({ status: 'pending' }).where('id', '=', pending.id).execute()
const otherOrg = await createOrgWithAdmin(api.store, 'fleet-other', 'fleet-other-admin', 'other-password-1')
const other = clientOn(api.app, api.store, api.url, otherOrg, (await api.login('fleet-other-admin', 'other-password-1')).token)
const foreign = await other.createAgent('foreign-host')

const firingEvent = async (orgId: string, agent: { id: string; name: string }, ruleName: string, state: 'firing' | 'resolved') => {
  const row = await db.insertInto('alert_events').values({
    org_id: orgId, rule_id: null, rule_name: ruleName, agent_id: agent.id, series_tags: '{}', annotations: '{}', agent_name: agent.name, severity: 'critical', state, value: 97.5,
    threshold: 90, summary: `${ruleName} on ${agent.name}`, started_at: new Date(Date.now() - 60_000),
    resolved_at: state === 'resolved' ? new Date() : null,
  }).returning('id').executeTakeFirstOrThrow()
  return row.id
}
const ownFiring = await firingEvent(api.orgId, { id: a.id, name: 'fleet-a' }, 'cpu-high', 'firing')
await firingEvent(api.orgId, { id: a.id, name: 'fleet-a' }, 'disk-full', 'resolved')
await firingEvent(otherOrg, { id: foreign.id, name: 'foreign-host' }, 'foreign-rule', 'firing')

const fullBatch = (time = new Date().toISOString()) => makeBatch({
  time,
  disks: [disk('/', { usage_percent: 61.5 }), disk('/data', { usage_percent: 88.25 })],
  networks: [network('eth0', { bytes_recv_per_sec: 1000, bytes_sent_per_sec: 250 }), network('eth1', { bytes_recv_per_sec: 500.5, bytes_sent_per_sec: 0 })],
})

t.test('snapshot: the organization\'s agents and firing alerts, nothing of another organization', async (t) => {
  const client = await connectWs(t, `${api.wsUrl}/ws/live?token=${api.adminToken}`)
  const snap = await client.waitFor((m) => m.type === 'snapshot')
  t.same(Object.keys(snap).sort(), ['agents', 'alerts', 'type'])
  t.same(snap.agents.map((x: any) => x.name), ['fleet-a', 'fleet-b', 'fleet-pending'], 'own agents only, by name')
  for (const agent of snap.agents) t.same(Object.keys(agent).sort(), SUMMARY_KEYS, `${agent.name}: exactly the summary fields`)
  const byName = Object.fromEntries(snap.agents.map((x: any) => [x.name, x]))
  t.equal(byName['fleet-a'].agent_id, a.id)
  t.equal(byName['fleet-b'].status, 'offline', 'never reported: offline')
  t.equal(byName['fleet-pending'].status, 'pending')
  t.same([byName['fleet-b'].cpu, byName['fleet-b'].disk, byName['fleet-b'].net_rx, byName['fleet-b'].last_seen], [null, null, null, null], 'unknown values are null')
  t.equal(snap.alerts.length, 1, 'only the firing alert of this organization')
  t.same(Object.keys(snap.alerts[0]).sort(), ALERT_KEYS, 'alert fields, without org_id')
  t.equal(snap.alerts[0].event_id, ownFiring)
  t.equal(snap.alerts[0].state, 'firing')
  t.equal(snap.alerts[0].value, 97.5)
})

t.test('an ingest sends the agent\'s summary; another organization\'s ingest is not seen', async (t) => {
  const client = await connectWs(t, `${api.wsUrl}/ws/live?token=${api.adminToken}`)
  await client.waitFor((m) => m.type === 'snapshot')
  await other.ingestOk(foreign.api_key, fullBatch())
  await api.ingestOk(a.api_key, fullBatch())
  const update = await client.waitFor((m) => m.type === 'agent' && m.agent.name === 'fleet-a')
  t.same(Object.keys(update).sort(), ['agent', 'type'])
  t.same(Object.keys(update.agent).sort(), SUMMARY_KEYS)
  t.match(update.agent, {
    agent_id: a.id, name: 'fleet-a', hostname: 'web-01.example.com', status: 'online',
    cpu: 39.37, memory: 75.2, load1: 2.95, disk: 88.25, net_rx: 1500.5, net_tx: 250,
  }, 'cpu, memory, load from the latest values; disk the fullest filesystem; network summed over interfaces')
  t.type(update.agent.last_seen, 'string')
  t.notOk(client.messages.some((m) => JSON.stringify(m).includes('foreign-host') || JSON.stringify(m).includes(foreign.id)), 'nothing about another organization')

  const viewer = await api.req('POST', '/api/v1/users', { token: api.adminToken, body: { username: 'fleet-viewer', password: 'viewer-password-1', role: 'viewer' } })
  t.equal(viewer.status, 201)
  const asViewer = await connectWs(t, `${api.wsUrl}/ws/live`, { protocols: ['hostpulse', (await api.login('fleet-viewer', 'viewer-password-1')).token] })
  const viewerSnap = await asViewer.waitFor((m) => m.type === 'snapshot')
  t.equal(viewerSnap.agents.find((x: any) => x.name === 'fleet-a').cpu, 39.37, 'a viewer gets the same fleet')

  const from = client.messages.length
  client.ws.send('hello')
  const refused = await client.waitFor((m) => m.type === 'error', undefined, from)
  t.match(refused.message, /takes no messages/, 'a client message is refused, the connection kept')
})

t.test('online → offline is sent without an ingest when the agent falls silent', async (t) => {
  const client = await connectWs(t, `${api.wsUrl}/ws/live?token=${api.adminToken}`)
  await client.waitFor((m) => m.type === 'snapshot')
  const from = client.messages.length
  await api.ingestOk(a.api_key, fullBatch())
  const online = await client.waitFor((m) => m.type === 'agent' && m.agent.agent_id === a.id, undefined, from)
  t.equal(online.agent.status, 'online')
  const started = Date.now()
  const offline = await client.waitFor((m) => m.type === 'agent' && m.agent.agent_id === a.id && m.agent.status === 'offline', ONLINE_WINDOW_S * 1000 + 15_000, from)
  t.ok(offline, `offline sent ${Date.now() - started} ms after the last ingest (window ${ONLINE_WINDOW_S} s)`)
  t.equal(offline.agent.cpu, 39.37, 'with its last known values')
})

t.test('alert events NOTIFYed on hostpulse_alerts reach the organization\'s clients only', async (t) => {
  const mine = await connectWs(t, `${api.wsUrl}/ws/live?token=${api.adminToken}`)
  await mine.waitFor((m) => m.type === 'snapshot')
  const theirs = await connectWs(t, `${api.wsUrl}/ws/live?token=${other.adminToken}`)
  await theirs.waitFor((m) => m.type === 'snapshot')
  const notify = (payload: unknown) => sql`select pg_notify(${ALERTS_CHANNEL}, ${typeof payload === 'string' ? payload : JSON.stringify(payload)})`.execute(db)

  const event = {
    org_id: api.orgId, event_id: '11111111-1111-4111-8111-111111111111', rule_id: '22222222-2222-4222-8222-222222222222',
    rule_name: 'cpu-high', agent_id: a.id, agent_name: 'fleet-a', severity: 'warning', state: 'firing', value: 91.2,
    summary: 'cpu.usage_percent avg 91.2 > 90', started_at: '2026-01-30T23:23:29.000Z', resolved_at: null,
  }
  await notify('{not json')
  await notify({ org_id: otherOrg, event_id: 'foreign-event', state: 'firing', rule_name: 'foreign-rule', agent_name: 'foreign-host' })
  await notify(event)
  const fired = await mine.waitFor((m) => m.type === 'alert')
  const { org_id: _org, ...expected } = event
  t.same(fired, { type: 'alert', event: expected }, 'the evaluator\'s event, without org_id')
  await notify({ ...event, state: 'resolved', resolved_at: '2026-01-30T23:25:00.000Z' })
  const resolved = await mine.waitFor((m) => m.type === 'alert' && m.event.state === 'resolved')
  t.equal(resolved.event.resolved_at, '2026-01-30T23:25:00.000Z', 'and its resolution')
  const foreignSeen = await theirs.waitFor((m) => m.type === 'alert')
  t.equal(foreignSeen.event.event_id, 'foreign-event', 'the other organization got its own event')
  t.notOk(mine.messages.some((m) => m.type === 'alert' && m.event.event_id === 'foreign-event'), 'and only it got it')
  t.notOk(theirs.messages.some((m) => m.type === 'alert' && m.event.event_id === event.event_id), 'nor the other way round')
})
