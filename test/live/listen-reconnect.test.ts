// The LISTEN connection (server backend) was lost and is back: alert events and other instances' ingests
// NOTIFYed meanwhile never arrived, so /ws/live clients get a fresh snapshot and /ws/metrics clients what
// changed. The store's reconnect is simulated through the Store seam (the embedded engine never loses its
// connection); test/store/notification-listener.test.ts shows the real listener reports it after
// pg_terminate_backend.
import t from 'tap'
import type { Store } from '../../services/store/open-store.ts'
import { openTestStore } from '../test-client.ts'
import { connectWs, startClient, until } from './live-helpers.ts'

const store = await openTestStore(t)
const reconnectHooks: Array<() => void> = []
const reconnecting: Store = {
  ...store,
  listen: (channel, onPayload, onReconnect) => {
    if (onReconnect) reconnectHooks.push(onReconnect)
    return store.listen(channel, onPayload)
  },
}
const api = await startClient(t, { live: { listen: true } }, reconnecting)
const agent = await api.createAgent('resync-host')

t.test('after a reconnect of the LISTEN connection fleet clients get a fresh snapshot with what they missed', async (t) => {
  t.ok(reconnectHooks.length >= 1, 'the live plugin asked to hear of reconnects')
  const client = await connectWs(t, `${api.wsUrl}/ws/live`, { protocols: ['hostpulse', api.adminToken] })
  const first = await client.waitFor((m) => m.type === 'snapshot')
  t.same(first.alerts, [], 'no alert at first')

  // Fired while the connection was down: the NOTIFY is lost, only the row is there.
  const missed = await api.store.db.insertInto('alert_events').values({
    org_id: api.orgId, rule_id: null, rule_name: 'cpu-high', agent_id: agent.id, series_tags: '{}', annotations: '{}', agent_name: 'resync-host',
    severity: 'critical', state: 'firing', value: 97.5, threshold: 90, summary: 'cpu-high on resync-host', started_at: new Date(), resolved_at: null,
  }).returning('id').executeTakeFirstOrThrow()
  const seen = client.messages.length
  for (const hook of reconnectHooks) hook()
  const fresh = await client.waitFor((m) => m.type === 'snapshot', 15_000, seen)
  t.same(fresh.alerts.map((a: any) => a.event_id), [missed.id], 'the fresh snapshot holds the alert whose NOTIFY was missed')
  t.same(fresh.agents.map((a: any) => a.name), ['resync-host'], 'and the agents')
  await until(() => api.app.live.stats().clients.live === 1, 15_000, 'one fleet client')
  t.pass('the client stays subscribed')
})

t.test('after a reconnect /ws/metrics clients get the values other instances stored meanwhile', async (t) => {
  const client = await connectWs(t, `${api.wsUrl}/ws/metrics/${agent.id}`, { protocols: ['hostpulse', api.adminToken] })
  await client.waitFor((m) => m.type === 'metrics')
  await until(() => api.app.live.stats().clients.metrics === 1, 15_000, 'one metrics client')

  // Stored by another instance while the connection was down: its NOTIFY is lost, only the rows are there.
  const time = new Date()
  const row = { org_id: api.orgId, agent_id: agent.id, metric_type: 'cpu', metric_name: 'usage_percent', tags: '{}', time, value: 42.5 }
  await api.store.db.insertInto('metrics').values(row).execute()
  await api.store.db.insertInto('metrics_latest').values(row).execute()
  const seen = client.messages.length
  await new Promise((r) => setTimeout(r, 300))
  t.equal(client.messages.length, seen, 'nothing arrives by itself (no NOTIFY was heard)')

  for (const hook of reconnectHooks) hook()
  const update = await client.waitFor((m) => m.type === 'metrics' && m.data?.['cpu.usage_percent'], 15_000, seen)
  t.same(update.data['cpu.usage_percent'], { value: 42.5, timestamp: time.toISOString() }, 'the missed value arrives after the reconnect')

  const after = client.messages.length
  for (const hook of reconnectHooks) hook()
  await new Promise((r) => setTimeout(r, 300))
  t.equal(client.messages.length, after, 'a second resync with nothing new sends nothing')
})
