// The host page's top processes in a real Chromium (Debian's, driven by playwright-core) against the real
// API on an embedded TimescaleDB, with known data: each process by pid (two redis processes are two rows),
// by CPU and by memory, averages and peaks; grouping by name says it groups; a 30-day range reads the hourly
// aggregate, which keeps names only, and the panel says so; by disk I/O, where only the redis processes report
// their I/O (the others' is unreadable to the agent), and the process tree's Disk I/O column with its subtree total.
import t from 'tap'
import { haveChromium, logIn, openBrowser } from './chromium.ts'
import { makeBatch, minutesAgo, proc, startClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'

const MiB = 1024 * 1024

t.test('top processes on the host page in Chromium', { timeout: 150_000 }, async (t) => {
  if (!haveChromium(t)) return
  const api = await startClient(t)
  const web = await api.createAgent('web-01')
  // Four snapshots a minute apart: java steady at 30 %, nginx 10→40 %, two redis processes at 5 % and 15 %.
  for (const s of [0, 1, 2, 3]) {
    await api.ingestOk(web.api_key, makeBatch({
      time: minutesAgo(4 - s),
      processes: [
        proc(1, 'systemd', { parent_pid: 0, cpu_percent: 0, memory_bytes: 10 * MiB }),
        proc(20, 'java', { parent_pid: 1, cpu_percent: 30, memory_bytes: (500 + 100 * s) * MiB, cmdline: 'java -jar app.jar', username: 'app' }),
        proc(10, 'nginx', { parent_pid: 1, cpu_percent: 10 * (s + 1), memory_bytes: 100 * MiB, cmdline: 'nginx: master', username: 'www' }),
        proc(40, 'redis', { parent_pid: 1, cpu_percent: 5, memory_bytes: 200 * MiB, cmdline: 'redis-server :6379', read_bytes_per_sec: 0, write_bytes_per_sec: 2 * MiB, open_fds: 40 }),
        proc(41, 'redis', { parent_pid: 1, cpu_percent: 15, memory_bytes: 300 * MiB, cmdline: 'redis-server :6380', read_bytes_per_sec: MiB, write_bytes_per_sec: 0, open_fds: 30 }),
      ],
    }))
  }

  const { page, pageErrors } = await openBrowser(t, { width: 1280, height: 900 })
  const rows = () => page.locator('#top-processes tbody tr[data-name]').evaluateAll((rs) => rs.map((r) => [...r.children].slice(0, 6).map((c) => (c as HTMLElement).innerText.trim()).join(' | ')))

  await t.test('each process by pid, by CPU then by memory', async (t) => {
    await page.goto(`${api.url}/#/hosts/web-01`)
    await logIn(page)
    await waitFor('the top processes', async () => (await rows()).length === 5)
    const byCpu = await rows()
    t.match(byCpu[0], /^java \| 20 \| app \| .+ \| 30\.0 % \| 30\.0 %$/, 'java first: 30 % on average and at peak')
    t.match(byCpu[1], /^nginx \| 10 \| www \| .+ \| 25\.0 % \| 40\.0 %$/, 'nginx: 25 % on average, 40 % at peak')
    t.same(byCpu.slice(2, 4).map((r) => r.split(' | ').slice(0, 2).join(' ')), ['redis 41', 'redis 40'], 'the two redis processes, each with its pid')
    t.match(await page.locator('#top-note').innerText(), /each process by pid and start time/)
    await page.selectOption('#top-by', 'memory')
    await waitFor('by memory', async () => /MiB/.test((await rows())[0] ?? ''))
    t.match((await rows())[0], /650 MiB \| 800 MiB$/, 'java\'s average and peak resident memory')
  })

  await t.test('grouped by name, and a 30-day range (the hourly aggregate keeps names only) says it groups', async (t) => {
    await page.selectOption('#top-by', 'cpu')
    await page.check('#top-group')
    await waitFor('grouped by name', async () => (await rows()).length === 4)
    const grouped = await rows()
    t.match(grouped.find((r) => r.startsWith('redis')) ?? '', /^redis \| \((40|41)\) \| .* \| – \| 10\.0 % \| 15\.0 %$/, 'one redis row: both processes averaged together, the newest pid shown as such')
    t.match(await page.locator('#top-note').innerText(), /every process of a name together/)
    await page.uncheck('#top-group')
    await waitFor('per process again', async () => (await rows()).length === 5)
    await page.click('button[data-range="30d"]')
    await waitFor('the 30-day answer', async () => /over the last 30 days/.test(await page.locator('#top-note').innerText()))
    t.match(await page.locator('#top-note').innerText(), /every process of a name together \(ranges this long are read from the hourly aggregate, which keeps names only\)/)
    t.equal(await page.locator('#top-processes-panel').getAttribute('data-group'), 'name')
  })

  await t.test('by disk I/O, and the tree\'s Disk I/O column', async (t) => {
    await page.click('button[data-range="1h"]')
    await page.selectOption('#top-by', 'disk_io')
    await waitFor('by disk I/O', async () => /MiB\/s/.test((await rows())[0] ?? ''))
    const byIo = await rows()
    t.match(byIo[0], /^redis \| 40 \| .* \| 2\.0 MiB\/s \| 2\.0 MiB\/s$/, 'redis :6379 writes 2 MiB/s')
    t.match(byIo[1], /^redis \| 41 \| .* \| 1\.0 MiB\/s \| 1\.0 MiB\/s$/, 'redis :6380 reads 1 MiB/s')
    t.match(byIo[2], /– \| –$/, 'a process whose I/O was not readable shows –, ranked last')
    t.match(await page.locator('#top-note').innerText(), /disk I\/O \(bytes read and written per second\)/)
    const io = (pid: number) => page.locator(`#process-table tr[data-pid="${pid}"] td[data-col=io]`).innerText()
    await page.locator('#process-table tr[data-pid="41"]').waitFor()
    t.equal(await io(40), '2.0 MiB/s')
    t.equal(await io(41), '1.0 MiB/s')
    t.equal(await io(20), '–', 'java: not readable')
    await page.click('#process-table button[data-pid="1"]')
    await waitFor('systemd collapsed', async () => (await page.getAttribute('#process-table button[data-pid="1"]', 'aria-expanded')) === 'false')
    t.equal(await io(1), 'Σ 3.0 MiB/s', 'a collapsed parent sums its subtree\'s I/O')
    t.same(pageErrors, [], 'no page errors')
  })
})
