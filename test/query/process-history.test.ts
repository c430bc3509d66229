// Process history (issue 17): GET /api/v1/agents/:id/processes?at= (the tree as it was), .../processes/changes
// (starts and exits between snapshots) and .../processes/blame (shares of the host's CPU or memory), against
// six known snapshots a minute apart ingested through the API.
import t from 'tap'
import { sql } from 'kysely'
import { assertError, createOrgWithAdmin, makeBatch, proc, startClient } from '../test-client.ts'
import { HOUR, MINUTE, floorTo, near } from './query-helpers.ts'

const MB = 1_000_000
const base = floorTo(MINUTE) - 3 * 60 * MINUTE
const at = (ms: number) => new Date(base + ms).toISOString()
/** The time of snapshot i (0 … 5). */
const S = (i: number) => at(i * MINUTE)
const BOOT = at(-86_400_000)
const NGINX_1 = at(-3_600_000)
const NGINX_2 = at(3 * MINUTE - 5000)
const BACKUP = at(MINUTE - 5000)
const CURL = at(4 * MINUTE - 5000)

/** name, pid, create_time, cmdline, cpu %, resident MB, the snapshots it is in. */
const PROCESSES: Array<[string, number, string | undefined, string, number, number, number[]]> = [
  ['systemd', 1, BOOT, '/sbin/init', 10, 100, [0, 1, 2, 3, 4, 5]],
  // Restarted with the same pid: a new create time, so an exit and a start.
  ['nginx', 100, NGINX_1, 'nginx: master', 20, 200, [0, 1, 2]],
  ['nginx', 100, NGINX_2, 'nginx: master', 20, 200, [3, 4, 5]],
  // pid 200 reused by another command.
  ['backup', 200, BACKUP, '/usr/bin/backup --all', 50, 300, [1, 2]],
  ['curl', 200, CURL, 'curl https://example.com', 5, 10, [4, 5]],
  // No create time: identified by pid, name and command line.
  ['cron-job', 300, undefined, '/etc/cron.hourly/job', 100, 50, [2]],
  ['legacy', 400, undefined, '/opt/legacy', 0, 20, [0, 1, 2, 3, 4, 5]],
  ['hog', 500, BOOT, '/usr/bin/hog', 150, 1000, [0, 1, 2, 3, 4, 5]],
]

function snapshot(i: number) {
  return makeBatch({
    time: S(i),
    processes: PROCESSES.filter((p) => p[6].includes(i)).map(([name, pid, create, cmdline, cpu, mb]) => proc(pid, name, {
      parent_pid: pid === 1 ? 0 : 1, cmdline, cpu_percent: cpu, memory_bytes: mb * MB, memory_percent: mb / 100,
      username: 'root', ...(create ? { create_time: create } : {}),
    })),
  })
}

const q = (params: Record<string, string>) => new URLSearchParams(params).toString()
const pidsOf = (tree: any[]): number[] => tree.flatMap((n) => [n.pid, ...pidsOf(n.children)]).sort((a, b) => a - b)

