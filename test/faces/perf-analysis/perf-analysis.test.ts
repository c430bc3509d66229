// Seed 004 against the real app: every example of the document replayed (token auth, collectors, columnar
// CPU, memory, disk and network, statistics, comparison, preferences, errors and rate limits), with the
// numbers checked against the samples the test itself ingested.
import t, { type Test } from 'tap'
import { createOrgWithAdmin, makeBatch, metric, minutesAgo, network, startClient, type Reply, type TestClient } from '../../test-client.ts'

const STAT_KEYS = ['avg', 'current', 'max', 'min', 'p100', 'p50', 'p75', 'p90', 'p95', 'p97_5', 'p99', 'stddev']
const COLLECTOR_KEYS = ['cloud_provider', 'cpu_count', 'cpu_model', 'created_at', 'hostname', 'id', 'instance_type', 'ip_address', 'last_seen',
  'memory_total_gb', 'name', 'os_info', 'region', 'status', 'updated_at']
const SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/
const MIB = 1024 * 1024

/** percentile_cont: linear interpolation between the two nearest ranks. */
function percentile(sorted: number[], p: number): number {
  const pos = p * (sorted.length - 1)
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo])
}

function statsOf(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b)
  const avg = values.reduce((s, v) => s + v, 0) / values.length
  const stddev = Math.sqrt(values.reduce((s, v) => s + (v - avg) ** 2, 0) / (values.length - 1))
  return {
    min: sorted[0], max: sorted.at(-1)!, avg, stddev, current: values.at(-1)!,
    p50: percentile(sorted, 0.5), p75: percentile(sorted, 0.75), p90: percentile(sorted, 0.9), p95: percentile(sorted, 0.95),
    p97_5: percentile(sorted, 0.975), p99: percentile(sorted, 0.99), p100: sorted.at(-1)!,
  }
}

function close(t: Test, actual: number | null, expected: number, msg: string) {
  t.ok(actual !== null && Math.abs(actual - expected) <= 1e-6 * Math.max(1, Math.abs(expected)), `${msg}: ${actual} ≈ ${expected}`)
}

function assertPerfError(t: Test, res: Reply, status: number, error: string, msg: string) {
  t.equal(res.status, status, `${msg}: status ${status}`)
  t.equal(res.body?.error, error, `${msg}: error ${error}`)
  t.type(res.body?.message, 'string', `${msg}: a message`)
  t.same(Object.keys(res.body ?? {}).sort(), ['details', 'error', 'message'], `${msg}: error, message, details`)
  t.type(res.body?.details, 'object', `${msg}: details is an object`)
}

/** Deterministic samples: one batch per minute, `count` minutes up to now, each field its own wave. */
interface Samples { times: string[]; cpu: Record<string, number[]>; memory: Record<string, number[]>; disk: Record<string, Record<string, number[]>>; net: Record<string, number[]> }

async function ingestHost(api: TestClient, key: string, count: number, seed: number): Promise<Samples> {
  const s: Samples = { times: [], cpu: {}, memory: {}, disk: { sda: {}, sdb: {} }, net: {} }
  const push = (rec: Record<string, number[]>, k: string, v: number) => (rec[k] ??= []).push(v)
  for (let i = 0; i < count; i++) {
    const time = minutesAgo(count - i - 1)
    s.times.push(time)
    const w = (k: number) => Math.round((50 + 40 * Math.sin(seed + i * 0.37 * k)) * 100) / 100
    const cpu = { user: w(1), system: w(2) / 4, idle: 100 - w(1), iowait: w(3) / 10, steal: 0, irq: w(5) / 50, softirq: w(6) / 40 }
    const mem = { used_bytes: (4000 + i * 3 + seed) * MIB, available_bytes: (12000 - i * 3) * MIB, cached_bytes: 2048 * MIB + i * 4096, buffers_bytes: 256 * MIB, usage_percent: w(7) }
    const metrics = [
      ...Object.entries(cpu).map(([k, v]) => { push(s.cpu, k, v); return metric('cpu', k, v) }),
      ...Object.entries(mem).map(([k, v]) => { push(s.memory, k, v); return metric('memory', k, v) }),
      metric('memory', 'total_bytes', 16 * 1024 * MIB),
    ]
    for (const [device, factor] of [['sda', 1], ['sdb', 0]] as const) {
      const d = { read_bytes_per_sec: w(8) * 1e4 * factor, write_bytes_per_sec: w(9) * 5e3 * factor, read_ops_per_sec: w(10) * factor,
        write_ops_per_sec: w(11) / 2 * factor, io_util_percent: w(12) / 3 * factor }
      for (const [k, v] of Object.entries(d)) { push(s.disk[device], k, v); metrics.push(metric('diskio', k, v, { tags: { device } })) }
    }
    const rx = w(13) * 1e5
    const tx = w(14) * 2e5
    push(s.net, 'rx', rx); push(s.net, 'tx', tx); push(s.net, 'rxp', rx / 1000); push(s.net, 'txp', tx / 1000)
    await api.ingestOk(key, makeBatch({
      time, metrics, disks: [], processes: [],
      host: { hostname: `perf-${seed}.example`, os: 'Ubuntu', os_version: '22.04 LTS', cpu_model: 'AMD EPYC 7763 64-Core Processor', cpu_cores: 2,
        memory_total_bytes: 4 * 1024 * MIB, cloud_provider: 'oci', region: 'us-phoenix-1', instance_type: 'VM.Standard.E4.Flex',
        link_speed_bits_per_sec: { eth0: 1e9 } },
      networks: [network('eth0', { bytes_recv_per_sec: rx, bytes_sent_per_sec: tx, packets_recv_per_sec: rx / 1000, packets_sent_per_sec: tx / 1000 })],
    }))
  }
  return s
}

