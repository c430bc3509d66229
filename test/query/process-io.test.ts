// Per-process disk I/O and open files (issue 17 part 4) through every read: the process tree, the series and
// statistics endpoints (raw rows and the process_io_1h aggregate), top processes by disk_io, blame by disk_io
// (bytes, shares adding up to 100, raw and hourly alike) and an alert rule on a process's write rate; a
// process whose I/O the agent could not read is null there, never a zero that ranks it.
import t from 'tap'
import { makeBatch, proc, startClient } from '../test-client.ts'
import { HOUR, MINUTE, floorTo, near } from './query-helpers.ts'

// Ten minutes past an hour three hours ago: the six snapshots stay inside one hour, so the hourly aggregate has
// one bucket whatever minute the test runs at.
const base = floorTo(HOUR) - 3 * HOUR + 10 * MINUTE
const at = (ms: number) => new Date(base + ms).toISOString()
const S = (i: number) => at(i * MINUTE)

/** name, pid, read B/s, write B/s (undefined: unreadable), open fds, the snapshots it is in. */
const PROCESSES: Array<[string, number, number | undefined, number | undefined, number | undefined, number[]]> = [
  ['postgres', 10, 1000, 3000, 12, [0, 1, 2, 3, 4, 5]],
  ['backup', 20, 50_000, 0, 5, [2, 3]],
  ['sshd', 30, undefined, undefined, undefined, [0, 1, 2, 3, 4, 5]],
  ['logger', 40, 0, 100, 3, [0, 1, 2, 3, 4, 5]],
]

function snapshot(i: number) {
  return makeBatch({
    time: S(i),
    processes: PROCESSES.filter((p) => p[5].includes(i)).map(([name, pid, read, write, fds]) => proc(pid, name, {
      parent_pid: 1, cpu_percent: 1, create_time: at(-86_400_000 + pid),
      ...(read !== undefined ? { read_bytes_per_sec: read, write_bytes_per_sec: write, open_fds: fds } : {}),
    })),
  })
}

const q = (params: Record<string, string>) => new URLSearchParams(params).toString()
const RAW = { start: at(-30_000), end: at(5 * MINUTE + 30_000) }
const WEEK = { start: at(-7 * 86_400_000), end: at(5 * MINUTE + 30_000) }

