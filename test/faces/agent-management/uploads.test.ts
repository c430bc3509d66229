// Seed 003's agent uploads against the real app: metrics, process lists and logs with sessions become native
// data (native latest metrics, disk and network listings with rates, the process tree, the native log
// listing); deactivated and unapproved agents are refused with 403 on every face, counted, nothing stored;
// encrypted or non-JSON payloads are refused pointing to TLS; bad bodies name the seed's fields; hostname
// authentication works only when switched on.
import t from 'tap'
import { sql } from 'kysely'
import { makeBatch, minutesAgo, proc, rowCounts, startClient, type TestClient } from '../../test-client.ts'

async function seedAgent(api: TestClient, body: Record<string, unknown>) {
  const res = await api.req('POST', '/api/agents/', { token: api.adminToken, body })
  if (res.status !== 201) throw new Error(`${res.status} ${res.text}`)
  return res.body as { id: number; uuid: string; name: string; api_key: string }
}

/** Every table an upload could write, counted. */
async function allRows(api: TestClient) {
  const extra: Record<string, number> = {}
  for (const table of ['logs', 'user_sessions']) {
    extra[table] = (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(api.store.db)).rows[0].n
  }
  return { ...(await rowCounts(api.store)), ...extra }
}

async function refusedCount(api: TestClient, reason: string): Promise<number> {
  const res = await api.req('GET', '/metrics', { token: api.adminToken })
  const m = new RegExp(`^hostpulse_ingest_refused_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(res.text)
  return m ? Number(m[1]) : 0
}

const METRICS = {
  hostname: 'up-01.example', cpu_usage: 41.5, memory_usage: 63.2, memory_total: 8_000_000_000, memory_used: 5_056_000_000,
  disk_usage: 71.25, disk_total: 100_000_000_000, disk_used: 71_250_000_000, network_in: 1_000_000, network_out: 500_000, load_average: [0.5, 0.7, 0.9],
}

t.test('seed 003 uploads', async (t) => {
  const api = await startClient(t)
  const admin = api.adminToken
  const agent = await seedAgent(api, { hostname: 'up-01.example', is_approved: true })

  t.test('POST /api/metrics/upload/: native series, disk and network rows, rates from the previous upload', async (t) => {
    const res = await api.post('/api/metrics/upload/', { ...METRICS, timestamp: minutesAgo(1) }, { apiKey: agent.api_key })
    t.equal(res.status, 201, res.text)
    t.same(Object.keys(res.body).sort(), ['batch_id', 'metrics_saved', 'status'])
    t.equal(res.body.status, 'success')
    t.equal(res.body.metrics_saved, 4 + 6 + 1 + 1, 'cpu, memory ×4, load ×6, one disk row, one interface row')
    const latest = await api.req('GET', `/api/v1/metrics/latest/${agent.uuid}`, { token: admin })
    const value = (type: string, name: string) => latest.body.metrics.find((m: { metric_type: string; metric_name: string }) => m.metric_type === type && m.metric_name === name)?.value
    t.equal(value('cpu', 'usage_percent'), 41.5, 'cpu_usage is cpu.usage_percent')
    t.equal(value('memory', 'usage_percent'), 63.2, 'memory_usage is memory.usage_percent')
    t.equal(value('memory', 'total_bytes'), 8_000_000_000)
    t.equal(value('memory', 'used_bytes'), 5_056_000_000)
    t.equal(value('load', 'load1'), 0.5)
    t.equal(value('cpu', 'load_avg_15'), 0.9)
    const disk = await api.req('GET', `/api/v1/metrics/disk/${agent.uuid}`, { token: admin })
    t.match(disk.body.metrics[0], { mount_point: '/', usage_percent: 71.25, total_bytes: 100_000_000_000, used_bytes: 71_250_000_000, available_bytes: 28_750_000_000 })
    const series = await api.req('GET', `/api/v1/metrics/series/${agent.uuid}?metric=disk.usage_percent&tags.mount_point=/&start=${minutesAgo(10)}`, { token: admin })
    t.same(series.body.values, [71.25], 'disk_usage is the native disk.usage_percent series (charts, alerting)')

    const second = await api.post('/api/metrics/upload/', { hostname: 'up-01.example', cpu_percent: 10, memory_percent: 20, disk_percent: 50, bytes_recv: 1_600_000, bytes_sent: 800_000 }, { apiKey: agent.api_key })
    t.equal(second.status, 201, second.text)
    const net = await api.req('GET', `/api/v1/metrics/network/${agent.uuid}`, { token: admin })
    t.equal(net.body.metrics.length, 2)
    const [newest, older] = net.body.metrics
    t.match(older, { interface: 'all', bytes_recv: 1_000_000, bytes_sent: 500_000, bytes_recv_per_sec: null })
    t.match(newest, { interface: 'all', bytes_recv: 1_600_000, bytes_sent: 800_000 })
    const elapsed = (Date.parse(newest.time) - Date.parse(older.time)) / 1000
    t.ok(Math.abs(newest.bytes_recv_per_sec - 600_000 / elapsed) < 1, `receive rate from the counters (${newest.bytes_recv_per_sec}/s)`)
    t.ok(Math.abs(newest.bytes_sent_per_sec - 300_000 / elapsed) < 1)
    const again = (await api.req('GET', `/api/v1/metrics/latest/${agent.uuid}`, { token: admin })).body.metrics
    t.equal(again.find((m: { metric_type: string; metric_name: string }) => m.metric_type === 'cpu' && m.metric_name === 'usage_percent').value, 10, 'cpu_percent is the same series')
  })

  t.test('bad metric bodies: 400 naming the seed fields, nothing stored', async (t) => {
    const before = await allRows(api)
    const wrong = await api.post('/api/metrics/upload/', { cpu_usage: 'high', memory_usage: -1, load_average: [] }, { apiKey: agent.api_key })
    t.equal(wrong.status, 400)
    t.same(Object.keys(wrong.body).sort(), ['cpu_usage', 'load_average', 'memory_usage'])
    const empty = await api.post('/api/metrics/upload/', { hostname: 'up-01.example' }, { apiKey: agent.api_key })
    t.equal(empty.status, 400)
    t.same(Object.keys(empty.body), ['non_field_errors'])
    t.match(empty.body.non_field_errors[0], /cpu_usage/)
    const future = await api.post('/api/metrics/upload/', { cpu_usage: 1, timestamp: new Date(Date.now() + 3_600_000).toISOString() }, { apiKey: agent.api_key })
    t.equal(future.status, 400)
    t.same(Object.keys(future.body), ['timestamp'], 'the native clock rule, named as the seed names the field')
    const garbled = await api.post('/api/metrics/upload/', { cpu_usage: 1, timestamp: 'yesterday-ish' }, { apiKey: agent.api_key })
    t.same(Object.keys(garbled.body), ['timestamp'])
    const notJson = await api.request('POST', '/api/metrics/upload/', { rawBody: '{"cpu_usage":', apiKey: agent.api_key })
    t.equal(notJson.status, 400)
    t.type(notJson.body.detail, 'string')
    t.same(await allRows(api), before, 'nothing stored')
  })

  t.test('POST /api/processes/upload/ → the native process tree, and native ingest → /api/processes/list/', async (t) => {
    const processes = [
      { pid: 1, ppid: 0, name: 'systemd', username: 'root', cpu_percent: 0.1, memory_percent: 0.2, memory_info: { rss: 8_192_000, vms: 16_000_000 }, cmdline: ['/sbin/init'], status: 'sleeping', create_time: 1_700_000_000.5 },
      { pid: 812, ppid: 1, name: 'postgres', username: 'postgres', cpu_percent: 12.5, memory_percent: 3.2, memory_rss: 52_428_800, cmdline: 'postgres --password=hunter2', num_threads: 4 },
      { pid: 900, ppid: 1, name: 'cron', cpu_percent: null, memory_percent: null },
    ]
    const res = await api.post('/api/processes/upload/', { hostname: 'up-01.example', processes }, { apiKey: agent.api_key })
    t.equal(res.status, 201, res.text)
    t.same(Object.keys(res.body).sort(), ['batch_id', 'processes_saved', 'snapshot_id', 'status'])
    t.equal(res.body.processes_saved, 3)
    t.ok(Number.isInteger(res.body.snapshot_id))
    const tree = await api.req('GET', `/api/v1/agents/${agent.uuid}/processes`, { token: admin })
    t.equal(tree.status, 200)
    t.equal(tree.body.snapshot_id, res.body.snapshot_id)
    t.equal(tree.body.total_processes, 3)
    const root = tree.body.process_tree[0]
    t.match(root, { pid: 1, name: 'systemd', cmdline: '/sbin/init', memory_rss: 8_192_000, memory_vms: 16_000_000, create_time: '2023-11-14T22:13:20.500Z' })
    const pg = root.children.find((c: { pid: number }) => c.pid === 812)
    t.match(pg, { name: 'postgres', memory_rss: 52_428_800, num_threads: 4 })
    t.notMatch(pg.cmdline, /hunter2/, 'command lines are scrubbed by the native ingest')

    const list = await api.req('GET', '/api/processes/list/?hostname=up-01.example', { token: admin })
    t.equal(list.status, 200)
    t.same(list.body.results.map((p: { pid: number }) => p.pid), [812, 1, 900], 'by CPU, then memory')

    // The reverse: a native batch is the newest snapshot on the seed face.
    // A second later than the upload (makeBatch's time is whole seconds), and keeping the agent's hostname.
    await api.ingestOk(agent.api_key, makeBatch({
      time: new Date(Date.now() + 1000).toISOString(), host: undefined, processes: [proc(4242, 'nginx', { cpu_percent: 5 }), proc(4243, 'node', { cpu_percent: 9 })],
    }))
    const after = await api.req('GET', '/api/processes/list/?hostname=up-01.example&page_size=1', { token: admin })
    t.equal(after.body.count, 2)
    t.same(after.body.results.map((p: { pid: number }) => p.pid), [4243])
    t.match(after.body.next, /page=2/)

    const before = await allRows(api)
    const bad = await api.post('/api/processes/upload/', { processes: [{ name: 'x' }, { pid: 'one', name: 'y' }] }, { apiKey: agent.api_key })
    t.equal(bad.status, 400)
    t.same(Object.keys(bad.body).sort(), ['processes[0].pid', 'processes[1].pid'])
    const missing = await api.post('/api/processes/upload/', { hostname: 'up-01.example' }, { apiKey: agent.api_key })
    t.same(missing.body, { processes: ['This field is required.'] })
    t.same(await allRows(api), before, 'nothing stored')
  })

  t.test('POST /api/logs/upload_logs/: log lines and user sessions, natively stored and listed', async (t) => {
    const body = {
      hostname: 'up-01.example',
      logs: [
        { timestamp: minutesAgo(3), level: 'ERROR', source: '/var/log/syslog', message: 'disk failure on sda', device: 'sda' },
        { timestamp: minutesAgo(2), log_level: 'warn', log_type: 'auth', message: 'failed password for root', fields: { attempts: 3 } },
        { message: 'plain line' },
      ],
      sessions: [{ username: 'alice', terminal: 'pts/0', host: '203.0.113.9', pid: 4100, login_time: minutesAgo(30) }],
    }
    const res = await api.post('/api/logs/upload_logs/', body, { apiKey: agent.api_key })
    t.equal(res.status, 201, res.text)
    t.same(res.body.logs_saved, 3)
    t.same(res.body.sessions_saved, 1)
    const seed = await api.req('GET', `/api/logs/?agent_id=${agent.id}`, { token: admin })
    t.equal(seed.body.count, 3)
    const [plain, warn, err] = seed.body.results
    t.match(err, { agent: agent.id, hostname: 'up-01.example', level: 'error', source: '/var/log/syslog', message: 'disk failure on sda', fields: { device: 'sda' } })
    t.match(warn, { level: 'warning', source: 'auth', fields: { attempts: 3 } })
    t.match(plain, { level: 'info', source: 'seed-agent', message: 'plain line' })
    const native = await api.req('GET', `/api/v1/logs?agent=${agent.uuid}`, { token: admin })
    t.equal(native.status, 200)
    t.same(native.body.logs.map((l: { message: string }) => l.message).sort(), ['disk failure on sda', 'failed password for root', 'plain line'], 'in the native log listing')
    const sessions = await api.req('GET', `/api/sessions/?agent_id=${agent.id}`, { token: admin })
    t.equal(sessions.body.count, 1)
    t.match(sessions.body.results[0], { username: 'alice', terminal: 'pts/0', host: '203.0.113.9', pid: 4100, agent: agent.id, is_active: true })

    const user = await api.post('/api/logs/upload_logs/', { user_sessions: [{ user: 'bob', tty: 'tty1', login_time: Math.floor(Date.now() / 1000) - 60 }] }, { apiKey: agent.api_key })
    t.equal(user.status, 201, 'user_sessions, user and tty, epoch seconds: the seed agent\'s spellings')
    const before = await allRows(api)
    const badLevel = await api.post('/api/logs/upload_logs/', { logs: [{ message: 'x' }, { message: 'y', level: 'loud' }] }, { apiKey: agent.api_key })
    t.equal(badLevel.status, 400)
    t.same(Object.keys(badLevel.body), ['logs[1].level'])
    const noUser = await api.post('/api/logs/upload_logs/', { sessions: [{ login_time: minutesAgo(1) }] }, { apiKey: agent.api_key })
    t.same(noUser.body, { 'sessions[0].username': ['This field is required.'] })
    const old = await api.post('/api/logs/upload_logs/', { logs: [{ message: 'ancient', timestamp: minutesAgo(3 * 24 * 60) }] }, { apiKey: agent.api_key })
    t.equal(old.status, 400)
    t.same(Object.keys(old.body), ['logs[0].timestamp'], 'the native rule: within a day of the upload')
    const nothing = await api.post('/api/logs/upload_logs/', { hostname: 'up-01.example', logs: [] }, { apiKey: agent.api_key })
    t.equal(nothing.status, 400)
    t.ok(Array.isArray(nothing.body.logs))
    const tooLong = await api.post('/api/logs/upload_logs/', { logs: [{ message: 'x'.repeat(16385) }] }, { apiKey: agent.api_key })
    t.same(Object.keys(tooLong.body), ['logs[0].message'])
    t.same(await allRows(api), before, 'nothing stored')
  })

  t.test('encrypted or non-JSON payloads: 415 saying to use TLS, nothing stored', async (t) => {
    const before = await allRows(api)
    for (const path of ['/api/logs/upload_logs/', '/api/metrics/upload/', '/api/processes/upload/']) {
      const flagged = await api.post(path, { hostname: 'up-01.example', encrypted: true, data: 'gAAAAABk...' }, { apiKey: agent.api_key })
      t.equal(flagged.status, 415, `${path}: encrypted: true`)
      t.same(Object.keys(flagged.body), ['detail'])
      t.match(flagged.body.detail, /TLS/)
      const wrapped = await api.post(path, { encrypted_data: 'gAAAAABk...' }, { apiKey: agent.api_key })
      t.equal(wrapped.status, 415, `${path}: encrypted_data`)
      const octets = await api.request('POST', path, { rawBody: 'gAAAAABk\u0000binary', apiKey: agent.api_key, headers: { 'content-type': 'application/octet-stream' } })
      t.equal(octets.status, 415, `${path}: octet stream`)
      t.match(octets.body.detail, /TLS/)
      const text = await api.request('POST', path, { rawBody: 'gAAAAABk', apiKey: agent.api_key, headers: { 'content-type': 'text/plain' } })
      t.equal(text.status, 415, `${path}: text`)
      const quoted = await api.request('POST', path, { rawBody: '"gAAAAABk"', apiKey: agent.api_key })
      t.equal(quoted.status, 415, `${path}: a JSON string`)
    }
    const anonymous = await api.request('POST', '/api/logs/upload_logs/', { rawBody: 'gAAAA', headers: { 'content-type': 'application/octet-stream' } })
    t.equal(anonymous.status, 401, 'the key is asked for first')
    t.same(await allRows(api), before, 'nothing stored')
  })

  t.test('a key may not write as another agent named by the body\'s hostname', async (t) => {
    await seedAgent(api, { hostname: 'other.example', is_approved: true })
    const before = await allRows(api)
    const res = await api.post('/api/metrics/upload/', { hostname: 'other.example', cpu_usage: 5 }, { apiKey: agent.api_key })
    t.equal(res.status, 403)
    t.match(res.body.detail, /own key/)
    t.same(await allRows(api), before)
    t.equal((await api.post('/api/metrics/upload/', { hostname: 'renamed-host.example', cpu_usage: 5 }, { apiKey: agent.api_key })).status, 201, 'an unknown hostname is the key\'s agent')
  })

  t.test('deactivated (through the seed face) and unapproved agents: 403 on every face, counted, nothing stored', async (t) => {
    const victim = await seedAgent(api, { hostname: 'victim.example', is_approved: true })
    t.equal((await api.post('/api/metrics/upload/', { cpu_usage: 1 }, { apiKey: victim.api_key })).status, 201)
    const off = await api.req('POST', `/api/agents/${victim.id}/deactivate/`, { token: admin })
    t.equal(off.body.is_active, false)
    const before = await allRows(api)
    const refusedBefore = await refusedCount(api, 'inactive')
    const native = await api.ingest(victim.api_key, makeBatch())
    t.equal(native.status, 403, 'native ingest')
    t.match(native.body.message, /inactive/)
    const uploads: Array<[string, unknown]> = [
      ['/api/metrics/upload/', { cpu_usage: 2 }], ['/api/processes/upload/', { processes: [{ pid: 1, name: 'init' }] }],
      ['/api/logs/upload_logs/', { logs: [{ message: 'hello' }] }],
    ]
    for (const [path, body] of uploads) {
      const res = await api.post(path, body, { apiKey: victim.api_key })
      t.equal(res.status, 403, path)
      t.same(Object.keys(res.body), ['detail'])
      t.match(res.body.detail, /inactive/)
    }
    t.equal(await refusedCount(api, 'inactive'), refusedBefore + 4, 'every refusal counted')
    t.same(await allRows(api), before, 'nothing stored')

    const pending = await seedAgent(api, { hostname: 'pending.example' })
    const refusedPending = await refusedCount(api, 'unapproved')
    const res = await api.post('/api/metrics/upload/', { cpu_usage: 2 }, { apiKey: pending.api_key })
    t.equal(res.status, 403)
    t.match(res.body.detail, /not approved/)
    t.equal(await refusedCount(api, 'unapproved'), refusedPending + 1)
    t.same(await allRows(api), before, 'nothing stored')
  })

  t.test('no key or an unknown key: 401; hostname alone is no credential while AGENT_HOSTNAME_AUTH is off', async (t) => {
    const before = await allRows(api)
    const none = await api.post('/api/metrics/upload/', { hostname: 'up-01.example', cpu_usage: 3 })
    t.equal(none.status, 401)
    t.same(Object.keys(none.body), ['detail'])
    t.match(none.body.detail, /X-API-Key/)
    t.equal((await api.post('/api/logs/upload_logs/', { hostname: 'up-01.example', logs: [{ message: 'x' }] }, { apiKey: 'hp_unknown' })).status, 401)
    t.equal((await api.post('/api/processes/upload/', { hostname: 'up-01.example', processes: [] })).status, 401)
    t.same(await allRows(api), before)
  })
})

t.test('AGENT_HOSTNAME_AUTH on: a body hostname naming one approved, active agent is accepted', async (t) => {
  const api = await startClient(t, { faces: { hostnameAuth: true } })
  const active = await seedAgent(api, { hostname: 'trusted.example', is_approved: true })
  await seedAgent(api, { hostname: 'waiting.example' })
  const parked = await seedAgent(api, { hostname: 'parked.example', is_approved: true, is_active: false })
  const before = await allRows(api)
  const ok = await api.post('/api/metrics/upload/', { hostname: 'trusted.example', cpu_usage: 17 })
  t.equal(ok.status, 201, ok.text)
  const latest = await api.req('GET', `/api/v1/metrics/latest/${active.uuid}`, { token: api.adminToken })
  t.equal(latest.body.metrics.find((m: { metric_name: string }) => m.metric_name === 'usage_percent').value, 17)
  t.equal((await api.post('/api/logs/upload_logs/', { hostname: 'trusted.example', logs: [{ message: 'via hostname' }] })).status, 201)
  const config = await api.req('GET', '/api/agent/config/?hostname=trusted.example')
  t.equal(config.status, 200, 'the configuration by hostname, too')
  t.equal(config.body.agent_id, active.id)

  const after = await allRows(api)
  const pending = await api.post('/api/metrics/upload/', { hostname: 'waiting.example', cpu_usage: 1 })
  t.equal(pending.status, 403)
  t.match(pending.body.detail, /not approved/)
  const inactive = await api.post('/api/metrics/upload/', { hostname: 'parked.example', cpu_usage: 1 })
  t.equal(inactive.status, 403)
  const unknown = await api.post('/api/metrics/upload/', { hostname: 'stranger.example', cpu_usage: 1 })
  t.equal(unknown.status, 401)
  t.match(unknown.body.detail, /stranger\.example/)
  const noName = await api.post('/api/metrics/upload/', { cpu_usage: 1 })
  t.equal(noName.status, 401)
  const badBody = await api.post('/api/metrics/upload/', { hostname: 'stranger.example', cpu_usage: 'x' })
  t.equal(badBody.status, 401, 'strangers learn nothing about the body')
  const wrongKey = await api.post('/api/metrics/upload/', { hostname: 'trusted.example', cpu_usage: 1 }, { apiKey: 'hp_wrong' })
  t.equal(wrongKey.status, 401, 'a key, when sent, is what counts')
  t.same(await allRows(api), after, 'refused uploads store nothing')
  t.notSame(after, before)
  void parked
})
