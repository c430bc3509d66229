// Seeds 000 and 002 against the real app and embedded TimescaleDB: every example of seed 000 replayed
// (status codes, field names and types, the nested tree), seed 002's psutil shapes, the keys (an agent's
// own, the operator's shared one), and round trips with the native API in both directions.
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '../../../services/store/open-store.ts'
import { prepareStore } from '../../../services/store/prepare-store.ts'
import { minutesAgo, rowCounts, startClient, type TestClient } from '../../test-client.ts'

const SEED_EXAMPLE = {
  hostname: 'server01',
  ip_address: '192.168.1.100',
  os_info: 'Linux 5.4.0-74-generic x86_64',
  processes: [
    { pid: 1, parent_pid: null, name: 'systemd', cmdline: '/sbin/init', username: 'root', status: 'sleeping', cpu_percent: 0.1, memory_percent: 0.5, memory_rss: 8192000, memory_vms: 16384000, create_time: 1640995200.0 },
    { pid: 123, parent_pid: 1, name: 'kthreadd', cmdline: '', username: 'root', status: 'sleeping', cpu_percent: 0.0, memory_percent: 0.0, memory_rss: 0, memory_vms: 0, create_time: 1640995201.5 },
    { pid: 4242, parent_pid: 123, name: 'postgres', cmdline: 'postgres -D /var/lib/pg --password=hunter2', username: 'postgres', status: 'running', cpu_percent: 12.5, memory_percent: 3.2, memory_rss: 52428800, memory_vms: 104857600, create_time: 1640995300.25 },
  ],
}
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/

async function agentWithKey(api: TestClient, name: string) {
  return api.createAgent(name)
}

