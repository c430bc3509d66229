// Alerts where the host is, in a real Chromium (Debian's, driven by playwright-core) against the real API on
// an embedded TimescaleDB: the fleet row of a host with firing alerts carries the worst severity and their
// count, linking to the alert, which the Alerts page highlights; the host page lists the host's firing
// alerts worst first; resolving one updates both live (over WS /ws/live), without a reload.
import t from 'tap'
import { haveChromium, logIn, openBrowser } from './chromium.ts'
import { sql } from 'kysely'
import { makeBatch, minutesAgo, startClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'

t.test('alert markers on the fleet and the host page in Chromium', { timeout: 150_000 }, async (t) => {
  if (!haveChromium(t)) return
  const api = await startClient(t)
  const web = await api.createAgent('web-01')
  const db = await api.createAgent('db-01')
  for (const a of [web, db]) await api.ingestOk(a.api_key, makeBatch({ time: minutesAgo(0), host: { hostname: `${a.name}.example.com` } }))
  const fire = async (agent: { id: string; name: string }, rule: string, severity: string, minutesAgo: number) => (await sql<{ id: string }>`
    insert into alert_events (org_id, rule_name, agent_id, agent_name, severity, state, value, threshold, summary, started_at)
    values (${api.orgId}, ${rule}, ${agent.id}, ${agent.name}, ${severity}, 'firing', 97.5, 90, ${`${rule} on ${agent.name}`}, now() - make_interval(mins => ${minutesAgo}))
    returning id`.execute(api.store.db)).rows[0].id
  const critical = await fire(web, 'CPU high', 'critical', 3)
  const warning = await fire(web, 'Disk filling', 'warning', 10)

  const { page, pageErrors } = await openBrowser(t, { width: 1280, height: 900 })
  const marker = (agent: string) => page.locator(`#fleet-table tr[data-agent="${agent}"] .alert-marker`)
  // Each item's severity and its text content, found and read in one call inside the page: the strip is
  // rebuilt when a live-feed message changes it, and an item found in one call may be detached by the next (a detached
  // element has no computed style, and its innerText is its raw text).
  const strip = () => page.evaluate(() => [...document.querySelectorAll<HTMLElement>('#host-alerts li[data-event]')]
    .map((li) => li.dataset.severity + ' ' + (li.textContent ?? '').replace(/\s+/g, ' ').trim()))
  const badgeCase = () => page.evaluate(() => {
    const badge = document.querySelector('#host-alerts li[data-event] .severity')
    return badge ? getComputedStyle(badge).textTransform : 'no badge'
  })

  await t.test('the fleet row shows the worst severity and the count, linking to the worst alert', async (t) => {
    await page.goto(`${api.url}/#/`)
    await logIn(page)
    await waitFor('the marker on web-01', async () => (await marker('web-01').count()) === 1)
    t.equal(await marker('web-01').innerText(), '● critical +1')
    t.equal(await marker('web-01').getAttribute('data-count'), '2')
    t.match(await marker('web-01').getAttribute('title') ?? '', /critical: CPU high[\s\S]*warning: Disk filling/, 'its title lists them, worst first')
    t.equal(await marker('db-01').count(), 0, 'no marker where nothing fires')
    await marker('web-01').click()
    await waitFor('the Alerts page', async () => (await page.locator(`#firing-alerts tr[data-event="${critical}"]`).count()) === 1)
    t.equal(await page.locator(`#firing-alerts tr[data-event="${critical}"]`).getAttribute('class'), 'highlight', 'the alert is highlighted')
    t.equal(await page.locator('#firing-alerts tr.highlight').count(), 1, 'only that one')
  })

  await t.test('the host page lists its firing alerts worst first; a resolve updates it and the fleet live', async (t) => {
    await page.goto(`${api.url}/#/hosts/web-01`)
    await waitFor('the alert strip', async () => (await strip()).length === 2)
    await page.locator('#host-alerts').waitFor({ state: 'visible', timeout: 10_000 })
    const items = await strip()
    t.match(items[0], /^critical critical CPU high CPU high on web-01 · firing for \d+ min$/, `the critical one first: ${items[0]}`)
    t.equal(await badgeCase(), 'uppercase', 'its severity is a capitalized badge')
    // How long it fires, against the database's own start time (a slow runner may cross a minute between the two).
    const { rows: [event] } = await sql<{ started_at: Date }>`select started_at from alert_events where id = ${critical}`.execute(api.store.db)
    const firingMinutes = (Date.now() - event.started_at.getTime()) / 60_000
    const shown = Number(/firing for (\d+) min$/.exec(items[0])?.[1])
    t.ok(shown >= 3 && shown <= firingMinutes, `with how long it fires: ${shown} min shown, started ${firingMinutes.toFixed(2)} min ago`)
    t.match(items[1], /^warning warning Disk filling/)
    t.equal(await page.locator(`#host-alerts a[href="#/alerts?event=${critical}"]`).count(), 1, 'each links to its alert')

    // A live-feed message that changes nothing in the strip leaves it alone: a keyboard user's focus stays on its link.
    const elsewhere = await fire(db, 'Load high', 'warning', 1)
    t.equal(await page.evaluate(async (eventId) => {
      const link = document.querySelector<HTMLAnchorElement>('#host-alerts a[href^="#/alerts?event="]')
      if (!link) return 'no link in the strip'
      link.focus()
      const app = document.querySelector<HTMLScriptElement>('script[type="module"]')!.src
      const feed = await import(app.replace(/app\.js$/, 'live-feed.js'))
      const w = window as unknown as { heard: Promise<string> }
      w.heard = new Promise((resolve) => {
        const stop = feed.subscribe((kind: string, payload: { event_id?: string }) => {
          if (kind !== 'alert' || payload?.event_id !== eventId) return
          stop()
          resolve(document.activeElement === link && link.isConnected ? 'focus kept' : `focus on ${document.activeElement?.tagName ?? 'nothing'}`)
        })
      })
      return document.activeElement === link ? 'listening' : 'the link took no focus'
    }, elsewhere), 'listening')
    const otherResolved = await api.req('POST', `/api/v1/alerts/events/${elsewhere}/resolve`, { token: api.adminToken, body: {} })
    t.equal(otherResolved.status, 200, otherResolved.text)
    const heard = page.evaluate(() => Promise.race([(window as unknown as { heard: Promise<string> }).heard,
      new Promise<string>((resolve) => setTimeout(() => resolve('the resolve was not heard in 10 s'), 10_000))]))
    t.equal(await heard, 'focus kept', 'an alert of another host does not rebuild the strip')

    const resolved = await api.req('POST', `/api/v1/alerts/events/${critical}/resolve`, { token: api.adminToken, body: {} })
    t.equal(resolved.status, 200, resolved.text)
    await waitFor('the strip without the resolved alert', async () => (await strip()).length === 1, 10_000)
    t.match((await strip())[0], /^warning /, 'the warning is left')
    await page.click('a[href="#/"]')
    await waitFor('the fleet marker now says warning', async () => (await marker('web-01').innerText().catch(() => '')) === '● warning', 10_000)
    t.equal(await marker('web-01').getAttribute('href'), `#/alerts?event=${warning}`)

    await api.req('POST', `/api/v1/alerts/events/${warning}/resolve`, { token: api.adminToken, body: {} })
    await waitFor('no marker once nothing fires', async () => (await marker('web-01').count()) === 0, 10_000)
    await page.goto(`${api.url}/#/hosts/web-01`)
    await page.locator('#host-title').waitFor()
    await waitFor('the host page loaded', async () => (await page.locator('#card-cpu').innerText()) !== '–')
    t.ok(await page.locator('#host-alerts').isHidden(), 'no strip when nothing fires')
    t.same(pageErrors, [], 'no page errors')
  })
})
