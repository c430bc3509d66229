// Traffic totals against a monthly quota (issue 17 part 5), against data ingested with known counters: an
// agent in Asia/Kolkata (UTC+5:30) whose billing cycle started at its local midnight a day or two ago, eth0's
// receive counter wrapping at 2^32 after that boundary and both counters reset by a reboot; loopback and a
// Docker bridge that never count toward the host. Totals per cycle, per interface and per local day, the same
// whether computed from raw samples or materialized, late rows recounted, quotas by agent and by label, the
// forecast, the fleet column, quota alert rules firing and notifying once, and every bad input a 4xx.
import t, { type Test } from 'tap'
import { sql } from 'kysely'
import { assertError, makeBatch, network, startClient, type TestClient } from '../test-client.ts'
import { EvaluationLoop } from '../../services/alerting/evaluation-loop.ts'
import { addChannel, silentLog } from '../alerting/evaluation-helpers.ts'
import { localDate } from '../../services/traffic/traffic-forecast.ts'

const TZ = 'Asia/Kolkata'
const MINUTE = 60_000
const STEP = 10 * MINUTE
const WRAP = 2 ** 32
const now = Date.now()
// The cycle starts at local midnight of the day holding now − 30 h: between 30 and 54 hours ago.
const startDate = localDate(new Date(now - 30 * 60 * MINUTE), TZ)
const CYCLE_START = Date.parse(`${startDate}T00:00:00+05:30`)
const CYCLE_DAY = Number(startDate.slice(8))
const FIRST = CYCLE_START - 3 * 60 * MINUTE
const times: number[] = []
for (let at = FIRST; at <= now - 2 * MINUTE; at += STEP) times.push(at)
const BOUNDARY_K = times.indexOf(CYCLE_START)
const RESET_K = BOUNDARY_K + 7
const growth = (k: number) => 100_000 + 1000 * k
/** eth0's receive counter wraps at the 21st step (after the boundary, k = 18); both counters reset at RESET_K. */
const RX0 = WRAP - Array.from({ length: 20 }, (_, i) => growth(i + 1)).reduce((a, b) => a + b, 0) - 50_000
const TX0 = 1_000_000_000_000

interface Sample { at: number; rx: number; tx: number; rated: boolean }
const eth0: Sample[] = []
for (let k = 0; k < times.length; k++) {
  if (k === 0) { eth0.push({ at: times[0], rx: RX0, tx: TX0, rated: false }); continue }
  const prev = eth0[k - 1]
  const reset = k === RESET_K
  eth0.push({ at: times[k], rx: reset ? growth(k) : (prev.rx + growth(k)) % WRAP, tx: reset ? 2 * growth(k) : prev.tx + 2 * growth(k), rated: !reset })
}
const WRAP_K = eth0.findIndex((s, k) => k > 0 && s.rx < eth0[k - 1].rx && k !== RESET_K)

function batch(k: number, extra: { late?: Sample } = {}) {
  const s = extra.late ?? eth0[k]
  const rates = s.rated ? { bytes_recv_per_sec: Math.round((growth(k) / 600) * 100) / 100, bytes_sent_per_sec: Math.round((2 * growth(k) / 600) * 100) / 100 } : {}
  return makeBatch({
    time: new Date(s.at).toISOString(), metrics: [], disks: [], processes: [],
    networks: [
      network('eth0', { bytes_recv: s.rx, bytes_sent: s.tx, ...rates }),
      network('lo', { bytes_recv: 5e9 + k * 1e7, bytes_sent: 5e9 + k * 1e7 }),
      network('docker0', { bytes_recv: 1e6 + k * 5e5, bytes_sent: 2e6 + k * 5e5 }),
    ],
  })
}

/** What each step adds: every step after the first grows by growth(k) received and twice that sent. */
function expected(from: number, to: number) {
  let rx = 0
  const days = new Map<string, number>()
  for (let k = 1; k < times.length; k++) {
    if (times[k] < from || times[k] >= to) continue
    rx += growth(k)
    const day = localDate(new Date(times[k]), TZ)
    days.set(day, (days.get(day) ?? 0) + 3 * growth(k))
  }
  return { rx, tx: 2 * rx, days }
}