t.test('seed 004: auth, collectors, metrics, stats, compare, preferences', async (t) => {
  const api = await startClient(t)
  const a = await api.createAgent('perf-a')
  const b = await api.createAgent('perf-b')
  const sa = await ingestHost(api, a.api_key, 40, 1)
  const sb = await ingestHost(api, b.api_key, 40, 2)

  // §1 auth
  const bad = await api.post('/api/v1/auth/token/', { username: 'admin', password: 'wrong' })
  assertPerfError(t, bad, 401, 'INVALID_CREDENTIALS', 'wrong password')
  t.equal(bad.body.message, 'Invalid username or password')
  const login = await api.post('/api/v1/auth/token/', { username: 'admin', password: 'admin-password-1' })
  t.equal(login.status, 200)
  t.same(Object.keys(login.body).sort(), ['access', 'refresh', 'user'])
  t.same(Object.keys(login.body.user).sort(), ['email', 'first_name', 'id', 'last_name', 'username'])
  t.type(login.body.user.id, 'number', 'user id is an integer')
  t.equal(login.body.user.username, 'admin')
  const token = login.body.access as string
  const me = await api.get('/api/v1/auth/user/', token)
  t.same(me.body, login.body.user, 'GET /api/v1/auth/user/ is the user of the token')
  const refreshed = await api.post('/api/v1/auth/token/refresh/', { refresh: login.body.refresh })
  t.equal(refreshed.status, 200)
  t.same(Object.keys(refreshed.body), ['access'])
  t.equal((await api.get('/api/v1/auth/user/', refreshed.body.access)).status, 200, 'the refreshed access token works')
  t.equal((await api.post('/api/v1/auth/token/refresh/', { refresh: login.body.refresh })).status, 200, 'the refresh token keeps working (no rotation)')
  t.equal((await api.get('/api/v1/agents', token)).status, 200, 'the access token works on the native API too')
  assertPerfError(t, await api.req('GET', '/dashboard/api/collectors/'), 401, 'UNAUTHORIZED', 'no token')
  assertPerfError(t, await api.post('/api/v1/auth/token/', { username: 'admin' }), 422, 'VALIDATION_ERROR', 'no password')

  // §2 collectors
  const list = await api.get('/dashboard/api/collectors/', token)
  t.equal(list.status, 200)
  t.equal(list.body.length, 2)
  for (const c of list.body) t.same(Object.keys(c).sort(), COLLECTOR_KEYS, `collector ${c.name} has every field`)
  const ca = list.body.find((c: any) => c.name === 'perf-a')
  const cb = list.body.find((c: any) => c.name === 'perf-b')
  t.type(ca.id, 'number')
  t.match(ca, {
    hostname: 'perf-1.example', status: 'online', os_info: 'Ubuntu 22.04 LTS', cpu_model: 'AMD EPYC 7763 64-Core Processor', cpu_count: 2,
    memory_total_gb: 4, cloud_provider: 'oci', region: 'us-phoenix-1', instance_type: 'VM.Standard.E4.Flex',
  })
  t.match(ca.last_seen, SECONDS)
  t.match(ca.created_at, SECONDS)
  const one = await api.get(`/dashboard/api/collectors/${ca.id}/`, token)
  t.same(one.body, ca, 'GET one collector is the listed one')
  assertPerfError(t, await api.get(`/dashboard/api/collectors/${a.id}/`, token), 404, 'NOT_FOUND', 'the agent uuid is not a collector id')
  assertPerfError(t, await api.get('/dashboard/api/collectors/99999/', token), 404, 'NOT_FOUND', 'unknown collector')

  // §3.1 cpu, raw over the last hour: one bucket per sample, the values as sent
  const cpu = await api.get(`/dashboard/api/collectors/${ca.id}/cpu/?hours=1`, token)
  t.equal(cpu.status, 200)
  t.same(Object.keys(cpu.body).sort(), ['idle', 'iowait', 'irq', 'softirq', 'steal', 'system', 'timestamps', 'user'])
  t.equal(cpu.body.timestamps.length, 40, 'one point per sample')
  t.match(cpu.body.timestamps[0], SECONDS)
  for (const f of ['user', 'system', 'idle', 'iowait', 'steal', 'irq', 'softirq']) {
    t.equal(cpu.body[f].length, cpu.body.timestamps.length, `cpu ${f} as long as timestamps`)
    t.same(cpu.body[f].map((v: number) => Math.round(v * 1e6) / 1e6), sa.cpu[f].map((v) => Math.round(v * 1e6) / 1e6), `cpu ${f} values as sent`)
  }
  // §3.2 memory in MiB, percent, total in GiB
  const mem = await api.get(`/dashboard/api/collectors/${ca.id}/memory/?hours=1h`, token)
  t.same(Object.keys(mem.body).sort(), ['available', 'buffers', 'cached', 'percent_used', 'timestamps', 'total_gb', 'used'])
  t.equal(mem.body.total_gb, 16)
  t.same(mem.body.used, sa.memory.used_bytes.map((v) => v / MIB), 'used in MiB')
  t.same(mem.body.percent_used, sa.memory.usage_percent)
  // §3.3 disk per device
  const disk = await api.get(`/dashboard/api/collectors/${ca.id}/disk/?hours=1`, token)
  t.same(disk.body.devices.map((d: any) => d.name), ['sda', 'sdb'])
  for (const d of disk.body.devices) {
    t.same(Object.keys(d).sort(), ['name', 'read_bytes', 'read_ops', 'utilization', 'write_bytes', 'write_ops'])
    for (const f of ['read_bytes', 'write_bytes', 'read_ops', 'write_ops', 'utilization']) t.equal(d[f].length, disk.body.timestamps.length, `${d.name} ${f} length`)
  }
  t.same(disk.body.devices[0].read_ops, sa.disk.sda.read_ops_per_sec, 'sda read ops as sent')
  // §3.4 network per interface, utilization from the link speed
  const net = await api.get(`/dashboard/api/collectors/${ca.id}/network/?hours=1`, token)
  t.same(net.body.interfaces.map((i: any) => i.name), ['eth0'])
  const eth0 = net.body.interfaces[0]
  t.same(Object.keys(eth0).sort(), ['name', 'rx_bytes', 'rx_packets', 'tx_bytes', 'tx_packets', 'utilization'])
  t.same(eth0.rx_bytes, sa.net.rx)
  eth0.utilization.forEach((u: number, i: number) => close(t, u, (Math.max(sa.net.rx[i], sa.net.tx[i]) * 8 * 100) / 1e9, `utilization ${i}`))
  // every range the document names answers, arrays as long as timestamps, at most 1,000 points
  for (const hours of ['6', '24', '168', '720', '6h', '24h', '7d', '30d', 'all']) {
    const r = await api.get(`/dashboard/api/collectors/${ca.id}/cpu/?hours=${hours}`, token)
    t.equal(r.status, 200, `hours=${hours}`)
    t.ok(r.body.timestamps.length > 0 && r.body.timestamps.length <= 1000, `hours=${hours}: 1 to 1,000 points (${r.body.timestamps.length})`)
    t.ok(['user', 'system'].every((f) => r.body[f].length === r.body.timestamps.length), `hours=${hours}: arrays as long as timestamps`)
  }
  const badHours = await api.get(`/dashboard/api/collectors/${ca.id}/cpu/?hours=5`, token)
  assertPerfError(t, badHours, 422, 'VALIDATION_ERROR', 'hours=5')
  t.match(badHours.body.details.hours[0], /^Must be one of: 1, 6, 24, 168, 720/)

  // §3.5 stats equal the statistics of the raw values
  const stats = await api.get(`/dashboard/api/collectors/${ca.id}/stats/?hours=1`, token)
  t.equal(stats.status, 200)
  t.same(Object.keys(stats.body).sort(), ['cpu', 'disk', 'memory', 'network'])
  t.same(Object.keys(stats.body.cpu.user).sort(), STAT_KEYS)
  const check = (got: Record<string, number>, values: number[], what: string) => {
    const want = statsOf(values)
    for (const k of Object.keys(want) as Array<keyof typeof want>) close(t, got[k], want[k], `${what} ${k}`)
  }
  for (const f of ['user', 'system', 'iowait']) check(stats.body.cpu[f], sa.cpu[f], `cpu.${f}`)
  check(stats.body.memory.percent_used, sa.memory.usage_percent, 'memory.percent_used')
  check(stats.body.memory.used, sa.memory.used_bytes.map((v) => v / MIB), 'memory.used (MiB)')
  check(stats.body.disk.sda.read_ops, sa.disk.sda.read_ops_per_sec, 'disk.sda.read_ops')
  check(stats.body.disk.sda.write_ops, sa.disk.sda.write_ops_per_sec, 'disk.sda.write_ops')
  check(stats.body.network.eth0.rx_bytes, sa.net.rx, 'network.eth0.rx_bytes')
  check(stats.body.network.eth0.tx_bytes, sa.net.tx, 'network.eth0.tx_bytes')

  // §3.6 compare: each collector's own series and statistics
  const cmp = await api.get(`/dashboard/api/compare/?collectors=${ca.id},${cb.id}&hours=1`, token)
  t.equal(cmp.status, 200)
  t.same(cmp.body.collectors, [{ id: ca.id, name: 'perf-a', hostname: 'perf-1.example' }, { id: cb.id, name: 'perf-b', hostname: 'perf-2.example' }])
  t.same(cmp.body.metrics.cpu[String(ca.id)].user, cpu.body.user, 'compare: a is a\'s cpu')
  const cpuB = await api.get(`/dashboard/api/collectors/${cb.id}/cpu/?hours=1`, token)
  t.same(cmp.body.metrics.cpu[String(cb.id)].user, cpuB.body.user, 'compare: b is b\'s cpu')
  t.notSame(cpuB.body.user, cpu.body.user, 'the two series differ')
  close(t, cmp.body.stats[String(ca.id)].cpu.user.avg, statsOf(sa.cpu.user).avg, 'compare stats a')
  close(t, cmp.body.stats[String(cb.id)].cpu.user.avg, statsOf(sb.cpu.user).avg, 'compare stats b')
  assertPerfError(t, await api.get('/dashboard/api/compare/', token), 422, 'VALIDATION_ERROR', 'compare without collectors')
  assertPerfError(t, await api.get('/dashboard/api/compare/?collectors=1,x', token), 422, 'VALIDATION_ERROR', 'compare with a bad id')
  assertPerfError(t, await api.get('/dashboard/api/compare/?collectors=99999', token), 404, 'NOT_FOUND', 'compare with an unknown id')

  // §6 preferences: the document's defaults, a partial update, validation
  const prefs = await api.get('/dashboard/preferences/', token)
  t.same(prefs.body, {
    default_time_range: '24h', default_collector_id: Math.min(ca.id, cb.id), chart_theme: 'light', refresh_interval_seconds: 60,
    show_containers: true, visible_metrics: ['cpu', 'memory', 'disk', 'network'],
  })
  const upd = await api.post('/dashboard/preferences/', { default_time_range: '6h', default_collector_id: cb.id, chart_theme: 'dark', refresh_interval_seconds: 30 }, { token })
  t.equal(upd.status, 200)
  t.same(upd.body, { default_time_range: '6h', default_collector_id: cb.id, chart_theme: 'dark', refresh_interval_seconds: 30, show_containers: true, visible_metrics: ['cpu', 'memory', 'disk', 'network'] })
  t.same((await api.get('/dashboard/preferences/', token)).body, upd.body, 'kept')
  const invalid = await api.post('/dashboard/preferences/', { default_time_range: '2h', refresh_interval_seconds: 0, visible_metrics: ['gpu'] }, { token })
  assertPerfError(t, invalid, 422, 'VALIDATION_ERROR', 'bad preferences')
  t.same(Object.keys(invalid.body.details).sort(), ['default_time_range', 'refresh_interval_seconds', 'visible_metrics[0]'])
  t.match(invalid.body.details.default_time_range[0], /^Must be one of: 1h, 6h, 24h, 7d, 30d, all$/)
  assertPerfError(t, await api.post('/dashboard/preferences/', { default_collector_id: 99999 }, { token }), 422, 'VALIDATION_ERROR', 'a collector that is not visible')
  t.same((await api.get('/dashboard/preferences/', token)).body, upd.body, 'a refused update changes nothing')
  const viewer = await api.user('viewer')
  t.equal((await api.get('/dashboard/preferences/', viewer.token)).body.chart_theme, 'light', 'preferences are per user')

  // another organization sees none of it
  await createOrgWithAdmin(api.store, 'perf-other-org', 'perf-other', 'other-password-1')
  const other = (await api.post('/api/v1/auth/token/', { username: 'perf-other', password: 'other-password-1' })).body.access
  t.same((await api.get('/dashboard/api/collectors/', other)).body, [], 'no collectors of another organization')
  for (const path of [`/dashboard/api/collectors/${ca.id}/`, `/dashboard/api/collectors/${ca.id}/cpu/`, `/dashboard/api/collectors/${ca.id}/stats/`,
    `/dashboard/api/compare/?collectors=${ca.id}`]) {
    assertPerfError(t, await api.get(path, other), 404, 'NOT_FOUND', `another organization: ${path}`)
  }
  t.equal((await api.post('/dashboard/preferences/', { default_collector_id: ca.id }, { token: other })).status, 422, 'another organization\'s collector is not a default')

  // logout: both tokens stop working
  t.equal((await api.post('/api/v1/auth/logout/', {}, { token })).status, 204)
  assertPerfError(t, await api.get('/api/v1/auth/user/', token), 401, 'UNAUTHORIZED', 'access token after logout')
  assertPerfError(t, await api.post('/api/v1/auth/token/refresh/', { refresh: login.body.refresh }), 401, 'UNAUTHORIZED', 'refresh token after logout')
  assertPerfError(t, await api.get('/dashboard/api/nothing-here/', api.adminToken), 404, 'NOT_FOUND', 'unknown path under /dashboard/')
})

