// Late rows (an agent replaying its buffer after an outage) land below what the continuous aggregates have
// materialized; through the real ingest API they show at every level (metrics_1m, metrics_1h, metrics_1d and
// the range API at step=1m) within 60 s of their 202, with the values the raw rows give. Rows newer than the
// watermarks cost no refresh; a burst of late batches is refreshed a few times, not once per batch.
// Runs on the embedded engine, and on a real TimescaleDB server when TEST_DATABASE_URL is set.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { IngestBatch } from '../../contract/ingest-batch.ts'
import { loadConfig } from '../../services/config/config.ts'
import { storeOptionsFromConfig, type Store } from '../../services/store/open-store.ts'
import { DEFAULT_LATE_DATA_INTERVAL_MS, LateDataRefresh, aggregateLevels, refreshWindow, type AggregateLevel } from '../../services/store/late-data-refresh.ts'
import { writeBatches } from '../../services/ingest/write-batches.ts'
import { metric, startClient, unique, type TestClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'
import { onEachBackend } from './backends.ts'

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
/** The promise: acknowledged rows show at every resolution within this long of their 202. */
const VISIBLE_WITHIN_MS = 60_000
const floorTo = (ms: number, unit: number) => Math.floor(ms / unit) * unit
const iso = (ms: number) => new Date(ms).toISOString()
const LEVELS = [['metrics_1m', MIN], ['metrics_1h', HOUR], ['metrics_1d', DAY]] as const

t.test('HOSTPULSE_LATE_DATA_REFRESH: default, value, off, and a bad value stops the start', async (t) => {
  t.equal(loadConfig({}).lateDataRefreshMs, DEFAULT_LATE_DATA_INTERVAL_MS)
  t.equal(DEFAULT_LATE_DATA_INTERVAL_MS, 5_000)
  const cfg = loadConfig({ HOSTPULSE_LATE_DATA_REFRESH: '2s' })
  t.equal(cfg.lateDataRefreshMs, 2_000)
  t.equal(storeOptionsFromConfig(cfg).lateData?.intervalMs, 2_000, 'the store gets it')
  t.equal(storeOptionsFromConfig({ ...cfg, DATABASE_URL: 'postgres://db/x' }).lateData?.intervalMs, 2_000, 'on a server too')
  t.equal(loadConfig({ HOSTPULSE_LATE_DATA_REFRESH: '0s' }).lateDataRefreshMs, 0, '0s turns it off')
  t.throws(() => loadConfig({ HOSTPULSE_LATE_DATA_REFRESH: 'soon' }), /HOSTPULSE_LATE_DATA_REFRESH/)
})

t.test('refresh window: whole buckets, below the watermark, inside the policy window', async (t) => {
  const origin = Date.UTC(2000, 0, 3)
  const hourly: AggregateLevel = { view: 'public.x_1h', name: 'x_1h', root: 'x', matHypertableId: 1, depth: 0, bucketMs: HOUR, originMs: origin, startOffsetMs: 7 * DAY }
  const now = Date.UTC(2026, 5, 10, 12, 30)
  const at = (h: number, m = 0) => Date.UTC(2026, 5, 10, h, m)
  t.same(refreshWindow(hourly, { min: at(9, 20), max: at(10, 5) }, at(12), now), { start: at(9), end: at(11) }, 'rounded out to hours')
  t.same(refreshWindow(hourly, { min: at(10, 0), max: at(10, 0) }, at(12), now), { start: at(10), end: at(11) }, 'a row on a boundary: its own bucket')
  t.same(refreshWindow(hourly, { min: at(9, 20), max: at(12, 10) }, at(11), now), { start: at(9), end: at(11) }, 'never past the watermark')
  t.equal(refreshWindow(hourly, { min: at(11, 0), max: at(12, 10) }, at(11), now), undefined, 'rows at or above the watermark: nothing to refresh')
  t.equal(refreshWindow(hourly, { min: at(9, 20), max: at(10, 5) }, null, now), undefined, 'nothing materialized: the real-time union shows every row')
  t.same(refreshWindow(hourly, { min: now - 9 * DAY, max: at(10, 5) }, at(12), now), { start: now - 7 * DAY + 30 * MIN, end: at(11) }, 'not before the policy window (raw rows may be gone)')
  t.equal(refreshWindow(hourly, { min: now - 9 * DAY, max: now - 8 * DAY }, at(12), now), undefined, 'entirely older than the policy window: left alone')
  t.same(refreshWindow({ ...hourly, startOffsetMs: null }, { min: now - 9 * DAY, max: now - 9 * DAY }, at(12), now)?.start, floorTo(now - 9 * DAY, HOUR), 'a policy without start_offset refreshes any age')
  const weekly = { ...hourly, bucketMs: 7 * DAY }
  t.same(refreshWindow({ ...weekly, startOffsetMs: null }, { min: Date.UTC(2026, 5, 10), max: Date.UTC(2026, 5, 10) }, Date.UTC(2026, 6, 1), now),
    { start: Date.UTC(2026, 5, 8), end: Date.UTC(2026, 5, 15) }, 'weeks start on Monday, as time_bucket\'s origin says')
})

/** The series' rows per bucket at `level`, and what raw rows say those buckets should hold. */
async function bucketsAt(store: Store, view: string, width: number, agentId: string, buckets: number[]) {
  const times = buckets.map(iso)
  const { rows: agg } = await sql<{ bucket: Date; avg: number; count: number }>`
    select bucket, avg, count from ${sql.table(view)}
    where agent_id = ${agentId}::uuid and metric_type = 'cpu' and metric_name = 'usage_percent' and bucket = any(${times}::timestamptz[])
    order by bucket`.execute(store.db)
  const { rows: raw } = await sql<{ bucket: Date; avg: number; count: number }>`
    select time_bucket(${`${width / 1000} seconds`}::interval, time) as bucket, avg(value) as avg, count(*)::int8 as count from metrics
    where agent_id = ${agentId}::uuid and metric_type = 'cpu' and metric_name = 'usage_percent'
      and time_bucket(${`${width / 1000} seconds`}::interval, time) = any(${times}::timestamptz[])
    group by 1 order by 1`.execute(store.db)
  const shape = (rows: Array<{ bucket: Date; avg: number; count: number }>) => rows.map((r) => ({ bucket: r.bucket.toISOString(), avg: Math.round(r.avg * 1e9) / 1e9, count: Number(r.count) }))
  return { agg: shape(agg), raw: shape(raw) }
}

/** Each aggregate's watermark now, by view name (ms; null before anything was materialized). */
async function watermarks(store: Store): Promise<Record<string, number | null>> {
  const { rows } = await sql<{ name: string; w: number | null }>`
    select c.user_view_name as name,
           (extract(epoch from _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(c.mat_hypertable_id))) * 1000)::float8 as w
    from _timescaledb_catalog.continuous_agg c where c.user_view_schema = current_schema()`.execute(store.db)
  return Object.fromEntries(rows.map((r) => [r.name, r.w]))
}

const batchAt = (ms: number, value: number): IngestBatch => ({ batch_id: randomUUID(), time: iso(ms), metrics: [metric('cpu', 'usage_percent', value)] })

/** Polls until every bucket of `times` at every level equals the raw aggregation; the time each level took. */
async function waitVisible(t: Test, store: Store, agentId: string, times: number[], since: number): Promise<Record<string, number>> {
  const took: Record<string, number> = {}
  for (const [view, width] of LEVELS) {
    const buckets = [...new Set(times.map((ms) => floorTo(ms, width)))]
    await waitFor(`${view} to show the late rows`, async () => {
      const { agg, raw } = await bucketsAt(store, view, width, agentId, buckets)
      return agg.length === buckets.length && JSON.stringify(agg) === JSON.stringify(raw)
    }, VISIBLE_WITHIN_MS - (Date.now() - since), 100)
    took[view] = Date.now() - since
    const { agg, raw } = await bucketsAt(store, view, width, agentId, buckets)
    t.same(agg, raw, `${view}: every bucket with a late row equals the raw rows (avg and count), ${took[view]} ms after the 202`)
  }
  return took
}

async function lateRowsShowEverywhere(t: Test, store: Store) {
  const api: TestClient = await startClient(t, {}, store)
  const agent = await api.createAgent(unique('late-host'))
  const late = store.lateData
  const start = Date.now()
  // The newest row's minute must have closed before `start`: TimescaleDB 2.2x puts the watermark after the
  // last materialized bucket that holds rows, so a row in the still-open minute would leave it 10 minutes short.
  const tenMinutes = floorTo(start - MIN, 10 * MIN)
  const hourStart = floorTo(start, HOUR)
  const dayStart = floorTo(start, DAY)

  // 30 hours of one row every 10 minutes, value 10, then the aggregates materialized up to now, as their
  // policies leave them (a manual refresh: the 1-hour and 1-day policies stop an hour and a day short).
  const recent: IngestBatch[] = []
  for (let ms = tenMinutes - 30 * HOUR; ms <= tenMinutes; ms += 10 * MIN) recent.push(batchAt(ms, 10))
  await api.ingestOk(agent.api_key, recent)
  await late.caughtUp()
  for (const [view] of LEVELS) {
    await sql`call refresh_continuous_aggregate(${view}::regclass, ${iso(start - 3 * DAY)}::timestamptz, ${iso(start)}::timestamptz)`.execute(store.db)
  }
  // A database used before (a server's) has watermarks already: spans still watched are settled by one more pass.
  await late.caughtUp()
  t.equal(late.stats().pending, 0, 'nothing left for a pass')
  const marks = await watermarks(store)
  t.ok(marks.metrics_1m! >= tenMinutes, `metrics_1m materialized up to ${iso(marks.metrics_1m!)}`)
  t.equal(marks.metrics_1h, hourStart, 'metrics_1h materialized up to this hour')
  t.equal(marks.metrics_1d, dayStart, 'metrics_1d materialized up to today')
  const levels = await aggregateLevels(store.db)
  t.same(levels.filter((l) => l.root === 'metrics').map((l) => [l.name, l.depth, l.bucketMs]),
    [['metrics_1m', 0, MIN], ['metrics_1h', 1, HOUR], ['metrics_1d', 2, DAY]], 'the hierarchy, read from the catalog, parents first')
  t.same([...new Set(levels.filter((l) => l.depth === 0).map((l) => l.root))].sort(),
    ['container_metrics', 'disk_metrics', 'metrics', 'network_metrics', 'process_metrics', 'process_snapshots'], 'every raw family with an aggregate')

  await t.test('rows newer than the watermarks cost no refresh (the real-time union shows them)', async (t) => {
    const before = late.stats()
    const now = Date.now()
    await api.ingestOk(agent.api_key, [batchAt(now, 42)])
    await late.caughtUp()
    const after = late.stats()
    t.ok(after.passes > before.passes, 'a pass looked at the span')
    t.same(after.refreshes, before.refreshes, 'and refreshed nothing')
    const { agg, raw } = await bucketsAt(store, 'metrics_1m', MIN, agent.id, [floorTo(now, MIN)])
    t.ok(raw.length === 1 && raw[0].count >= 1, 'the raw row is there')
    t.same(agg, raw, 'and shows through metrics_1m all the same')
  })

  if (store.backend === 'embedded') {
    // Without the refresh a late row stays out of sight (no policy runs in this test; on a server one might).
    await t.test('control: a late row written past the refresh stays invisible through metrics_1m', async (t) => {
      // On a host of its own: a row no refresh is told of would leave this host's day (or, just after
      // midnight, yesterday) short of its raw rows at metrics_1d for good, whatever the later cases refresh.
      const control = await api.createAgent(unique('late-control'))
      const ms = tenMinutes - 2 * HOUR - 5 * MIN + 45_000
      await writeBatches(store.db, { id: control.id, org_id: api.orgId }, [batchAt(ms, 3)])
      const { agg, raw } = await bucketsAt(store, 'metrics_1m', MIN, control.id, [floorTo(ms, MIN)])
      t.same(raw.map((r) => r.count), [1], 'the raw row is there')
      t.same(agg, [], 'its minute is not')
    })
  }

  await t.test('a replayed hour shows at every level within 60 s of its 202, and at step=1m', async (t) => {
    // Minutes ending in 5 hold no recent row: each late row's minute holds it alone. One row lies before this
    // hour (below metrics_1h's watermark) and one before today (below metrics_1d's).
    const times = [15, 25, 35, 45, 55].map((m) => tenMinutes - m * MIN + 30_000)
    times.push(hourStart - 5 * MIN + 30_000, dayStart - 85 * MIN + 30_000)
    const lateTimes = [...new Set(times)].sort((a, b) => a - b)
    const now = await watermarks(store)
    t.ok(lateTimes.every((ms) => ms < now.metrics_1m!), 'every late row is below metrics_1m\'s watermark')
    t.ok(lateTimes.some((ms) => ms < now.metrics_1h!), 'one is below metrics_1h\'s')
    t.ok(lateTimes.some((ms) => ms < now.metrics_1d!), 'one is below metrics_1d\'s')
    const before = late.stats()
    const value = (i: number) => 70 + i / 4
    await api.ingestOk(agent.api_key, lateTimes.map((ms, i) => batchAt(ms, value(i))))
    const acked = Date.now()
    const took = await waitVisible(t, store, agent.id, lateTimes, acked)
    t.comment(`late batch → visible: ${LEVELS.map(([v]) => `${v} ${took[v]} ms`).join(', ')} (${store.backend})`)
    for (const [view] of LEVELS) t.ok(took[view] <= VISIBLE_WITHIN_MS, `${view} within 60 s (${took[view]} ms)`)
    const minutes = await bucketsAt(store, 'metrics_1m', MIN, agent.id, lateTimes.map((ms) => floorTo(ms, MIN)))
    t.same(minutes.agg.map((b) => [b.avg, b.count]), lateTimes.map((_, i) => [value(i), 1]), 'each late minute: avg = the raw value, count 1')
    const after = late.stats()
    t.ok(after.refreshes.metrics_1m > (before.refreshes.metrics_1m ?? 0), 'metrics_1m was refreshed for them')
    t.ok(after.refreshes.metrics_1h > (before.refreshes.metrics_1h ?? 0), 'and metrics_1h')
    t.ok(after.refreshes.metrics_1d > (before.refreshes.metrics_1d ?? 0), 'and metrics_1d')

    const series = async (step: string, from: number, to: number) => {
      const res = await api.get(`/api/v1/metrics/series/${agent.id}?metric=cpu.usage_percent&start=${encodeURIComponent(iso(from))}&end=${encodeURIComponent(iso(to))}&step=${step}`)
      t.equal(res.status, 200, `step=${step}: ${res.text.slice(0, 200)}`)
      return res.body as { resolution: string; timestamps: string[]; values: number[] }
    }
    const fine = await series('1m', tenMinutes - 70 * MIN, tenMinutes)
    t.equal(fine.resolution, 'metrics_1m', 'step=1m reads metrics_1m')
    const byTime = new Map(fine.timestamps.map((ts, i) => [ts, fine.values[i]]))
    const inRange = lateTimes.filter((ms) => ms >= tenMinutes - 70 * MIN)
    t.same(inRange.map((ms) => byTime.get(iso(floorTo(ms, MIN)))), inRange.map((ms) => value(lateTimes.indexOf(ms))), 'step=1m answers every late minute with its value')
    const hourly = await series('1h', dayStart - 2 * HOUR, tenMinutes)
    t.equal(hourly.resolution, 'metrics_1h')
    const hours = await bucketsAt(store, 'metrics_1h', HOUR, agent.id, lateTimes.map((ms) => floorTo(ms, HOUR)))
    const hourly1 = new Map(hourly.timestamps.map((ts, i) => [ts, hourly.values[i]]))
    t.same(hours.raw.map((b) => Math.round(hourly1.get(b.bucket)! * 1e9) / 1e9), hours.raw.map((b) => b.avg), 'step=1h: each hour with a late row averages the raw rows')
  })

  await t.test('a burst of late batches (one request each) coalesces into a few refreshes', async (t) => {
    const times = Array.from({ length: 20 }, (_, i) => tenMinutes - 3 * HOUR - (10 * i + 5) * MIN + 15_000)
    const marks = await watermarks(store)
    const before = late.stats()
    const sent = Date.now()
    for (const [i, ms] of times.entries()) await api.ingestOk(agent.api_key, [batchAt(ms, 50 + i)])
    const sendMs = Date.now() - sent
    await waitVisible(t, store, agent.id, times, Date.now())
    const after = late.stats()
    const bound = Math.ceil(sendMs / late.intervalMs) + 1
    for (const [view] of LEVELS) {
      const n = (after.refreshes[view] ?? 0) - (before.refreshes[view] ?? 0)
      // Rows above a level's watermark (today's, for metrics_1d) need no refresh there.
      const needed = times.some((ms) => ms < marks[view]!)
      t.ok(n >= (needed ? 1 : 0) && n <= bound, `${view}: ${n} refresh(es) for 20 batches sent in ${sendMs} ms (${needed ? 'some rows below its watermark' : 'all rows above its watermark'}; at most ${bound}: one per ${late.intervalMs} ms)`)
    }
    t.equal(after.failures, before.failures, 'no refresh failed')
  })

  await t.test('a refresh that fails is logged and counted, never thrown; off or closed, spans are ignored', async (t) => {
    const failures: string[] = []
    const old = new Date(tenMinutes - 4 * HOUR)
    // Inside a transaction TimescaleDB refuses to refresh: a real failure, on either backend.
    await store.db.transaction().execute(async (trx) => {
      const failing = new LateDataRefresh(trx, { intervalMs: 60_000, log: (msg, failed) => { if (failed) failures.push(msg) } })
      failing.written('metrics', old, old)
      await failing.caughtUp()
      t.same(failing.stats().refreshes, {}, 'nothing refreshed')
      t.equal(failing.stats().failures, 1, 'one failure counted')
      t.equal(failing.stats().pending, 1, 'the span waits for another try')
      await failing.close()
    })
    t.match(failures, [/^late rows: refreshing metrics_1m \[.*\) failed after \d+ ms: .*transaction/], 'the failure names the aggregate, the window and the cause')
    const off = new LateDataRefresh(store.db, { intervalMs: 0 })
    off.written('metrics', old, old)
    t.same(off.stats(), { passes: 0, refreshes: {}, failures: 0, pending: 0 }, '0s: off')
    const closed = new LateDataRefresh(store.db)
    await closed.close()
    closed.written('metrics', old, old)
    t.same(closed.stats(), { passes: 0, refreshes: {}, failures: 0, pending: 0 }, 'closed: nothing more')
  })
}

await onEachBackend(t, async (t, store) => {
  t.equal(store.lateData.intervalMs, DEFAULT_LATE_DATA_INTERVAL_MS, 'the default interval')
  await t.test('late rows at every resolution', (t) => lateRowsShowEverywhere(t, store))
})
