// The resolution choice as a table: range, step and age in, relation and bucket out.
import t from 'tap'
import { resolutionForRange, type ResolutionRequest } from '../../services/query/resolution-for-range.ts'

const NOW = new Date('2026-06-01T00:00:00Z')
const ago = (ms: number) => new Date(NOW.getTime() - ms)
const H = 3_600_000
const D = 24 * H

const cases: Array<[string, Omit<ResolutionRequest, 'now'>, { source: string; bucketSeconds: number; label: string }]> = [
  ['1 hour, auto: raw rows in 5 s buckets', { family: 'metrics', start: ago(H), end: NOW }, { source: 'metrics', bucketSeconds: 5, label: 'raw' }],
  ['24 hours, auto: the 1-minute aggregate, 2-minute buckets', { family: 'metrics', start: ago(D), end: NOW }, { source: 'metrics_1m', bucketSeconds: 120, label: 'metrics_1m' }],
  ['7 days, auto: 15-minute buckets from the minute aggregate', { family: 'metrics', start: ago(7 * D), end: NOW }, { source: 'metrics_1m', bucketSeconds: 900, label: 'metrics_1m' }],
  ['30 days, auto: the hourly aggregate', { family: 'metrics', start: ago(30 * D), end: NOW }, { source: 'metrics_1h', bucketSeconds: 3600, label: 'metrics_1h' }],
  ['365 days, auto: the daily aggregate', { family: 'metrics', start: ago(365 * D), end: NOW }, { source: 'metrics_1d', bucketSeconds: 86400, label: 'metrics_1d' }],
  ['30 days at 60 s with 50,000 points allowed: still no raw scan beyond raw retention', { family: 'metrics', start: ago(40 * D), end: ago(39 * D), stepSeconds: 60 }, { source: 'metrics_1m', bucketSeconds: 60, label: 'metrics_1m' }],
  ['explicit 10 s step on a recent hour: raw', { family: 'metrics', start: ago(H), end: NOW, stepSeconds: 10 }, { source: 'metrics', bucketSeconds: 10, label: 'raw' }],
  ['explicit 90 s step: minute aggregate rounded to whole minutes', { family: 'metrics', start: ago(2 * H), end: NOW, stepSeconds: 90 }, { source: 'metrics_1m', bucketSeconds: 120, label: 'metrics_1m' }],
  ['100 days ago at a 1-minute step: only the daily aggregate still holds it', { family: 'metrics', start: ago(100 * D), end: ago(99 * D), stepSeconds: 60 }, { source: 'metrics_1d', bucketSeconds: 86400, label: 'metrics_1d' }],
  ['disk over 7 days: hourly disk aggregate', { family: 'disk', start: ago(7 * D), end: NOW }, { source: 'disk_metrics_1h', bucketSeconds: 3600, label: 'disk_metrics_1h' }],
  ['network over 6 hours: raw rows', { family: 'network', start: ago(6 * H), end: NOW }, { source: 'network_metrics', bucketSeconds: 30, label: 'raw' }],
  ['process over 30 days: hourly process aggregate', { family: 'process', start: ago(30 * D), end: NOW }, { source: 'process_metrics_1h', bucketSeconds: 3600, label: 'process_metrics_1h' }],
  ['process lists over 24 h (100 rows a sample): the hourly aggregate, not 864,000 raw rows', { family: 'process', start: ago(D), end: NOW, rowsPerSample: 100 }, { source: 'process_metrics_1h', bucketSeconds: 3600, label: 'process_metrics_1h' }],
  ['process lists over 1 h (100 rows a sample): raw rows', { family: 'process', start: ago(H), end: NOW, rowsPerSample: 100 }, { source: 'process_metrics', bucketSeconds: 5, label: 'raw' }],
  ['max_points 100 over a day: 15-minute buckets', { family: 'metrics', start: ago(D), end: NOW, maxPoints: 100 }, { source: 'metrics_1m', bucketSeconds: 900, label: 'metrics_1m' }],
]

for (const [name, req, expected] of cases) {
  t.test(name, async (t) => {
    const r = resolutionForRange({ ...req, now: NOW })
    t.same({ source: r.source, bucketSeconds: r.bucketSeconds, label: r.label }, expected)
  })
}

t.test('an automatic step never returns more than max_points buckets', async (t) => {
  for (const span of [60_000, H, 6 * H, D, 3 * D, 7 * D, 30 * D, 90 * D, 365 * D]) {
    for (const maxPoints of [10, 100, 1000]) {
      const r = resolutionForRange({ family: 'metrics', start: ago(span), end: NOW, maxPoints, now: NOW })
      t.ok(span / 1000 / r.bucketSeconds <= maxPoints, `${span / H} h with max ${maxPoints}: ${Math.ceil(span / 1000 / r.bucketSeconds)} buckets`)
    }
  }
})

t.test('a range longer than raw retention never reads raw rows', async (t) => {
  for (const step of [1, 10, 60, 300]) {
    const r = resolutionForRange({ family: 'metrics', start: ago(31 * D), end: NOW, stepSeconds: step, now: NOW })
    t.not(r.source, 'metrics', `step ${step}s`)
  }
})