t.test('seed 000: submit, hosts, tree, snapshots, latest', async (t) => {
  const api = await startClient(t)
  const agent = await agentWithKey(api, 'server01')

  t.test('POST /api/submit/ with the agent key → 201 in the document\'s shape', async (t) => {
    const res = await api.post('/api/submit/', SEED_EXAMPLE, { apiKey: agent.api_key })
    t.equal(res.status, 201, res.text)
    t.same(Object.keys(res.body).sort(), ['host', 'message', 'processes_created', 'snapshot_id', 'timestamp'])
    t.equal(res.body.message, 'Process data received successfully')
    t.equal(res.body.host, 'server01')
    t.ok(Number.isInteger(res.body.snapshot_id) && res.body.snapshot_id > 0, 'snapshot_id is a positive integer')
    t.equal(res.body.processes_created, 3)
    t.match(res.body.timestamp, ISO_UTC)
  })

  t.test('a bad body → 400 naming every bad field, nothing stored', async (t) => {
    const before = await rowCounts(api.store)
    const res = await api.post('/api/submit/', { os_info: { kernel: 5 }, processes: [{ pid: -1, name: 'x', cpu_percent: 'lots' }] }, { apiKey: agent.api_key })
    t.equal(res.status, 400)
    t.equal(res.body.error, 'Invalid data format')
    t.same(res.body.details.hostname, ['This field is required.'])
    for (const field of ['os_info', 'processes[0].pid', 'processes[0].cpu_percent', 'processes[0].memory_percent', 'processes[0].memory_rss', 'processes[0].memory_vms']) {
      t.ok(Array.isArray(res.body.details[field]) && res.body.details[field].length > 0, `${field} is named`)
    }
    for (const messages of Object.values(res.body.details) as string[][]) for (const m of messages) t.match(m, /\.$/, `"${m}" is a sentence`)
    const missing = await api.post('/api/submit/', { hostname: 'server01' }, { apiKey: agent.api_key })
    t.same(missing.body, { error: 'Invalid data format', details: { processes: ['This field is required.'] } })
    const notJson = await api.request('POST', '/api/submit/', { rawBody: '{"hostname":', apiKey: agent.api_key })
    t.equal(notJson.status, 400)
    t.type(notJson.body.error, 'string')
    t.same(await rowCounts(api.store), before, 'nothing stored')
  })

  t.test('401 for a missing or wrong key, in the document\'s format', async (t) => {
    for (const apiKey of [undefined, 'process-monitor-api-key-2024', 'hp_not-a-key']) {
      const res = await api.post('/api/submit/', SEED_EXAMPLE, apiKey === undefined ? {} : { apiKey })
      t.equal(res.status, 401, `key ${apiKey}`)
      t.type(res.body.error, 'string')
      t.same(Object.keys(res.body), ['error'])
    }
  })

  t.test('an agent key naming another agent\'s hostname → 403, nothing stored', async (t) => {
    const other = await agentWithKey(api, 'other-host')
    const before = await rowCounts(api.store)
    const res = await api.post('/api/submit/', SEED_EXAMPLE, { apiKey: other.api_key })
    t.equal(res.status, 403)
    t.match(res.body.error, /server01/)
    t.same(await rowCounts(api.store), before)
  })

  t.test('GET /api/hosts/: behind a token; every field of the document', async (t) => {
    t.equal((await api.request('GET', '/api/hosts/')).status, 401, 'no token → 401')
    const res = await api.get('/api/hosts/')
    t.equal(res.status, 200)
    const host = res.body.find((h: { hostname: string }) => h.hostname === 'server01')
    t.ok(host, 'server01 listed')
    t.same(Object.keys(host).sort(), ['first_seen', 'hostname', 'id', 'ip_address', 'last_seen', 'latest_snapshot', 'os_info'])
    t.ok(Number.isInteger(host.id))
    t.equal(host.ip_address, '192.168.1.100')
    t.equal(host.os_info, 'Linux 5.4.0-74-generic x86_64')
    t.match(host.first_seen, ISO_UTC)
    t.match(host.last_seen, ISO_UTC)
    t.same(Object.keys(host.latest_snapshot).sort(), ['hostname', 'id', 'processes', 'timestamp', 'total_processes'])
    t.equal(host.latest_snapshot.total_processes, 3)
    t.equal(host.latest_snapshot.processes.length, 3)
    const never = res.body.find((h: { hostname: string }) => h.hostname === 'other-host')
    t.equal(never.latest_snapshot, null, 'a host without snapshots has latest_snapshot null')
  })

  t.test('GET /api/hosts/{hostname}/processes/: the nested tree with every field', async (t) => {
    const res = await api.get('/api/hosts/server01/processes/')
    t.equal(res.status, 200)
    t.same(Object.keys(res.body).sort(), ['hostname', 'process_tree', 'timestamp', 'total_processes'])
    t.equal(res.body.total_processes, 3)
    t.equal(res.body.process_tree.length, 1, 'one root')
    const [root] = res.body.process_tree
    t.same(Object.keys(root).sort(), ['children', 'cmdline', 'cpu_percent', 'id', 'memory_percent', 'memory_rss', 'memory_vms', 'name', 'pid', 'status', 'username'])
    t.same({ pid: root.pid, name: root.name, cmdline: root.cmdline, memory_rss: root.memory_rss, memory_vms: root.memory_vms, status: root.status, username: root.username },
      { pid: 1, name: 'systemd', cmdline: '/sbin/init', memory_rss: 8192000, memory_vms: 16384000, status: 'sleeping', username: 'root' })
    t.equal(root.children[0].name, 'kthreadd')
    t.equal(root.children[0].children[0].name, 'postgres')
    t.equal(root.children[0].children[0].cmdline, 'postgres -D /var/lib/pg --password=***', 'command lines are scrubbed on this face too')
    t.ok(Number.isInteger(root.id) && Number.isInteger(root.children[0].id) && root.id !== root.children[0].id, 'integer process ids')
    const missing = await api.get('/api/hosts/no-such-host/processes/')
    t.equal(missing.status, 404)
    t.same(missing.body, { error: 'Host not found' })
  })

  t.test('snapshots: newest first, parent_pid, bounded pages; latest', async (t) => {
    const second = await api.post('/api/submit/', { ...SEED_EXAMPLE, processes: SEED_EXAMPLE.processes.slice(0, 2) }, { apiKey: agent.api_key })
    t.equal(second.status, 201)
    const res = await api.get('/api/hosts/server01/snapshots/')
    t.equal(res.status, 200)
    t.equal(res.body.length, 2)
    t.equal(res.body[0].id, second.body.snapshot_id, 'newest first')
    t.equal(res.headers.get('x-total-count'), '2')
    const p = res.body[1].processes.find((x: { pid: number }) => x.pid === 4242)
    t.equal(p.parent_pid, 123)
    t.equal(res.body[1].processes.find((x: { pid: number }) => x.pid === 1).parent_pid, null)
    const page = await api.get('/api/hosts/server01/snapshots/?limit=1')
    t.equal(page.body.length, 1)
    t.match(page.headers.get('link'), /offset=1>; rel="next"/)
    const next = await api.get('/api/hosts/server01/snapshots/?limit=1&offset=1')
    t.equal(next.body[0].id, res.body[1].id)
    t.equal((await api.get('/api/hosts/server01/snapshots/?limit=1000')).status, 400, 'bounded')
    const latest = await api.get('/api/hosts/server01/latest/')
    t.equal(latest.status, 200)
    t.equal(latest.body.id, second.body.snapshot_id)
    t.equal(latest.body.total_processes, 2)
    t.same((await api.get('/api/hosts/nope/latest/')).body, { error: 'Host not found' })
    t.same((await api.get('/api/hosts/nope/snapshots/')).body, { error: 'Host not found' })
  })

  t.test('round trip: a seed 000 snapshot is the native process tree and top processes', async (t) => {
    const tree = await api.get(`/api/v1/agents/${agent.id}/processes`)
    t.equal(tree.status, 200)
    t.equal(tree.body.total_processes, 2)
    t.equal(tree.body.process_tree[0].name, 'systemd')
    const top = await api.get(`/api/v1/processes/top/${agent.id}?by=memory&start=${encodeURIComponent(minutesAgo(10))}`)
    t.equal(top.status, 200)
    t.equal(top.body.processes[0].name, 'postgres')
  })

  t.test('round trip: a native agent\'s snapshot is served by seeds 000 and 002', async (t) => {
    const native = await api.createAgent('native-box', undefined, { hostname: 'native-box.example' })
    const started = minutesAgo(60)
    await api.ingestOk(native.api_key, {
      batch_id: crypto.randomUUID(), time: minutesAgo(0), host: { hostname: 'native-box.example', os: 'Debian', os_version: '12' },
      processes: [
        { pid: 1, name: 'init', cpu_percent: 0, memory_bytes: 1000, memory_percent: 0.1 },
        { pid: 77, parent_pid: 1, name: 'nginx', cmdline: 'nginx -g daemon off;', cpu_percent: 4, memory_bytes: 2048, memory_vms: 4096, memory_percent: 0.2, create_time: started },
      ],
    })
    const tree = await api.get('/api/hosts/native-box.example/processes/')
    t.equal(tree.status, 200)
    t.equal(tree.body.process_tree[0].children[0].name, 'nginx')
    const hosts = await api.get('/api/hosts/')
    t.equal(hosts.body.find((h: { hostname: string }) => h.hostname === 'native-box.example').os_info, 'Debian 12')
    const flat = await api.get('/api/latest?hostname=native-box.example')
    t.equal(flat.status, 200)
    const nginx = flat.body.processes.find((p: { pid: number }) => p.pid === 77)
    t.equal(nginx.ppid, 1)
    t.equal(nginx.memory_rss, 2048)
    t.equal(nginx.create_time, Date.parse(started) / 1000, 'create_time in epoch seconds')
  })

  t.test('a deactivated agent is refused (403), counted, and nothing is stored', async (t) => {
    const idle = await api.createAgent('idle-box')
    t.equal((await api.req('PATCH', `/api/v1/agents/${idle.id}`, { token: api.adminToken, body: { status: 'inactive' } })).status, 200)
    const before = await rowCounts(api.store)
    const res = await api.post('/api/submit/', { ...SEED_EXAMPLE, hostname: 'idle-box' }, { apiKey: idle.api_key })
    t.equal(res.status, 403)
    t.match(res.body.error, /inactive/)
    t.same(await rowCounts(api.store), before)
    const metrics = await api.get('/metrics')
    t.match(metrics.text, /hostpulse_ingest_refused_total\{reason="inactive"\} [1-9]/)
  })
})

