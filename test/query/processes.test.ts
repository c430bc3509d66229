// GET /api/v1/agents/:id/processes (the latest snapshot as seed 000's process_tree, with ?q=) and
// GET /api/v1/processes/top/:agent_id (ranked by average or peak CPU or memory over a window).
import t from 'tap'
import { assertError, makeBatch, minutesAgo, proc, startClient } from '../test-client.ts'

const NODE_FIELDS = ['id', 'pid', 'name', 'cmdline', 'cpu_percent', 'memory_percent', 'memory_rss', 'memory_vms', 'status', 'username', 'children']
const MB = 1_000_000

/** [pid, parent_pid, name, cmdline] of the known tree; 500's parent 9999 is missing, 600 names itself. */
const TREE: Array<[number, number, string, string]> = [
  [1, 0, 'systemd', '/sbin/init'],
  [2, 0, 'kthreadd', ''],
  [100, 1, 'sshd', '/usr/sbin/sshd -D'],
  [101, 100, 'sshd', 'sshd: alice@pts/0'],
  [102, 101, 'bash', '-bash'],
  [103, 102, 'vim', 'vim /etc/nginx/nginx.conf'],
  [200, 1, 'nginx', '/usr/sbin/nginx -g daemon off;'],
  [201, 200, 'nginx', 'nginx: worker process'],
  [202, 200, 'nginx', 'nginx: worker process'],
  [300, 2, 'kworker/0:1', ''],
  [500, 9999, 'orphan-job', '/opt/job --run'],
  [600, 600, 'selfish', '/bin/selfish'],
]

/** The tree as nested [pid, children] pairs, to compare shapes at a glance. */
const shape = (nodes: any[]): any[] => nodes.map((n) => [n.pid, shape(n.children)])

function flatten(nodes: any[], parent: any, out: Array<{ node: any; parent: any }> = []) {
  for (const n of nodes) { out.push({ node: n, parent }); flatten(n.children, n, out) }
  return out
}

