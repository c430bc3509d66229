// The official InfluxDB 2 client from npm (@influxdata/influxdb-client) writing to hostpulse over real HTTP:
// points of every field type and precision read back exactly through the series endpoint (influx.* names);
// gzip bodies; a write whose answer is lost is retried by the client and stored once (last write wins); a bad
// point among good ones keeps the good ones and the client gets InfluxDB's error body; a wrong token is a 401
// the client reports with InfluxDB's code.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { InfluxDB, Point, HttpError, setLogger, type WritePrecisionType } from '@influxdata/influxdb-client'
import { sql } from 'kysely'
import { startClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'

const enc = encodeURIComponent
const iso = (ms: number) => new Date(ms).toISOString()
/** Fast retries, and no batching delay: each flush is one request. */
const WRITE_OPTIONS = { maxRetries: 3, minRetryDelay: 20, maxRetryDelay: 100, retryJitter: 0, exponentialBase: 2, flushInterval: 0 }
// The client logs every failed attempt; the assertions below say what happened.
setLogger({ error: () => {}, warn: () => {} })

t.test('@influxdata/influxdb-client against hostpulse', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('influx-client-host')
  const base = Math.floor(Date.now() / 1000) * 1000 - 600_000
  const series = async (metric: string, tags: string, from: number, to: number) => {
    const res = await api.get(`/api/v1/metrics/series/${agent.name}?metric=${metric}${tags}&start=${enc(iso(from))}&end=${enc(iso(to))}&step=1s`)
    if (res.status !== 200) throw new Error(`series ${metric}: ${res.status} ${res.text.slice(0, 300)}`)
    return res.body as { timestamps: string[]; values: number[] }
  }
  const rowCount = async (name: string) => (await sql<{ n: number }>`select count(*)::int as n from metrics
    where agent_id = ${agent.id}::uuid and metric_type = 'influx' and metric_name = ${name}`.execute(api.store.db)).rows[0].n

  await t.test('points of every field type and precision read back exactly', async (t) => {
    const precisions: Array<[WritePrecisionType, number]> = [['ns', 0], ['us', 1], ['ms', 2], ['s', 3]]
    for (const [precision, i] of precisions) {
      const writer = new InfluxDB({ url: api.url, token: agent.api_key }).getWriteApi('any-org', 'any-bucket', precision, WRITE_OPTIONS)
      writer.useDefaultTags({ host: 'web-01' })
      const at = new Date(base + i * 1000)
      writer.writePoint(new Point('sensors').tag('precision', precision).floatField('temperature', 21.5 + i).intField('count', 9_007_199_254_740_992)
        .uintField('ok_total', 3 + i).booleanField('online', i % 2 === 0).stringField('note', 'skipped').timestamp(at))
      await writer.close()
    }
    for (const [precision, i] of precisions) {
      const at = base + i * 1000
      const tags = `&tags.host=web-01&tags.precision=${precision}`
      t.same((await series('influx.sensors_temperature', tags, at, at + 1000)).values, [21.5 + i], `${precision}: float`)
      t.same((await series('influx.sensors_count', tags, at, at + 1000)).values, [9_007_199_254_740_992], `${precision}: integer 2^53 exactly`)
      t.same((await series('influx.sensors_ok_total', tags, at, at + 1000)).values, [3 + i], `${precision}: unsigned`)
      t.same((await series('influx.sensors_online', tags, at, at + 1000)).values, [i % 2 === 0 ? 1 : 0], `${precision}: boolean as 1/0`)
      t.same((await series('influx.sensors_online', tags, at, at + 1000)).timestamps, [iso(at)], `${precision}: at its instant`)
    }
    t.equal(await rowCount('sensors_note'), 0, 'string fields are not stored')
  })

  await t.test('gzip bodies (the client compresses above gzipThreshold)', async (t) => {
    const writer = new InfluxDB({ url: api.url, token: agent.api_key }).getWriteApi('o', 'b', 'ms', { ...WRITE_OPTIONS, gzipThreshold: 0 })
    const points = Array.from({ length: 500 }, (_, i) => new Point('gz').tag('n', String(i % 5)).floatField('v', i).timestamp(new Date(base + 10_000 + i)))
    writer.writePoints(points)
    await writer.close()
    t.equal(await rowCount('gz_v'), 500, 'every point of the compressed body')
  })

  await t.test('a write whose answer is lost: the client retries, the point is stored once', async (t) => {
    // A relay that forwards every request and loses the first answer (a 503 instead, as a proxy timing out would).
    let requests = 0
    const relay = http.createServer((req, res) => {
      const n = ++requests
      const forward = http.request(`${api.url}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        const chunks: Buffer[] = []
        answer.on('data', (c: Buffer) => chunks.push(c))
        answer.on('end', () => {
          if (n === 1) { res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' }); res.end('{"code":"unavailable","message":"lost"}'); return }
          res.writeHead(answer.statusCode ?? 500, answer.headers)
          res.end(Buffer.concat(chunks))
        })
      })
      req.pipe(forward)
    })
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve))
    t.teardown(() => new Promise<void>((resolve) => relay.close(() => resolve())))
    const url = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`
    const writer = new InfluxDB({ url, token: agent.api_key }).getWriteApi('o', 'b', 'ms', WRITE_OPTIONS)
    const at = base + 20_000
    writer.writeRecords([`retried,host=a v=10 ${at}`, `retried,host=a v=11 ${at + 1}`])
    const first = await writer.flush().then(() => null, (e: unknown) => e) as HttpError | null
    t.equal(first?.statusCode, 503, 'the first attempt failed for the client')
    // The client keeps the batch in its retry buffer and sends it again on its own.
    await waitFor('the client\'s retry', () => requests === 2, 10_000)
    await writer.close()
    t.equal(requests, 2, 'the client sent the batch twice (the first answer was lost after hostpulse stored it)')
    t.equal(await rowCount('retried_v'), 2, 'each point stored once')
    const stats = await api.get(`/api/v1/metrics/stats/${agent.name}?metric=influx.retried_v&tags.host=a&start=${enc(iso(at))}&end=${enc(iso(at + 1000))}`)
    t.equal(stats.body.count, 2, 'statistics count each point once')
    t.equal(stats.body.avg, 10.5)

    // The same point written again with another value (a client re-sending after changing it): the last one wins.
    const again = new InfluxDB({ url: api.url, token: agent.api_key }).getWriteApi('o', 'b', 'ms', WRITE_OPTIONS)
    again.writeRecord(`retried,host=a v=20 ${at}`)
    await again.close()
    t.same((await series('influx.retried_v', '&tags.host=a', at, at + 1)).values, [20], 'values 10 then 20 at one instant: one point, 20')
  })

  await t.test('a bad point among good ones: the good ones are stored, the client gets InfluxDB\'s error body', async (t) => {
    const writer = new InfluxDB({ url: api.url, token: agent.api_key }).getWriteApi('o', 'b', 'ms', { ...WRITE_OPTIONS, maxRetries: 0 })
    const at = base + 30_000
    writer.writeRecords([`partial,n=1 v=1 ${at}`, `partial,n=2 v=abc ${at}`, `partial,n=3 v=3 ${at}`])
    const err = await writer.close().then(() => null, (e: unknown) => e)
    t.ok(err instanceof HttpError, `the client reports an HttpError (${String(err)})`)
    const http400 = err as HttpError
    t.equal(http400.statusCode, 400)
    t.equal(http400.code, 'invalid', 'InfluxDB 2\'s string code, decoded by the client')
    t.match(http400.message, /partial write of line protocol occurred: 1 of 3 lines rejected, the other 2 stored; line 2: value of field "v" is not a number/)
    t.equal(await rowCount('partial_v'), 2, 'the two good points are stored')
  })

  await t.test('a wrong token: 401 with InfluxDB\'s code, nothing stored', async (t) => {
    const writer = new InfluxDB({ url: api.url, token: 'hp_wrong' }).getWriteApi('o', 'b', 'ms', { ...WRITE_OPTIONS, maxRetries: 0 })
    writer.writeRecord(`denied v=1 ${base}`)
    const err = await writer.close().then(() => null, (e: unknown) => e) as HttpError | null
    t.equal(err?.statusCode, 401)
    t.equal(err?.code, 'unauthorized')
    t.equal(await rowCount('denied_v'), 0)
  })
})