t.test('seed 004 §8: rate limit headers and budgets', async (t) => {
  const api = await startClient(t, { rateLimits: { windowMs: 60_000, auth: 1000, read: 1000, write: 1000, ingest: 1000, perf_auth: 2, perf_read: 3, perf_write: 20 } })
  const token = api.adminToken
  const first = await api.get('/dashboard/api/collectors/', token)
  t.equal(first.headers.get('x-ratelimit-limit'), '3')
  t.equal(first.headers.get('x-ratelimit-remaining'), '2')
  t.ok(Number(first.headers.get('x-ratelimit-reset')) > Date.now() / 1000, 'reset is a unix time in the future')
  const missing = await api.get('/dashboard/api/collectors/4242/', token)
  t.equal(missing.status, 404)
  t.equal(missing.headers.get('x-ratelimit-remaining'), '1', 'an error answer carries the headers too')
  await api.get('/dashboard/preferences/', token)
  const limited = await api.get('/dashboard/api/collectors/', token)
  assertPerfError(t, limited, 429, 'RATE_LIMITED', 'fourth read in the window')
  t.ok(limited.body.details.retry_after >= 1 && limited.body.details.retry_after <= 60, 'details.retry_after in seconds')
  t.equal(limited.headers.get('x-ratelimit-remaining'), '0')
  t.equal((await api.get('/api/v1/agents', token)).status, 200, 'the native read budget is separate')
  for (let i = 0; i < 2; i++) await api.post('/api/v1/auth/token/', { username: 'admin', password: 'admin-password-1' })
  assertPerfError(t, await api.post('/api/v1/auth/token/', { username: 'admin', password: 'admin-password-1' }), 429, 'RATE_LIMITED', 'third login in the window (auth budget 2)')
})

