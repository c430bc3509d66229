// GET /api/v1/metrics/latest/:agent_id and /range/:agent_id as seed 001 describes them, on data seeded
// through the real ingest endpoint at known times.
import t, { type Test } from 'tap'
import { assertError, makeBatch, metric, minutesAgo, startClient, type TestClient } from '../test-client.ts'

const FIELDS = ['agent_id', 'metric_name', 'metric_type', 'tags', 'time', 'value']
const HOUR = 60

/** `iso` written with a fixed UTC offset of `offsetHours`, e.g. 2026-01-30T10:30:00-05:00. */
function withOffset(iso: string, offsetHours: number): string {
  const d = new Date(Date.parse(iso) + offsetHours * 3_600_000)
  const sign = offsetHours < 0 ? '-' : '+'
  const hh = String(Math.abs(offsetHours)).padStart(2, '0')
  return `${d.toISOString().slice(0, 19)}${sign}${hh}:00`
}

const key = (m: any) => `${m.time}|${m.metric_type}|${m.metric_name}|${JSON.stringify(m.tags)}|${m.value}`

/**
 * Walks range pages following `end = oldest time of the previous page` (seed 001), or `cursor` when one
 * instant alone fills a page and no `next_end` can be given; returns every row seen and the pages.
 */
async function walkPages(t: Test, api: TestClient, agent: string, start: string, limit: number) {
  const seen: any[] = []
  let next: Record<string, string> = {}
  let pages = 0
  for (; pages < 200; pages++) {
    const q = new URLSearchParams({ start, limit: String(limit), ...next })
    const res = await api.get(`/api/v1/metrics/range/${agent}?${q}`)
    if (res.status !== 200) { t.fail(`page ${pages}: ${res.status} ${res.text}`); break }
    seen.push(...res.body.metrics)
    if (res.body.count === 0 || (!res.body.next_end && !res.body.next_cursor)) break
    const oldest = res.body.metrics[res.body.metrics.length - 1].time
    if (res.body.next_end && res.body.next_end !== oldest) t.fail(`page ${pages}: next_end ${res.body.next_end} is not the oldest time ${oldest}`)
    t.ok(res.body.count <= limit, `page ${pages}: at most ${limit} rows`)
    next = res.body.next_end ? { end: res.body.next_end } : { cursor: res.body.next_cursor }
  }
  return { seen, pages: pages + 1 }
}

