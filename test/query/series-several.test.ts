// Tags that select more than one stored series (`tags.zone=x` held by two hosts' series, `tags.code=200` by two
// jobs' counters): a series read merges them into one value per bucket at every resolution, the aggregates'
// own granularity included, and a rate is the sum of each counter's own rate (Prometheus's sum(rate(…))).
import t from 'tap'
import { makeBatch, metric, startClient } from '../test-client.ts'

t.test('tags selecting several series', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('several')
  // Two hours of one-minute samples, whole hours back, so every resolution has whole buckets.
  const base = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000
  const batches = Array.from({ length: 120 }, (_, i) => makeBatch({
    time: new Date(base + i * 60_000).toISOString(), disks: [], networks: [], processes: [],
    metrics: [
      metric('prom', 'req_total', 1000 + 60 * i, { tags: { job: 'a', code: '200' } }), // 1 a second
      metric('prom', 'req_total', 5 + 6 * i, { tags: { job: 'b', code: '200' } }), // 0.1 a second
      metric('app', 'temp', 10, { tags: { zone: 'x', host: 'h1' } }),
      metric('app', 'temp', 30, { tags: { zone: 'x', host: 'h2' } }),
    ],
  }))
  await api.ingestOk(agent.api_key, batches)
  const span = `start=${encodeURIComponent(new Date(base).toISOString())}&end=${encodeURIComponent(new Date(base + 120 * 60_000).toISOString())}`
  const series = (q: string) => api.get(`/api/v1/metrics/series/several?${span}&${q}`)

  t.test('one value per bucket, the series merged, whichever level is read', async (t) => {
    for (const step of ['30s', '1m', '2m', '1h']) {
      const res = await series(`metric=app.temp&tags.zone=x&step=${step}`)
      t.equal(res.status, 200, `step ${step}`)
      const { timestamps, values, resolution } = res.body
      t.ok(timestamps.length > 0, `step ${step} (${resolution}): ${timestamps.length} buckets`)
      t.equal(new Set(timestamps).size, timestamps.length, `step ${step} (${resolution}): each bucket once`)
      t.ok(values.every((v: number) => v === 20), `step ${step} (${resolution}): the two series averaged (${values.slice(0, 4)})`)
      const one = await series(`metric=app.temp&tags.zone=x&tags.host=h2&step=${step}`)
      t.ok(one.body.values.length > 0 && one.body.values.every((v: number) => v === 30), `step ${step}: one host's series alone`)
    }
  })

  t.test('agg=rate: the sum of each counter\'s rate, at raw and aggregate resolution', async (t) => {
    for (const step of ['30s', '5m', '1h']) {
      const res = await series(`metric=prom.req_total&tags.code=200&agg=rate&step=${step}`)
      t.equal(res.status, 200, `step ${step}`)
      const { values, resolution } = res.body
      t.ok(values.length > 0 && values.every((v: number) => Math.abs(v - 1.1) < 1e-9), `step ${step} (${resolution}): 1 + 0.1 a second (${values.slice(0, 5)})`)
      const one = await series(`metric=prom.req_total&tags.code=200&tags.job=b&agg=rate&step=${step}`)
      t.ok(one.body.values.length > 0 && one.body.values.every((v: number) => Math.abs(v - 0.1) < 1e-9), `step ${step}: job b alone, 0.1 a second`)
    }
    const stats = await api.get(`/api/v1/metrics/stats/several?${span}&metric=prom.req_total&tags.code=200&agg=rate`)
    t.equal(stats.status, 200)
    t.ok(Math.abs(stats.body.max - 1.1) < 1e-9 && Math.abs(stats.body.min - 1.1) < 1e-9, `statistics of the rate: min ${stats.body.min}, max ${stats.body.max}`)
  })
})
