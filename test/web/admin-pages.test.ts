// The Admin pages in a real Chromium against the real API: an agent registered on the page, its key read
// from the page and used (202), the commands shown put the key in a file or the environment, never on a
// command line, and the first of them, run, starts an agent that reports; rotate (the old key 401, the new one 202), revoke, delete; an enrollment token made on the
// page, a registration with it approved on the page; users made on the page log in with their role, a role
// changed and a password reset take effect, a user deleted cannot log in; an organization made on the page
// with its first admin, who sees only their own; the audit log lists all of it, filtered by action; an editor
// gets the agent pages only; a viewer sees no Admin link, no controls, and the API refuses a write anyway.
// Screenshots: .tap/screenshots/admin/.
import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import { makeBatch, startClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'
import { haveChromium, logIn, openBrowser } from './chromium.ts'
import { writeAudit } from '../../services/audit/audit-log.ts'

const SCREENSHOTS = fileURLToPath(new URL('../../.tap/screenshots/admin/', import.meta.url))
const REPO = fileURLToPath(new URL('../../', import.meta.url))

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

  await t.test('the first command shown, run as it is (the env file put in a temporary directory): the agent reports', async (t) => {
    const shown = await page.locator('#new-agent-key .run-command pre').first().innerText()
    const dir = mkdtempSync(join(tmpdir(), 'hostpulse-shown-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const script = shown.replaceAll('agent.env', join(dir, 'agent.env'))
    t.match(script, /npm run agent -- --config \S+agent\.env/, 'the shown command runs the agent with the file')
    const child = spawn('bash', ['-e', '-c', script], {
      cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HOSTPULSE_INTERVAL: '1s', HOSTPULSE_AGENT_DATA_DIR: join(dir, 'data') },
    })
    let output = ''
    child.stdout.on('data', (d) => { output += d })
    child.stderr.on('data', (d) => { output += d })
    const stop = () => { try { process.kill(-child.pid!, 'SIGTERM') } catch { /* already gone */ } }
    t.teardown(stop)
    // cpu.cores: sent by the real agent, not by the test batch the key uploaded above, so this waits for the agent
    await waitFor('the agent\'s first batch stored', async () => {
      const latest = await api.get('/api/v1/metrics/latest/web-07')
      return latest.status === 200 && latest.body.metrics.some((m: { metric_type: string, metric_name: string }) =>
        m.metric_type === 'cpu' && m.metric_name === 'cores')
    }, 30_000).catch((err) => { t.comment(output); throw err })
    t.equal(statSync(join(dir, 'agent.env')).mode & 0o777, 0o600, 'the env file is readable by its owner only')
    stop()
    await new Promise((resolve) => child.once('exit', resolve))
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

  await t.test('users: created with a role, role changed, password reset, deleted; each takes effect', async (t) => {
    await page.click('.admin-tabs a[href="#/admin/users"]')
    await page.locator('#create-user').waitFor()
    await page.fill('#new-user-name', 'jane')
    await page.fill('#new-user-password', 'first-pass-123')
    await page.selectOption('#new-user-role', 'viewer')
    await page.fill('#new-user-display', 'Jane Doe')
    await page.click('#create-user button[type=submit]')
    const jane = page.locator('#users tr[data-user="jane"]')
    await jane.waitFor()
    t.match(await page.locator('#users-status').innerText(), /jane can log in now, as viewer/)
    t.match(await jane.innerText(), /Jane Doe/)
    const asViewer = (await api.login('jane', 'first-pass-123')).token
    t.equal((await api.req('POST', '/api/v1/agents', { token: asViewer, body: { name: 'jane-try' } })).status, 403, 'a viewer cannot write')

    await page.selectOption('#users select[data-role-for="jane"]', 'editor')
    await page.locator('#users-status', { hasText: 'jane is now editor' }).waitFor()
    const asEditor = (await api.login('jane', 'first-pass-123')).token
    const made = await api.req('POST', '/api/v1/agents', { token: asEditor, body: { name: 'jane-host' } })
    t.equal(made.status, 201, 'the editor role took effect')
    await api.req('DELETE', `/api/v1/agents/${made.body.id}`, { token: api.adminToken })

    await jane.locator('[data-action=reset]').click()
    await page.fill('#users input[name=password]', 'second-pass-456')
    await page.click('#users .form-row button[type=submit]')
    await page.locator('#users-status', { hasText: 'password of jane is reset' }).waitFor()
    t.equal((await api.req('GET', '/api/v1/auth/me', { token: asEditor })).status, 401, 'her sessions ended')
    t.equal((await api.req('POST', '/api/v1/auth/login', { body: { username: 'jane', password: 'first-pass-123' } })).status, 401, 'the old password is refused')
    t.ok(await api.login('jane', 'second-pass-456'), 'the new one works')

    t.equal(await page.locator('#users tr[data-user="admin"] [data-action=delete]').count(), 0, 'no Delete on yourself')
    t.equal(await page.locator('#users select[data-role-for="admin"]').count(), 0, 'no role change on yourself')
    await snap(page, 'users')
    await jane.locator('[data-action=delete]').click()
    await waitFor('jane gone', async () => (await jane.count()) === 0)
    t.equal((await api.req('POST', '/api/v1/auth/login', { body: { username: 'jane', password: 'second-pass-456' } })).status, 401, 'a deleted user cannot log in')
  })

  await t.test('a bad user is refused with the reason, nothing made', async (t) => {
    await page.fill('#new-user-name', 'admin')
    await page.fill('#new-user-password', 'another-pass-1')
    await page.click('#create-user button[type=submit]')
    await page.locator('#users-error:not([hidden])').waitFor()
    t.match(await page.locator('#users-error').innerText(), /Could not create the user: .*(exists|taken|already)/i)
    t.equal((await api.get('/api/v1/users')).body.users.filter((u: { username: string }) => u.username === 'admin').length, 1)
  })

  await t.test('an organization made on the page; its first admin sees only their own', async (t) => {
    await page.click('.admin-tabs a[href="#/admin/organizations"]')
    await page.locator('#create-organization').waitFor()
    await page.fill('#new-org-name', 'acme')
    await page.fill('#new-org-admin', 'acme-admin')
    await page.fill('#new-org-password', 'acme-pass-789')
    await page.click('#create-organization button[type=submit]')
    await page.locator('#organizations tr[data-organization="acme"]').waitFor()
    t.match(await page.locator('#organizations-status').innerText(), /acme is created; acme-admin logs in/)
    t.match(await page.locator('#organizations tr[data-organization="default"]').innerText(), /yours/)
    await snap(page, 'organizations')
    const other = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
    await other.goto(`${api.url}/#/admin/organizations`)
    await logIn(other, { username: 'acme-admin', password: 'acme-pass-789' })
    await other.locator('#organizations tr[data-organization="acme"]').waitFor()
    t.equal(await other.locator('#organizations tr[data-organization]').count(), 1, 'only their own')
    t.equal(await other.locator('#create-organization').count(), 0, 'no create form outside the built-in organization')
    await other.locator('#organizations-own-only').waitFor()
    await other.close()
  })

  await t.test('the audit log lists what was done, filtered by action, older pages on demand', async (t) => {
    await page.click('.admin-tabs a[href="#/admin/audit"]')
    const entries = page.locator('#audit tr[data-action]')
    await entries.first().waitFor()
    const actions = await entries.evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.action))
    for (const a of ['user.create', 'user.role_change', 'user.password_reset', 'user.delete', 'organization.create', 'agent.key_rotate', 'registration.approve']) {
      t.ok(actions.includes(a), `${a} is listed`)
    }
    const text = await page.locator('#audit').innerText()
    t.notMatch(text, /second-pass-456|first-pass-123|acme-pass-789/, 'no password in the log')
    const roleChange = await page.locator('#audit tr[data-action="user.role_change"]').innerText()
    t.match(roleChange, /admin \(user\)/, 'who')
    t.match(roleChange, /from=viewer/)
    t.match(roleChange, /to=editor/)
    await page.fill('#audit-action', 'user.delete')
    await page.click('#audit-filter button[type=submit]')
    await waitFor('filtered', async () => (await entries.count()) === 1)
    t.match(await entries.innerText(), /username=jane/)
    await page.fill('#audit-action', '')
    await page.click('#audit-filter button[type=submit]')
    await waitFor('unfiltered', async () => (await entries.count()) > 1)
    await snap(page, 'audit')
    // 150 more entries: the first page holds 100, the rest come with Older entries, oldest last.
    for (let i = 0; i < 150; i++) {
      await writeAudit(api.store.db, { orgId: api.orgId, action: 'channel.test', actor: { type: 'system' }, details: { n: i } })
    }
    await page.click('#audit-filter button[type=submit]')
    await waitFor('a full first page', async () => (await entries.count()) === 100)
    t.match(await entries.first().innerText(), /n=149/, 'newest first')
    t.ok(await page.locator('#audit-older').isVisible(), 'Older entries offered')
    await page.click('#audit-older')
    await waitFor('the next page appended', async () => (await entries.count()) > 100)
    const all = (await api.get('/api/v1/audit?limit=1000')).body.entries.length
    await waitFor('every entry shown', async () => {
      if (await page.locator('#audit-older').isVisible()) await page.click('#audit-older')
      return (await entries.count()) === all
    })
    t.match(await page.locator('#audit-status').innerText(), new RegExp(`${all} entries shown, the oldest included`))
  })

  await t.test('an editor gets the agent pages only', async (t) => {
    const editor = await api.user('editor')
    const other = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
    await other.goto(`${api.url}/#/admin/users`)
    await logIn(other, editor)
    await other.locator('#admin-forbidden').waitFor()
    t.match(await other.locator('#admin-forbidden').innerText(), /users page needs the admin role/)
    t.same(await other.locator('.admin-tabs a').allInnerTexts(), ['Agents', 'Enrollment'])
    t.equal((await api.req('GET', '/api/v1/audit', { token: editor.token })).status, 403, 'the API refuses the audit log to an editor anyway')
    await other.close()
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