t.test('process history', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('hist-a')
  await api.ingestOk(agent.api_key, [0, 1, 2, 3, 4, 5].map(snapshot))

  t.test('the tree at three instants, before the first snapshot, and without at', async (t) => {
    const tree = async (when: string, extra = '') => (await api.get(`/api/v1/agents/hist-a/processes?${q({ at: when })}${extra}`)).body
    const first = await tree(S(0))
    t.equal(first.timestamp, S(0), 'at exactly a snapshot: that snapshot')
    t.same(pidsOf(first.process_tree), [1, 100, 400, 500])
    t.equal(first.process_tree.flatMap((n: any) => n.children).find((n: any) => n.pid === 100).create_time, NGINX_1)
    const mid = await tree(at(2 * MINUTE + 30_000))
    t.equal(mid.timestamp, S(2), 'between snapshots: the one just before')
    t.same(pidsOf(mid.process_tree), [1, 100, 200, 300, 400, 500])
    t.equal(mid.total_processes, 6)
    const late = await tree(at(60 * MINUTE))
    t.equal(late.timestamp, S(5), 'after the last: the last')
    t.same(pidsOf(late.process_tree), [1, 100, 200, 400, 500])
    t.equal(late.process_tree.flatMap((n: any) => n.children).find((n: any) => n.pid === 200).name, 'curl')
    const filtered = await tree(at(2 * MINUTE + 30_000), '&q=backup')
    t.same(pidsOf(filtered.process_tree), [1, 200], '?q= filters the tree at an instant too')
    t.equal(filtered.q, 'backup')
    const before = await tree(at(-MINUTE))
    t.same([before.snapshot_id, before.timestamp, before.total_processes, before.process_tree], [null, null, 0, []], 'before the first snapshot: the empty tree')
    t.equal((await api.get('/api/v1/agents/hist-a/processes')).body.timestamp, S(5), 'without at: the latest')
    for (const bad of ['yesterday', '2024-02-30T00:00:00Z', '1969-12-31T23:59:59Z', '']) {
      if (bad === '') continue
      const res = await api.get(`/api/v1/agents/hist-a/processes?${q({ at: bad })}`)
      assertError(t, res, 400, 'VALIDATION_ERROR', `at=${bad}`)
      t.ok(res.body?.details && 'at' in res.body.details, `at=${bad}: names at`)
    }
  })

  t.test('changes: exactly the starts and exits ingested, newest first, paginated', async (t) => {
    const changes = async (params: Record<string, string>) => {
      const res = await api.get(`/api/v1/agents/hist-a/processes/changes?${q(params)}`)
      t.equal(res.status, 200, `changes ${JSON.stringify(params)}: ${res.text.slice(0, 200)}`)
      return res.body
    }
    const whole = await changes({ start: at(-30_000), end: at(5 * MINUTE + 30_000) })
    const brief = (c: any) => [c.name, c.pid, c.start_time, c.first_seen, c.started, c.end]
    t.same(whole.changes.map(brief), [
      ['curl', 200, CURL, S(4), true, null],
      ['nginx', 100, NGINX_1, S(0), false, S(3)],
      ['nginx', 100, NGINX_2, S(3), true, null],
      ['backup', 200, BACKUP, S(1), true, S(3)],
      ['cron-job', 300, null, S(2), true, S(3)],
    ], 'a restart and a reused pid are each an exit and a start; newest change first')
    t.same([whole.total, whole.count, whole.limit, whole.offset], [5, 5, 100, 0])
    const backup = whole.changes.find((c: any) => c.name === 'backup')
    t.same([backup.cmdline, backup.username, backup.parent_pid, backup.last_seen, backup.exited, backup.peak_cpu_percent, backup.peak_memory_bytes],
      ['/usr/bin/backup --all', 'root', 1, S(2), true, 50, 300 * MB])
    t.notOk(whole.changes.some((c: any) => ['systemd', 'legacy', 'hog'].includes(c.name)), 'processes up the whole time are not changes')

    const later = await changes({ start: at(2 * MINUTE + 30_000), end: at(10 * MINUTE) })
    t.same(later.changes.map(brief), [
      ['curl', 200, CURL, S(4), true, null],
      ['nginx', 100, NGINX_1, S(2), false, S(3)],
      ['nginx', 100, NGINX_2, S(3), true, null],
      ['backup', 200, BACKUP, S(2), false, S(3)],
      ['cron-job', 300, null, S(2), false, S(3)],
    ], 'the snapshot before the window is the baseline: exits just after it count')
    const last = await changes({ start: at(3 * MINUTE + 30_000), end: at(10 * MINUTE) })
    t.same(last.changes.map(brief), [['curl', 200, CURL, S(4), true, null]])

    const page1 = await changes({ start: at(-30_000), end: at(5 * MINUTE + 30_000), limit: '2' })
    const page3 = await changes({ start: at(-30_000), end: at(5 * MINUTE + 30_000), limit: '2', offset: '4' })
    t.same([page1.total, page1.count, page3.total, page3.count], [5, 2, 5, 1])
    t.same([...page1.changes, ...(await changes({ start: at(-30_000), end: at(5 * MINUTE + 30_000), limit: '2', offset: '2' })).changes, ...page3.changes]
      .map(brief), whole.changes.map(brief), 'pages walk the same order')
    const beyond = await changes({ start: at(-30_000), end: at(5 * MINUTE + 30_000), offset: '50' })
    t.same([beyond.total, beyond.count], [5, 0], 'past the end: none, and the total')
    const empty = await changes({ start: at(-60 * MINUTE), end: at(-30 * MINUTE) })
    t.same([empty.total, empty.changes], [0, []], 'a window without snapshots')
  })

  t.test('blame: CPU-seconds and byte-seconds, shares adding up to 100', async (t) => {
    const blame = async (params: Record<string, string>) => {
      const res = await api.get(`/api/v1/agents/hist-a/processes/blame?${q(params)}`)
      t.equal(res.status, 200, `blame ${JSON.stringify(params)}: ${res.text.slice(0, 200)}`)
      return res.body
    }
    // Every snapshot counts for the 60 s since the one before (the first, with none before it, for the typical gap).
    const cpuSeconds: Record<string, number> = {}
    const byteSeconds: Record<string, number> = {}
    for (const [name, , , , cpu, mb, snaps] of PROCESSES) {
      cpuSeconds[name] = (cpuSeconds[name] ?? 0) + snaps.length * (cpu / 100) * 60
      byteSeconds[name] = (byteSeconds[name] ?? 0) + snaps.length * mb * MB * 60
    }
    const window = { start: at(-30_000), end: at(5 * MINUTE + 30_000) }
    const cpu = await blame({ ...window, metric: 'cpu', limit: '100' })
    t.same([cpu.unit, cpu.resolution, cpu.metric, cpu.start, cpu.end], ['cpu_seconds', 'raw', 'cpu', window.start, window.end])
    near(t, cpu.total, Object.values(cpuSeconds).reduce((a, b) => a + b, 0), 'the host total: 774 CPU-seconds')
    t.same(cpu.processes.map((p: any) => p.name), ['hog', 'nginx', 'backup', 'cron-job', 'systemd', 'curl', 'legacy'], 'ranked by CPU-seconds, then name')
    for (const p of cpu.processes) near(t, p.value, cpuSeconds[p.name], `${p.name} CPU-seconds`)
    near(t, cpu.processes.reduce((s: number, p: any) => s + p.share_percent, 0), 100, 'shares sum to 100', 1e-9)
    near(t, cpu.processes[0].share_percent, (540 / 774) * 100, 'hog share')
    t.same([cpu.processes[0].cmdline, cpu.processes[0].last_pid, cpu.processes[0].samples], ['/usr/bin/hog', 500, 6])
    t.same(cpu.other, { names: 0, value: 0, share_percent: 0 })

    const top2 = await blame({ ...window, limit: '2' })
    t.equal(top2.metric, 'cpu', 'cpu by default')
    t.same(top2.processes.map((p: any) => p.name), ['hog', 'nginx'])
    t.equal(top2.other.names, 5)
    near(t, top2.processes[0].share_percent + top2.processes[1].share_percent + top2.other.share_percent, 100, 'with the rest, shares still sum to 100')
    near(t, top2.other.value, 774 - 540 - 72, 'the rest')

    const memory = await blame({ ...window, metric: 'memory', limit: '100' })
    t.equal(memory.unit, 'byte_seconds')
    t.equal(memory.processes[0].name, 'hog')
    for (const p of memory.processes) near(t, p.value, byteSeconds[p.name], `${p.name} byte-seconds`)
    near(t, memory.processes.reduce((s: number, p: any) => s + p.share_percent, 0), 100, 'memory shares sum to 100')

    // The snapshot before the window gives the first one in it its gap.
    const withBaseline = await blame({ start: at(MINUTE - 30_000), end: at(5 * MINUTE + 30_000), limit: '100' })
    near(t, withBaseline.processes.find((p: any) => p.name === 'hog').value, 5 * 1.5 * 60, 'hog over five snapshots')

    // A week reads the hourly aggregate; the same snapshots give the same CPU-seconds.
    const week = await blame({ start: at(-7 * 86_400_000), end: at(5 * MINUTE + 30_000), limit: '100' })
    t.equal(week.resolution, 'process_metrics_1h')
    t.equal(new Date(week.start).getUTCMinutes(), 0, 'the hourly answer covers whole hours and says so')
    for (const p of week.processes) near(t, p.value, cpuSeconds[p.name], `${p.name} CPU-seconds from the aggregate`, 1e-6)
    near(t, week.processes.reduce((s: number, p: any) => s + p.share_percent, 0), 100, 'shares sum to 100 from the aggregate')
    // Materialized and compressed (as its policies do, past 8 days: sql/028), the aggregate gives the same answer.
    await sql`call refresh_continuous_aggregate('process_metrics_1h', null, null)`.execute(api.store.db)
    const { rows: [{ n }] } = await sql<{ n: number }>`select count(compress_chunk(c, if_not_compressed => true))::int as n from show_chunks('process_metrics_1h') c`.execute(api.store.db)
    t.ok(n > 0, `the hourly aggregate's chunks compressed (${n})`)
    const compressed = await blame({ start: at(-7 * 86_400_000), end: at(5 * MINUTE + 30_000), limit: '100' })
    t.same(compressed.processes.map((p: any) => [p.name, p.value.toFixed(6), p.samples]), week.processes.map((p: any) => [p.name, p.value.toFixed(6), p.samples]),
      'the same names, CPU-seconds and samples from the compressed aggregate')

    const none = await blame({ start: at(-60 * MINUTE), end: at(-30 * MINUTE) })
    t.same([none.total, none.processes, none.other.share_percent], [0, [], 0], 'a window without snapshots')
  })

  t.test('bad input is a 400 in the error format, never a 500', async (t) => {
    const cases: Array<[string, string, string]> = [
      ['changes', 'start=bad', 'start'],
      ['changes', 'end=2024-13-01T00:00:00Z', 'end'],
      ['changes', `start=${encodeURIComponent(S(3))}&end=${encodeURIComponent(S(1))}`, 'start'],
      ['changes', `start=${encodeURIComponent(S(1))}&end=${encodeURIComponent(S(1))}`, 'start'],
      ['changes', 'limit=0', 'limit'],
      ['changes', 'limit=-5', 'limit'],
      ['changes', 'limit=ten', 'limit'],
      ['changes', 'offset=-1', 'offset'],
      ['changes', 'offset=2000000', 'offset'],
      ['changes', `start=${encodeURIComponent(at(-8 * 86_400_000))}&end=${encodeURIComponent(S(5))}`, 'start'],
      ['blame', 'metric=disk', 'metric'],
      ['blame', 'start=1969-01-01T00:00:00Z', 'start'],
      ['blame', `start=${encodeURIComponent(S(3))}&end=${encodeURIComponent(S(1))}`, 'start'],
      ['blame', 'limit=0', 'limit'],
      ['blame', 'limit=1.5', 'limit'],
    ]
    for (const [route, query, field] of cases) {
      const res = await api.get(`/api/v1/agents/hist-a/processes/${route}?${query}`)
      assertError(t, res, 400, 'VALIDATION_ERROR', `${route}?${query}`)
      t.ok(res.body?.details && field in res.body.details, `${route}?${query}: names ${field} (${JSON.stringify(res.body?.details)})`)
    }
    t.equal((await api.get('/api/v1/agents/hist-a/processes/blame?limit=5000')).body.count, 7, 'a large limit is capped, not refused (as every listing)')
  })

  t.test("another organization's agent, or none, is a 404", async (t) => {
    await createOrgWithAdmin(api.store, 'other-org', 'other-admin', 'other-admin-password')
    const other = (await api.login('other-admin', 'other-admin-password')).token
    for (const path of ['processes/changes', 'processes/blame', `processes?at=${encodeURIComponent(S(2))}`]) {
      assertError(t, await api.get(`/api/v1/agents/hist-a/${path}`, other), 404, 'NOT_FOUND', `${path} by name`)
      assertError(t, await api.get(`/api/v1/agents/${agent.id}/${path}`, other), 404, 'NOT_FOUND', `${path} by id`)
      assertError(t, await api.get(`/api/v1/agents/nobody/${path}`), 404, 'NOT_FOUND', `${path} of an unknown agent`)
    }
  })
})