t.test('seed 002: a psutil agent\'s list, and the flat latest list', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('laptop')
  const body = {
    hostname: 'laptop',
    processes: [
      { pid: 1, ppid: 0, name: 'systemd', username: 'root', cmdline: ['/sbin/init', 'splash'], cpu_percent: null, memory_percent: 0.3, memory_info: { rss: 9000, vms: 18000 }, create_time: 1700000000.5, status: 'sleeping' },
      { pid: 50, parent_pid: 1, name: 'python3', username: 'me', cmdline: 'python3 agent.py --api-key mysecretkey', cpu_percent: 1.5, memory_percent: 0.1, rss: 100, vms: 200 },
    ],
  }
  const res = await api.post('/api/ingest/', body, { apiKey: agent.api_key })
  t.equal(res.status, 201, res.text)
  t.equal(res.body.count, 2)
  t.ok(Number.isInteger(res.body.snapshot_id))
  const latest = await api.get('/api/latest?hostname=laptop')
  t.equal(latest.status, 200)
  t.equal(latest.body.count, 2)
  const init = latest.body.processes.find((p: { pid: number }) => p.pid === 1)
  t.same({ ppid: init.ppid, cmdline: init.cmdline, cpu_percent: init.cpu_percent, memory_rss: init.memory_rss, memory_vms: init.memory_vms, create_time: init.create_time },
    { ppid: 0, cmdline: '/sbin/init splash', cpu_percent: 0, memory_rss: 9000, memory_vms: 18000, create_time: 1700000000.5 })
  const py = latest.body.processes.find((p: { pid: number }) => p.pid === 50)
  t.equal(py.ppid, 1)
  t.equal(py.cmdline, 'python3 agent.py --api-key ***')
  // Django REST Framework's error shapes on this seed's routes.
  const bad = await api.post('/api/ingest/', { processes: 'none' }, { apiKey: agent.api_key })
  t.equal(bad.status, 400)
  t.same(bad.body.hostname, ['This field is required.'])
  t.ok(Object.keys(bad.body).some((k) => k.startsWith('processes')), 'processes named')
  t.same(Object.keys((await api.get('/api/latest?hostname=nope')).body), ['detail'])
  t.equal((await api.get('/api/latest?hostname=nope')).status, 404)
  t.equal((await api.get('/api/latest')).status, 400)
  t.equal((await api.request('GET', '/api/latest?hostname=laptop')).status, 401)
  t.same(Object.keys((await api.post('/api/ingest/', body, {})).body), ['detail'], '401 in the DRF shape')
  // The quickstart starts the agent with `--endpoint http://…/api/ingest`, without the list's trailing slash.
  const bare = await api.post('/api/ingest', { ...body, processes: body.processes.slice(0, 1) }, { apiKey: agent.api_key })
  t.equal(bare.status, 201, `POST /api/ingest: ${bare.text}`)
  t.equal((await api.get('/api/latest?hostname=laptop')).body.count, 1, 'stored as the newest snapshot')
  t.same(Object.keys((await api.post('/api/ingest', body, {})).body), ['detail'], 'its 401 in the DRF shape too')
  // Python's isoformat() of a UTC time has no offset: it is UTC, as on seed 003's uploads.
  const naive = new Date(Date.now() - 60_000).toISOString().slice(0, 23)
  const stamped = await api.post('/api/ingest', { ...body, timestamp: `${naive}456` }, { apiKey: agent.api_key })
  t.equal(stamped.status, 201, `an offset-less timestamp: ${stamped.text}`)
  t.equal(stamped.body.timestamp, `${naive}Z`, 'read as UTC')
  const unreadable = await api.post('/api/ingest', { ...body, timestamp: 'the day before yesterday' }, { apiKey: agent.api_key })
  t.equal(unreadable.status, 400)
  t.match(unreadable.body, { timestamp: [/ISO 8601/] }, `named in DRF's shape: ${unreadable.text}`)
  // psutil's memory_info is a named tuple: json.dumps writes it as a list, rss and vms first.
  const tuple = { pid: 77, ppid: 1, name: 'worker', memory_info: [4096000, 8192000, 1000, 2000, 0, 3000, 0] }
  t.equal((await api.post('/api/ingest', { hostname: 'laptop', processes: [body.processes[0], tuple] }, { apiKey: agent.api_key })).status, 201)
  const worker = (await api.get('/api/latest?hostname=laptop')).body.processes.find((p: { pid: number }) => p.pid === 77)
  t.same({ rss: worker.memory_rss, vms: worker.memory_vms }, { rss: 4096000, vms: 8192000 }, 'memory_info as a list')
  t.equal((await api.post('/api/ingest', { hostname: 'laptop', processes: [{ ...tuple, memory_info: [-1] }] }, { apiKey: agent.api_key })).status, 400, 'a negative size in it is refused')
  // psutil's ad_value=None: memory_info null, the flat fields beside it are what counts.
  t.equal((await api.post('/api/ingest', { hostname: 'laptop', processes: [{ pid: 78, ppid: 1, name: 'flat', memory_info: null, rss: 5000, vms: 9000 }] }, { apiKey: agent.api_key })).status, 201)
  const flat = (await api.get('/api/latest?hostname=laptop')).body.processes.find((p: { pid: number }) => p.pid === 78)
  t.same({ rss: flat.memory_rss, vms: flat.memory_vms }, { rss: 5000, vms: 9000 }, 'memory_info null leaves the flat fields')
})

