// GET /api/v1/metrics/series, /stats and /compare on known input ingested through POST /api/v1/ingest:
// one sample per minute whose value is the minute index, so every bucket has a known answer.
import t from 'tap'
import { assertError, disk, makeBatch, metric, network, proc, startClient } from '../test-client.ts'
import type { IngestBatch } from '../../contract/ingest-batch.ts'
import { HOUR, MINUTE, expectedStats, floorTo, isoAt, near } from './query-helpers.ts'

const STAT_KEYS = ['min', 'max', 'avg', 'stddev', 'current', 'p50', 'p75', 'p90', 'p95', 'p97_5', 'p99', 'p100', 'count'] as const
const enc = encodeURIComponent

t.test('series, stats and compare', async (t) => {
  const api = await startClient(t)
  // B: a whole hour, three hours ago; minute i (0 … 119) holds value i.
  const B = floorTo(HOUR) - 3 * HOUR
  const at = (minute: number, seconds = 0) => isoAt(B, minute * MINUTE + seconds * 1000)
  const N = 120
  const a = await api.createAgent('series-a')
  const batches: IngestBatch[] = []
  for (let i = 0; i < N; i++) {
    batches.push(makeBatch({
      time: at(i),
      metrics: [metric('cpu', 'usage_percent', i), metric('cpu', 'usage_percent', 1000 + i, { tags: { core: '1' } })],
      disks: [disk('/', { usage_percent: i }), disk('/boot', { device: '/dev/sda16', usage_percent: 50 + i })],
      networks: [network('eth0', { bytes_recv_per_sec: 2 * i, bytes_sent_per_sec: 3 * i }), network('lo', { bytes_recv_per_sec: 7 })],
      processes: [proc(10, 'nginx', { cpu_percent: i }), proc(11, 'nginx', { cpu_percent: i + 1, parent_pid: 10 }), proc(20, 'redis', { cpu_percent: 99 })],
    }))
  }
  t.equal((await api.ingest(a.api_key, batches)).status, 202, 'two hours of one-minute data')
  const span = `start=${enc(at(0))}&end=${enc(at(N))}`
  const series = (q: string, agent = 'series-a') => api.get(`/api/v1/metrics/series/${agent}?${q}`)
  const tenMinute = <T = number>(f: (j: number) => T): T[] => Array.from({ length: 12 }, (_, j) => f(j))
  const bucketTimes = tenMinute((j) => j).map((j) => at(10 * j))

  t.test('10-minute average of value = minute index: exact buckets and values', async (t) => {
    const res = await series(`metric=cpu.usage_percent&${span}&step=10m`)
    t.equal(res.status, 200)
    for (const k of ['agent_id', 'metric', 'step', 'resolution', 'timestamps', 'values']) t.ok(k in res.body, `has ${k}`)
    t.equal(res.body.agent_id, 'series-a')
    t.equal(res.body.metric, 'cpu.usage_percent')
    t.equal(res.body.step, 600)
    t.equal(res.body.agg, 'avg')
    t.same(res.body.timestamps, bucketTimes)
    t.same(res.body.values, tenMinute((j) => 10 * j + 4.5))
  })

  t.test('agg min, max, last, p95 exact on known input', async (t) => {
    const cases = { min: (j: number) => 10 * j, max: (j: number) => 10 * j + 9, last: (j: number) => 10 * j + 9, p95: (j: number) => 10 * j + 0.95 * 9 }
    for (const [agg, f] of Object.entries(cases)) {
      const res = await series(`metric=cpu.usage_percent&${span}&step=10m&agg=${agg}`)
      t.equal(res.status, 200, agg)
      t.equal(res.body.agg, agg)
      t.same(res.body.timestamps, bucketTimes, `${agg}: buckets`)
      res.body.values.forEach((v: number, j: number) => near(t, v, f(j), `${agg} bucket ${j}`))
    }
    const p95 = await series(`metric=cpu.usage_percent&${span}&step=10m&agg=p95`)
    t.equal(p95.body.resolution, 'raw', 'p95 reads raw rows')
    // Hourly buckets: each holds 60 values.
    const hourly = await series(`metric=cpu.usage_percent&${span}&step=1h&agg=p95`)
    t.same(hourly.body.values.map((v: number) => Math.round(v * 1e9) / 1e9), [0.95 * 59, 60 + 0.95 * 59])
    const avgH = await series(`metric=cpu.usage_percent&${span}&step=1h`)
    t.same(avgH.body.values, [29.5, 89.5])
    t.equal(avgH.body.step, 3600)
  })

  t.test('resolution: raw for a short range, an aggregate name for a long one', async (t) => {
    const short = await series(`metric=cpu.usage_percent&start=${enc(at(0))}&end=${enc(at(60))}`)
    t.equal(short.body.resolution, 'raw')
    t.ok(short.body.step < 60, `short auto step ${short.body.step} s`)
    t.same(short.body.values, Array.from({ length: 60 }, (_, i) => i), 'one point per stored minute, value = minute index')
    t.same(short.body.timestamps, Array.from({ length: 60 }, (_, i) => at(i)))
    const week = await series(`metric=cpu.usage_percent&start=${enc(new Date(Date.now() - 7 * 24 * HOUR).toISOString())}`)
    t.equal(week.status, 200)
    t.not(week.body.resolution, 'raw', `a week reads an aggregate (${week.body.resolution})`)
    t.match(week.body.resolution, /^metrics_1[mhd]$/)
    t.ok(week.body.step >= 600, `week step ${week.body.step}`)
    // Every stored sample lands in the week's buckets: the weighted average over them is the average of 0 … 119.
    const counts = week.body.values.length
    t.ok(counts >= 1 && counts <= 1000)
    const min = await series(`metric=cpu.usage_percent&start=${enc(new Date(Date.now() - 7 * 24 * HOUR).toISOString())}&agg=min&step=1d`)
    t.same(min.body.values.reduce((m: number, v: number) => Math.min(m, v), Infinity), 0)
  })

  t.test('tags.<k>=<v> selects one series; untagged means the untagged series', async (t) => {
    const core = await series(`metric=cpu.usage_percent&${span}&step=10m&tags.core=1`)
    t.same(core.body.values, tenMinute((j) => 1000 + 10 * j + 4.5))
    t.same(core.body.tags, { core: '1' })
    // A tag value the agent never reported is a 404 naming the ones it has (test/query/unknown-series.test.ts).
    const none = await series(`metric=cpu.usage_percent&${span}&step=10m&tags.core=7`)
    assertError(t, none, 404, 'NOT_FOUND', 'no such series')
    t.match(none.body.message, 'core values are 1')
  })

  t.test('disk, network and process fields with their key tag', async (t) => {
    const d = await series(`metric=disk.usage_percent&tags.mount_point=/&${span}&step=10m`)
    t.equal(d.status, 200)
    t.same(d.body.values, tenMinute((j) => 10 * j + 4.5), 'disk / usage')
    t.same(d.body.timestamps, bucketTimes)
    const boot = await series(`metric=disk.usage_percent&tags.mount_point=${enc('/boot')}&${span}&step=10m&agg=max`)
    t.same(boot.body.values, tenMinute((j) => 50 + 10 * j + 9), 'disk /boot max')
    const n = await series(`metric=network.rx_bytes_per_sec&tags.interface=eth0&${span}&step=10m`)
    t.equal(n.status, 200)
    t.same(n.body.values, tenMinute((j) => 2 * (10 * j + 4.5)), 'eth0 rx rate (alias of bytes_recv_per_sec)')
    const tx = await series(`metric=network.bytes_sent_per_sec&tags.interface=eth0&${span}&step=10m&agg=last`)
    t.same(tx.body.values, tenMinute((j) => 3 * (10 * j + 9)))
    const p = await series(`metric=process.cpu_percent&tags.name=nginx&${span}&step=10m`)
    t.equal(p.status, 200)
    t.same(p.body.values, tenMinute((j) => 10 * j + 5), 'nginx: both processes averaged')
    const pmax = await series(`metric=process.cpu_percent&tags.name=nginx&${span}&step=10m&agg=max`)
    t.same(pmax.body.values, tenMinute((j) => 10 * j + 10))
  })

  t.test('bad selectors, steps and limits → 400 naming the parameter; unknown agent → 404', async (t) => {
    const cases: Array<[string, string]> = [
      [`metric=disk.usage_percent&${span}`, 'tags.mount_point'],
      [`metric=network.rx_bytes_per_sec&${span}`, 'tags.interface'],
      [`metric=process.cpu_percent&${span}`, 'tags.name'],
      [`metric=disk.usage_percent&tags.mount_point=/&tags.colour=red&${span}`, 'tags.colour'],
      [`metric=disk.bogus_field&tags.mount_point=/&${span}`, 'metric'],
      [`metric=network.bogus&tags.interface=eth0&${span}`, 'metric'],
      [`metric=process.bogus&tags.name=nginx&${span}`, 'metric'],
      [`metric=cpu&${span}`, 'metric'],
      [`metric=CPU.Usage&${span}`, 'metric'],
      [`${span}`, 'metric'],
      [`metric=cpu.usage_percent&${span}&agg=median`, 'agg'],
      [`metric=cpu.usage_percent&${span}&step=fast`, 'step'],
      [`metric=cpu.usage_percent&${span}&step=0s`, 'step'],
      [`metric=cpu.usage_percent&${span}&max_points=0`, 'max_points'],
      [`metric=cpu.usage_percent&${span}&max_points=11001`, 'max_points'],
      [`metric=cpu.usage_percent&${span}&max_points=50000`, 'max_points'],
      [`metric=cpu.usage_percent&${span}&max_points=ten`, 'max_points'],
      [`metric=cpu.usage_percent&start=${enc(new Date(Date.now() - 2 * 24 * HOUR).toISOString())}&step=10s`, 'step'],
      [`metric=cpu.usage_percent&start=${enc(at(60))}&end=${enc(at(0))}`, 'start'],
      [`metric=cpu.usage_percent&start=notatime`, 'start'],
      // Seconds as plain digits are held to a duration's limits (this many seconds was an interval PostgreSQL refused: a 500).
      [`metric=cpu.usage_percent&${span}&step=9999999999999999`, 'step'],
      // An offset that carries the instant into year 10000 (PostgreSQL refused it: a 500).
      [`metric=cpu.usage_percent&end=${enc('9999-12-31T23:30:00-01:00')}`, 'end'],
    ]
    for (const [q, field] of cases) {
      const res = await series(q)
      assertError(t, res, 400, 'VALIDATION_ERROR', q)
      t.ok(res.body?.details && field in res.body.details, `${q}: details name ${field} (${JSON.stringify(res.body?.details)})`)
    }
    const ok = await series(`metric=cpu.usage_percent&${span}&max_points=11000`)
    t.equal(ok.status, 200, 'max_points 11000 is allowed')
    // 12 h at 5 s: 8,640 points, under the cap.
    t.equal((await series(`metric=cpu.usage_percent&start=${enc(new Date(Date.now() - 12 * HOUR).toISOString())}&step=5s`)).status, 200)
    assertError(t, await series(`metric=cpu.usage_percent&${span}`, 'no-such-agent'), 404, 'NOT_FOUND', 'unknown agent')
  })

  t.test('step=auto never returns more than max_points points', async (t) => {
    for (const maxPoints of [1, 2, 5, 12, 13, 59, 60, 100, 119, 120]) {
      for (const offsetSeconds of [0, 30]) {
        const start = at(0, offsetSeconds)
        const end = at(N, offsetSeconds)
        const res = await series(`metric=cpu.usage_percent&start=${enc(start)}&end=${enc(end)}&max_points=${maxPoints}`)
        t.equal(res.status, 200)
        t.ok(res.body.values.length <= maxPoints, `max_points ${maxPoints}, start +${offsetSeconds}s: ${res.body.values.length} points (step ${res.body.step})`)
      }
    }
    // Ten minutes from half past a minute at max_points=10: a 60 s step touches 11 minute buckets.
    const res = await series(`metric=cpu.usage_percent&start=${enc(at(0, 30))}&end=${enc(at(10, 30))}&max_points=10`)
    t.ok(res.body.values.length <= 10, `10 minutes from :30 with max_points 10: ${res.body.values.length} points (${res.body.timestamps[0]} … )`)
  })

  t.test('stats agree with the statistics computed here from the raw values', async (t) => {
    const res = await api.get(`/api/v1/metrics/stats/series-a?metric=cpu.usage_percent&${span}`)
    t.equal(res.status, 200)
    for (const k of STAT_KEYS) t.ok(k in res.body, `has ${k}`)
    const exp = expectedStats(Array.from({ length: N }, (_, i) => i))
    for (const k of STAT_KEYS) near(t, res.body[k], exp[k], k)
    // Irregular values: a second agent with 37 samples in scrambled order of size.
    const b = await api.createAgent('stats-b')
    const values = Array.from({ length: 37 }, (_, i) => ((i * 53) % 37) * 1.37 + (i % 3) * 0.011 - 20)
    t.equal((await api.ingest(b.api_key, values.map((v, i) => makeBatch({ time: at(i), metrics: [metric('mem', 'x', v)], processes: [] })))).status, 202)
    const sb = await api.get(`/api/v1/metrics/stats/stats-b?metric=mem.x&start=${enc(at(0))}&end=${enc(at(37))}`)
    const eb = expectedStats(values)
    for (const k of STAT_KEYS) near(t, sb.body[k], eb[k], `stats-b ${k}`)
    // A sub-window [10, 20): values 10 … 19 only.
    const sub = await api.get(`/api/v1/metrics/stats/series-a?metric=cpu.usage_percent&start=${enc(at(10))}&end=${enc(at(20))}`)
    const es = expectedStats(Array.from({ length: 10 }, (_, i) => 10 + i))
    for (const k of STAT_KEYS) near(t, sub.body[k], es[k], `window ${k}`)
    // Wide families: disk /boot (50 + i).
    const dk = await api.get(`/api/v1/metrics/stats/series-a?metric=disk.usage_percent&tags.mount_point=${enc('/boot')}&${span}`)
    const ed = expectedStats(Array.from({ length: N }, (_, i) => 50 + i))
    for (const k of STAT_KEYS) near(t, dk.body[k], ed[k], `disk ${k}`)
    // No samples in the window: count 0, the rest null.
    const empty = await api.get(`/api/v1/metrics/stats/series-a?metric=cpu.usage_percent&start=${enc(at(-60))}&end=${enc(at(-30))}`)
    t.equal(empty.status, 200)
    t.equal(empty.body.count, 0)
    for (const k of STAT_KEYS.filter((k) => k !== 'count')) t.equal(empty.body[k], null, `empty ${k}`)
    assertError(t, await api.get(`/api/v1/metrics/stats/series-a?metric=disk.usage_percent&${span}`), 400, 'VALIDATION_ERROR', 'stats without key tag')
    assertError(t, await api.get(`/api/v1/metrics/stats/nobody?metric=cpu.usage_percent&${span}`), 404, 'NOT_FOUND', 'stats unknown agent')
  })

  t.test('compare: one axis, null where an agent has no bucket, each with its stats', async (t) => {
    // cmp-b: value 2i at minutes 0–29 and 60–89 only; cmp-c: nothing.
    const b = await api.createAgent('cmp-b')
    await api.createAgent('cmp-c')
    const mine = []
    for (let i = 0; i < N; i++) if (i < 30 || (i >= 60 && i < 90)) mine.push(makeBatch({ time: at(i), metrics: [metric('cpu', 'usage_percent', 2 * i)], processes: [] }))
    t.equal((await api.ingest(b.api_key, mine)).status, 202)
    const res = await api.get(`/api/v1/metrics/compare?agents=series-a,cmp-b,cmp-c&metric=cpu.usage_percent&${span}&step=10m`)
    t.equal(res.status, 200)
    t.same(res.body.timestamps, bucketTimes)
    t.equal(res.body.step, 600)
    t.same(res.body.series.map((s: any) => s.agent_id), ['series-a', 'cmp-b', 'cmp-c'])
    t.same(res.body.series[0].values, tenMinute((j) => 10 * j + 4.5))
    t.same(res.body.series[1].values, tenMinute((j) => (j < 3 || (j >= 6 && j < 9) ? 2 * (10 * j + 4.5) : null)))
    t.same(res.body.series[2].values, tenMinute(() => null))
    const ea = expectedStats(Array.from({ length: N }, (_, i) => i))
    const eb = expectedStats(mine.map((m) => m.metrics![0].value))
    for (const k of STAT_KEYS) {
      near(t, res.body.series[0].stats[k], ea[k], `series-a ${k}`)
      near(t, res.body.series[1].stats[k], eb[k], `cmp-b ${k}`)
    }
    t.equal(res.body.series[2].stats.count, 0)
    // Only cmp-b: its axis is its own buckets.
    const solo = await api.get(`/api/v1/metrics/compare?agents=cmp-b&metric=cpu.usage_percent&${span}&step=10m`)
    t.equal(solo.body.timestamps.length, 6)
    // By uuid as well as by name.
    const byId = await api.get(`/api/v1/metrics/compare?agents=${a.id},cmp-b&metric=cpu.usage_percent&${span}&step=10m`)
    t.same(byId.body.series.map((s: any) => s.agent_id), ['series-a', 'cmp-b'])

    const many = Array.from({ length: 21 }, (_, i) => `agent-${i}`).join(',')
    const tooMany = await api.get(`/api/v1/metrics/compare?agents=${many}&metric=cpu.usage_percent&${span}`)
    assertError(t, tooMany, 400, 'VALIDATION_ERROR', '21 agents')
    t.ok(tooMany.body?.details?.agents, 'names agents')
    const twenty = Array.from({ length: 20 }, () => 'series-a').concat(['cmp-b']).join(',')
    t.equal((await api.get(`/api/v1/metrics/compare?agents=${twenty}&metric=cpu.usage_percent&${span}`)).status, 200, 'repeated names count once')
    assertError(t, await api.get(`/api/v1/metrics/compare?agents=series-a,nobody&metric=cpu.usage_percent&${span}`), 404, 'NOT_FOUND', 'unknown agent')
    assertError(t, await api.get(`/api/v1/metrics/compare?metric=cpu.usage_percent&${span}`), 400, 'VALIDATION_ERROR', 'no agents')
    assertError(t, await api.get(`/api/v1/metrics/compare?agents=series-a&metric=disk.usage_percent&${span}`), 400, 'VALIDATION_ERROR', 'missing key tag')
  })
})