t.test('seed 004: logins share the native throttle', async (t) => {
  const api = await startClient(t, { loginThrottle: { windowMs: 60_000, maxFailuresPerUser: 2, maxFailuresPerIp: 100 } })
  for (let i = 0; i < 2; i++) await api.post('/api/v1/auth/login', { username: 'admin', password: 'wrong' })
  const res = await api.post('/api/v1/auth/token/', { username: 'admin', password: 'admin-password-1' })
  assertPerfError(t, res, 429, 'RATE_LIMITED', 'throttled after native failures')
  t.ok(res.body.details.retry_after > 0)
})

t.test('seed 004 §4: containers', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('perf-containers')
  const other = await api.createAgent('perf-no-containers')
  const runtimeId = 'abc123def4567890abc123def4567890abc123def4567890abc123def4567890'
  const cpu: number[] = []
  for (let i = 0; i < 10; i++) {
    cpu.push(5 + i)
    await api.ingestOk(agent.api_key, makeBatch({
      time: minutesAgo(10 - i), metrics: [], disks: [], networks: [], processes: [],
      containers: [
        { id: runtimeId, name: 'nginx-proxy', image: 'nginx:latest', state: 'running', cpu_percent: 5 + i, memory_bytes: 256 * MIB, memory_percent: 12.5, rx_bytes: 1048576 + i, tx_bytes: 524288 },
        { id: 'ffff00001111', name: 'batch-job', image: 'busybox', state: 'exited', cpu_percent: 0, memory_bytes: 0, memory_percent: 0, rx_bytes: 0, tx_bytes: 0 },
      ],
    }))
  }
  const collectors = (await api.get('/dashboard/api/collectors/')).body
  const id = collectors.find((c: any) => c.name === 'perf-containers').id
  const otherId = collectors.find((c: any) => c.name === 'perf-no-containers').id
  t.ok(other.id)

  const list = await api.get(`/dashboard/api/collectors/${id}/containers/`)
  t.equal(list.status, 200)
  t.equal(list.body.length, 2)
  const nginx = list.body.find((c: any) => c.name === 'nginx-proxy')
  t.same(Object.keys(nginx).sort(), ['collector_id', 'container_id', 'cpu_percent', 'created_at', 'id', 'image', 'memory_percent', 'memory_usage_mb',
    'name', 'network_rx_bytes', 'network_tx_bytes', 'status', 'updated_at'])
  t.match(nginx, { container_id: runtimeId, image: 'nginx:latest', status: 'running', collector_id: id, cpu_percent: 14, memory_percent: 12.5, memory_usage_mb: 256, network_rx_bytes: 1048585, network_tx_bytes: 524288 })
  t.type(nginx.id, 'number')
  t.match(nginx.created_at, SECONDS)
  t.same((await api.get(`/dashboard/api/collectors/${otherId}/containers/`)).body, [], 'a collector without containers has none')

  for (const key of [String(nginx.id), runtimeId, runtimeId.slice(0, 12)]) {
    const series = await api.get(`/dashboard/api/collectors/${id}/containers/${key}/cpu/?hours=1`)
    t.equal(series.status, 200, `container by ${key.length > 10 ? 'runtime id' : 'id'} ${key}`)
    t.same(Object.keys(series.body).sort(), ['cpu_percent', 'memory_percent', 'memory_usage_mb', 'network_rx_bytes', 'network_tx_bytes', 'timestamps'])
    t.equal(series.body.timestamps.length, 10)
    t.same(series.body.cpu_percent, cpu, 'cpu as sent')
    for (const f of ['memory_percent', 'memory_usage_mb', 'network_rx_bytes', 'network_tx_bytes']) t.equal(series.body[f].length, 10, `${f} as long as timestamps`)
  }
  assertPerfError(t, await api.get(`/dashboard/api/collectors/${otherId}/containers/${nginx.id}/cpu/`), 404, 'NOT_FOUND', 'another collector\'s container')
  assertPerfError(t, await api.get(`/dashboard/api/collectors/${id}/containers/nope/cpu/`), 404, 'NOT_FOUND', 'unknown container')

  const agg = await api.get(`/dashboard/api/collectors/${id}/containers/aggregate/?hours=1`)
  t.equal(agg.status, 200)
  t.match(agg.body, { total_containers: 2, running_containers: 1 })
  t.equal(agg.body.total_cpu_percent.length, agg.body.timestamps.length)
  t.same(agg.body.total_cpu_percent, cpu, 'total CPU: the running one plus zero')
  t.same(agg.body.total_memory_mb, cpu.map(() => 256))
  assertPerfError(t, await api.get(`/dashboard/api/collectors/${id}/containers/aggregate/?hours=2`), 422, 'VALIDATION_ERROR', 'aggregate hours=2')
})