t.test('the shared key (PROCMON_API_KEY): off unless set; new hosts as the setting decides; reads', async (t) => {
  const SHARED = 'process-monitor-api-key-2024'
  t.test('pending by default: the host is created, refused until approved natively', async (t) => {
    const api = await startClient(t, { faces: { processMonitor: { sharedKey: SHARED } } })
    const before = await rowCounts(api.store)
    const first = await api.post('/api/submit/', SEED_EXAMPLE, { apiKey: SHARED })
    t.equal(first.status, 403)
    t.match(first.body.error, /not approved/)
    t.same(await rowCounts(api.store), before, 'nothing stored')
    const agents = await api.get('/api/v1/agents?status=pending')
    const created = agents.body.agents.find((a: { hostname: string }) => a.hostname === 'server01')
    t.ok(created, 'the host is a pending native agent')
    t.equal((await api.req('PATCH', `/api/v1/agents/${created.id}`, { token: api.adminToken, body: { status: 'active' } })).status, 200)
    const again = await api.post('/api/submit/', SEED_EXAMPLE, { apiKey: SHARED })
    t.equal(again.status, 201)
    t.equal((await api.get('/api/v1/agents')).body.agents.filter((a: { hostname: string }) => a.hostname === 'server01').length, 1, 'one agent for the host')
    const read = await api.request('GET', '/api/hosts/server01/processes/', { apiKey: SHARED })
    t.equal(read.status, 200, 'the shared key reads')
    t.equal((await api.request('GET', '/api/hosts/')).status, 401, 'reads stay closed without it')
  })

  t.test('active when the operator says so; concurrent first submissions make one agent', async (t) => {
    const api = await startClient(t, { faces: { processMonitor: { sharedKey: SHARED, newHosts: 'active' } } })
    const replies = await Promise.all([1, 2, 3].map(() => api.post('/api/submit/', { ...SEED_EXAMPLE, hostname: 'burst' }, { apiKey: SHARED })))
    t.same(replies.map((r) => r.status), [201, 201, 201])
    t.equal((await api.get('/api/v1/agents')).body.agents.filter((a: { hostname: string }) => a.hostname === 'burst').length, 1)
  })

  t.test('unset: the seed\'s default key is just a wrong key', async (t) => {
    const api = await startClient(t)
    t.equal((await api.post('/api/submit/', SEED_EXAMPLE, { apiKey: SHARED })).status, 401)
    t.equal((await api.get('/api/v1/agents')).body.total, 0, 'no host created')
  })

  t.test('public reads only when opened', async (t) => {
    const api = await startClient(t, { faces: { processMonitor: { publicReads: true } } })
    const agent = await api.createAgent('server01')
    t.equal((await api.post('/api/submit/', SEED_EXAMPLE, { apiKey: agent.api_key })).status, 201)
    const res = await api.request('GET', '/api/hosts/server01/processes/')
    t.equal(res.status, 200)
    t.equal(res.body.process_tree[0].name, 'systemd')
    t.equal((await api.post('/api/submit/', SEED_EXAMPLE, {})).status, 401, 'uploads still need a key')
  })
})

t.test('ids are integers stable across a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-procmon-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const ids = async (api: TestClient) => {
    const hosts = (await api.get('/api/hosts/')).body
    return hosts.map((h: { id: number; latest_snapshot: { id: number; processes: Array<{ id: number }> } }) =>
      [h.id, h.latest_snapshot.id, h.latest_snapshot.processes.map((p) => p.id)])
  }
  let first: unknown
  {
    const store = await openStore({ backend: 'embedded', dataDir: join(dir, 'pg') })
    await prepareStore(store, { retention: { raw: '30d', minute: '90d', hour: '90d', day: '365d' } })
    const api = await startClient(t, {}, store)
    const agent = await api.createAgent('server01')
    t.equal((await api.post('/api/submit/', SEED_EXAMPLE, { apiKey: agent.api_key })).status, 201)
    first = await ids(api)
    await api.app.close()
    await store.close()
  }
  const store = await openStore({ backend: 'embedded', dataDir: join(dir, 'pg') })
  t.teardown(() => store.close())
  await prepareStore(store, { retention: { raw: '30d', minute: '90d', hour: '90d', day: '365d' } })
  const api = await startClient(t, {}, store)
  t.same(await ids(api), first)
})