async function ingestAll(api: TestClient, key: string, batches: unknown[]) {
  for (let i = 0; i < batches.length; i += 100) await api.ingestOk(key, batches.slice(i, i + 100))
}

t.test('traffic totals against a monthly quota', async (t) => {
  const api = await startClient(t)
  const db = api.store.db
  const call = (method: string, path: string, body?: unknown) => api.req(method, path, { ...(body !== undefined ? { body } : {}), token: api.adminToken })
  t.ok(BOUNDARY_K > 0 && WRAP_K > BOUNDARY_K && WRAP_K < RESET_K, `the boundary (step ${BOUNDARY_K}), the wrap (step ${WRAP_K}) and the reset (step ${RESET_K}) are where the test means them`)
  const a = await api.createAgent('traffic-a')
  await ingestAll(api, a.api_key, times.map((_, k) => batch(k)))
  const put = await call('PUT', '/api/v1/agents/traffic-a/traffic/settings', { time_zone: TZ, cycle_start_day: CYCLE_DAY })
  t.equal(put.status, 200, put.text)
  t.same(put.body, { cycle_start_day: CYCLE_DAY, time_zone: TZ, interfaces: null, quota_bytes: null, quota_direction: 'total' })

  const current = expected(CYCLE_START, Infinity)
  const previous = expected(-Infinity, CYCLE_START)
  const traffic = async (cycle = 'current') => {
    const res = await api.get(`/api/v1/agents/traffic-a/traffic?cycle=${cycle}`)
    t.equal(res.status, 200, res.text.slice(0, 300))
    return res.body
  }

  const checkCycles = async (t: Test, previousRx = previous.rx) => {
    const cur = await traffic()
    t.equal(cur.cycle.start, new Date(CYCLE_START).toISOString(), 'the cycle starts at midnight in Asia/Kolkata on its day')
    t.equal(cur.cycle.time_zone, TZ)
    t.equal(cur.cycle.complete, false)
    t.equal(cur.received_bytes, current.rx, 'received: every step from the boundary on, across the 32-bit wrap and the reset')
    t.equal(cur.sent_bytes, current.tx, 'sent: the same steps, 64-bit, across the reset')
    t.equal(cur.total_bytes, current.rx + current.tx)
    const byName = Object.fromEntries(cur.interfaces.map((i: any) => [i.interface, i]))
    t.match(byName.eth0, { counted: true, received_bytes: current.rx, sent_bytes: current.tx })
    t.match(byName.lo, { counted: false }, 'loopback is listed but not counted')
    t.match(byName.docker0, { counted: false }, 'a Docker bridge is listed but not counted')
    t.equal(byName.lo.received_bytes, (times.length - BOUNDARY_K) * 1e7, 'loopback\'s own total')
    const today = localDate(new Date(), TZ)
    t.equal(cur.days[0].date, startDate, 'days start on the cycle\'s first local day')
    t.equal(cur.days.at(-1).date, today, 'and run to today in the agent\'s time zone')
    for (const day of cur.days) t.equal(day.total_bytes, current.days.get(day.date) ?? 0, `${day.date}: the host's total for the local day`)
    t.equal(cur.days.reduce((s: number, d: any) => s + d.total_bytes, 0), cur.total_bytes, 'the days add up to the cycle')
    t.equal(cur.days[0].interfaces.eth0.received_bytes, current.days.get(startDate)! / 3, 'per interface per day')

    const prev = await traffic('previous')
    t.equal(prev.cycle.end, new Date(CYCLE_START).toISOString(), 'the previous cycle ends where the current one starts')
    t.equal(prev.cycle.complete, true)
    t.equal(prev.received_bytes, previousRx, 'the previous cycle holds the steps before the boundary')
    t.equal(prev.sent_bytes, previous.tx + (previousRx - previous.rx) / 7777 * 8888)
    t.equal(prev.forecast, null, 'a finished cycle has no forecast')
  }

  await t.test('computed from raw samples', (t) => checkCycles(t))

  await t.test('materialized up to two hours past the boundary: the same totals', async (t) => {
    await sql`select hostpulse_refresh_traffic(${new Date(FIRST)}::timestamptz, ${new Date(CYCLE_START + 120 * MINUTE)}::timestamptz, true)`.execute(db)
    const { rows: [m] } = await sql<{ n: number }>`select count(*)::int as n from network_traffic`.execute(db)
    t.ok(m.n > 30, `${m.n} buckets materialized`)
    await checkCycles(t)
  })

  await t.test('a late row below what is materialized is recounted', async (t) => {
    const late: Sample = { at: FIRST - STEP, rx: RX0 - 7777, tx: TX0 - 8888, rated: false }
    await api.ingestOk(a.api_key, batch(0, { late }))
    await api.store.lateData.caughtUp()
    t.ok((api.store.lateData.stats().refreshes.network_traffic ?? 0) >= 1, 'the late pass recounted traffic buckets')
    const prev = await traffic('previous')
    t.equal(prev.received_bytes, previous.rx + 7777, 'the first sample\'s step now counts from the late one')
    t.equal(prev.sent_bytes, previous.tx + 8888)
    const cur = await traffic()
    t.equal(cur.received_bytes, current.rx, 'the current cycle is unchanged')
  })

  await t.test('materialized up to now: whole UTC days come from the daily table, the same totals', async (t) => {
    await sql`select hostpulse_refresh_traffic(${new Date(CYCLE_START + 120 * MINUTE)}::timestamptz, ${new Date(Date.now() - MINUTE)}::timestamptz, true)`.execute(db)
    const { rows: [d] } = await sql<{ n: number }>`select count(*)::int as n from network_traffic_daily where agent_id = ${a.id}::uuid`.execute(db)
    t.ok(d.n >= 2 * 3, `${d.n} daily rows`)
    await checkCycles(t, previous.rx + 7777)
  })

  await t.test('the agent\'s quota: percent used and the forecast', async (t) => {
    const used = current.rx + current.tx
    const quota = Math.round(used / 0.9)
    const res = await call('PUT', '/api/v1/agents/traffic-a/traffic/settings', { quota_bytes: quota })
    t.equal(res.status, 200, res.text)
    const cur = await traffic()
    t.match(cur.quota, { bytes: quota, direction: 'total', source: 'agent', used_bytes: used })
    t.equal(cur.quota.used_percent, 90)
    const cycleMs = Date.parse(cur.cycle.end) - CYCLE_START
    const pace = used * cycleMs / (Date.now() - CYCLE_START)
    t.ok(Math.abs(cur.forecast.bytes - pace) / pace < 0.002, `forecast ${cur.forecast.bytes} ≈ used × cycle / elapsed (${Math.round(pace)})`)
    t.ok(cur.forecast.exhausted_at && Date.parse(cur.forecast.exhausted_at) > Date.now() && Date.parse(cur.forecast.exhausted_at) < Date.parse(cur.cycle.end), 'the quota runs out within the cycle at this pace')
    t.match(cur.forecast.text, /^At this pace, [\d.]+ [kMGT]?B of [\d.]+ [kMGT]?B by the cycle's end: the quota runs out on the \d+(st|nd|rd|th)\.$/)
    const sent = await call('PUT', '/api/v1/agents/traffic-a/traffic/settings', { quota_direction: 'sent' })
    t.equal(sent.status, 200)
    t.match((await traffic()).quota, { direction: 'sent', used_bytes: current.tx }, 'a quota on sent bytes counts only those')
    await call('PUT', '/api/v1/agents/traffic-a/traffic/settings', { quota_direction: 'total' })
  })

  await t.test('quotas by label: the smallest matching one applies, the agent\'s own first', async (t) => {
    const b = await api.createAgent('traffic-b', undefined, { labels: { plan: 'small', region: 'eu' } })
    for (const [key, value, bytes] of [['plan', 'small', 5_000_000], ['region', 'eu', 2_000_000], ['plan', 'large', 1]] as const) {
      const res = await call('PUT', `/api/v1/traffic/quotas/${key}/${value}`, { quota_bytes: bytes })
      t.equal(res.status, 201, res.text)
    }
    const again = await call('PUT', '/api/v1/traffic/quotas/region/eu', { quota_bytes: 3_000_000, direction: 'received' })
    t.equal(again.status, 200, 'setting it again replaces it')
    const start = now - 30 * MINUTE
    await api.ingestOk(b.api_key, [0, 1, 2].map((i) => makeBatch({
      time: new Date(start + i * STEP).toISOString(), metrics: [], disks: [], processes: [],
      networks: [network('ens3', { bytes_recv: 1_000_000 + i * 400_000, bytes_sent: 10_000 + i * 1000 })],
    })))
    // Below what is materialized by now: counted by the late-rows pass, within seconds.
    await api.store.lateData.caughtUp()
    const res = await api.get('/api/v1/agents/traffic-b/traffic')
    t.match(res.body.quota, { bytes: 3_000_000, direction: 'received', source: 'label region=eu', used_bytes: 800_000 })
    const list = await api.get('/api/v1/traffic/quotas')
    t.same(list.body.quotas.map((q: any) => `${q.label_key}=${q.label_value}:${q.quota_bytes}`), ['plan=large:1', 'plan=small:5000000', 'region=eu:3000000'])
    t.equal((await call('DELETE', '/api/v1/traffic/quotas/plan/large')).status, 204)
    assertError(t, await call('DELETE', '/api/v1/traffic/quotas/plan/large'), 404, 'NOT_FOUND', 'deleting it twice')

    const fleet = await api.get('/api/v1/traffic')
    t.equal(fleet.status, 200)
    const rows = Object.fromEntries(fleet.body.agents.map((r: any) => [r.name, r]))
    t.match(rows['traffic-a'], { received_bytes: current.rx, sent_bytes: current.tx, quota: { source: 'agent', used_percent: 90 } })
    t.match(rows['traffic-b'], { received_bytes: 800_000, sent_bytes: 2000, quota: { source: 'label region=eu' } })
  })

  await t.test('quota rules fire once and notify once; a raised quota resolves them', async (t) => {
    const channel = await addChannel(db, api.orgId, 'billing')
    const rule = async (metric: string, threshold: number) => {
      const res = await api.post('/api/v1/alerts', { name: `quota ${metric}`, metric, condition: '>=', threshold, agents: ['traffic-a'], channels: [channel], for: '0s' }, { token: api.adminToken })
      t.equal(res.status, 201, res.text)
      t.match(res.body, { kind: 'traffic_quota', interval: '5m', repeat_interval: null })
      return res.body.id as string
    }
    const used = await rule('traffic.quota_used_percent', 80)
    const forecast = await rule('traffic.quota_forecast_percent', 100)
    let clock = new Date()
    const loop = new EvaluationLoop(db, silentLog, undefined, { clock: () => clock })
    for (let i = 0; i < 3; i++) {
      clock = new Date(Date.now() + i * 5 * MINUTE)
      await loop.runCycle()
    }
    for (const id of [used, forecast]) {
      const events = await db.selectFrom('alert_events').selectAll().where('rule_id', '=', id).execute()
      t.equal(events.length, 1, 'one event over three evaluations')
      t.equal(events[0].state, 'firing')
      const outbox = await db.selectFrom('alert_notifications').select(['kind', 'channel_name']).where('rule_id', '=', id).execute()
      t.same(outbox, [{ kind: 'firing', channel_name: 'billing' }], 'notified once')
    }
    const [firing] = await db.selectFrom('alert_events').select(['value', 'summary']).where('rule_id', '=', used).execute()
    t.ok(Math.abs(Number(firing.value) - 90) < 0.01, `value is the percent used (${firing.value})`)
    t.match(firing.summary, /traffic-a has used 90 % of its traffic quota this cycle \(threshold 80 %\)/)

    await call('PUT', '/api/v1/agents/traffic-a/traffic/settings', { quota_bytes: (current.rx + current.tx) * 1000 })
    clock = new Date(Date.now() + 20 * MINUTE)
    await loop.runCycle()
    for (const id of [used, forecast]) {
      const [event] = await db.selectFrom('alert_events').select('state').where('rule_id', '=', id).execute()
      t.equal(event.state, 'resolved', 'a quota far above the usage resolves it')
    }
  })

  await t.test('bad input is a 400 or 404 in the error format, and changes nothing', async (t) => {
    const before = await api.get('/api/v1/agents/traffic-a/traffic/settings')
    const bad = async (method: string, path: string, body?: unknown, status = 400) => {
      const res = await call(method, path, body)
      assertError(t, res, status, status === 404 ? 'NOT_FOUND' : 'VALIDATION_ERROR', `${method} ${path} ${JSON.stringify(body) ?? ''}`)
      return res
    }
    const tz = await bad('PUT', '/api/v1/agents/traffic-a/traffic/settings', { time_zone: 'Mars/Olympus_Mons' })
    t.match(tz.body.message, /not a time zone name/)
    await bad('PUT', '/api/v1/agents/traffic-a/traffic/settings', { time_zone: 'EST' })
    await bad('PUT', '/api/v1/agents/traffic-a/traffic/settings', { cycle_start_day: 32 })
    await bad('PUT', '/api/v1/agents/traffic-a/traffic/settings', { cycle_start_day: 0 })
    await bad('PUT', '/api/v1/agents/traffic-a/traffic/settings', { quota_bytes: 0 })
    await bad('PUT', '/api/v1/agents/traffic-a/traffic/settings', { quota_direction: 'up' })
    await bad('PUT', '/api/v1/agents/traffic-a/traffic/settings', { interfaces: ['eth 0'] })
    await bad('PUT', '/api/v1/agents/traffic-a/traffic/settings', {})
    await bad('GET', '/api/v1/agents/traffic-a/traffic?cycle=next')
    await bad('GET', '/api/v1/agents/nobody/traffic', undefined, 404)
    await bad('PUT', '/api/v1/traffic/quotas/plan/x', { quota_bytes: -5 })
    await bad('PUT', '/api/v1/traffic/quotas/pl%20an/x', { quota_bytes: 5 })
    await bad('POST', '/api/v1/alerts', { name: 'q', metric: 'traffic.quota_used_percent', threshold: 80, tags: { interface: 'eth0' } })
    await bad('POST', '/api/v1/alerts', { name: 'q', metric: 'traffic.quota_used_percent', threshold: 80, window: '5m' })
    await bad('POST', '/api/v1/alerts', { name: 'q', metric: 'traffic.quota_used_percent' })
    await bad('POST', '/api/v1/alerts', { name: 'q', metric: 'cpu.usage_percent', kind: 'traffic_quota', threshold: 80 })
    t.same((await api.get('/api/v1/agents/traffic-a/traffic/settings')).body, before.body, 'the settings are as they were')
  })

  await t.test('counted interfaces can be chosen', async (t) => {
    const res = await call('PUT', '/api/v1/agents/traffic-a/traffic/settings', { interfaces: ['eth0', 'lo'] })
    t.equal(res.status, 200)
    const cur = await traffic()
    t.equal(cur.received_bytes, current.rx + (times.length - BOUNDARY_K) * 1e7, 'eth0 and loopback now both count')
    t.equal(cur.interfaces.find((i: any) => i.interface === 'docker0').counted, false)
    await call('PUT', '/api/v1/agents/traffic-a/traffic/settings', { interfaces: null })
  })
})
