// The page without a mouse, in a real Chromium: log in, reach a host from the fleet, change the range, open
// a process subtree and reach the Alerting and Admin forms with the keyboard alone; the focused control is
// always visibly outlined.
import t from 'tap'
import type { Page } from 'playwright-core'
import { ADMIN, makeBatch, minutesAgo, proc, startClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'
import { haveChromium, openBrowser } from './chromium.ts'

/** Presses Tab until `matches` holds for the focused element (at most `limit` times); its description. */
async function tabTo(page: Page, what: string, matches: (el: { tag: string; text: string; id: string; data: Record<string, string> }) => boolean, limit = 60): Promise<string> {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab')
    const el = await page.evaluate(() => {
      const a = document.activeElement as HTMLElement | null
      return a ? { tag: a.tagName.toLowerCase(), text: (a.textContent ?? '').trim(), id: a.id, data: { ...a.dataset } as Record<string, string> } : null
    })
    if (el && matches(el)) return `${el.tag} ${el.text || el.id}`
  }
  throw new Error(`${what}: not reached with ${limit} presses of Tab`)
}

/** The focused element's outline, as drawn. */
const outline = (page: Page) => page.evaluate(() => {
  const s = getComputedStyle(document.activeElement as Element)
  return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) }
})

t.test('the page with the keyboard alone, in Chromium', { timeout: 120_000 }, async (t) => {
  if (!haveChromium(t)) return
  const api = await startClient(t)
  const web = await api.createAgent('web-01')
  for (const m of [2, 1, 0]) {
    await api.ingestOk(web.api_key, makeBatch({ time: minutesAgo(m), processes: [proc(1, 'systemd', { parent_pid: 0 }), proc(200, 'nginx'), proc(201, 'nginx', { parent_pid: 200 })] }))
  }
  const { page, pageErrors } = await openBrowser(t)
  await page.goto(`${api.url}/#/`)
  await page.locator('#username').waitFor()

  await page.focus('#username')
  await page.keyboard.type(ADMIN.username)
  await page.keyboard.press('Tab')
  await page.keyboard.type(ADMIN.password)
  await page.keyboard.press('Enter')
  await page.locator('#fleet-table tr[data-agent="web-01"]').waitFor()
  t.pass('logged in with the keyboard')

  const link = await tabTo(page, 'the host link', (el) => el.tag === 'a' && el.text === 'web-01')
  t.match(link, /a web-01/)
  const ring = await outline(page)
  t.ok(ring.style !== 'none' && ring.width >= 1, `the focused link is outlined (${ring.style} ${ring.width}px)`)
  await page.keyboard.press('Enter')
  await waitFor('the host page', async () => page.url().includes('#/hosts/'))
  await page.locator('button[data-range="24h"]').waitFor()

  await tabTo(page, 'the 24h range button', (el) => el.tag === 'button' && el.data.range === '24h')
  await page.keyboard.press('Space')
  await waitFor('24h chosen', async () => (await page.getAttribute('button[data-range="24h"]', 'aria-pressed')) === 'true')
  t.pass('the range changed with Space')

  await page.locator('#process-table button[data-pid="200"]').waitFor()
  await tabTo(page, 'the nginx toggle', (el) => el.tag === 'button' && el.data.pid === '200', 120)
  const before = await page.getAttribute('#process-table button[data-pid="200"]', 'aria-expanded')
  await page.keyboard.press('Enter')
  await waitFor('nginx toggled', async () => (await page.getAttribute('#process-table button[data-pid="200"]', 'aria-expanded')) !== before)
  t.pass('a subtree opened or closed with Enter')

  await page.goto(`${api.url}/#/alerting/rules`)
  await page.locator('#rule-form').waitFor()
  await tabTo(page, 'the rule name field', (el) => el.id === 'rule-name')
  t.ok((await outline(page)).style !== 'none', 'the focused field is outlined')
  await page.goto(`${api.url}/#/admin/agents`)
  await page.locator('#register-agent').waitFor()
  await tabTo(page, 'the new agent name field', (el) => el.id === 'new-agent-name')
  await page.keyboard.type('kb-host')
  await page.keyboard.press('Enter')
  await page.locator('#new-agent-key').waitFor()
  t.ok((await api.get('/api/v1/agents')).body.agents.some((a: { name: string }) => a.name === 'kb-host'), 'an agent registered with the keyboard')
  t.same(pageErrors, [], 'no uncaught errors on the page')
})
