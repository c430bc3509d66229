// The web page as a user opens it (issue 20's "first paint of the fleet ≤ 1 s on this machine with 100
// agents"): 100 agents with 15 minutes of one-minute samples each, a logged-in tab in Debian's Chromium,
// then the fleet page loaded RUNS times. Per load, from the navigation's start: first contentful paint,
// every agent's row in the table, and every row's CPU figure filled in (the page's per-agent reads done).
//   npm run bench:web        (AGENTS=100 RUNS=10 CHROMIUM_PATH=/usr/bin/chromium)
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { chromium } from 'playwright-core'
import { BENCH_ADMIN, benchAgent, benchLogin, startBenchApi } from './bench-api.ts'
import { fmt, percentile, say } from './fleet-data.ts'

const AGENTS = Number(process.env.AGENTS ?? 100)
const RUNS = Number(process.env.RUNS ?? 10)
const MINUTES = 15
const TARGET_MS = 1000
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** One minute of an ordinary host: CPU, memory, load, a root filesystem, one interface. */
function batch(i: number, minutesAgo: number) {
  const cpu = 10 + ((i * 7 + minutesAgo * 3) % 70)
  return {
    batch_id: randomUUID(),
    time: new Date(Date.now() - minutesAgo * 60_000).toISOString(),
    host: { hostname: `web-${i}.example.com`, ip_address: `10.0.${i >> 8}.${i & 255}`, os: 'Debian', os_version: '12', agent_version: 'bench' },
    metrics: [
      { metric_type: 'cpu', metric_name: 'usage_percent', value: cpu }, { metric_type: 'cpu', metric_name: 'load_avg_1', value: cpu / 25 },
      { metric_type: 'memory', metric_name: 'usage_percent', value: 40 + (i % 40) },
    ],
    disks: [{ mount_point: '/', device: '/dev/sda1', filesystem: 'ext4', total_bytes: 100e9, used_bytes: 40e9 + i * 1e8, available_bytes: 60e9 - i * 1e8, usage_percent: 40 + i / 10 }],
    networks: [{ interface: 'eth0', bytes_sent: 1e9 - 1e6 * minutesAgo, bytes_recv: 2e9 - 2e6 * minutesAgo, packets_sent: 1000, packets_recv: 2000, errors_in: 0, errors_out: 0, drop_in: 0, drop_out: 0, is_up: true }],
    processes: [],
  }
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`)
  const dir = mkdtempSync(join(tmpdir(), 'hostpulse-bench-web-'))
  const api = await startBenchApi(dir)
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] })
  try {
    const token = await benchLogin(api.base)
    say(`loading ${AGENTS} agents × ${MINUTES} one-minute samples …`)
    for (let i = 0; i < AGENTS; i++) {
      const agent = await benchAgent(api.base, token, `web-${String(i).padStart(3, '0')}`)
      for (let m = MINUTES; m >= 1; m--) {
        const res = await fetch(`${api.base}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': agent.api_key }, body: JSON.stringify(batch(i, m)) })
        if (res.status !== 202) throw new Error(`ingest: ${res.status} ${await res.text()}`)
      }
      if ((i + 1) % 20 === 0) say(`  ${i + 1}/${AGENTS} agents`)
    }
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage()
    await page.goto(`${api.base}/#/`)
    await page.fill('#username', BENCH_ADMIN.username)
    await page.fill('#password', BENCH_ADMIN.password)
    await page.click('button[type=submit]')
    await page.waitForFunction((n) => document.querySelectorAll('#fleet-table tbody tr[data-agent]').length >= n, AGENTS, { timeout: 60_000 })

    const paints: number[] = []
    const rows: number[] = []
    const filled: number[] = []
    for (let run = 0; run <= RUNS; run++) {
      await page.reload({ waitUntil: 'commit' })
      await page.waitForFunction((n) => document.querySelectorAll('#fleet-table tbody tr[data-agent]').length >= n, AGENTS, { polling: 'raf', timeout: 30_000 })
      const rowsAt = await page.evaluate(() => performance.now())
      await page.waitForFunction(() => [...document.querySelectorAll('#fleet-table tbody td[data-col=cpu]')].every((td) => /%/.test(td.textContent ?? '')), undefined, { polling: 'raf', timeout: 30_000 })
      const filledAt = await page.evaluate(() => performance.now())
      const fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? Number.NaN)
      if (run === 0) continue // the first load after the login fills caches
      paints.push(fcp); rows.push(rowsAt); filled.push(filledAt)
      say(`  load ${run}/${RUNS}: first paint ${fmt(fcp)} ms, ${AGENTS} rows ${fmt(rowsAt)} ms, every CPU figure ${fmt(filledAt)} ms`)
    }
    const line = (what: string, xs: number[]) => `${what}: p50 ${fmt(percentile(xs, 0.5))} ms, p95 ${fmt(percentile(xs, 0.95))} ms`
      + ` (target ≤ ${fmt(TARGET_MS)} ms: ${(percentile(xs, 0.95) / TARGET_MS).toFixed(2)}× of it)`
    say('')
    say(`fleet page, ${AGENTS} agents, embedded store, ${RUNS} loads in Chromium`)
    say(line('  first contentful paint', paints))
    say(line(`  all ${AGENTS} rows in the table`, rows))
    say(line('  every row\'s CPU figure filled in', filled))
  } finally {
    await browser.close()
    await api.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err) => { console.error(err); process.exit(1) })
