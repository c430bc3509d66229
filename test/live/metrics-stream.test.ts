// WS /ws/metrics/:agent_id against a real server and embedded TimescaleDB: seed 001's message format, the
// snapshot of the last 30 s, pushes on ingest, filters from the next message on, 100 values per message,
// refused client messages, and the heartbeat dropping a peer that stops answering pings.
import t from 'tap'
import { makeBatch, metric, minutesAgo, network } from '../test-client.ts'
import { connectWs, startClient, until } from './live-helpers.ts'

const HEARTBEAT_MS = 250
const api = await startClient(t, { live: { heartbeatMs: HEARTBEAT_MS } })
const streamUrl = (agent: string, token = api.adminToken) => `${api.wsUrl}/ws/metrics/${agent}?token=${token}`
const keysOf = (m: any) => Object.keys(m.data ?? {})
const isMetrics = (m: any) => m.type === 'metrics'

t.test('seed format: the snapshot holds the last 30 s; an ingest is pushed without polling', async (t) => {
  const agent = await api.createAgent('web-01')
  // Two minutes old: not part of the snapshot.
  await api.ingestOk(agent.api_key, makeBatch({ time: minutesAgo(2), metrics: [metric('cpu', 'stale_metric', 1)], disks: [], networks: [], processes: [] }))
  const now = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString()
  await api.ingestOk(agent.api_key, makeBatch({
    time: now,
    networks: [network('eth0', { bytes_recv_per_sec: 1250.5, bytes_sent_per_sec: 300 })],
  }))

  const client = await connectWs(t, streamUrl('web-01'))
  const snapshot = await client.waitFor(isMetrics)
  t.same(Object.keys(snapshot).sort(), ['agent_id', 'data', 'timestamp', 'type'], 'exactly the seed fields')
  t.equal(snapshot.agent_id, 'web-01', 'agent_id is the agent as the REST listings name it')
  t.equal(snapshot.timestamp, now, 'timestamp: the newest sample time, RFC3339')
  t.same(snapshot.data['cpu.usage_percent'], { value: 39.37, timestamp: now }, 'scalar metric under its seed key')
  t.same(snapshot.data['cpu.load_avg_1'], { value: 2.95, timestamp: now })
  t.same(snapshot.data['memory.usage_percent'], { value: 75.2, timestamp: now })
  t.notOk('cpu.stale_metric' in snapshot.data, 'a value older than 30 s is not in the snapshot')
  t.same(snapshot.data['disk.usage_percent{mount_point=/}'], { value: 18.15, timestamp: now }, 'filesystem values keyed by mount point')
  t.same(snapshot.data['disk.usage_percent{mount_point=/boot}'], { value: 14.21, timestamp: now })
  t.same(snapshot.data['network.bytes_recv_per_sec{interface=eth0}'], { value: 1250.5, timestamp: now }, 'interface rates keyed by interface')

  const from = client.messages.length
  const sentAt = Date.now()
  const later = new Date(Date.parse(now) + 1000).toISOString()
  await api.ingestOk(agent.api_key, makeBatch({ time: later, metrics: [metric('cpu', 'usage_percent', 55.5)], disks: [], networks: [], processes: [] }))
  const pushed = await client.waitFor((m) => isMetrics(m) && m.data['cpu.usage_percent']?.value === 55.5, undefined, from)
  t.comment(`ingest request start → value received: ${Date.now() - sentAt} ms`)
  t.same(keysOf(pushed), ['cpu.usage_percent'], 'only what changed is pushed')
  t.same(pushed.data['cpu.usage_percent'], { value: 55.5, timestamp: later })
  t.equal(pushed.timestamp, later)

  // A replayed older batch does not overwrite a newer value on the stream.
  const from2 = client.messages.length
  await api.ingestOk(agent.api_key, makeBatch({ time: now, metrics: [metric('cpu', 'usage_percent', 1), metric('cpu', 'replay_marker', 7)], disks: [], networks: [], processes: [] }))
  const replay = await client.waitFor((m) => isMetrics(m) && 'cpu.replay_marker' in m.data, undefined, from2)
  t.notOk('cpu.usage_percent' in replay.data, 'an older sample of a series already sent is not pushed')
})