t.test('per-process disk I/O and open files', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('io-a')
  await api.ingestOk(agent.api_key, [0, 1, 2, 3, 4, 5].map(snapshot))
  const get = async (path: string) => {
    const res = await api.get(path)
    t.equal(res.status, 200, `${path}: ${res.text.slice(0, 300)}`)
    return res.body
  }

  t.test('the tree carries each process\'s rates and open files; an unreadable one is null', async (t) => {
    const tree = await get(`/api/v1/agents/io-a/processes?${q({ at: S(2) })}`)
    const nodes = tree.process_tree.flatMap((n: any) => [n, ...n.children])
    t.match(nodes.find((n: any) => n.name === 'postgres'), { read_bytes_per_sec: 1000, write_bytes_per_sec: 3000, open_fds: 12 })
    t.match(nodes.find((n: any) => n.name === 'backup'), { read_bytes_per_sec: 50_000, write_bytes_per_sec: 0, open_fds: 5 })
    t.match(nodes.find((n: any) => n.name === 'sshd'), { read_bytes_per_sec: null, write_bytes_per_sec: null, open_fds: null })
  })

  t.test('series and statistics: raw rows, and the process_io_1h aggregate over a week', async (t) => {
    const raw = await get(`/api/v1/metrics/series/io-a?${q({ metric: 'process.write_bytes_per_sec', 'tags.name': 'postgres', ...RAW, step: '60' })}`)
    t.equal(raw.resolution, 'raw')
    t.same(raw.values, [3000, 3000, 3000, 3000, 3000, 3000])
    const week = await get(`/api/v1/metrics/series/io-a?${q({ metric: 'process.read_bytes_per_sec', 'tags.name': 'backup', ...WEEK })}`)
    t.equal(week.resolution, 'process_io_1h', 'a week reads the I/O aggregate, and says so')
    t.same(week.values, [50_000])
    const fds = await get(`/api/v1/metrics/stats/io-a?${q({ metric: 'process.open_fds', 'tags.name': 'postgres', ...WEEK })}`)
    t.match(fds, { source: 'process_io_1h', max: 12, min: 12, avg: 12 })
    const sshd = await api.get(`/api/v1/metrics/series/io-a?${q({ metric: 'process.read_bytes_per_sec', 'tags.name': 'sshd', ...RAW })}`)
    t.same([sshd.status, sshd.body.values], [200, []], 'no rates for a process whose I/O was unreadable')
  })

  t.test('top processes by disk I/O, per process and from the hourly aggregates', async (t) => {
    const raw = await get(`/api/v1/processes/top/io-a?${q({ by: 'disk_io', ...RAW })}`)
    t.equal(raw.resolution, 'raw')
    t.same(raw.processes.map((p: any) => p.name), ['backup', 'postgres', 'logger', 'sshd'], 'by bytes per second; unreadable last')
    t.match(raw.processes[1], { pid: 10, avg_io_bytes_per_sec: 4000, max_io_bytes_per_sec: 4000, avg_read_bytes_per_sec: 1000, avg_write_bytes_per_sec: 3000 })
    t.equal(raw.processes[3].avg_io_bytes_per_sec, null)
    const week = await get(`/api/v1/processes/top/io-a?${q({ by: 'disk_io', ...WEEK })}`)
    t.same([week.resolution, week.group], ['process_metrics_1h', 'name'])
    t.same(week.processes.map((p: any) => p.name), ['backup', 'postgres', 'logger', 'sshd'])
    near(t, week.processes[1].avg_io_bytes_per_sec, 4000, 'postgres from process_io_1h')
    t.equal(week.processes[3].avg_io_bytes_per_sec, null)
  })

  t.test('blame by disk I/O: bytes read and written, shares adding up to 100, raw and hourly alike', async (t) => {
    // Every snapshot counts for the 60 s since the one before.
    const bytes: Record<string, number> = {}
    for (const [name, , read, write, , snaps] of PROCESSES) bytes[name] = snaps.length * ((read ?? 0) + (write ?? 0)) * 60
    const total = Object.values(bytes).reduce((a, b) => a + b, 0)
    for (const [window, resolution] of [[RAW, 'raw'], [WEEK, 'process_metrics_1h']] as const) {
      const blame = await get(`/api/v1/agents/io-a/processes/blame?${q({ metric: 'disk_io', ...window, limit: '100' })}`)
      t.same([blame.unit, blame.metric, blame.resolution], ['bytes', 'disk_io', resolution])
      near(t, blame.total, total, `${resolution}: the host's ${total} bytes`, 1e-6)
      t.same(blame.processes.map((p: any) => p.name).slice(0, 3), ['backup', 'postgres', 'logger'])
      for (const p of blame.processes) near(t, p.value, bytes[p.name], `${resolution}: ${p.name}'s bytes`, 1e-6)
      near(t, blame.processes.reduce((s: number, p: any) => s + p.share_percent, 0), 100, 'shares sum to 100', 1e-9)
    }
  })

  t.test('an alert rule on a process\'s write rate', async (t) => {
    const preview = await api.post('/api/v1/alerts/preview', {
      name: 'postgres writes', metric: 'process.write_bytes_per_sec', tags: { name: 'postgres' }, window: '4h', threshold: 2000,
    }, { token: api.adminToken })
    t.equal(preview.status, 200, preview.text)
    t.match(preview.body.series, [{ agent: 'io-a', tags: { name: 'postgres' }, value: 3000, level: 'critical', missing: false }])
    const made = await api.post('/api/v1/alerts', { name: 'fd leak', metric: 'process.open_fds', tags: { name: 'postgres' }, window: '4h', threshold: 1000 }, { token: api.adminToken })
    t.equal(made.status, 201, made.text)
  })
})
