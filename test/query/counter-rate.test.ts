// agg=rate on a cumulative counter (prom.node_network_receive_bytes_total) with a restart in the middle:
// exact per-second rates from raw rows, from metrics_1m (native and regrouped) and from metrics_1h.
import t from 'tap'
import { sql } from 'kysely'
import { makeBatch, metric, startClient } from '../test-client.ts'
import { evaluateRule } from '../../services/alerting/evaluate-rule.ts'
import type { IngestBatch } from '../../contract/ingest-batch.ts'
import { HOUR, MINUTE, DAY, floorTo, isoAt, near } from './query-helpers.ts'

const enc = encodeURIComponent

t.test('counter rate', async (t) => {
  const api = await startClient(t)
  // One sample a minute for three hours: +60 a minute (1/s), restarted at minute 90 (value 30, then +60 a minute).
  const B = floorTo(HOUR) - 3 * HOUR
  const N = 180
  const value = (k: number) => (k < 90 ? 1000 + 60 * k : 30 + 60 * (k - 90))
  const at = (minute: number) => isoAt(B, minute * MINUTE)
  const a = await api.createAgent('counter-a')
  const batches: IngestBatch[] = []
  for (let k = 0; k < N; k++) {
    batches.push(makeBatch({ time: at(k), metrics: [metric('prom', 'node_network_receive_bytes_total', value(k), { tags: { device: 'eth0' } })] }))
  }
  await api.ingestOk(a.api_key, batches)
  for (const view of ['metrics_1m', 'metrics_1h']) {
    await sql`call refresh_continuous_aggregate(${view}::regclass, ${isoAt(B, -DAY)}::timestamptz, ${at(N)}::timestamptz)`.execute(api.store.db)
  }
  const series = (q: string) => api.get(`/api/v1/metrics/series/counter-a?metric=prom.node_network_receive_bytes_total&tags.device=eth0&agg=rate&${q}`)
  const check = (tt: typeof t, body: { timestamps: string[]; values: number[] }, expected: Array<[number, number]>, what: string) => {
    tt.same(body.timestamps, expected.map(([m]) => at(m)), `${what}: buckets`)
    body.values.forEach((v, i) => near(tt, v, expected[i]?.[1] ?? NaN, `${what}: bucket ${i}`))
  }

  t.test('raw rows: 1/s, the restart bucket counts the new value, the very first sample has no rate', async (t) => {
    const res = await series(`start=${enc(at(0))}&end=${enc(at(N))}&step=30s`)
    t.equal(res.status, 200, res.text)
    t.equal(res.body.resolution, 'raw')
    t.equal(res.body.agg, 'rate')
    const expected: Array<[number, number]> = []
    for (let k = 1; k < N; k++) expected.push([k, k === 90 ? 30 / 60 : 1])
    check(t, res.body, expected, 'raw')
  })

  t.test('first bucket starts from the point before the window', async (t) => {
    const res = await series(`start=${enc(at(10))}&end=${enc(at(20))}&step=30s`)
    t.equal(res.status, 200, res.text)
    check(t, res.body, Array.from({ length: 10 }, (_, j): [number, number] => [10 + j, 1]), 'window from minute 10')
  })

  t.test('metrics_1m, native and regrouped to 10 minutes', async (t) => {
    const native = await series(`start=${enc(at(80))}&end=${enc(at(100))}&step=1m`)
    t.equal(native.status, 200, native.text)
    t.equal(native.body.resolution, 'metrics_1m')
    check(t, native.body, Array.from({ length: 20 }, (_, j): [number, number] => [80 + j, 80 + j === 90 ? 0.5 : 1]), '1m')
    const tens = await series(`start=${enc(at(0))}&end=${enc(at(N))}&step=10m`)
    t.equal(tens.body.resolution, 'metrics_1m')
    // Bucket 0 starts at the first sample (nothing before it): 9 increases over 540 s.
    const expected: Array<[number, number]> = [[0, 1]]
    for (let j = 1; j < 18; j++) expected.push([10 * j, j === 9 ? (30 + 9 * 60) / 600 : 1])
    check(t, tens.body, expected, '10m')
  })

  t.test('metrics_1h: a restart inside an hour is seen by its min', async (t) => {
    const res = await series(`start=${enc(at(0))}&end=${enc(at(N))}&step=1h`)
    t.equal(res.status, 200, res.text)
    t.equal(res.body.resolution, 'metrics_1h')
    check(t, res.body, [[60, value(119) / 3600], [120, (value(179) - value(119)) / 3600]], '1h')
  })

  t.test('stats with agg=rate: statistics of the per-bucket rates, not of the totals; any other agg is a 400', async (t) => {
    // Raw rows over minutes 80–100 (one sample a minute): 20 one-minute rates, all 1/s except the restart's 0.5/s.
    const res = await api.get(`/api/v1/metrics/stats/counter-a?metric=prom.node_network_receive_bytes_total&tags.device=eth0&agg=rate&start=${enc(at(80))}&end=${enc(at(100))}`)
    t.equal(res.status, 200, res.text)
    t.equal(res.body.count, 20, 'one rate per minute bucket with a sample')
    near(t, res.body.min, 0.5, 'min: the restart minute')
    near(t, res.body.max, 1, 'max')
    near(t, res.body.avg, (19 + 0.5) / 20, 'mean of the bucket rates')
    near(t, res.body.p50, 1, 'p50')
    near(t, res.body.current, 1, 'current: the last bucket\'s rate')
    const totals = await api.get(`/api/v1/metrics/stats/counter-a?metric=prom.node_network_receive_bytes_total&tags.device=eth0&start=${enc(at(80))}&end=${enc(at(100))}`)
    t.ok(totals.body.max > 1000, 'without agg: statistics of the stored totals')
    const other = await api.get(`/api/v1/metrics/stats/counter-a?metric=prom.node_network_receive_bytes_total&tags.device=eth0&agg=avg`)
    t.equal(other.status, 400, other.text)
    t.match(other.text, /agg/)
    const wide = await api.get(`/api/v1/metrics/stats/counter-a?metric=network.rx_bytes_per_sec&tags.interface=eth0&agg=rate`)
    t.equal(wide.status, 400, 'a wide family field is no counter here either')
  })

  t.test('a wide family field is not a counter: 400', async (t) => {
    const res = await api.get(`/api/v1/metrics/series/counter-a?metric=network.rx_bytes_per_sec&tags.interface=eth0&agg=rate&step=1m`)
    t.equal(res.status, 400, res.text)
    t.match(res.text, /rate/)
  })

  t.test('alert rules: aggregation rate over the window fires on the rate, not on the total', async (t) => {
    const rule = async (name: string, aggregation: string, threshold: number) => {
      const res = await api.post('/api/v1/alerts', {
        name, metric: 'prom.node_network_receive_bytes_total', tags: { device: 'eth0' }, aggregation, window: '5m', threshold, agents: ['counter-a'],
      }, { token: api.adminToken })
      t.equal(res.status, 201, res.text)
      return res.body.id as string
    }
    const stateOf = async (id: string) => (await api.store.db.selectFrom('alert_states').selectAll().where('rule_id', '=', id).execute())[0]
    const fast = await rule('Receiving > 0.5/s', 'rate', 0.5)
    const slow = await rule('Receiving > 2/s', 'rate', 2)
    const total = await rule('Total > 2', 'last', 2)
    const now = new Date(B + N * MINUTE)
    for (const id of [fast, slow, total]) t.ok((await evaluateRule(api.store.db, id, now, now)).evaluated)
    t.match(await stateOf(fast), { state: 'firing', value: 1 }, 'rate 1/s > 0.5 fires')
    const quiet = await stateOf(slow)
    t.ok(quiet === undefined || quiet.state === 'inactive', 'rate 1/s is not above 2: no alert, though the total is')
    t.match(await stateOf(total), { state: 'firing', value: value(179) }, 'the raw total is above 2')
    // A window across the restart (minutes 88 … 92, from 87): 60 + 60 + 30 + 60 + 60 over 300 s.
    const across = new Date(B + 92 * MINUTE)
    const restart = await rule('Across the restart', 'rate', 0.5)
    t.ok((await evaluateRule(api.store.db, restart, across, across)).evaluated)
    t.match(await stateOf(restart), { state: 'firing' })
    near(t, Number((await stateOf(restart))?.value), 0.9, 'restart inside the window')
    const wide = await api.post('/api/v1/alerts', { name: 'x', metric: 'network.rx_bytes_per_sec', aggregation: 'rate', threshold: 1 }, { token: api.adminToken })
    t.equal(wide.status, 400, wide.text)
    t.match(wide.text, /aggregation/)
  })
})
