// Traffic on the page in a real Chromium against the real API: the fleet's "Traffic, this cycle" column with
// the quota's bar, and the host's traffic panel: the usage bar against the quota, the forecast, each
// interface (loopback listed, not counted), the previous cycle, and an editor setting the quota in the form.
// Screenshot: .tap/screenshots/traffic.png.
import t from 'tap'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { haveChromium, logIn, openBrowser } from './chromium.ts'
import { makeBatch, network, startClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'

const SCREENSHOTS = fileURLToPath(new URL('../../.tap/screenshots/', import.meta.url))
const MINUTE = 60_000

t.test('traffic in Chromium', { timeout: 150_000 }, async (t) => {
  if (!haveChromium(t)) return
  const api = await startClient(t)
  const edge = await api.createAgent('edge-01')
  // Six samples ten minutes apart: eth0 takes 2 GB in and 1 GB out per step; loopback moves more but never counts.
  const first = Date.now() - 55 * MINUTE
  await api.ingestOk(edge.api_key, [0, 1, 2, 3, 4, 5].map((k) => makeBatch({
    time: new Date(first + k * 10 * MINUTE).toISOString(), metrics: [], disks: [], processes: [],
    networks: [network('eth0', { bytes_recv: 10e9 + k * 2e9, bytes_sent: 5e9 + k * 1e9 }), network('lo', { bytes_recv: k * 9e9, bytes_sent: k * 9e9 })],
  })))
  // The five steps: 10 GB received, 5 GB sent; a 20 GB quota → 75 %. The cycle started two days ago (UTC), so
  // the samples are in it whatever the date.
  const cycleDay = new Date(Date.now() - 2 * 86_400_000).getUTCDate()
  const put = await api.req('PUT', '/api/v1/agents/edge-01/traffic/settings', { body: { quota_bytes: 20e9, cycle_start_day: cycleDay }, token: api.adminToken })
  t.equal(put.status, 200, put.text)

  const { page, pageErrors } = await openBrowser(t, { width: 1280, height: 900 })
  await page.goto(`${api.url}/#/`)
  await logIn(page)

  await t.test('the fleet column: the cycle\'s bytes and the quota\'s share', async (t) => {
    const cell = page.locator('#fleet-table tr[data-agent="edge-01"] td[data-col=traffic]')
    await waitFor('the traffic column', async () => /GB/.test(await cell.innerText()))
    t.match(await cell.innerText(), /^15 GB\s+75\.0 %$/, '15 GB this cycle, 75 % of the quota')
    t.match(await cell.getAttribute('title') ?? '', /^15 GB of 20 GB quota \(total\) since /)
  })

  await t.test('the host panel: usage bar, forecast, interfaces, previous cycle', async (t) => {
    await page.goto(`${api.url}/#/hosts/edge-01`)
    await waitFor('the traffic panel', async () => /of 20 GB/.test(await page.locator('#traffic-quota').innerText()))
    t.match(await page.locator('#traffic-quota').innerText(), /75\.0 %\s+15 GB of 20 GB \(75\.0 %\) received \+ sent\s+· 10 GB received, 5 GB sent; quota from agent/)
    t.equal(await page.locator('#traffic-quota .bar-fill').evaluate((el) => (el as HTMLElement).style.width), '75%', 'the bar is three quarters full')
    const forecast = await page.locator('#traffic-forecast').innerText()
    t.match(forecast, /^(At this pace, [\d.]+ [kMGT]?B of 20 GB by the cycle's end: the quota runs out on the \d+(st|nd|rd|th)\.|A forecast needs the cycle's first hour\.)$/, `forecast: ${forecast}`)
    const rows = await page.locator('#traffic-interfaces tbody tr').evaluateAll((rs) => rs.map((r) => (r as HTMLElement).innerText.replace(/\s+/g, ' ').trim()))
    t.same(rows, ['lo 45 GB 45 GB 90 GB no', 'eth0 10 GB 5 GB 15 GB yes'], 'each interface; loopback is listed, not counted')
    mkdirSync(SCREENSHOTS, { recursive: true })
    await page.locator('#traffic-panel').screenshot({ path: `${SCREENSHOTS}traffic.png` })
    await page.selectOption('#traffic-cycle', 'previous')
    await waitFor('the previous cycle', async () => /no quota|of 20 GB \(0\.0 %\)/.test(await page.locator('#traffic-quota').innerText()))
    t.equal(await page.locator('#traffic-forecast').innerText(), 'This cycle is over.')
    await page.selectOption('#traffic-cycle', 'current')
  })

  await t.test('an admin sets the quota and the cycle in the form', async (t) => {
    await page.click('#traffic-panel summary')
    await waitFor('the settings read', async () => (await page.inputValue('#traffic-quota-gb')) === '20')
    t.equal(await page.inputValue('#traffic-zone'), 'UTC')
    t.equal(await page.inputValue('#traffic-day'), String(cycleDay))
    await page.fill('#traffic-quota-gb', '60')
    await page.selectOption('#traffic-direction', 'received')
    await page.click('#traffic-settings button[type=submit]')
    await waitFor('the new quota', async () => /of 60 GB/.test(await page.locator('#traffic-quota').innerText()))
    t.match(await page.locator('#traffic-quota').innerText(), /10 GB of 60 GB \(16\.7 %\) received/)
    const stored = await api.get('/api/v1/agents/edge-01/traffic/settings')
    t.match(stored.body, { quota_bytes: 60e9, quota_direction: 'received' })
    await page.fill('#traffic-zone', 'Nowhere/Special')
    await page.click('#traffic-settings button[type=submit]')
    await waitFor('the refusal', async () => /Not saved: .*time zone/.test(await page.locator('#traffic-settings [role=status]').innerText()))
    t.equal((await api.get('/api/v1/agents/edge-01/traffic/settings')).body.time_zone, 'UTC', 'nothing changed')
    t.same(pageErrors, [], 'no page errors')
  })
})
