// The host page's "Report" action in a real Chromium (Debian's, driven by playwright-core) against the real
// API on an embedded TimescaleDB: the page's range preselected, an HTML report generated and followed until
// it is completed, opened in a new tab and downloaded (the same bytes as the file the API serves), the
// host's report list with its status; a PDF report that fails shows why.
// Screenshot of the host page with the report section: .tap/screenshots/host-report/ (git-ignored with .tap/).
import t from 'tap'
import { existsSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { ADMIN, makeBatch, metric, minutesAgo, startClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']
const SCREENSHOTS = fileURLToPath(new URL('../../.tap/screenshots/host-report/', import.meta.url))

t.test('the host page generates, follows, opens and downloads reports in Chromium', { timeout: 240_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`no Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does it), or set CHROMIUM_PATH`)
    return
  }
  // PDF reports are printed by a Chromium: a path that does not exist makes them fail, HTML ones still work.
  const api = await startClient(t, { reports: { chromiumPath: '/nonexistent/chromium' } })
  const web = await api.createAgent('web-01')
  const other = await api.createAgent('db-01')
  const now = Date.now()
  // Ten minutes of samples, so the report has a range to show.
  for (let m = 10; m >= 0; m -= 2) {
    await api.ingestOk(web.api_key, makeBatch({ time: minutesAgo(m, now), metrics: [metric('cpu', 'usage_percent', 20 + m), metric('memory', 'usage_percent', 60 + m / 2)] }))
  }
  await api.ingestOk(other.api_key, makeBatch({ time: minutesAgo(1, now), host: { hostname: 'db-01.example.com' } }))
  // Another host's report stays off this host's list.
  const collectors = await api.get('/dashboard/api/collectors/')
  const dbNumber = collectors.body.find((c: { name: string }) => c.name === 'db-01').id
  const foreign = await api.post('/api/v1/reports/generate/', { collector_id: dbNumber, format: 'html', time_range_hours: 1, include_containers: false }, { token: api.adminToken })
  t.equal(foreign.status, 202, 'a report of db-01 through the API')

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true })
  const page = await context.newPage()
  const pageErrors: string[] = []
  const consoleLines: string[] = []
  page.on('pageerror', (err) => pageErrors.push(err.message))
  page.on('console', (msg) => consoleLines.push(`[${msg.type()}] ${msg.text()}`))
  t.teardown(() => {
    if (!t.passing()) console.error(`--- browser console ---\n${consoleLines.join('\n')}\n--- page errors ---\n${pageErrors.join('\n')}`)
  })
  const rows = (p: Page = page) => p.locator('#report-table tbody tr[data-report-id]')
  const progress = () => page.locator('#report-progress')

  await t.test('Report opens the section with the page\'s range preselected', async (t) => {
    await page.goto(`${api.url}/#/hosts/web-01`)
    await page.locator('#username').waitFor()
    await page.fill('#username', ADMIN.username)
    await page.fill('#password', ADMIN.password)
    await page.click('button[type=submit]')
    await waitFor('the web-01 host page', async () => (await page.locator('#host-title').innerText().catch(() => '')) === 'web-01')
    await waitFor('the Report button enabled', () => page.locator('#report-button').isEnabled())
    t.ok(await page.locator('#report').isHidden(), 'the section is closed until asked for')
    t.equal(await page.locator('#report-button').getAttribute('aria-expanded'), 'false')

    await page.click('.range-picker button[data-range="6h"]')
    await page.click('#report-button')
    t.ok(await page.locator('#report').isVisible(), 'the section is open')
    t.equal(await page.locator('#report-button').getAttribute('aria-expanded'), 'true')
    t.equal(await page.locator('#report-range').inputValue(), '6', 'the page\'s 6h range preselected (6 hours)')
    t.equal(await page.locator('#report-format').inputValue(), 'html')
    t.ok(await page.locator('#report-containers').isChecked(), 'containers included by default')
    t.equal(await page.locator('#report-progress').getAttribute('role'), 'status', 'progress is a status region')
    for (const id of ['report-range', 'report-format', 'report-containers']) {
      t.equal(await page.locator(`label[for="${id}"]`).count(), 1, `#${id} has a label`)
    }
    await waitFor('the empty list', async () => /No reports of this host yet/.test(await page.locator('#report-table tbody').innerText()))
    t.pass('db-01\'s report is not on web-01\'s list')
  })

  let reportId = ''
  await t.test('an HTML report is generated, followed until completed, opened and downloaded', async (t) => {
    await page.click('#report-generate')
    await waitFor('progress shown', async () => (await progress().innerText()).length > 0)
    t.match(await progress().innerText(), /Waiting to start|Generating the report|Report ready/, 'a clear status while it runs')
    await waitFor('the report completed', async () => (await progress().getAttribute('data-status')) === 'completed', 60_000)
    const text = await progress().innerText()
    t.match(text, /^Report ready: .*web-01.* \(\d+(\.\d+)? (B|KiB|MiB)\)$/, `completed with its name and size: ${text}`)
    t.ok(await page.locator('.report-progress-bar').isHidden(), 'no progress bar once done')

    const row = rows().first()
    await waitFor('the completed row', async () => (await row.getAttribute('data-status')) === 'completed')
    reportId = (await row.getAttribute('data-report-id'))!
    t.equal(await rows().count(), 1, 'one report of this host')
    const cells = await row.locator('td').allInnerTexts()
    t.equal(cells[1], 'Last 6 hours')
    t.equal(cells[2], 'HTML')
    t.match(cells[3], /completed/i)
    t.match(cells[4], /^\d+(\.\d+)? (B|KiB|MiB)$/, 'a human-readable size')

    const stored = await api.get(`/api/v1/reports/${reportId}/`)
    t.equal(stored.body.status, 'completed')
    t.equal(stored.body.time_range_hours, 6, 'the API got the chosen range')
    const file = await fetch(api.url + stored.body.file_url, { headers: { authorization: `Bearer ${api.adminToken}` } })
    t.equal(file.status, 200, 'the file with the token')
    const html = await file.text()
    t.equal((await fetch(api.url + stored.body.file_url)).status, 401, 'and not without it')

    const [tab] = await Promise.all([page.waitForEvent('popup'), page.click('#report-open')])
    await tab.waitForURL(/^blob:/)
    await tab.waitForLoadState()
    t.equal(new URL(tab.url().slice('blob:'.length)).origin, api.url, 'a blob of this page')
    t.match(await tab.content(), /web-01/, 'the report opened in a new tab')
    t.equal(await tab.evaluate(() => window.opener), null, 'without a handle on the page')
    await tab.close()

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#report-download')])
    t.equal(download.suggestedFilename(), stored.body.file_url.split('/').pop(), 'saved under the file\'s name')
    t.equal(await readFile((await download.path())!, 'utf8'), html, 'the downloaded bytes are the report\'s')
    t.match(await page.locator('#report-download').innerText(), /^Download \(\d+(\.\d+)? (B|KiB|MiB)\)$/)

    const [again] = await Promise.all([page.waitForEvent('download'), row.locator('button.report-download').click()])
    t.equal(await readFile((await again.path())!, 'utf8'), html, 'the list\'s Download too')
  })

  await t.test('a PDF report that fails shows its error message', async (t) => {
    await page.selectOption('#report-format', 'pdf')
    await page.selectOption('#report-range', '1')
    await page.click('#report-generate')
    await waitFor('the report failed', async () => (await progress().getAttribute('data-status')) === 'failed', 60_000)
    const id = (await rows().first().getAttribute('data-report-id'))!
    t.not(id, reportId, 'a new report on top')
    const failed = await api.get(`/api/v1/reports/${id}/`)
    t.equal(failed.body.status, 'failed')
    t.ok(failed.body.error_message, `the API says why: ${failed.body.error_message}`)
    t.equal(await progress().innerText(), `The report failed: ${failed.body.error_message}`)
    t.equal(await page.locator('#report-current-actions button').count(), 0, 'nothing to open or download')
    const cells = await rows().first().locator('td').allInnerTexts()
    t.equal(cells[1], 'Last hour')
    t.equal(cells[2], 'PDF')
    t.match(cells[3], /failed/i)
    t.ok(cells[3].includes(failed.body.error_message), 'the list shows why too')
    t.equal(await rows().first().locator('button').count(), 0)
    t.equal(await rows().count(), 2, 'both reports of this host listed')
    await waitFor('the list status', async () => (await page.locator('#report-list-status').innerText()) === '2 reports')
  })

  await t.test('screenshot, closing, and no page errors', async (t) => {
    await mkdir(SCREENSHOTS, { recursive: true })
    await page.locator('#report').scrollIntoViewIfNeeded()
    await page.screenshot({ path: `${SCREENSHOTS}host-report.png`, fullPage: true })
    t.comment(`screenshot: ${SCREENSHOTS}host-report.png`)
    await page.click('#report .report-close')
    t.ok(await page.locator('#report').isHidden(), 'Close hides the section')
    t.equal(await page.locator('#report-button').getAttribute('aria-expanded'), 'false')
    t.equal(await page.evaluate(() => document.activeElement?.id), 'report-button', 'focus back on Report')
    t.same(pageErrors, [], 'no uncaught errors in the page')
    t.same(consoleLines.filter((l) => /Content Security Policy|Refused to/i.test(l)), [], 'no CSP violations in the page')
  })
})
