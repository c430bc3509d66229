// The host page's log lines and seed 002's bookmarks in a real Chromium (Debian's, driven by playwright-core)
// against the real API on an embedded TimescaleDB: lines newest first, the level filter, the text search,
// older lines on demand, a new line on refresh; `/?hostname=<name>` landing on that host's process tree,
// also through the login form, and a name nobody reports.
import t from 'tap'
import type { Page } from 'playwright-core'
import { haveChromium, logIn, openBrowser } from './chromium.ts'
import { makeBatch, minutesAgo, startClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'
import type { LogLevel } from '../../services/store/database.ts'

type Line = { source: string; level: LogLevel; message: string; time?: string }

t.test('host logs and hostname bookmarks in Chromium', { timeout: 150_000 }, async (t) => {
  if (!haveChromium(t)) return
  const api = await startClient(t)
  const web = await api.createAgent('web-01')
  const db = await api.createAgent('db-01')
  const now = Date.now()
  // 130 lines a second apart (the newest is "line 130"), every tenth an error, line 125 critical.
  const lines: Line[] = Array.from({ length: 130 }, (_, i) => ({
    source: i % 2 ? '/var/log/app.log' : 'nginx', time: new Date(now - 60_000 - (130 - i) * 1000).toISOString(),
    level: i === 124 ? 'critical' : i % 10 === 9 ? 'error' : 'info', message: `line ${i + 1}${i === 77 ? ' upstream TIMEOUT' : ''}`,
  }))
  await api.ingestOk(web.api_key, makeBatch({ time: minutesAgo(1, now), host: { hostname: 'web-01.example.com' }, logs: lines as never }))
  await api.ingestOk(db.api_key, makeBatch({ time: minutesAgo(1, now), host: { hostname: 'db-01.example.com' }, logs: [] }))

  const { browser, page, pageErrors } = await openBrowser(t, { width: 1280, height: 800 })
  const shown = (p: Page = page) => p.locator('#log-table tbody tr[data-log-id] td.log-message').allInnerTexts()
  const inView = (p: Page, selector: string) => p.locator(selector).evaluate((el) => {
    const r = el.getBoundingClientRect()
    return r.top >= -1 && r.top < window.innerHeight
  })

  await t.test('the host page lists its log lines, newest first, filtered and searched', async (t) => {
    await page.goto(`${api.url}/#/hosts/web-01`)
    await logIn(page)
    await waitFor('100 log lines', async () => (await shown()).length === 100)
    const first = await shown()
    t.equal(first[0], 'line 130', 'newest first')
    t.equal(first[99], 'line 31')
    t.equal(await page.locator('#log-table tr[data-log-id] .log-level').first().innerText(), 'ERROR', 'line 130 is an error')
    t.match(await page.locator('#log-status').innerText(), /100 lines shown, newest first/)

    await page.click('#log-more')
    await waitFor('all 130 lines', async () => (await shown()).length === 130)
    t.equal((await shown())[129], 'line 1', 'older lines appended in order')
    t.ok(await page.locator('#log-more').isHidden(), 'no older lines left')

    await page.selectOption('#log-level', 'error')
    await waitFor('errors and worse only', async () => (await shown()).length === 14)
    const levels = await page.locator('#log-table tbody tr[data-log-id]').evaluateAll((rs) => rs.map((r) => (r as HTMLElement).dataset.level))
    t.same([...new Set(levels)].sort(), ['critical', 'error'], '13 errors and the critical line')
    t.equal((await shown())[0], 'line 130')
    t.equal((await shown())[1], 'line 125', 'the critical line in its place')

    await page.selectOption('#log-level', '')
    await page.fill('#log-search', 'timeout')
    await waitFor('the search result', async () => JSON.stringify(await shown()) === JSON.stringify(['line 78 upstream TIMEOUT']))
    t.pass('case-insensitive text search')
    await page.fill('#log-search', 'no such text')
    await waitFor('no match', async () => /No log line matches/.test(await page.locator('#log-table tbody').innerText()))
    await page.fill('#log-search', '')
    await waitFor('the unfiltered list again', async () => (await shown()).length === 100)

    await api.ingestOk(web.api_key, makeBatch({ logs: [{ source: 'nginx', level: 'warning', message: 'a brand new line' }] as never }))
    await page.click('#log-refresh')
    await waitFor('the new line on top', async () => (await shown())[0] === 'a brand new line')
    t.equal(await page.locator('#log-table tr[data-log-id] .log-level').first().innerText(), 'WARNING')
    t.equal((await shown()).length, 101, 'added above the lines already shown')
    t.same(pageErrors, [], 'no page errors')
  })

  await t.test('/?hostname=<name> opens that host at its process tree', async (t) => {
    await page.goto(`${api.url}/?hostname=db-01.example.com`)
    await waitFor('the db-01 host page', async () => (await page.locator('#host-title').innerText().catch(() => '')) === 'db-01')
    t.equal(new URL(page.url()).pathname + new URL(page.url()).hash, '/#/hosts/db-01/processes', 'the address names the host page')
    t.equal(new URL(page.url()).search, '', 'the bookmark query is gone (Back does not look it up again)')
    await waitFor('the process tree', async () => (await page.locator('#process-table tbody tr[data-pid]').count()) > 0)
    await waitFor('the process tree in view', () => inView(page, '#processes-title'))
    t.pass('scrolled to the process tree')

    await page.goto(`${api.url}/?hostname=WEB-01.example.com`)
    await waitFor('web-01 by its hostname, whatever the case', async () => (await page.locator('#host-title').innerText().catch(() => '')) === 'web-01')

    await page.goto(`${api.url}/?hostname=db-01`)
    await waitFor('db-01 by its agent name', async () => new URL(page.url()).hash === '#/hosts/db-01/processes')

    await page.goto(`${api.url}/?hostname=nobody.example.com`)
    await waitFor('not found', async () => /Host not found/.test(await page.locator('#view').innerText()))
    t.match(await page.locator('#view').innerText(), /No agent in your organization reports the hostname "nobody\.example\.com"/)
  })

  await t.test('a bookmark opened before logging in lands on the host after the login', async (t) => {
    const fresh = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
    await fresh.goto(`${api.url}/?hostname=web-01.example.com`)
    await logIn(fresh)
    await waitFor('the web-01 host page', async () => (await fresh.locator('#host-title').innerText().catch(() => '')) === 'web-01')
    t.equal(new URL(fresh.url()).hash, '#/hosts/web-01/processes')
    await waitFor('the process tree in view', async () => (await fresh.locator('#process-table tbody tr[data-pid]').count()) > 0 && inView(fresh, '#processes-title'))
    t.pass('at the process tree')
  })
})
