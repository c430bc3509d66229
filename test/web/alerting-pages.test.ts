// The Alerting pages in a real Chromium against the real API: a webhook channel created on the page and
// tested (a real HTTP receiver gets it, the page shows the answer); a rule written with its live preview
// showing the selected series' current value and that it would fire; the rule fires (one evaluation) and the
// page lists it; disabled and enabled again; acknowledged for an hour and the history filtered; a silence
// created pre-filled from the alert (its preview names the alert it mutes), then ended now; the CPU comes
// down and the page shows the alert resolved by the evaluator; a maintenance
// window planned for tomorrow, then cancelled; a channel edited with its secret kept masked, then deleted; a
// viewer sees no write controls and the API refuses the preview's create anyway; the preview's 400s.
// Screenshots: .tap/screenshots/alerting/.
import t from 'tap'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { makeBatch, metric, minutesAgo, startClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'
import { haveChromium, logIn, openBrowser } from './chromium.ts'
import { startReceiver } from '../notify/notify-helpers.ts'
import { evaluateRule } from '../../services/alerting/evaluate-rule.ts'

const SCREENSHOTS = fileURLToPath(new URL('../../.tap/screenshots/alerting/', import.meta.url))

t.test('alerting from the page, in Chromium', { timeout: 180_000 }, async (t) => {
  if (!haveChromium(t)) return
  mkdirSync(SCREENSHOTS, { recursive: true })
  const rx = await startReceiver(t)
  const api = await startClient(t, { notify: { dispatch: false, allowPrivateTargets: true } })
  const web = await api.createAgent('web-01')
  const db = await api.createAgent('db-01')
  for (const m of [3, 2, 1]) {
    await api.ingestOk(web.api_key, makeBatch({ time: minutesAgo(m), metrics: [metric('cpu', 'usage_percent', 95)] }))
    await api.ingestOk(db.api_key, makeBatch({ time: minutesAgo(m), metrics: [metric('cpu', 'usage_percent', 20)] }))
  }
  const { browser, page, pageErrors } = await openBrowser(t, { width: 1400, height: 1000 })
  page.on('dialog', (dialog) => { void dialog.accept() })
  await page.goto(`${api.url}/#/alerting/channels`)
  await logIn(page)

  await t.test('a webhook channel created and tested on the page', async (t) => {
    await page.locator('#channel-form').waitFor()
    await page.fill('#channel-name', 'ops-hook')
    await page.selectOption('#channel-type', 'webhook')
    await page.fill('#channel-target', `${rx.url}/hook`)
    await page.click('#channel-form button[type=submit]')
    const row = page.locator('#channels tr[data-channel="ops-hook"]')
    await row.waitFor()
    await row.locator('[data-action=test]').click()
    await page.locator('#channel-answer [data-delivered=true]').waitFor()
    t.match(await page.locator('#channel-answer').innerText(), /Delivered to ops-hook/)
    await waitFor('the receiver got the test', async () => rx.at('/hook').length > 0)
    await page.locator('#channel-deliveries h2').waitFor()
    await page.screenshot({ path: `${SCREENSHOTS}channels.png`, fullPage: true })
  })

  let ruleId = ''
  await t.test('a rule written with its live preview, created, then firing', async (t) => {
    await page.click('.admin-tabs a[href="#/alerting/rules"]')
    await page.locator('#rule-form').waitFor()
    await page.fill('#rule-name', 'CPU high')
    // A typo says so, naming what exists, instead of looking like a quiet host.
    await page.fill('#rule-metric', 'cpu.usage_precent')
    await waitFor('the typo explained', async () => (await page.locator('#rule-preview-status').innerText()).includes('No data:'))
    const refusal = await page.locator('#rule-preview-status').innerText()
    t.match(refusal, /usage_precent/, `the unknown metric named: ${refusal}`)
    t.match(refusal, /cpu\.usage_percent/, 'and the known one offered')
    await page.fill('#rule-metric', 'cpu.usage_percent')
    await page.fill('#rule-window', '5m')
    await page.fill('#rule-threshold', '90')
    await page.fill('#rule-channels', 'ops-hook')
    await waitFor('the preview', async () => (await page.locator('#rule-preview tr[data-agent="web-01"]').count()) === 1
      && (await page.locator('#rule-preview tr[data-agent="db-01"]').count()) === 1)
    t.match(await page.locator('#rule-preview tr[data-agent="web-01"]').innerText(), /95[\s\S]*critical/, 'web-01 at 95 would fire')
    t.match(await page.locator('#rule-preview tr[data-agent="db-01"]').innerText(), /20[\s\S]*below the thresholds/)
    t.match(await page.locator('#rule-preview-status').innerText(), /2 agent\(s\) selected.*1 would fire now/)
    // Raising the threshold changes the preview while typing.
    await page.fill('#rule-threshold', '99')
    await waitFor('the preview follows the form', async () => (await page.locator('#rule-preview-status').innerText()).includes('0 would fire now'))
    await page.fill('#rule-threshold', '90')
    await waitFor('the preview back at 90', async () => (await page.locator('#rule-preview-status').innerText()).includes('1 would fire now'))
    await page.screenshot({ path: `${SCREENSHOTS}rule-preview.png`, fullPage: true })
    await page.click('#rule-form button[type=submit]')
    const row = page.locator('#alert-rules tr[data-rule="CPU high"]')
    await row.waitFor()
    t.match(await row.innerText(), /> 90 \(critical\)/)
    const rules = await api.get('/api/v1/alerts')
    ruleId = rules.body.rules.find((r: { name: string }) => r.name === 'CPU high').id
    t.same(rules.body.rules.find((r: { name: string }) => r.name === 'CPU high').channels.length, 1, 'the channel attached')
    const now = new Date()
    t.ok((await evaluateRule(api.store.db, ruleId, now, now)).evaluated)
    const firing = await api.get('/api/v1/alerts/events?state=firing')
    t.same(firing.body.events.map((e: { agent_name: string; rule_name: string }) => `${e.rule_name} ${e.agent_name}`), ['CPU high web-01'], 'it fires for web-01 only')
  })

  await t.test('disable and enable again', async (t) => {
    const row = page.locator('#alert-rules tr[data-rule="CPU high"]')
    await row.locator('[data-action=disable]').click()
    await waitFor('disabled', async () => (await row.innerText()).includes('disabled'))
    t.equal((await api.get(`/api/v1/alerts/${ruleId}`)).body.enabled, false)
    await row.locator('[data-action=enable]').click()
    await waitFor('enabled', async () => (await row.locator('[data-action=disable]').count()) === 1)
    t.equal((await api.get(`/api/v1/alerts/${ruleId}`)).body.enabled, true)
  })

  await t.test('acknowledged for an hour; the history filtered', async (t) => {
    // Disabling ended the alert: one more evaluation brings it back.
    const now = new Date()
    t.ok((await evaluateRule(api.store.db, ruleId, now, now)).evaluated)
    await page.goto(`${api.url}/#/alerts`)
    const firing = page.locator('#firing-alerts tr[data-state=firing]')
    await firing.waitFor()
    t.match(await firing.innerText(), /95\.0 % \(threshold 90\.0 %\)/, 'the value and threshold in the metric\'s unit')
    await firing.locator('[data-action=ack]').click()
    await page.selectOption('#firing-alerts select[name=expires_in]', '1h')
    await page.fill('#firing-alerts input[name=comment]', 'looking')
    await page.click('#firing-alerts .form-row button[type=submit]')
    await waitFor('acknowledged until', async () => /acknowledged .* until .*: looking/.test(await firing.innerText()))
    const acked = (await api.get('/api/v1/alerts/events?state=firing')).body.events[0]
    const lasts = Date.parse(acked.ack_expires_at) - Date.parse(acked.acknowledged_at)
    t.ok(Math.abs(lasts - 3_600_000) < 5_000, `the acknowledgement lasts an hour (${lasts} ms)`)
    t.equal(await firing.locator('[data-action=unack]').count(), 1, 'Unacknowledge offered')

    const history = page.locator('#recent-alerts tr[data-event]')
    await waitFor('the history lists the alerts', async () => (await history.count()) >= 2)
    const all = await history.count()
    await page.selectOption('#history-state', 'resolved')
    await waitFor('only resolved ones', async () => (await page.locator('#recent-alerts tr[data-state=firing]').count()) === 0 && (await history.count()) >= 1)
    t.equal(await page.locator('#recent-alerts tr[data-state=resolved]').count(), all - 1, 'the one disabling resolved')
    await page.selectOption('#history-state', 'any state')
    await page.selectOption('#history-severity', 'warning')
    await waitFor('no warning alert', async () => (await page.locator('#recent-alerts').innerText()).includes('No alert matches these filters'))
    await page.selectOption('#history-severity', 'any severity')
    await page.fill('#history-agent', 'db-01')
    await page.click('#history-filter button[type=submit]')
    await waitFor('no alert on db-01', async () => (await page.locator('#recent-alerts').innerText()).includes('No alert matches these filters'))
    await page.fill('#history-agent', 'web-01')
    await page.click('#history-filter button[type=submit]')
    await waitFor('web-01\'s alerts back', async () => (await history.count()) === all)
    await page.screenshot({ path: `${SCREENSHOTS}alerts-history.png`, fullPage: true })
  })

  await t.test('a silence pre-filled from the firing alert, its preview naming that alert, then ended now', async (t) => {
    await page.goto(`${api.url}/#/alerts`)
    await page.locator('#firing-alerts [data-action=silence]').click()
    await page.locator('#silence-form').waitFor()
    t.equal(await page.inputValue('#silence-rule'), 'CPU high')
    t.equal(await page.inputValue('#silence-agent'), 'web-01')
    await page.locator('#silence-mutes li').waitFor()
    t.same(await page.locator('#silence-mutes li').allInnerTexts(), ['CPU high on web-01 (critical)'], 'what it mutes, before it is made')
    await page.fill('#silence-comment', 'deploying')
    await page.click('#silence-form button[type=submit]')
    const active = page.locator('#silences tr[data-status=active]')
    await active.waitFor()
    t.match(await active.innerText(), /rule CPU high, agent web-01[\s\S]*deploying/)
    await page.screenshot({ path: `${SCREENSHOTS}silences.png`, fullPage: true })
    await active.locator('[data-action=end]').click()
    await page.locator('#silences tr[data-status=expired]').waitFor()
    const listed = await api.get('/api/v1/silences')
    t.same(listed.body.silences.map((s: { status: string }) => s.status), ['expired'], 'ended now, kept as history')
  })

  await t.test('Silence 2h on a firing alert: one click', async (t) => {
    await page.goto(`${api.url}/#/alerts`)
    await page.locator('#firing-alerts [data-action=quick-silence]').click()
    await page.locator('#alerts-notice:not([hidden])').waitFor()
    t.match(await page.locator('#alerts-notice').innerText(), /CPU high on web-01 is silenced until .*: see or end it/)
    const active = (await api.get('/api/v1/silences?active=true')).body.silences
    t.equal(active.length, 1, 'one silence in effect')
    t.same(active[0].matchers, { rule: 'CPU high', agent: 'web-01' })
    const lasts = Date.parse(active[0].ends_at) - Date.parse(active[0].starts_at)
    t.ok(Math.abs(lasts - 7_200_000) < 5000, 'for two hours')
    t.equal((await api.req('DELETE', `/api/v1/silences/${active[0].id}`, { token: api.adminToken })).status, 204, 'ended for what follows')
  })

  await t.test('the CPU comes down: the alert resolves, and the page shows it', async (t) => {
    for (const s of [30, 20, 10]) {
      await api.ingestOk(web.api_key, makeBatch({ time: new Date(Date.now() - s * 1000).toISOString(), metrics: [metric('cpu', 'usage_percent', 10)] }))
    }
    const now = new Date()
    t.ok((await evaluateRule(api.store.db, ruleId, now, now)).evaluated)
    await page.goto(`${api.url}/#/alerts`)
    await page.locator('#firing-alerts', { hasText: 'No alert is firing.' }).waitFor()
    const resolved = page.locator('#recent-alerts tr[data-state=resolved]').first()
    await waitFor('the resolve in the history', async () => /resolved \S+/.test(await resolved.innerText()) && !(await resolved.innerText()).includes('rule changed'))
    t.notMatch(await resolved.innerText(), / by /, 'resolved by the evaluator, not by a person')
    t.equal((await api.get('/api/v1/alerts/events?state=firing')).body.events.length, 0)
    await page.screenshot({ path: `${SCREENSHOTS}alerts-resolved.png`, fullPage: true })
    await page.goto(`${api.url}/#/alerting/silences`)
    await page.locator('#silence-form').waitFor()
  })

  await t.test('a maintenance window planned for tomorrow, then cancelled', async (t) => {
    await page.selectOption('#silence-kind', 'maintenance')
    await page.fill('#silence-rule', '')
    await page.fill('#silence-agent', 'db-01')
    await waitFor('nothing firing on db-01', async () => (await page.locator('#silence-preview').innerText()).includes('No alert firing now matches'))
    const tomorrow = new Date(Date.now() + 86_400_000)
    const local = new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60_000).toISOString().slice(0, 16)
    await page.fill('#silence-starts', local)
    await page.fill('#silence-duration', '1h')
    await page.fill('#silence-comment', 'kernel upgrade')
    await page.click('#silence-form button[type=submit]')
    const planned = page.locator('#silences tr[data-kind=maintenance][data-status=pending]')
    await planned.waitFor()
    t.match(await planned.innerText(), /maintenance[\s\S]*agent db-01[\s\S]*kernel upgrade/)
    const stored = (await api.get('/api/v1/silences')).body.silences.find((s: { kind: string }) => s.kind === 'maintenance')
    t.equal(Date.parse(stored.ends_at) - Date.parse(stored.starts_at), 3_600_000, 'one hour long')
    t.ok(Math.abs(Date.parse(stored.starts_at) - tomorrow.getTime()) < 60_000, 'starting tomorrow at the time given')
    await planned.locator('[data-action=end]').click()
    await waitFor('cancelled', async () => (await planned.count()) === 0)
    t.notOk((await api.get('/api/v1/silences')).body.silences.some((s: { kind: string }) => s.kind === 'maintenance'), 'a planned window cancelled is gone')
  })

  await t.test('a channel edited with its secret and URL kept masked, then deleted', async (t) => {
    const made = await api.post('/api/v1/notification-channels', { name: 'signed', type: 'webhook', config: { url: `${rx.url}/signed?token=abc123`, secret: 'whsec-0123456789' } }, { token: api.adminToken })
    t.equal(made.status, 201, made.text)
    await page.goto(`${api.url}/#/alerting/channels`)
    const row = page.locator('#channels tr[data-channel="signed"]')
    await row.waitFor()
    t.notMatch(await row.innerText(), /abc123/, 'the token in the URL is not shown')
    await row.locator('[data-action=edit]').click()
    t.match(await page.inputValue('#channel-target'), /\*\*\*\*/, 'the form holds the masked URL')
    t.equal(await page.inputValue('#channel-secret'), '', 'the secret is not in the form')
    t.match(await page.getAttribute('#channel-secret', 'placeholder') ?? '', /stored/)
    await page.fill('#channel-name', 'signed-ops')
    await page.click('#channel-form button[type=submit]')
    await page.locator('#channels tr[data-channel="signed-ops"]').waitFor()
    const stored = await api.store.db.selectFrom('notification_channels').select(['name', 'config']).where('id', '=', made.body.id).executeTakeFirstOrThrow()
    t.equal(stored.name, 'signed-ops')
    t.match(stored.config, { url: `${rx.url}/signed?token=abc123`, secret: 'whsec-0123456789' }, 'the stored URL and secret are unchanged')
    await page.locator('#channels tr[data-channel="signed-ops"] [data-action=delete]').click()
    await waitFor('deleted', async () => (await page.locator('#channels tr[data-channel="signed-ops"]').count()) === 0)
    t.equal((await api.get(`/api/v1/notification-channels/${made.body.id}`)).status, 404, 'gone from the API')
  })

  await t.test('a viewer: no write controls, and the API refuses the write anyway', async (t) => {
    const viewer = await api.user('viewer')
    const other = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
    await other.goto(`${api.url}/#/alerting/rules`)
    await logIn(other, viewer)
    await other.locator('#alert-rules tr[data-rule="CPU high"]').waitFor()
    t.equal(await other.locator('#rule-form').count(), 0, 'no rule form')
    t.equal(await other.locator('#alert-rules [data-action]').count(), 0, 'no actions')
    const refused = await api.req('POST', '/api/v1/alerts', { token: viewer.token, body: { name: 'viewer rule', metric: 'cpu.usage_percent', threshold: 1 } })
    t.equal(refused.status, 403)
  })

  await t.test('the preview endpoint: the same checks as a create, nothing stored', async (t) => {
    const bad = await api.post('/api/v1/alerts/preview', { name: 'x', metric: 'no such thing', threshold: 1 }, { token: api.adminToken })
    t.equal(bad.status, 400, bad.text)
    t.match(bad.body.details, { metric: [/type>\.<name>/] })
    const noThreshold = await api.post('/api/v1/alerts/preview', { name: 'x', metric: 'cpu.usage_percent' }, { token: api.adminToken })
    t.equal(noThreshold.status, 400, noThreshold.text)
    const ok = await api.post('/api/v1/alerts/preview', { name: 'CPU high', metric: 'cpu.usage_percent', window: '5m', threshold: 50, agents: ['web-01'] }, { token: api.adminToken })
    t.equal(ok.status, 200, ok.text)
    // web-01's last 5 minutes: three samples at 95 and three at 10 since the CPU came down.
    t.match(ok.body, { agents: 1, series: [{ agent: 'web-01', value: 52.5, level: 'critical', missing: false }] })
    t.equal((await api.get('/api/v1/alerts')).body.rules.length, 1, 'nothing stored, and the taken name did not matter')
  })

  t.same(pageErrors, [], 'no uncaught errors on the page')
  t.comment(`screenshots: ${SCREENSHOTS}`)
})