t.test('tag values with , = { } and \\ never make two series share a key (each value reaches the client)', async (t) => {
  const agent = await api.createAgent('escape-host')
  const now = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString()
  // Unescaped, both would be `m.v{a=1,b=2}`, and one value would be lost.
  const tagSets: Array<Record<string, string>> = [{ a: '1,b=2' }, { a: '1', b: '2' }, { 'a=1,b': '2' }, { a: '1}', b: '{2' }, { a: '1\\', b: '2' }]
  await api.ingestOk(agent.api_key, makeBatch({
    time: now, metrics: tagSets.map((tags, i) => metric('m', 'v', i, { tags })), disks: [], networks: [], processes: [],
  }))
  const client = await connectWs(t, streamUrl('escape-host'))
  const snapshot = await client.waitFor(isMetrics)
  const keys = keysOf(snapshot).filter((k) => k.startsWith('m.v'))
  t.equal(keys.length, tagSets.length, `one key per series: ${keys.join('  ')}`)
  t.same(keys.map((k) => snapshot.data[k].value).sort(), [0, 1, 2, 3, 4], 'every value arrived')
  t.same(snapshot.data['m.v{a=1\\,b\\=2}'], { value: 0, timestamp: now }, '`,` and `=` in a value are escaped')
  t.same(snapshot.data['m.v{a=1,b=2}'], { value: 1, timestamp: now }, 'a plain series keeps its plain key')
  t.same(snapshot.data['m.v{a\\=1\\,b=2}'], { value: 2, timestamp: now }, 'and in a key')
  t.same(snapshot.data['m.v{a=1\\},b=\\{2}'], { value: 3, timestamp: now }, 'braces too')
  t.same(snapshot.data['m.v{a=1\\\\,b=2}'], { value: 4, timestamp: now }, 'and the backslash itself')
  client.close()
})

t.test('filter messages apply from the next message on; bad ones are refused and the connection stays', async (t) => {
  const agent = await api.createAgent('filter-01')
  const client = await connectWs(t, streamUrl(agent.id))
  await client.waitFor(isMetrics)
  t.same(client.messages[0].data, {}, 'an agent without recent data gets an empty snapshot')

  const ingestAt = async (seconds: number) => {
    const time = new Date(Math.floor(Date.now() / 1000) * 1000 + seconds * 1000).toISOString()
    await api.ingestOk(agent.api_key, makeBatch({
      time, metrics: [metric('cpu', 'usage_percent', seconds), metric('cpu', 'load_avg_1', 1), metric('memory', 'usage_percent', 50),
        metric('cpu', 'usage_percent', seconds, { tags: { core: '0' } })],
      networks: [], processes: [],
    }))
    return client.waitFor((m) => isMetrics(m) && Object.values(m.data).some((v: any) => v.timestamp === time))
  }
  /** A refused message after the filter: its reply proves the server read the filter first. */
  const settle = async () => {
    const from = client.messages.length
    client.ws.send('settle')
    await client.waitFor((m) => m.type === 'error', undefined, from)
  }

  const all = await ingestAt(1)
  t.ok(keysOf(all).includes('memory.usage_percent') && keysOf(all).includes('disk.usage_percent{mount_point=/}'), 'no filter: everything')

  client.ws.send(JSON.stringify({ type: 'filter', metric_types: ['cpu'], metric_names: ['usage_percent'] }))
  await settle()
  const cpuOnly = await ingestAt(2)
  t.same(keysOf(cpuOnly).sort(), ['cpu.usage_percent', 'cpu.usage_percent{core=0}'], 'types and names both apply, tagged series included')

  client.ws.send(JSON.stringify({ type: 'filter', metric_types: ['disk', 'memory'] }))
  await settle()
  const diskAndMemory = await ingestAt(3)
  t.ok(keysOf(diskAndMemory).length > 0 && keysOf(diskAndMemory).every((k) => k.startsWith('disk.') || k.startsWith('memory.')), 'types only')

  client.ws.send(JSON.stringify({ type: 'filter' }))
  await settle()
  const cleared = await ingestAt(4)
  t.ok(keysOf(cleared).includes('cpu.load_avg_1') && keysOf(cleared).includes('disk.usage_percent{mount_point=/boot}'), 'an empty filter lets everything through again')

  const refusals: Array<[string, RegExp]> = [
    ['not json', /not JSON/],
    [JSON.stringify({ type: 'subscribe' }), /type must be "filter"/],
    [JSON.stringify({ type: 'filter', metric_types: 'cpu' }), /metric_types/],
    [JSON.stringify({ type: 'filter', metric_names: [1] }), /metric_names\[0\]/],
    [JSON.stringify({ type: 'filter', extra: true }), /extra is not allowed/],
    [JSON.stringify({ metric_types: [] }), /type is required/],
    [JSON.stringify([1, 2]), /must be a JSON object/],
  ]
  for (const [text, expected] of refusals) {
    const from = client.messages.length
    client.ws.send(text)
    const reply = await client.waitFor((m) => m.type === 'error', undefined, from)
    t.same(Object.keys(reply).sort(), ['message', 'type'], `refusal of ${text} is {"type":"error","message"}`)
    t.match(reply.message, expected, `names the problem: ${reply.message}`)
  }
  const stillThere = await ingestAt(5)
  t.ok(keysOf(stillThere).includes('cpu.load_avg_1'), 'the connection still streams, with the last valid filter')
})

