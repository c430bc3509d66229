// Process history on the host page in a real Chromium against the real API (issue 17, the page's part): the
// starts and exits over the range; a time there opens the tree as it was then, and the address keeps the
// instant (a reload shows the same tree); the tree's own time control and Latest; a click on a chart opens
// the tree at that moment; a span dragged across the CPU chart lists the processes that used it, by CPU and
// by memory. Screenshots: .tap/screenshots/host-process-history/.
import t from 'tap'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { haveChromium, logIn, openBrowser } from './chromium.ts'
import { makeBatch, metric, minutesAgo, proc, startClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'

const SCREENSHOTS = fileURLToPath(new URL('../../.tap/screenshots/host-process-history/', import.meta.url))
const MiB = 1024 * 1024

t.test('process history on the host page, in Chromium', { timeout: 150_000 }, async (t) => {
  if (!haveChromium(t)) return
  mkdirSync(SCREENSHOTS, { recursive: true })
  const api = await startClient(t)
  const web = await api.createAgent('web-01')
  // Six snapshots a minute apart; backup (pid 200) runs in the second to the fourth, at 80 % CPU and 2 GiB.
  const now = Date.now()
  const S = (i: number) => minutesAgo(6 - i, now)
  const BOOT = minutesAgo(600, now)
  const NGINX = minutesAgo(300, now)
  for (let i = 0; i < 6; i++) {
    const backup = i >= 1 && i <= 3
    await api.ingestOk(web.api_key, makeBatch({
      time: S(i),
      metrics: [metric('cpu', 'usage_percent', backup ? 85 : 10)],
      processes: [
        proc(1, 'systemd', { parent_pid: 0, cpu_percent: 0, memory_bytes: 10 * MiB, create_time: BOOT }),
        proc(100, 'nginx', { parent_pid: 1, cpu_percent: 5, memory_bytes: 100 * MiB, create_time: NGINX, cmdline: 'nginx: master' }),
        ...(backup ? [proc(200, 'backup', { parent_pid: 1, cpu_percent: 80, memory_bytes: 2048 * MiB, create_time: new Date(Date.parse(S(1)) - 5000).toISOString(), cmdline: '/usr/bin/backup --all' })] : []),
      ],
    }))
  }
  const { page, pageErrors } = await openBrowser(t, { width: 1280, height: 1000 })
  const treePids = () => page.locator('#process-table tbody tr[data-pid]').evaluateAll((rs) => rs.map((r) => Number((r as HTMLElement).dataset.pid)).sort((a, b) => a - b))
  const hasBackup = async () => (await treePids()).includes(200)

  await t.test('starts and exits over the range; a time opens the tree then, and the address keeps it', async (t) => {
    await page.goto(`${api.url}/#/hosts/web-01`)
    await logIn(page)
    const started = page.locator('#process-changes tr[data-kind=started][data-name=backup]')
    const exited = page.locator('#process-changes tr[data-kind=exited][data-name=backup]')
    await started.waitFor()
    await exited.waitFor()
    t.match(await started.innerText(), /started[\s\S]*backup[\s\S]*200[\s\S]*80\.0 %[\s\S]*2\.0 GiB[\s\S]*\/usr\/bin\/backup --all/)
    t.match(await page.locator('#changes-note').innerText(), /1 process started or exited in the last 1 hour/)
    await waitFor('the latest tree', async () => (await treePids()).length === 2)
    t.notOk(await hasBackup(), 'backup is gone from the latest snapshot')
    await page.screenshot({ path: `${SCREENSHOTS}changes.png`, fullPage: true })

    await started.locator('button[data-at]').click()
    await waitFor('the tree as it was when backup started', hasBackup)
    t.match(await page.locator('#process-status').innerText(), /as it was at/)
    t.match(page.url(), /#\/hosts\/web-01\?at=/, 'the address keeps the instant')
    t.ok(await page.locator('#process-latest').isVisible(), 'Latest offered')
    const shared = page.url()
    await page.reload()
    await waitFor('the shared link shows the same tree', hasBackup)
    t.equal(page.url(), shared)
    t.ok((await page.inputValue('#process-at')).length > 0, 'the time control shows the instant')
  })

  await t.test('the tree\'s own time control, and Latest', async (t) => {
    const local = (iso: string) => { const d = new Date(iso); return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 19) }
    await page.fill('#process-at', local(new Date(Date.parse(S(0)) + 30_000).toISOString()))
    await page.locator('#process-at').dispatchEvent('change')
    await waitFor('before backup', async () => (await treePids()).length === 2 && /as it was at/.test(await page.locator('#process-status').innerText()))
    await page.fill('#process-at', local(new Date(Date.parse(S(2)) + 30_000).toISOString()))
    await page.locator('#process-at').dispatchEvent('change')
    await waitFor('while backup ran', hasBackup)
    await page.click('#process-latest')
    await waitFor('the latest again', async () => (await treePids()).length === 2 && !/as it was/.test(await page.locator('#process-status').innerText()))
    t.notMatch(page.url(), /\?at=/, 'the address drops the instant')
  })

  const plot = page.locator('figure[data-chart=cpu] .u-over')
  await t.test('a click on the CPU chart opens the tree at that moment', async (t) => {
    await plot.waitFor()
    await plot.scrollIntoViewIfNeeded()
    const box = (await plot.boundingBox())!
    await page.mouse.click(box.x + box.width * 0.5, box.y + box.height / 2)
    await waitFor('the tree at the clicked moment', async () => /\?at=/.test(page.url()) && /as it was at/.test(await page.locator('#process-status').innerText()))
    const at = Date.parse(decodeURIComponent(new URL(page.url()).hash.split('at=')[1]))
    t.ok(at > Date.parse(S(0)) - 120_000 && at < Date.now(), `an instant inside the chart (${new Date(at).toISOString()})`)
    await page.click('#process-latest')
  })

  await t.test('a span dragged across the CPU chart lists the processes that used it', async (t) => {
    await plot.scrollIntoViewIfNeeded()
    const box = (await plot.boundingBox())!
    await page.mouse.move(box.x + 3, box.y + box.height / 2)
    await page.mouse.down()
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 5 })
    await page.mouse.move(box.x + box.width - 3, box.y + box.height / 2, { steps: 5 })
    await page.mouse.up()
    const rows = page.locator('#span-blame tbody tr[data-name]')
    await waitFor('who used it', async () => (await rows.count()) >= 2)
    t.ok(await page.locator('#span-panel').isVisible())
    t.same(await rows.evaluateAll((rs) => rs.map((r) => (r as HTMLElement).dataset.name)), ['backup', 'nginx', 'systemd'], 'backup used most of the CPU')
    t.match(await rows.first().innerText(), /backup[\s\S]*(8\d|9\d)\.\d %[\s\S]*CPU-s/, 'its share and CPU-seconds')
    t.equal(await page.inputValue('#span-metric'), 'cpu', 'the CPU chart asks by CPU')
    await page.selectOption('#span-metric', 'memory')
    await waitFor('by memory', async () => /h$/.test((await rows.first().innerText()).split('\t')[2] ?? ''))
    t.equal(await rows.first().getAttribute('data-name'), 'backup', 'and by memory too')
    await page.screenshot({ path: `${SCREENSHOTS}span.png`, fullPage: true })
  })

  t.same(pageErrors, [], 'no uncaught errors on the page')
  t.comment(`screenshots: ${SCREENSHOTS}`)
})
