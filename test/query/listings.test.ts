// Seed 001's metric listings — latest, range, disk, network, process — on data ingested through
// POST /api/v1/ingest at known times: exact values, bounds, order, caps, pagination by `end`, errors,
// and every example request of seed 001 answering with the documented field names.
import t from 'tap'
import { assertError, disk, makeBatch, metric, minutesAgo, network, proc, startClient } from '../test-client.ts'
import type { IngestBatch } from '../../contract/ingest-batch.ts'
import { walkListing } from './query-helpers.ts'

const METRIC_FIELDS = ['agent_id', 'metric_name', 'metric_type', 'tags', 'time', 'value']
const DISK_FIELDS = ['time', 'agent_id', 'device', 'mount_point', 'filesystem', 'total_bytes', 'used_bytes', 'available_bytes', 'usage_percent', 'inodes_total', 'inodes_used', 'inodes_percent']
const NETWORK_FIELDS = ['time', 'agent_id', 'interface', 'bytes_sent', 'bytes_recv', 'packets_sent', 'packets_recv', 'errors_in', 'errors_out', 'drop_in', 'drop_out', 'is_up']
const PROCESS_FIELDS = ['time', 'agent_id', 'pid', 'name', 'cmdline', 'username', 'cpu_percent', 'memory_bytes', 'memory_percent', 'num_threads', 'status']
const LISTING_HEAD = ['agent_id', 'start', 'end', 'count', 'metrics']
const UTC_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** `iso` written at a fixed UTC offset, e.g. 2026-01-30T10:30:00-05:00 or +05:30. */
function withOffset(iso: string, minutes: number): string {
  const d = new Date(Date.parse(iso) + minutes * 60_000)
  const sign = minutes < 0 ? '-' : '+'
  const abs = Math.abs(minutes)
  return `${d.toISOString().slice(0, 19)}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
}

const hasFields = (t: any, row: any, fields: string[], what: string) => {
  for (const f of fields) t.ok(f in row, `${what} has ${f}`)
}
const isNewestFirst = (rows: any[]) => rows.every((r, i) => i === 0 || Date.parse(rows[i - 1].time) >= Date.parse(r.time))
const enc = encodeURIComponent

t.test('metric listings', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('server-001')
  const now = Date.now()
  const at = (k: number) => minutesAgo(k, now)

  // 30 batches one minute apart (k = 30 … 1 minutes ago), values derived from k; one batch 23 h and one 25 h ago.
  const batchAt = (k: number, base = 0): IngestBatch => makeBatch({
    time: at(k),
    metrics: [metric('cpu', 'usage_percent', base + k + 0.25), metric('cpu', 'load_avg_1', base + k / 100), metric('memory', 'usage_percent', base + 50 + k)],
    disks: [disk('/', { usage_percent: base + k, used_bytes: 1000 + k }), disk('/boot', { device: '/dev/sda16', usage_percent: base + 100 + k })],
    networks: [network('eth0', { bytes_sent: 1000 + k }), network('docker0', { bytes_sent: 2000 + k, is_up: false })],
    processes: [proc(100, 'nginx', { cpu_percent: 10 + k }), proc(200, 'postgres', { cpu_percent: 5 }), proc(300, 'node', { cpu_percent: base + Math.max(1, 50 - k) })],
  })
  const batches: IngestBatch[] = []
  for (let k = 30; k >= 1; k--) batches.push(batchAt(k))
  batches.push(batchAt(23 * 60, 1000), batchAt(25 * 60, 2000))
  const seeded = await api.ingest(agent.api_key, batches)
  t.equal(seeded.status, 202, `seed ingested: ${seeded.text.slice(0, 300)}`)
  t.equal(seeded.body.rows.metrics, 32 * 3)

  t.test('latest: the last value of every series, newest first', async (t) => {
    // An older batch written afterwards does not replace the newest value.
    t.equal((await api.ingest(agent.api_key, batchAt(40, 5000))).status, 202)
    const res = await api.get('/api/v1/metrics/latest/server-001')
    t.equal(res.status, 200)
    t.same(Object.keys(res.body).sort(), ['agent_id', 'count', 'metrics'])
    t.equal(res.body.agent_id, 'server-001')
    t.equal(res.body.count, 3)
    const byKey = Object.fromEntries(res.body.metrics.map((m: any) => [`${m.metric_type}.${m.metric_name}`, m]))
    t.same(byKey['cpu.usage_percent'], { time: at(1), agent_id: 'server-001', metric_type: 'cpu', metric_name: 'usage_percent', value: 1.25, tags: {} })
    t.equal(byKey['cpu.load_avg_1'].value, 0.01)
    t.equal(byKey['memory.usage_percent'].value, 51)
    for (const m of res.body.metrics) t.equal(m.time, at(1), 'every latest value is from the newest batch')
    const limited = await api.get('/api/v1/metrics/latest/server-001?limit=2')
    t.equal(limited.body.count, 2)
    // Later: a newer value appears as soon as it is written.
    t.equal((await api.ingest(agent.api_key, makeBatch({ time: minutesAgo(0), metrics: [metric('cpu', 'usage_percent', 99.5)] }))).status, 202)
    const after = await api.get('/api/v1/metrics/latest/server-001')
    const cpu = after.body.metrics.find((m: any) => m.metric_type === 'cpu' && m.metric_name === 'usage_percent')
    t.equal(cpu.value, 99.5, 'the new last value')
    t.equal(after.body.metrics[0].metric_name, 'usage_percent', 'newest first')
  })

  t.test('range: bounded to [start, end), newest first, exact values', async (t) => {
    const res = await api.get(`/api/v1/metrics/range/server-001?start=${enc(at(10))}&end=${enc(at(5))}`)
    t.equal(res.status, 200)
    t.same(Object.keys(res.body).sort(), [...LISTING_HEAD].sort())
    t.equal(res.body.start, at(10))
    t.equal(res.body.end, at(5))
    t.equal(res.body.count, 15, 'k = 10 … 6: five batches of three (end exclusive, start inclusive)')
    t.same([...new Set(res.body.metrics.map((m: any) => m.time))], [6, 7, 8, 9, 10].map(at))
    t.ok(isNewestFirst(res.body.metrics), 'newest first')
    const cpu = res.body.metrics.filter((m: any) => m.metric_type === 'cpu' && m.metric_name === 'usage_percent').map((m: any) => m.value)
    t.same(cpu, [6.25, 7.25, 8.25, 9.25, 10.25])
    for (const m of res.body.metrics) t.same(Object.keys(m).sort(), METRIC_FIELDS)
  })

  t.test('range: default window is the last 24 h; RFC3339 with offsets; times answered in UTC', async (t) => {
    const def = await api.get('/api/v1/metrics/range/server-001?limit=10000')
    const times = new Set(def.body.metrics.map((m: any) => m.time))
    t.ok(times.has(at(23 * 60)), 'the batch 23 h ago is inside the default window')
    t.notOk(times.has(at(25 * 60)), 'the batch 25 h ago is not')
    t.ok(Math.abs(Date.parse(def.body.end) - Date.now()) < 60_000, 'end defaults to now')
    t.equal(Date.parse(def.body.end) - Date.parse(def.body.start), 86_400_000, 'start defaults to end − 24 h')
    for (const off of [-300, 330, 0, 600]) {
      const res = await api.get(`/api/v1/metrics/range/server-001?start=${enc(withOffset(at(10), off))}&end=${enc(withOffset(at(5), off))}`)
      t.equal(res.status, 200, `offset ${off} min`)
      t.equal(res.body.count, 15, `offset ${off} min: same rows`)
      t.equal(res.body.start, at(10), `offset ${off} min: start echoed in UTC`)
      t.match(res.body.metrics[0].time, UTC_ISO)
    }
    // Microsecond fractions (as Python's isoformat() writes them) and a lowercase z.
    const micro = await api.get(`/api/v1/metrics/range/server-001?start=${enc(at(10).replace('.000Z', '.000000Z'))}&end=${enc(at(5).replace('Z', 'z'))}`)
    t.equal(micro.status, 200)
    t.equal(micro.body.count, 15)
  })

  t.test('range: bad parameters → 400 naming the parameter', async (t) => {
    const cases: Array<[string, string]> = [
      ['start=yesterday', 'start'], ['end=2024-01-30', 'end'], ['start=2024-01-30T25:00:00Z', 'start'], ['end=1706628600', 'end'],
      ['start=2024-13-01T00:00:00Z', 'start'], [`start=${enc(at(1))}&end=${enc(at(5))}`, 'start'], [`start=${enc(at(5))}&end=${enc(at(5))}`, 'start'],
      ['limit=0', 'limit'], ['limit=-5', 'limit'], ['limit=ten', 'limit'], ['limit=1.5', 'limit'],
      // An offset carrying the instant into year 10000: PostgreSQL refused it (a 500).
      [`end=${enc('9999-12-31T23:30:00-01:00')}`, 'end'],
    ]
    for (const path of ['range', 'disk', 'network', 'process']) {
      for (const [q, field] of cases) {
        const res = await api.get(`/api/v1/metrics/${path}/server-001?${q}`)
        assertError(t, res, 400, 'VALIDATION_ERROR', `${path}?${q}`)
        t.ok(res.body?.details && field in res.body.details, `${path}?${q}: details name ${field}`)
        t.match(res.body?.message ?? '', field, `${path}?${q}: the message names ${field}`)
      }
    }
    for (const q of ['limit=0', 'limit=x']) assertError(t, await api.get(`/api/v1/metrics/latest/server-001?${q}`), 400, 'VALIDATION_ERROR', `latest?${q}`)
  })

  t.test('a cursor this API did not issue → 400 naming the cursor, whatever the database would have made of it', async (t) => {
    const cursor = (c: unknown) => enc(Buffer.from(JSON.stringify(c)).toString('base64url'))
    const cases: Array<[string, unknown]> = [
      ['range', { t: '1', k: ['cpu', 'usage_percent', '{}', 1.25] }], // a time Date.parse takes and PostgreSQL does not
      ['range', { t: '+275760-09-13T00:00:00.000Z', k: ['cpu', 'usage_percent', '{}', 1.25] }],
      ['range', { t: at(1), k: ['cpu', 'usage_percent', 'not json', 1.25] }],
      ['range', { t: at(1), k: ['cpu', 'usage_percent', '["an array"]', 1.25] }],
      ['range', { t: at(1), k: ['cpu', 'usage_percent', '{"core":"\\u0000"}', 1.25] }],
      ['range', { t: at(1), k: ['cpu', 'usage\u0000percent', '{}', 1.25] }],
      ['range', { t: at(1), k: ['cpu', 'usage_percent'] }], // another listing's key count
      ['range', { t: at(1), k: ['cpu', 'usage_percent', '{}'], n: 1 }], // a count only new cursors carry, with the old keys
      ['range', { t: at(1), k: ['cpu', 'usage_percent', '{}', 'toString'] }], // a name the lookup of NaN/Infinity must not take
      ['range', { t: at(1), k: ['cpu', 'usage_percent', '{"a":1e999999}', 1.25] }], // a tag value that is not text
      ['range', { t: at(1), k: ['cpu', 'usage_percent', '{"a":"\\ud800"}', 1.25] }], // a lone surrogate
      ['range', { t: at(1), k: ['cpu', 'usage\ud800', '{}', 1.25] }],
      ['disk', { t: at(1), k: ['/\u0000', '/dev/sda1'] }],
      ['network', { t: at(1), k: [{ not: 'a key' }] }],
      ['network', { t: at(1) }],
      ['range', { t: at(1), k: ['cpu', 'usage_percent', '{}', 'not a number'] }], // a value key the float column would refuse
      ['range', { t: at(1), k: ['cpu', 'usage_percent', '{}', 1.25], n: 0 }],
    ]
    for (const [path, c] of cases) {
      const res = await api.get(`/api/v1/metrics/${path}/server-001?cursor=${cursor(c)}`)
      assertError(t, res, 400, 'VALIDATION_ERROR', `${path} cursor ${JSON.stringify(c)}`)
      t.ok(res.body?.details?.cursor, `${path} cursor ${JSON.stringify(c)}: details name the cursor`)
    }
    t.equal((await api.get(`/api/v1/metrics/range/server-001?cursor=${cursor({ t: at(1), k: ['cpu', 'usage_percent', '{}', 1.25], n: 1 })}`)).status, 200, 'a well-formed cursor is read')
    assertError(t, await api.get(`/api/v1/metrics/range/server-001?cursor=${cursor({ t: at(1), k: ['cpu', 'usage_percent', '{}', 1.25], n: -1 })}`), 400, 'VALIDATION_ERROR', 'a negative count of tied rows')
    // A cursor issued before the tie count (and the value and device keys) existed continues after its keys.
    for (const [path, k] of [['range', ['cpu', 'load_avg_1', '{}']], ['disk', ['/']]] as const) {
      const old = await api.get(`/api/v1/metrics/${path}/server-001?cursor=${cursor({ t: at(10), k })}&limit=3`)
      t.equal(old.status, 200, `${path}: an older cursor is read`)
      const rows = old.body.metrics as any[]
      t.ok(rows.length > 0 && rows.every((r) => Date.parse(r.time) < Date.parse(at(10)) || (path === 'range' ? r.metric_type + r.metric_name > 'cpuload_avg_1' : r.mount_point > '/')),
        `${path}: continuing after its keys`)
    }
  })

  t.test('a date that does not exist (30 February) is a malformed time, not 1 March', async (t) => {
    const res = await api.get('/api/v1/metrics/range/server-001?start=2024-02-30T00:00:00Z&end=2024-03-02T00:00:00Z')
    assertError(t, res, 400, 'VALIDATION_ERROR', '2024-02-30')
    t.ok(res.body?.details?.start, 'names start')
  })

  t.test('unknown agent → 404 on every listing', async (t) => {
    for (const path of ['latest', 'range', 'disk', 'network', 'process']) {
      assertError(t, await api.get(`/api/v1/metrics/${path}/no-such-agent`), 404, 'NOT_FOUND', path)
      assertError(t, await api.get(`/api/v1/metrics/${path}/00000000-0000-4000-8000-000000000000`), 404, 'NOT_FOUND', `${path} by uuid`)
    }
  })

  t.test('disk, network and process listings: exact rows, newest first, bounded', async (t) => {
    const q = `start=${enc(at(3))}&end=${enc(at(1))}`
    const d = await api.get(`/api/v1/metrics/disk/server-001?${q}`)
    t.same(d.body.metrics.map((r: any) => [r.time, r.mount_point, r.usage_percent]), [[at(2), '/', 2], [at(2), '/boot', 102], [at(3), '/', 3], [at(3), '/boot', 103]])
    t.same(d.body.metrics[0].used_bytes, 1002)
    const n = await api.get(`/api/v1/metrics/network/server-001?${q}`)
    t.same(n.body.metrics.map((r: any) => [r.time, r.interface, r.bytes_sent, r.is_up]), [[at(2), 'docker0', 2002, false], [at(2), 'eth0', 1002, true], [at(3), 'docker0', 2003, false], [at(3), 'eth0', 1003, true]])
    const p = await api.get(`/api/v1/metrics/process/server-001?${q}`)
    // Ranked by CPU inside each snapshot: at k = 2 node 48, nginx 12, postgres 5; at k = 3 node 47, nginx 13, postgres 5.
    t.same(p.body.metrics.map((r: any) => [r.time, r.name, r.cpu_percent]),
      [[at(2), 'node', 48], [at(2), 'nginx', 12], [at(2), 'postgres', 5], [at(3), 'node', 47], [at(3), 'nginx', 13], [at(3), 'postgres', 5]])
    t.equal(p.body.metrics[0].agent_id, 'server-001')
  })

  t.test('pagination with `end` yields every row exactly once (range, disk, network)', async (t) => {
    const start = at(26 * 60)
    for (const [path, key] of [
      ['range', (m: any) => `${m.time}|${m.metric_type}.${m.metric_name}|${m.value}`],
      ['disk', (m: any) => `${m.time}|${m.mount_point}|${m.usage_percent}`],
      ['network', (m: any) => `${m.time}|${m.interface}|${m.bytes_sent}`],
    ] as const) {
      const all = (await api.get(`/api/v1/metrics/${path}/server-001?start=${enc(start)}&limit=10000`)).body.metrics.map(key)
      t.ok(all.length >= 60, `${path}: ${all.length} rows in the full set`)
      for (const limit of [1, 2, 3, 4, 7, 50]) {
        const { rows, pageSizes } = await walkListing(t, api, `/api/v1/metrics/${path}/server-001`, { start }, limit)
        const keys = rows.map(key)
        t.equal(new Set(keys).size, keys.length, `${path} limit ${limit}: no row twice`)
        t.same([...keys].sort(), [...all].sort(), `${path} limit ${limit}: every row (${keys.length}/${all.length}) in ${pageSizes.length} pages`)
        t.ok(isNewestFirst(rows), `${path} limit ${limit}: newest to oldest across pages`)
        if (limit >= 3) t.ok(pageSizes.every((n) => n <= limit), `${path} limit ${limit}: no page above the limit (${pageSizes})`)
      }
    }
    // A page never splits one timestamp: limit 5 on three rows per timestamp gives 3.
    const page = await api.get(`/api/v1/metrics/range/server-001?end=${enc(at(1))}&limit=5`)
    t.equal(page.body.count, 3)
    t.equal(page.body.next_end, page.body.metrics[2].time)
  })

  t.test('caps: limit 20000 → at most 10000 rows (range, disk, network); process 500 → at most 100', async (t) => {
    const bulk = await api.createAgent('bulk-001')
    const base = Date.now() - 60 * 60_000
    const stamp = (i: number) => new Date(base + i * 1000).toISOString()
    // 10,500 scalar rows over 25 instants, 11,000 disk and network rows over 11 instants, 150 processes in one snapshot
    // (sent in batches small enough for the 1 MiB body limit).
    for (let part = 0; part < 3; part++) {
      const metrics = Array.from({ length: 3500 }, (_, j) => { const i = part * 3500 + j; return metric('cpu', 'usage_percent', i, { time: stamp(i % 25), tags: { core: String(i) } }) })
      t.equal((await api.ingest(bulk.api_key, makeBatch({ time: stamp(30), metrics, disks: [], networks: [], processes: [] }))).status, 202, `scalar part ${part}`)
    }
    for (let j = 0; j < 11; j++) {
      for (const half of [0, 1]) {
        const range = Array.from({ length: 500 }, (_, i) => half * 500 + i)
        const res = await api.ingest(bulk.api_key, makeBatch({
          time: stamp(100 + j), metrics: [], processes: [],
          disks: range.map((i) => disk(`/mnt/${i}`)), networks: range.map((i) => network(`veth${i}`)),
        }))
        t.equal(res.status, 202, `wide batch ${j}.${half}`)
      }
    }
    t.equal((await api.ingest(bulk.api_key, makeBatch({
      time: stamp(200), metrics: [], disks: [], networks: [],
      processes: Array.from({ length: 150 }, (_, i) => proc(1000 + i, `p${i}`, { cpu_percent: i / 2 })),
    }))).status, 202)

    for (const path of ['range', 'disk', 'network']) {
      const res = await api.get(`/api/v1/metrics/${path}/bulk-001?limit=20000`)
      t.equal(res.status, 200, path)
      t.ok(res.body.count <= 10_000 && res.body.count >= 9_000, `${path}: ${res.body.count} rows, at most 10,000`)
      t.equal(res.body.metrics.length, res.body.count)
      t.ok(res.body.next_end, `${path}: more rows follow`)
      const dflt = await api.get(`/api/v1/metrics/${path}/bulk-001`)
      t.ok(dflt.body.count <= 1000 && dflt.body.count > 0, `${path}: default limit 1000 (${dflt.body.count})`)
    }
    const p = await api.get('/api/v1/metrics/process/bulk-001?limit=500')
    t.equal(p.status, 200)
    t.equal(p.body.count, 100, 'process limit capped at 100')
    t.same(p.body.metrics.map((r: any) => r.cpu_percent), Array.from({ length: 100 }, (_, i) => (149 - i) / 2), 'the 100 highest CPU, descending')
    const pd = await api.get('/api/v1/metrics/process/bulk-001')
    t.equal(pd.body.count, 100, 'process default limit 100')
    const latest = await api.get('/api/v1/metrics/latest/bulk-001?limit=20000')
    t.equal(latest.body.count, 10_000, 'latest: 10,500 series capped at 10,000')
    t.equal((await api.get('/api/v1/metrics/latest/bulk-001')).body.count, 100, 'latest default 100')
  })

  t.test('the 10,000-row cap holds even when one instant holds more rows than that', async (t) => {
    const dense = await api.createAgent('dense-001')
    const time = minutesAgo(5)
    for (let part = 0; part < 3; part++) {
      const metrics = Array.from({ length: part === 2 ? 3335 : 3333 }, (_, j) => metric('cpu', 'usage_percent', j, { tags: { core: `${part}-${j}` } }))
      t.equal((await api.ingest(dense.api_key, makeBatch({ time, metrics, disks: [], networks: [], processes: [] }))).status, 202)
    }
    t.equal((await api.get('/api/v1/metrics/latest/dense-001?limit=10000')).body.count, 10_000, '10,001 rows stored at one instant')
    const res = await api.get('/api/v1/metrics/range/dense-001?limit=10000')
    t.equal(res.status, 200)
    t.ok(res.body.count <= 10_000, `a page holds at most 10,000 rows (got ${res.body.count})`)
  })

  t.test('every example request of seed 001 answers with the documented fields', async (t) => {
    // Data inside the document's own example window (29–30 January 2024).
    t.equal((await api.ingest(agent.api_key, makeBatch({ time: '2024-01-29T23:59:00Z' }))).status, 202)
    const health = await api.get('/health', '')
    t.equal(health.status, 200)
    t.same(Object.keys(health.body).sort(), ['service', 'status', 'timestamp'])
    t.equal(health.body.status, 'healthy')
    t.type(health.body.timestamp, 'number')

    const agents = await api.get('/api/v1/agents')
    t.equal(agents.status, 200, 'GET /api/v1/agents')
    t.ok(agents.body.agents.some((a: any) => a.name === 'server-001'))
    const active = await api.get('/api/v1/agents?status=active&limit=50&offset=0')
    t.same(Object.keys(active.body).sort(), ['agents', 'limit', 'offset', 'total'])

    for (const limit of [5, 10, 100]) {
      const res = await api.get(`/api/v1/metrics/latest/server-001?limit=${limit}`)
      t.equal(res.status, 200, `latest?limit=${limit}`)
      t.same(Object.keys(res.body).sort(), ['agent_id', 'count', 'metrics'])
      t.equal(res.body.agent_id, 'server-001')
      t.equal(res.body.count, Math.min(limit, 3))
      for (const m of res.body.metrics) t.same(Object.keys(m).sort(), METRIC_FIELDS, `latest?limit=${limit} fields`)
    }

    const doc = await api.get('/api/v1/metrics/range/server-001?start=2024-01-29T00:00:00Z&end=2024-01-30T00:00:00Z&limit=500')
    t.equal(doc.status, 200, 'the documented range example')
    t.same(Object.keys(doc.body).sort(), [...LISTING_HEAD].sort())
    t.equal(Date.parse(doc.body.start), Date.parse('2024-01-29T00:00:00Z'))
    t.equal(Date.parse(doc.body.end), Date.parse('2024-01-30T00:00:00Z'))
    t.equal(doc.body.count, 3)
    t.same(doc.body.metrics.find((m: any) => m.metric_type === 'memory'),
      { time: '2024-01-29T23:59:00.000Z', agent_id: 'server-001', metric_type: 'memory', metric_name: 'usage_percent', value: 75.2, tags: {} })

    // JavaScript: last 24 h with toISOString(); Python: last hour with isoformat() + 'Z' (microseconds).
    const js = await api.get(`/api/v1/metrics/range/server-001?start=${new Date(Date.now() - 86_400_000).toISOString()}&end=${new Date().toISOString()}`)
    t.equal(js.status, 200, 'JS getMetricsLast24h')
    t.ok(js.body.count > 0)
    const py = (d: Date) => `${d.toISOString().slice(0, 23)}456Z`
    const pyRes = await api.get(`/api/v1/metrics/range/server-001?${new URLSearchParams({ start: py(new Date(Date.now() - 3_600_000)), end: py(new Date()) })}`)
    t.equal(pyRes.status, 200, 'Python get_metrics_last_hour')
    t.ok(pyRes.body.count > 0)

    for (const q of ['', '?limit=10', '?limit=100']) {
      const res = await api.get(`/api/v1/metrics/disk/server-001${q}`)
      t.equal(res.status, 200, `disk${q}`)
      t.same(Object.keys(res.body).filter((k) => k !== 'next_end' && k !== 'next_cursor').sort(), [...LISTING_HEAD].sort())
      t.ok(res.body.count > 0)
      for (const m of res.body.metrics) hasFields(t, m, DISK_FIELDS, `disk${q} row`)
    }
    const net = await api.get('/api/v1/metrics/network/server-001?limit=5')
    t.equal(net.status, 200, 'network?limit=5')
    t.ok(net.body.count > 0 && net.body.count <= 5)
    for (const m of net.body.metrics) hasFields(t, m, NETWORK_FIELDS, 'network row')
    for (const limit of [10, 5]) {
      const res = await api.get(`/api/v1/metrics/process/server-001?limit=${limit}`)
      t.equal(res.status, 200, `process?limit=${limit}`)
      t.ok(res.body.count > 0 && res.body.count <= limit)
      for (const m of res.body.metrics) hasFields(t, m, PROCESS_FIELDS, `process?limit=${limit} row`)
      const newest = res.body.metrics.filter((m: any) => m.time === res.body.metrics[0].time).map((m: any) => m.cpu_percent)
      t.same(newest, [...newest].sort((a: number, b: number) => b - a), `process?limit=${limit}: the newest snapshot is ranked by CPU`)
    }
  })
})

t.test('a cursor never skips or repeats rows no key tells apart (stacked mounts, a series sent twice in one instant)', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('ties')
  await api.ingestOk(agent.api_key, [makeBatch({
    time: minutesAgo(5), networks: [], processes: [],
    metrics: [metric('cpu', 'x', 1), metric('cpu', 'x', 2), metric('cpu', 'y', 3), metric('cpu', 'y', 3), metric('cpu', 'y', 3)],
    disks: [disk('/', { device: '/dev/sdb1' }), disk('/', { device: '/dev/sda1' }), disk('/boot', { device: '/dev/sda16' })],
  })])
  for (const [path, field] of [['disk', 'device'], ['range', 'value']] as const) {
    const all = (await api.get(`/api/v1/metrics/${path}/ties`)).body.metrics.map((r: any) => `${r.metric_name ?? r.mount_point}:${r[field]}`)
    for (const limit of [1, 2]) {
      const seen: string[] = []
      let next = ''
      for (let i = 0; i < 20; i++) {
        const res = await api.get(`/api/v1/metrics/${path}/ties?limit=${limit}${next}`)
        t.equal(res.status, 200, `${path}, limit ${limit}, page ${i + 1}`)
        seen.push(...res.body.metrics.map((r: any) => `${r.metric_name ?? r.mount_point}:${r[field]}`))
        if (!res.body.next_cursor && !res.body.next_end) break
        next = res.body.next_end ? `&end=${enc(res.body.next_end)}` : `&cursor=${res.body.next_cursor}`
      }
      t.same(seen, all, `${path}, walked ${limit} at a time: every row once, in order (${seen.join(' ')})`)
    }
  }
})

t.test('series with long tags: every cursor fits the route and the walk gives every row once, in order', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('long-tags')
  // Two tags of 1,000 characters make a key cursor far longer than MAX_CURSOR_LENGTH; short-tag series sort
  // before them in each instant (fewer pairs), so a walk passes from key cursors to positions and back.
  const long = (c: string) => ({ core: c, image: c.repeat(1000), pod: `p${c}`.repeat(500) })
  const rows = (v: number) => [
    metric('cpu', 'x', v, { tags: { core: '0' } }), metric('cpu', 'x', v, { tags: long('a') }), metric('cpu', 'x', v, { tags: long('b') }),
    metric('cpu', 'x', v + 1, { tags: long('b') }), metric('cpu', 'x', v + 1, { tags: long('b') }), // tied in every key
    metric('cpu', 'y', v, { tags: long('a') }), metric('cpu', 'y', v, { tags: { core: '1' } }),
  ]
  await api.ingestOk(agent.api_key, [3, 2, 1].map((k) => makeBatch({ time: minutesAgo(k), networks: [], processes: [], disks: [], metrics: rows(k) })))
  const label = (r: any) => `${r.time.slice(11, 19)} ${r.metric_name} ${r.tags.core} ${r.value}`
  const full = await api.get('/api/v1/metrics/range/long-tags?limit=1000')
  t.equal(full.status, 200)
  const all = full.body.metrics.map(label)
  t.equal(all.length, 21, 'three instants of seven rows')
  let positions = 0
  for (const limit of [1, 2, 3, 5]) {
    const seen: string[] = []
    let cursor = ''
    for (let i = 0; i < 40; i++) {
      const res = await api.get(`/api/v1/metrics/range/long-tags?limit=${limit}${cursor}`)
      t.equal(res.status, 200, `limit ${limit}, page ${i + 1}: ${res.body?.message ?? ''}`)
      seen.push(...res.body.metrics.map(label))
      if (!res.body.next_cursor) break
      t.ok(res.body.next_cursor.length <= 2048, `limit ${limit}, page ${i + 1}: the cursor fits (${res.body.next_cursor.length} characters)`)
      if ('p' in JSON.parse(Buffer.from(res.body.next_cursor, 'base64url').toString())) positions++
      cursor = `&cursor=${res.body.next_cursor}`
    }
    t.same(seen, all, `walked ${limit} at a time by cursor: every row once, in order`)
  }
  t.ok(positions > 0, `cursors past the limit were positions (${positions})`)
  const cursor = (c: unknown) => enc(Buffer.from(JSON.stringify(c)).toString('base64url'))
  for (const c of [{ t: minutesAgo(2), p: 0 }, { t: minutesAgo(2), p: -1 }, { t: minutesAgo(2), p: 1.5 }, { t: 'yesterday', p: 1 }, { t: minutesAgo(2), p: 1, k: ['cpu'] }]) {
    assertError(t, await api.get(`/api/v1/metrics/range/long-tags?cursor=${cursor(c)}`), 400, 'VALIDATION_ERROR', `position cursor ${JSON.stringify(c)}`)
  }
  t.equal((await api.get(`/api/v1/metrics/range/long-tags?cursor=${'a'.repeat(2049)}`)).status, 400, 'a cursor past the limit is refused')

  // A client may send both `end=<next_end>` and the cursor: the cursor's instant is then out of the range, and
  // its count of rows given must not be taken from the next instant (a position or a key cursor alike).
  const short = await api.createAgent('short-tags')
  await api.ingestOk(short.api_key, [3, 2, 1].map((k) => makeBatch({
    time: minutesAgo(k), networks: [], processes: [], disks: [], metrics: [metric('cpu', 'a', k), metric('cpu', 'b', k), metric('cpu', 'c', k)],
  })))
  for (const [name, count] of [['long-tags', 21], ['short-tags', 9]] as const) {
    const every = (await api.get(`/api/v1/metrics/range/${name}?limit=1000`)).body.metrics.map(label)
    t.equal(every.length, count)
    const first = await api.get(`/api/v1/metrics/range/${name}?limit=${count / 3 + 2}`)
    t.ok(first.body.next_end && first.body.next_cursor, `${name}: the first page ends on a whole instant`)
    const both = await api.get(`/api/v1/metrics/range/${name}?limit=1000&cursor=${first.body.next_cursor}&end=${enc(first.body.next_end)}`)
    t.equal(both.status, 200)
    t.same([...first.body.metrics.map(label), ...both.body.metrics.map(label)], every, `${name}: cursor and end together give the rest, every row once`)
  }
})