t.test('more than 100 values: messages of at most 100, on push and in the snapshot', async (t) => {
  const agent = await api.createAgent('many-01')
  const client = await connectWs(t, streamUrl('many-01'))
  await client.waitFor(isMetrics)
  const from = client.messages.length
  const time = minutesAgo(0)
  const metrics = Array.from({ length: 250 }, (_, i) => metric('cpu', 'usage_percent', i, { tags: { core: String(i) } }))
  await api.ingestOk(agent.api_key, makeBatch({ time, metrics, disks: [], networks: [], processes: [] }))
  const total = () => client.messages.slice(from).reduce((n, m) => n + keysOf(m).length, 0)
  await until(() => total() >= 250, 15_000, '250 values received')
  const sizes = client.messages.slice(from).map((m) => keysOf(m).length)
  t.same(sizes, [100, 100, 50], 'split in messages of 100')
  const received = new Set(client.messages.slice(from).flatMap(keysOf))
  t.equal(received.size, 250, 'every value exactly once')

  const second = await connectWs(t, streamUrl('many-01'))
  await until(() => second.messages.reduce((n, m) => n + keysOf(m).length, 0) >= 250, 15_000, 'snapshot of 250 values')
  t.same(second.messages.map((m) => keysOf(m).length), [100, 100, 50], 'the snapshot is split the same way')
})

t.test('heartbeat: a peer that stops answering pings is dropped at the next heartbeat or the one after', async (t) => {
  await api.createAgent('beat-01')
  // Heartbeats are counted, not timed: each client counts the pings it receives, and a machine whose timers
  // fire late slows the heartbeat and the count together. (A listener added after the upgrade can miss a ping
  // that came with it, so a count can only be low, never high: the upper bounds below stay sound.)
  const dead = await connectWs(t, streamUrl('beat-01'), { autoPong: false })
  let deadPings = 0
  dead.ws.on('ping', () => { deadPings++ })
  const alive = await connectWs(t, streamUrl('beat-01'))
  let alivePings = 0
  alive.ws.on('ping', () => { alivePings++ })
  const started = Date.now()
  // A deadline only for a server that never drops it; how soon is judged in heartbeats below.
  let timer: ReturnType<typeof setTimeout> | undefined
  const dropped = await Promise.race([
    dead.closed.then(() => true),
    new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), 15_000) }),
  ])
  clearTimeout(timer)
  const alivePingsAtDrop = alivePings
  if (!dropped) {
    t.fail(`the peer that answers no ping was not dropped within 15 s (${deadPings} pings unanswered, heartbeat ${HEARTBEAT_MS} ms)`)
    return
  }
  t.comment(`dropped after ${Date.now() - started} ms, having been pinged ${deadPings} time(s); the answering peer got ${alivePingsAtDrop} ping(s) meanwhile (heartbeat ${HEARTBEAT_MS} ms)`)
  // It is pinged once (the first heartbeat) and dropped at the next, unanswered: one ping. Two still means
  // "at the heartbeat after its second unanswered ping"; more would be a server that keeps pinging the dead.
  t.ok(deadPings <= 2, `dropped before it was pinged a third time (pinged ${deadPings} time(s), answering none)`)
  // The answering peer, connected just after it, is pinged at every heartbeat: its count is the number of
  // heartbeats the dead peer lived through (at most), so a server that pings once and then waits fails here.
  t.ok(alivePingsAtDrop <= 3, `dropped within three heartbeats (the answering peer was pinged ${alivePingsAtDrop} time(s) meanwhile)`)
  // Three more heartbeats, each of which would have dropped a peer that did not answer.
  await until(() => alivePings >= alivePingsAtDrop + 3, 15_000, 'three more pings answered')
  t.equal(alive.ws.readyState, alive.ws.OPEN, 'a peer that answers pings stays connected')
  await until(() => api.app.live.stats().clients.metrics === 1, 15_000, 'the dropped client is forgotten')
  t.pass('only the live client remains')
})

t.test('Prometheus: clients by stream and messages sent', async (t) => {
  const res = await api.req('GET', '/metrics', { token: api.adminToken })
  t.equal(res.status, 200)
  t.match(res.text, /hostpulse_ws_clients\{stream="metrics"\} \d+/)
  t.match(res.text, /hostpulse_ws_messages_sent_total\{stream="metrics"\} [1-9]/)
  t.match(res.text, /hostpulse_ws_messages_dropped_total\{stream="live"\} 0/)
})