// Changes over several hours (issue 17): whole hours come from the process_lives_1h aggregate, the part hours at
// the window's edges from raw rows. Answers must be exactly what the snapshots say, before the aggregate is
// refreshed (its real-time part) and after, at any window. Snapshots every 10 minutes, some on the hour.
t.test('changes across hours: the same answer from the aggregate, refreshed or not', async (t) => {
  const api = await startClient(t)
  const keyB = (await api.createAgent('hist-b')).api_key
  const keyC = (await api.createAgent('hist-c')).api_key
  const H0 = floorTo(HOUR) - 5 * HOUR
  const snapTime = (i: number) => H0 - 20 * MINUTE + i * 10 * MINUTE
  const SNAPS = 26
  const range = (a: number, b: number, skip: number[] = []) => Array.from({ length: b - a + 1 }, (_, k) => a + k).filter((i) => !skip.includes(i))
  const iso = (ms: number) => new Date(ms).toISOString()
  /** name, pid, create_time, cmdline, the snapshots it is in. */
  const LIVES: Array<[string, number, string | undefined, string, number[]]> = [
    ['init', 1, iso(H0 - 86_400_000), '/sbin/init', range(0, SNAPS - 1)],
    // Restarted with the same pid across an hour boundary.
    ['web', 10, iso(H0 - 30 * MINUTE), 'web --port 80', range(0, 12)],
    ['web', 10, iso(snapTime(13) - 5000), 'web --port 80', range(13, SNAPS - 1)],
    // Missing from two snapshots mid-life (in different hours): one life.
    ['batch', 20, iso(snapTime(3) - 5000), 'batch --nightly', range(3, 20, [8, 15])],
    // pid 20 reused.
    ['job', 20, iso(snapTime(22) - 5000), 'job --once', range(22, 24)],
    // No create time: pid, name and command line; seen again after a gap is the same life.
    ['cron', 30, undefined, 'x', [...range(5, 9), ...range(14, 18)]],
    ['cron', 30, undefined, 'y', range(11, 12)],
    // Same pid, name + command line spelling the same text: two commands.
    ['ab', 40, undefined, 'c', range(2, 6)],
    ['a', 40, undefined, 'bc', range(8, 12)],
  ]
  const cpuAt = (pid: number, i: number) => (pid * 7 + i * 13) % 97
  const memAt = (pid: number, i: number) => (1 + ((pid + i) % 5)) * MB
  const batch = (i: number, agentTime?: (pid: number) => string | undefined) => makeBatch({
    time: iso(snapTime(i)),
    processes: LIVES.filter((l) => l[4].includes(i)).map(([name, pid, create, cmdline]) => proc(pid, name, {
      parent_pid: pid === 1 ? 0 : 1, cmdline, cpu_percent: cpuAt(pid, i), memory_bytes: memAt(pid, i), memory_percent: 1,
      username: name, ...(create ? { create_time: create } : {}), ...(agentTime?.(pid) ? { time: agentTime(pid) } : {}),
    })),
  })
  await api.ingestOk(keyB, range(0, SNAPS - 1).map((i) => batch(i)))

  /** What the snapshots say, by the rules processChanges documents. */
  function expected(start: number, end: number) {
    const before = range(0, SNAPS - 1).filter((i) => snapTime(i) < start)
    const snaps = range(0, SNAPS - 1).filter((i) => snapTime(i) < end && (before.length === 0 ? snapTime(i) >= start : i >= before[before.length - 1]))
    if (snaps.length === 0) return []
    const [lo, hi] = [snaps[0], snaps[snaps.length - 1]]
    return LIVES.flatMap(([name, pid, create, cmdline, seen]) => {
      const inside = seen.filter((i) => snaps.includes(i))
      if (inside.length === 0) return []
      const [first, last] = [inside[0], inside[inside.length - 1]]
      if (first === lo && last === hi) return []
      const ended = last < hi ? iso(snapTime(snaps[snaps.indexOf(last) + 1])) : null
      return [{
        name, pid, start_time: create ?? null, cmdline, username: name, parent_pid: pid === 1 ? 0 : 1,
        first_seen: iso(snapTime(first)), last_seen: iso(snapTime(last)), started: first > lo, end: ended,
        peak_cpu_percent: Math.max(...inside.map((i) => cpuAt(pid, i))), peak_memory_bytes: Math.max(...inside.map((i) => memAt(pid, i))),
      }]
    }).sort((a, b) => (b.end ?? b.first_seen).localeCompare(a.end ?? a.first_seen) || a.pid - b.pid
      || (a.start_time === null ? 1 : b.start_time === null ? -1 : a.start_time.localeCompare(b.start_time)))
  }
  const pick = (c: any) => ({
    name: c.name, pid: c.pid, start_time: c.start_time, cmdline: c.cmdline, username: c.username, parent_pid: c.parent_pid,
    first_seen: c.first_seen, last_seen: c.last_seen, started: c.started, end: c.end, peak_cpu_percent: c.peak_cpu_percent, peak_memory_bytes: c.peak_memory_bytes,
  })
  const changes = async (agent: string, start: number, end: number, extra: Record<string, string> = {}) => {
    const res = await api.get(`/api/v1/agents/${agent}/processes/changes?${q({ start: iso(start), end: iso(end), ...extra })}`)
    t.equal(res.status, 200, res.text.slice(0, 200))
    return res.body
  }
  const WINDOWS: Array<[string, number, number]> = [
    ['every snapshot', H0 - HOUR, H0 + 4 * HOUR],
    ['mid-hour to mid-hour, two whole hours inside', H0 + 25 * MINUTE, H0 + 3 * HOUR + 5 * MINUTE],
    ['baseline and last snapshot on the hour', H0 + HOUR + 1, H0 + 3 * HOUR + 1],
    ['starting on the hour exactly', H0 + HOUR, H0 + 3 * HOUR],
    ['inside one hour', H0 + HOUR + 15 * MINUTE, H0 + HOUR + 45 * MINUTE],
    ['one whole hour and edges', H0 + 55 * MINUTE, H0 + 2 * HOUR + 5 * MINUTE],
  ]
  const answers = async () => Promise.all(WINDOWS.map(([, s, e]) => changes('hist-b', s, e)))
  const unrefreshed = await answers()
  WINDOWS.forEach(([what, s, e], k) => {
    t.same(unrefreshed[k].changes.map(pick), expected(s, e), `${what}: what the snapshots say`)
    t.equal(unrefreshed[k].total, expected(s, e).length, `${what}: total`)
  })
  await sql`call refresh_continuous_aggregate('process_lives_1h', null, null)`.execute(api.store.db)
  const { rows: [{ n }] } = await sql<{ n: number }>`select count(*)::int4 as n from process_lives_1h where bucket < ${new Date(H0 + 3 * HOUR)}`.execute(api.store.db)
  t.ok(n > 0, 'the aggregate holds the whole hours')
  const refreshed = await answers()
  WINDOWS.forEach(([what], k) => t.same(refreshed[k], unrefreshed[k], `${what}: the same answer once the aggregate is refreshed`))
  const [, s, e] = WINDOWS[0]
  const pages = [...(await changes('hist-b', s, e, { limit: '3' })).changes, ...(await changes('hist-b', s, e, { limit: '3', offset: '3' })).changes,
    ...(await changes('hist-b', s, e, { limit: '3', offset: '6' })).changes]
  t.same(pages, refreshed[0].changes, 'pages walk the same order from the aggregate')

  // Rows carrying their own times, off their snapshot's: lives still count at the snapshots' times.
  await api.ingestOk(keyC, range(0, SNAPS - 1).map((i) => batch(i, (pid) => (pid === 20 ? iso(snapTime(i) + 7000) : undefined))))
  await sql`call refresh_continuous_aggregate('process_lives_1h', null, null)`.execute(api.store.db)
  for (const [what, s, e] of WINDOWS) t.same((await changes('hist-c', s, e)).changes.map(pick), expected(s, e), `${what}: rows off their snapshots' times`)
})