t.test('metrics queries', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('metrics-a')
  const now = Date.now()
  const at = (k: number) => minutesAgo(k, now)

  // Ten batches one minute apart (k = 1 newest), five series each; swap only at k = 3; one batch 23 h and one 25 h old.
  const seriesAt = (k: number, base = 0) => [
    metric('cpu', 'usage_percent', base + 10 + k, { tags: { core: '0' } }),
    metric('cpu', 'usage_percent', base + 20 + k, { tags: { core: '1' } }),
    metric('cpu', 'load_avg_1', base + k / 10),
    metric('memory', 'usage_percent', base + 50 + k),
    metric('memory', 'available_bytes', base + 1e9 + k),
  ]
  const batches = []
  for (let k = 10; k >= 1; k--) batches.push(makeBatch({ time: at(k), metrics: [...seriesAt(k), ...(k === 3 ? [metric('swap', 'usage_percent', 3.3)] : [])] }))
  batches.push(makeBatch({ time: at(23 * HOUR), metrics: seriesAt(0, 2300) }))
  batches.push(makeBatch({ time: at(25 * HOUR), metrics: seriesAt(0, 2500) }))
  const seeded = await api.ingest(agent.api_key, batches)
  t.equal(seeded.status, 202, 'seed data ingested')
  t.equal(seeded.body.rows.metrics, 12 * 5 + 1)

  t.test('latest: the newest value of each series, newest first', async (t) => {
    const res = await api.get('/api/v1/metrics/latest/metrics-a')
    t.equal(res.status, 200)
    t.same(Object.keys(res.body).sort(), ['agent_id', 'count', 'metrics'])
    t.equal(res.body.agent_id, 'metrics-a')
    t.equal(res.body.count, 6)
    t.equal(res.body.metrics.length, 6)
    for (const m of res.body.metrics) t.same(Object.keys(m).sort(), FIELDS, 'exactly the seed 001 fields')
    t.ok(res.body.metrics.every((m: any) => m.agent_id === 'metrics-a'), 'agent_id is the agent\'s name')
    const newest = res.body.metrics.slice(0, 5)
    t.ok(newest.every((m: any) => m.time === at(1)), 'five series from the newest batch first')
    t.same(newest.map((m: any) => `${m.metric_type}.${m.metric_name}${m.tags.core ? `#${m.tags.core}` : ''}=${m.value}`).sort(), [
      'cpu.load_avg_1=0.1', 'cpu.usage_percent#0=11', 'cpu.usage_percent#1=21', 'memory.available_bytes=1000000001', 'memory.usage_percent=51',
    ])
    t.same(res.body.metrics[5], { time: at(3), agent_id: 'metrics-a', metric_type: 'swap', metric_name: 'usage_percent', value: 3.3, tags: {} },
      'a series last seen 3 minutes ago shows its last value')

    const byId = await api.get(`/api/v1/metrics/latest/${agent.id}`)
    t.equal(byId.status, 200)
    t.same(byId.body, res.body, 'by uuid: the same answer, agent_id still the name')
  })

  t.test('latest: limit', async (t) => {
    const five = await api.get('/api/v1/metrics/latest/metrics-a?limit=5')
    t.equal(five.status, 200)
    t.equal(five.body.count, 5)
    t.equal(five.body.metrics.length, 5)
    t.ok(five.body.metrics.every((m: any) => m.time === at(1)), 'the five newest')
    const capped = await api.get('/api/v1/metrics/latest/metrics-a?limit=20000')
    t.equal(capped.status, 200, 'a limit above the max is capped, not refused')
    t.equal(capped.body.count, 6)
    for (const bad of ['0', '-1', 'abc', '1.5', '10abc']) {
      const res = await api.get(`/api/v1/metrics/latest/metrics-a?limit=${bad}`)
      assertError(t, res, 400, 'VALIDATION_ERROR', `limit=${bad}:`)
      t.ok(res.body.details?.limit, `limit=${bad}: details.limit`)
      t.match(res.body.message, /limit/, `limit=${bad}: message names limit`)
    }
  })

  t.test('latest: default limit 100, max 10000', async (t) => {
    const many = await api.createAgent('metrics-many')
    const wide = makeBatch({ time: at(1), metrics: Array.from({ length: 150 }, (_, i) => metric('custom', `m${String(i).padStart(3, '0')}`, i)) })
    t.equal((await api.ingest(many.api_key, wide)).status, 202)
    const dflt = await api.get('/api/v1/metrics/latest/metrics-many')
    t.equal(dflt.body.count, 100, 'default limit 100')
    t.same(dflt.body.metrics.slice(0, 3).map((m: any) => m.metric_name), ['m000', 'm001', 'm002'], 'ties ordered by type and name')
    t.equal((await api.get('/api/v1/metrics/latest/metrics-many?limit=10000')).body.count, 150)
    t.equal((await api.get('/api/v1/metrics/latest/metrics-many?limit=20000')).body.count, 150)
  })

  t.test('latest: an agent without data, an unknown agent', async (t) => {
    await api.createAgent('metrics-empty')
    const empty = await api.get('/api/v1/metrics/latest/metrics-empty')
    t.equal(empty.status, 200)
    t.same(empty.body, { agent_id: 'metrics-empty', count: 0, metrics: [] })
    const unknown = await api.get('/api/v1/metrics/latest/no-such-agent')
    assertError(t, unknown, 404, 'NOT_FOUND')
    t.match(unknown.body.message, /no-such-agent/)
  })

  t.test('latest: an item whose own time is newer than its batch time is the latest value', async (t) => {
    const b = await api.createAgent('metrics-itemtime')
    const batch = makeBatch({ time: at(3), metrics: [metric('cpu', 'usage_percent', 1), metric('cpu', 'usage_percent', 2, { time: at(1) })] })
    t.equal((await api.ingest(b.api_key, batch)).status, 202)
    const res = await api.get('/api/v1/metrics/latest/metrics-itemtime')
    t.equal(res.body.count, 1)
    t.same(res.body.metrics[0], { time: at(1), agent_id: 'metrics-itemtime', metric_type: 'cpu', metric_name: 'usage_percent', value: 2, tags: {} },
      'the sample taken 1 minute ago, not the one from 3 minutes ago')
  })

  t.test('range: default is the last 24 h, newest first, exact fields', async (t) => {
    const res = await api.get('/api/v1/metrics/range/metrics-a?limit=10000')
    t.equal(res.status, 200)
    t.same(Object.keys(res.body).sort(), ['agent_id', 'count', 'end', 'metrics', 'start'], 'no next_end on a partial page')
    t.equal(res.body.agent_id, 'metrics-a')
    t.equal(res.body.count, 10 * 5 + 1 + 5, 'ten recent batches, swap, and the 23 h old batch')
    t.equal(res.body.metrics.length, res.body.count)
    const end = Date.parse(res.body.end)
    t.ok(Math.abs(end - Date.now()) < 30_000, 'end defaults to now')
    t.equal(Date.parse(res.body.start), end - 24 * 3_600_000, 'start defaults to end - 24 h')
    t.match(res.body.start, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/, 'start in UTC')
    const values = res.body.metrics.map((m: any) => m.value)
    t.ok(values.includes(2350), 'the 23 h old row is in')
    t.notOk(values.includes(2550), 'the 25 h old row is out')
    const times = res.body.metrics.map((m: any) => Date.parse(m.time))
    t.ok(times.every((x: number, i: number) => i === 0 || times[i - 1] >= x), 'newest first')
    t.equal(res.body.metrics[0].time, at(1))
    t.equal(res.body.metrics.at(-1).time, at(23 * HOUR))
    for (const m of res.body.metrics) {
      if (Object.keys(m).sort().join() !== FIELDS.join()) { t.fail(`fields ${Object.keys(m)}`); break }
    }
    t.ok(res.body.metrics.every((m: any) => m.agent_id === 'metrics-a'))
    const dflt = await api.get('/api/v1/metrics/range/metrics-a')
    t.equal(dflt.body.count, 56, 'default limit 1000 holds all 56')
    const byId = await api.get(`/api/v1/metrics/range/${agent.id}?limit=10000&end=${encodeURIComponent(res.body.end)}`)
    t.same(byId.body.metrics.map(key).sort(), res.body.metrics.map(key).sort(), 'by uuid: same rows')
    t.equal(byId.body.agent_id, 'metrics-a')
  })

  t.test('range: RFC3339 with offsets, [start, end), echoed as UTC', async (t) => {
    const start = withOffset(at(6), -5)
    const end = withOffset(at(3), 5)
    t.match(start, /-05:00$/)
    const res = await api.get(`/api/v1/metrics/range/metrics-a?start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}`)
    t.equal(res.status, 200, res.text)
    t.equal(res.body.start, new Date(at(6)).toISOString(), 'start echoed in UTC')
    t.equal(res.body.end, new Date(at(3)).toISOString(), 'end echoed in UTC')
    t.equal(res.body.count, 15, 'batches at 6, 5, 4 minutes ago; the one at end (3) is excluded')
    t.same([...new Set(res.body.metrics.map((m: any) => m.time))], [at(4), at(5), at(6)], 'start inclusive, end exclusive, newest first')
    const lower = await api.get(`/api/v1/metrics/range/metrics-a?start=${encodeURIComponent(at(6).replace('Z', 'z').replace('T', 't'))}&end=${encodeURIComponent(at(3))}`)
    t.equal(lower.status, 200, 'lower-case t and z are RFC3339 too')
    t.equal(lower.body.count, 15)
    // PostgreSQL has no year 0: refused by us with a 400, not by the database with a 500.
    assertError(t, await api.get('/api/v1/metrics/range/metrics-a?start=0000-01-01T00:00:00Z'), 400, 'VALIDATION_ERROR', 'year 0:')
    assertError(t, await api.get('/api/v1/metrics/range/metrics-a?start=1969-12-31T23:59:59Z'), 400, 'VALIDATION_ERROR', 'before 1970:')
  })

  t.test('range: bad parameters are 400 naming the field', async (t) => {
    const cases: Array<[string, string]> = [
      ['start=yesterday', 'start'],
      ['end=2026-13-45T99:00:00Z', 'end'],
      ['start=2026-01-30T10:30:00', 'start'],
      [`start=${encodeURIComponent(at(1))}&end=${encodeURIComponent(at(5))}`, 'start'],
      [`start=${encodeURIComponent(at(5))}&end=${encodeURIComponent(at(5))}`, 'start'],
      ['limit=0', 'limit'],
      ['limit=-1', 'limit'],
      ['limit=abc', 'limit'],
    ]
    for (const [q, field] of cases) {
      const res = await api.get(`/api/v1/metrics/range/metrics-a?${q}`)
      assertError(t, res, 400, 'VALIDATION_ERROR', `${q}:`)
      t.ok(res.body.details?.[field], `${q}: details.${field}`)
      t.match(res.body.message, new RegExp(field), `${q}: message names ${field}`)
    }
    const capped = await api.get('/api/v1/metrics/range/metrics-a?limit=20000')
    t.equal(capped.status, 200, 'limit above 10000 is capped')
    t.equal(capped.body.count, 56)
    assertError(t, await api.get('/api/v1/metrics/range/no-such-agent'), 404, 'NOT_FOUND', 'unknown agent:')
  })

  t.test('range: time-based pagination walks every row exactly once', async (t) => {
    const start = at(48 * HOUR)
    const all = (await api.get(`/api/v1/metrics/range/metrics-a?start=${encodeURIComponent(start)}&limit=10000`)).body.metrics
    t.equal(all.length, 61, 'the full set: every seeded row')
    // The largest group sharing a timestamp holds 6 rows (the batch with swap).
    for (const limit of [6, 7, 10, 11, 25, 60, 61, 62]) {
      const { seen, pages } = await walkPages(t, api, 'metrics-a', start, limit)
      const keys = seen.map(key)
      t.equal(new Set(keys).size, keys.length, `limit ${limit}: no duplicates`)
      // Rows of one series name with different tags share a timestamp in no fixed order: compare as sets.
      t.same([...keys].sort(), all.map(key).sort(), `limit ${limit}: all ${all.length} rows in ${pages} pages`)
      const times = seen.map((m: any) => Date.parse(m.time))
      t.ok(times.every((x: number, i: number) => i === 0 || times[i - 1] >= x), `limit ${limit}: pages run newest to oldest`)
    }
    const first = await api.get(`/api/v1/metrics/range/metrics-a?start=${encodeURIComponent(start)}&limit=7`)
    t.equal(first.body.count, 5, 'a full page of 7 is trimmed back to the whole batch at the newest time')
    t.equal(first.body.next_end, at(1))
  })

  t.test('range: pagination with a limit smaller than one timestamp\'s rows still misses nothing', async (t) => {
    const start = at(48 * HOUR)
    const all = (await api.get(`/api/v1/metrics/range/metrics-a?start=${encodeURIComponent(start)}&limit=10000`)).body.metrics
    for (const limit of [3, 5]) {
      const { seen } = await walkPages(t, api, 'metrics-a', start, limit)
      t.same(seen.map(key).sort(), all.map(key).sort(), `limit ${limit}: all ${all.length} rows exactly once (got ${seen.length})`)
    }
  })

  t.test('range: pagination with two timestamps inside one millisecond misses nothing', async (t) => {
    const us = await api.createAgent('metrics-micro')
    const base = at(2).slice(0, 19)
    const newer = makeBatch({ time: `${base}.131900Z`, metrics: [metric('cpu', 'a', 1), metric('cpu', 'b', 2), metric('cpu', 'c', 3)] })
    const older = makeBatch({ time: `${base}.131100Z`, metrics: [metric('cpu', 'a', 4), metric('cpu', 'b', 5), metric('cpu', 'c', 6)] })
    t.equal((await api.ingest(us.api_key, [older, newer])).status, 202)
    const { seen } = await walkPages(t, api, 'metrics-micro', at(60), 4)
    t.same(seen.map((m: any) => m.value).sort(), [1, 2, 3, 4, 5, 6], `every row once (got values ${seen.map((m: any) => m.value)})`)
  })
})