t.test('process tree and top processes', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('tree-a', api.adminToken)
  const procs = TREE.map(([pid, ppid, name, cmdline], i) => proc(pid, name, {
    parent_pid: ppid, cmdline, cpu_percent: i, memory_bytes: (i + 1) * MB, memory_vms: 2 * (i + 1) * MB, memory_percent: i / 10,
    username: pid === 102 || pid === 103 ? 'alice' : 'root', status: 'sleeping', num_threads: 1 + i,
  }))
  // An older snapshot with other processes: only the latest one is drawn.
  t.equal((await api.ingest(agent.api_key, makeBatch({ time: minutesAgo(5), processes: [proc(1, 'systemd', { parent_pid: 0 }), proc(777, 'old-only')] }))).status, 202)
  const latestTime = minutesAgo(1)
  t.equal((await api.ingest(agent.api_key, makeBatch({ time: latestTime, processes: procs }))).status, 202)

  t.test('every process exactly once, with correct parent links; orphans are roots', async (t) => {
    const res = await api.get('/api/v1/agents/tree-a/processes')
    t.equal(res.status, 200)
    for (const k of ['hostname', 'timestamp', 'total_processes', 'process_tree']) t.ok(k in res.body, `has ${k}`)
    t.equal(res.body.timestamp, latestTime, 'the latest snapshot, in UTC')
    t.equal(res.body.total_processes, TREE.length)
    t.equal(res.body.hostname, 'web-01.example.com')
    t.same(shape(res.body.process_tree), [
      [1, [[100, [[101, [[102, [[103, []]]]]]]], [200, [[201, []], [202, []]]]]],
      [2, [[300, []]]],
      [500, []],
      [600, []],
    ])
    const all = flatten(res.body.process_tree, null)
    t.same(all.map((e) => e.node.pid).sort((a, b) => a - b), TREE.map(([pid]) => pid).sort((a, b) => a - b), 'each pid once')
    for (const { node, parent } of all) {
      if (parent) t.equal(node.parent_pid, parent.pid, `${node.pid} hangs under its parent ${parent.pid}`)
      else t.ok(!TREE.some(([pid]) => pid === node.parent_pid && pid !== node.pid), `${node.pid} is a root because its parent ${node.parent_pid} is absent`)
    }
    const vim = all.find((e) => e.node.pid === 103)!.node
    for (const f of NODE_FIELDS) t.ok(f in vim, `a node has ${f}`)
    t.same({ name: vim.name, cmdline: vim.cmdline, username: vim.username, cpu: vim.cpu_percent, rss: vim.memory_rss, vms: vim.memory_vms, mem: vim.memory_percent },
      { name: 'vim', cmdline: 'vim /etc/nginx/nginx.conf', username: 'alice', cpu: 5, rss: 6 * MB, vms: 12 * MB, mem: 0.5 })
    t.notOk(all.some((e) => e.node.pid === 777), 'nothing from the older snapshot')
  })

  t.test('?q= keeps matches and their ancestors only', async (t) => {
    const q = async (text: string) => shape((await api.get(`/api/v1/agents/tree-a/processes?q=${encodeURIComponent(text)}`)).body.process_tree)
    // nginx by name (200, 201, 202) and by cmdline (vim editing nginx.conf, under sshd → bash).
    t.same(await q('nginx'), [[1, [[100, [[101, [[102, [[103, []]]]]]]], [200, [[201, []], [202, []]]]]]])
    t.same(await q('NGINX'), await q('nginx'), 'case-insensitive')
    t.same(await q('worker process'), [[1, [[200, [[201, []], [202, []]]]]]], 'by cmdline')
    t.same(await q('orphan'), [[500, []]])
    t.same(await q('300'), [[2, [[300, []]]]], 'by pid')
    t.same(await q('alice'), [[1, [[100, [[101, []]]]]]], 'cmdline "sshd: alice@pts/0"; bash and vim are not matches')
    t.same(await q('selfish'), [[600, []]], 'a self-parented process does not loop')
    t.same(await q('no-such-process'), [])
    const res = await api.get('/api/v1/agents/tree-a/processes?q=nginx')
    t.equal(res.body.q, 'nginx')
  })

  t.test('unknown agent 404; agent without processes: empty tree', async (t) => {
    assertError(t, await api.get('/api/v1/agents/nobody/processes'), 404, 'NOT_FOUND')
    await api.createAgent('empty-a')
    const res = await api.get('/api/v1/agents/empty-a/processes')
    t.equal(res.status, 200)
    t.same(res.body.process_tree, [])
    t.equal(res.body.total_processes, 0)
  })

  t.test('a snapshot whose processes carry their own time (the contract allows it) still shows every process', async (t) => {
    const own = await api.createAgent('own-time')
    const time = minutesAgo(2)
    const later = new Date(Date.parse(time) + 1500).toISOString()
    const batch = makeBatch({ time, processes: [proc(1, 'systemd', { parent_pid: 0, time: later }), proc(50, 'app', { parent_pid: 1, time: later })] })
    t.equal((await api.ingest(own.api_key, batch)).status, 202)
    const res = await api.get('/api/v1/agents/own-time/processes')
    t.equal(res.body.total_processes, 2)
    t.same(shape(res.body.process_tree), [[1, [[50, []]]]], `both processes of the snapshot (got ${JSON.stringify(shape(res.body.process_tree))})`)
  })

  t.test('top processes by average and by peak, CPU and memory, exact', async (t) => {
    const top = await api.createAgent('top-a')
    const cpu = { nginx: [10, 20, 30, 40], java: [30, 30, 30, 30], spiky: [0, 0, 0, 90] }
    const mem = { nginx: [100, 100, 100, 100], java: [500, 600, 700, 800], spiky: [10, 10, 10, 10] }
    const times = [0, 1, 2, 3].map((s) => minutesAgo(4 - s))
    const snaps = [0, 1, 2, 3].map((s) => makeBatch({
      time: times[s],
      processes: [
        proc(10, 'nginx', { cpu_percent: cpu.nginx[s], memory_bytes: mem.nginx[s] * MB, cmdline: 'nginx: master', username: 'www' }),
        proc(20, 'java', { cpu_percent: cpu.java[s], memory_bytes: mem.java[s] * MB, cmdline: 'java -jar app.jar', username: 'app' }),
        proc(30, 'spiky', { cpu_percent: cpu.spiky[s], memory_bytes: mem.spiky[s] * MB }),
        proc(40, 'redis', { cpu_percent: 5, memory_bytes: 200 * MB }),
        proc(41, 'redis', { cpu_percent: 15, memory_bytes: 300 * MB }),
      ],
    }))
    // One more snapshot before the window: it must not count.
    snaps.push(makeBatch({ time: minutesAgo(30), processes: [proc(10, 'nginx', { cpu_percent: 1000, memory_bytes: 1 })] }))
    t.equal((await api.ingest(top.api_key, snaps)).status, 202)
    const window = `start=${encodeURIComponent(minutesAgo(10))}`
    const get = async (q: string) => (await api.get(`/api/v1/processes/top/top-a?${window}&${q}&group=name`)).body
    const perProcess = async (q: string) => (await api.get(`/api/v1/processes/top/top-a?${window}&${q}`)).body

    // By default each process is itself: the two redis processes are two rows, each with its pid.
    const own = await perProcess('by=cpu')
    t.equal(own.group, 'process', 'the default: one row per process')
    t.same(own.processes.map((p: any) => [p.name, p.pid, p.avg_cpu_percent]),
      [['java', 20, 30], ['nginx', 10, 25], ['spiky', 30, 22.5], ['redis', 41, 15], ['redis', 40, 5]], 'by average CPU, per process')
    const java1 = own.processes[0]
    t.same([java1.cmdline, java1.username, java1.samples, java1.first_seen, java1.last_seen], ['java -jar app.jar', 'app', 4, times[0], times[3]],
      'its command line, user, samples and when it was first and last seen in the window')
    t.ok('started_at' in java1, 'its start time (the create time the agent sent) is in the answer')
    t.same((await perProcess('by=memory&stat=max')).processes.map((p: any) => [p.pid, p.max_memory_bytes]),
      [[20, 800 * MB], [41, 300 * MB], [40, 200 * MB], [10, 100 * MB], [30, 10 * MB]], 'by peak memory, per process')

    const byCpu = await get('by=cpu')
    t.equal(byCpu.group, 'name', 'group=name: every process of a name together')
    t.equal(byCpu.resolution, 'raw')
    t.same(byCpu.processes.map((p: any) => [p.name, p.avg_cpu_percent]), [['java', 30], ['nginx', 25], ['spiky', 22.5], ['redis', 10]], 'by average CPU')
    const nginx = byCpu.processes.find((p: any) => p.name === 'nginx')
    t.same([nginx.cmdline, nginx.username, nginx.samples, nginx.max_cpu_percent], ['nginx: master', 'www', 4, 40])
    const redis = byCpu.processes.find((p: any) => p.name === 'redis')
    t.same([redis.samples, redis.avg_memory_bytes, redis.max_memory_bytes], [8, 250 * MB, 300 * MB], 'two redis pids ranked as one name')
    t.same([nginx.last_pid, nginx.last_seen], [10, times[3]], 'the newest pid and time of the name')
    const java = byCpu.processes.find((p: any) => p.name === 'java')
    t.same([java.cmdline, java.username], ['java -jar app.jar', 'app'])
    t.same((await get('by=cpu&stat=max')).processes.map((p: any) => [p.name, p.max_cpu_percent]), [['spiky', 90], ['nginx', 40], ['java', 30], ['redis', 15]], 'by peak CPU')
    t.same((await get('by=memory')).processes.map((p: any) => [p.name, p.avg_memory_bytes]), [['java', 650 * MB], ['redis', 250 * MB], ['nginx', 100 * MB], ['spiky', 10 * MB]], 'by average memory')
    t.same((await get('by=memory&stat=max')).processes.map((p: any) => [p.name, p.max_memory_bytes]), [['java', 800 * MB], ['redis', 300 * MB], ['nginx', 100 * MB], ['spiky', 10 * MB]], 'by peak memory')
    const two = await get('limit=2')
    t.equal(two.count, 2)
    t.same(two.processes.map((p: any) => p.name), ['java', 'nginx'], 'default: by average CPU')
    t.equal(two.by, 'cpu')
    const wide = await api.get('/api/v1/processes/top/top-a?group=name&start=' + encodeURIComponent(minutesAgo(60)))
    t.equal(wide.body.processes[0].name, 'nginx', 'the older snapshot counts once the window holds it')
    t.equal(wide.body.processes[0].avg_cpu_percent, (10 + 20 + 30 + 40 + 1000) / 5)

    // A week: ranked from the hourly aggregate, with the same exact averages.
    const week = (await api.get('/api/v1/processes/top/top-a?start=' + encodeURIComponent(minutesAgo(7 * 24 * 60)))).body
    t.equal(week.resolution, 'process_metrics_1h', 'a long window reads the hourly aggregate')
    t.equal(week.group, 'name', 'which keeps names only: the answer says it groups by name')
    t.same(week.processes.map((p: any) => [p.name, p.avg_cpu_percent, p.max_cpu_percent, p.samples]),
      [['nginx', 220, 1000, 5], ['java', 30, 30, 4], ['spiky', 22.5, 90, 4], ['redis', 10, 15, 8]])
    t.same(week.processes.find((p: any) => p.name === 'java').avg_memory_bytes, 650 * MB)

    for (const [q, field] of [['by=disk', 'by'], ['stat=median', 'stat'], ['limit=0', 'limit'], ['start=bad', 'start'], ['group=user', 'group']]) {
      const res = await api.get(`/api/v1/processes/top/top-a?${q}`)
      assertError(t, res, 400, 'VALIDATION_ERROR', q)
      t.ok(res.body?.details && field in res.body.details, `${q}: names ${field}`)
    }
    t.equal((await get('limit=500')).count, 4, 'a large limit is capped, not refused')
    assertError(t, await api.get('/api/v1/processes/top/nobody'), 404, 'NOT_FOUND')
  })
})
