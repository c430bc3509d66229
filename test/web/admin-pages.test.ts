// The Admin pages in a real Chromium against the real API: an agent registered on the page, its key read
// from the page and used (202), the commands shown put the key in a file or the environment, never on a
// command line; rotate (the old key 401, the new one 202), revoke, delete; an enrollment token made on the
// page, a registration with it approved on the page; a viewer sees no Admin link, no controls, and the API
// refuses a write anyway. Screenshots: .tap/screenshots/admin/.
import t from 'tap'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import { makeBatch, startClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'
import { haveChromium, logIn, openBrowser } from './chromium.ts'

const SCREENSHOTS = fileURLToPath(new URL('../../.tap/screenshots/admin/', import.meta.url))

t.test('administration from the page, in Chromium', { timeout: 180_000 }, async (t) => {
  if (!haveChromium(t)) return
  mkdirSync(SCREENSHOTS, { recursive: true })
  const api = await startClient(t)
  const { browser, page, pageErrors } = await openBrowser(t, { width: 1280, height: 1000 })
  page.on('dialog', (dialog) => { void dialog.accept() })
  const snap = (p: Page, name: string) => p.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true })
  const key = () => page.locator('#new-agent-key .secret-value').innerText()
  const row = (name: string) => page.locator(`#admin-agents tr[data-agent="${name}"]`)

  await page.goto(`${api.url}/#/admin/agents`)
  await logIn(page)

  let first = ''
  await t.test('register an agent: the key is shown once with commands that keep it off the command line, and it works', async (t) => {
    await page.fill('#new-agent-name', 'web-07')
    await page.fill('#new-agent-labels', 'env=prod, team=ops')
    await page.click('#register-agent button[type=submit]')
    await page.locator('#new-agent-key').waitFor()
    first = await key()
    t.match(first, /^hp_/, 'the key')
    const commands = await page.locator('#new-agent-key .run-commands').innerText()
    t.match(commands, new RegExp(`HOSTPULSE_API_KEY=${first}`), 'in an env file')
    t.notMatch(commands, /--api-key/, 'never as an argument')
    t.match(commands, /npm run agent -- --config agent\.env/)
    t.match(commands, /systemctl enable --now hostpulse-agent/)
    await waitFor('the new row', async () => (await row('web-07').count()) === 1)
    t.match(await row('web-07').innerText(), /env=prod, team=ops/)
    t.equal((await api.ingest(first, makeBatch())).status, 202, 'the key from the page uploads')
    await snap(page, 'agents-registered')
  })

  await t.test('rotate: a new key once, the old one refused at once; revoke; delete', async (t) => {
    await row('web-07').locator('[data-action=rotate]').click()
    await waitFor('a new key', async () => (await page.locator('#new-agent-key .secret-value').count()) === 1 && (await key()) !== first)
    const second = await key()
    t.equal((await api.ingest(first, makeBatch())).status, 401, 'the old key is refused')
    t.equal((await api.ingest(second, makeBatch())).status, 202, 'the new one uploads')
    await row('web-07').locator('[data-action=revoke]').click()
    await page.locator('#agent-secret', { hasText: 'is revoked' }).waitFor()
    t.equal((await api.ingest(second, makeBatch())).status, 401, 'a revoked key is refused')
    await row('web-07').locator('[data-action=delete]').click()
    await waitFor('the row gone', async () => (await row('web-07').count()) === 0)
    const listed = await api.get('/api/v1/agents')
    t.notOk(listed.body.agents.some((a: { name: string }) => a.name === 'web-07'), 'deleted in the API too')
    t.same(await page.locator('#admin-agents').getAttribute('id'), 'admin-agents')
  })

  await t.test('an enrollment token made on the page; its registration approved on the page', async (t) => {
    await page.click('.admin-tabs a[href="#/admin/tokens"]')
    await page.locator('#create-token').waitFor()
    await page.fill('#new-token-description', 'rack 4')
    await page.click('#create-token button[type=submit]')
    await page.locator('#new-token-secret').waitFor()
    const token = await page.locator('#new-token-secret .secret-value').innerText()
    t.match(token, /^hpe_/, 'the token, shown once')
    await waitFor('the token listed', async () => (await page.locator('#enrollment-tokens tbody tr[data-token]').count()) === 1)
    t.match(await page.locator('#enrollment-tokens tbody').innerText(), /rack 4/)
    const asked = await api.post('/api/v1/agents/register', { token, hostname: 'rack4-db-01' })
    t.equal(asked.status, 202, asked.text)
    await page.click('.admin-tabs a[href="#/admin/agents"]')
    await page.click('.admin-tabs a[href="#/admin/tokens"]')
    const pending = page.locator('#pending-registrations tr[data-hostname="rack4-db-01"]')
    await pending.waitFor()
    await snap(page, 'enrollment')
    await pending.locator('[data-action=approve]').click()
    await waitFor('the registration approved', async () => (await pending.count()) === 0)
    const agents = (await api.get('/api/v1/agents')).body.agents as Array<{ hostname: string | null; status: string }>
    t.ok(agents.some((a) => a.hostname === 'rack4-db-01' && a.status === 'active'), 'the host is an active agent')
  })

  await t.test('a viewer: no Admin link, no controls, and the API refuses a write anyway', async (t) => {
    const viewer = await api.user('viewer')
    const other = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
    await other.goto(`${api.url}/#/`)
    await logIn(other, viewer)
    await other.locator('#fleet-table').waitFor()
    t.notOk(await other.locator('nav a[data-nav=admin]').isVisible(), 'no Admin link')
    await other.goto(`${api.url}/#/admin/agents`)
    await other.locator('#admin-forbidden').waitFor()
    t.equal(await other.locator('#register-agent').count(), 0, 'no register form')
    t.equal(await other.locator('[data-action]').count(), 0, 'no actions')
    await snap(other, 'viewer')
    const refused = await api.req('POST', '/api/v1/agents', { token: viewer.token, body: { name: 'viewer-try' } })
    t.equal(refused.status, 403, 'the API refuses the viewer')
  })

  t.same(pageErrors, [], 'no uncaught errors on the page')
  t.comment(`screenshots: ${SCREENSHOTS}`)
})
