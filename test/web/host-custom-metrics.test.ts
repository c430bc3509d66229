// The host page's custom metrics panel in a real Chromium (Debian's, driven by playwright-core) against the
// real API on an embedded TimescaleDB: what Telegraf wrote over line protocol (influx.*), Prometheus over
// remote write (prom.*) and an OpenTelemetry exporter over OTLP (otel.*) is listed with its number of series,
// charted with its history and kept live; the choice is kept in the address and restored from it; a host
// without any says how to send some.
import t from 'tap'
import protobuf from 'protobufjs'
import { compressSync } from 'snappy'
import type { Page } from 'playwright-core'
import { haveChromium, logIn, openBrowser } from './chromium.ts'
import { makeBatch, metric, startClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'
import { send as write } from '../ingest/influx-helpers.ts'

t.test('custom metrics on the host page in Chromium', { timeout: 150_000 }, async (t) => {
  if (!haveChromium(t)) return
  const api = await startClient(t)
  const web = await api.createAgent('web-01')
  const bare = await api.createAgent('bare-01')
  const now = Date.now()
  const ns = (ms: number) => `${BigInt(ms) * 1_000_000n}`
  // Ten minutes of Telegraf's cpu plugin (two cores) a minute apart, and one Prometheus gauge.
  const lines = Array.from({ length: 10 }, (_, i) => now - (10 - i) * 60_000)
    .flatMap((ms, i) => [`cpu,cpu=cpu0,host=web-01 usage_idle=${90 + i} ${ns(ms)}`, `cpu,cpu=cpu1,host=web-01 usage_idle=${80 + i} ${ns(ms)}`])
  const res = await write(api, lines.join('\n'), { headers: { authorization: `Token ${web.api_key}` } })
  t.equal(res.status, 204, res.text)
  await api.ingestOk(web.api_key, makeBatch({ time: new Date(now - 60_000).toISOString(), metrics: [metric('cpu', 'usage_percent', 12)] }))
  // Prometheus's own remote write (snappy-compressed protobuf) and an OpenTelemetry export (OTLP/JSON).
  const WriteRequest = protobuf.parse(`syntax = "proto3"; package prometheus;
    message WriteRequest { repeated TimeSeries timeseries = 1; }
    message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }
    message Label { string name = 1; string value = 2; }
    message Sample { double value = 1; int64 timestamp = 2; }`, { keepCase: true }).root.lookupType('prometheus.WriteRequest')
  const remote = await fetch(`${api.url}/api/v1/write`, {
    method: 'POST', headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', authorization: `Bearer ${web.api_key}` },
    body: compressSync(Buffer.from(WriteRequest.encode(WriteRequest.fromObject({ timeseries: [{
      labels: [{ name: '__name__', value: 'node_load1' }, { name: 'instance', value: 'web-01:9100' }, { name: 'job', value: 'node' }],
      samples: [{ value: 0.75, timestamp: now - 60_000 }],
    }] })).finish())) as unknown as BodyInit,
  })
  t.equal(remote.status, 204, await remote.text())
  const otlp = await fetch(`${api.url}/v1/metrics`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${web.api_key}` },
    body: JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'queue.depth', gauge: { dataPoints: [{ timeUnixNano: ns(now - 60_000), asInt: '7' }] } }] }] }] }),
  })
  t.equal(otlp.status, 200, await otlp.text())
  await api.ingestOk(bare.api_key, makeBatch({ time: new Date(now - 60_000).toISOString() }))

  const { context, page, pageErrors } = await openBrowser(t, { width: 1280, height: 900 })
  const legend = (p: Page = page) => p.locator('[data-chart=custom] .u-legend .u-series .u-label').allInnerTexts()
  const legendValue = (p: Page, i: number) => p.locator('[data-chart=custom] .u-legend .u-series').nth(i).locator('.u-value').innerText()

  await t.test('the writers\' metrics are listed, charted with their history and kept in the address', async (t) => {
    await page.goto(`${api.url}/#/hosts/web-01`)
    await logIn(page)
    await waitFor('the custom metric picker', async () => (await page.locator('#custom-metric option').count()) === 3)
    t.same(await page.locator('#custom-metric option').allInnerTexts(), ['influx.cpu_usage_idle (2 series)', 'otel.queue_depth (1 series)', 'prom.node_load1 (1 series)'],
      'each metric once, with its number of series; built-in metrics are not listed')
    await waitFor('the custom chart', async () => (await page.locator('[data-chart=custom] .uplot canvas').count()) === 1)
    t.same((await legend()).slice(1), ['cpu=cpu0', 'cpu=cpu1'], 'series named by the tags that tell them apart')
    await waitFor('its history over the hour', async () => (await page.locator('[data-chart=custom] .chart').getAttribute('data-range')) === '1h')
    await waitFor('the newest values in the legend', async () => (await legendValue(page, 1)) === '99' && (await legendValue(page, 2)) === '89')
    t.pass('history read through the series endpoint')
    t.match(new URL(page.url()).hash, /^#\/hosts\/web-01\?metric=influx\.cpu_usage_idle$/, 'the choice is in the address')

    await page.selectOption('#custom-metric', 'prom.node_load1')
    await waitFor('the prom chart', async () => JSON.stringify((await legend()).slice(1)) === JSON.stringify(['value']))
    await waitFor('its value', async () => (await legendValue(page, 1)) === '0.75')
    t.match(new URL(page.url()).hash, /metric=prom\.node_load1$/, 'the address follows the choice')
    await page.selectOption('#custom-metric', 'otel.queue_depth')
    await waitFor('the OTLP gauge', async () => (await legendValue(page, 1).catch(() => '')) === '7')
    t.pass('what an OpenTelemetry exporter sent is charted too')
  })

  await t.test('a new point reaches the chart live', async (t) => {
    await page.selectOption('#custom-metric', 'influx.cpu_usage_idle')
    await waitFor('the cpu chart again', async () => (await legendValue(page, 1).catch(() => '')) === '99')
    await waitFor('the live stream', async () => (await page.locator('#host-live').getAttribute('data-state')) === 'open', 10_000)
    const res = await write(api, `cpu,cpu=cpu0,host=web-01 usage_idle=42.5 ${ns(Date.now())}`, { headers: { authorization: `Token ${web.api_key}` } })
    t.equal(res.status, 204, res.text)
    await waitFor('42.5 in the legend', async () => (await legendValue(page, 1)) === '42.5', 10_000)
    t.pass('the written point is charted without a reload')
  })

  await t.test('an address naming a metric opens it; a host without custom metrics says how to send some', async (t) => {
    const other = await context.newPage()
    other.on('pageerror', (err) => pageErrors.push(`(second tab) ${err.message}`))
    await other.goto(`${api.url}/#/hosts/web-01?metric=prom.node_load1`)
    await logIn(other)
    await waitFor('prom.node_load1 chosen', async () => (await other.locator('#custom-metric').inputValue().catch(() => '')) === 'prom.node_load1')
    await waitFor('its chart', async () => JSON.stringify((await legend(other)).slice(1)) === JSON.stringify(['value']))
    t.pass('restored from the address')

    await other.goto(`${api.url}/#/hosts/bare-01`)
    await waitFor('the empty note', async () => (await other.locator('#custom-empty').count()) === 1)
    t.match(await other.locator('#custom-empty').innerText(), /Nothing from Telegraf, Prometheus or OpenTelemetry for this host yet/)
    t.equal(await other.locator('#custom-metric').count(), 0, 'no picker')
    t.same(pageErrors, [], 'no page errors')
  })
})
