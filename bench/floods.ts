// npm run bench:floods — floods and slow consumers at full size (issue 15 part 4; test/drills/floods.test.ts
// is the CI-sized drill): the API as operators run it (services/main.ts, embedded engine, the product's
// limits and timeouts) in a child process, a victim client doing normal requests throughout, and one flood at
// a time: 500 WebSocket clients that never read, one agent at 100× its rate and then past its budget, a 50 MiB
// body (announced and chunked), 10,000 connections that never send a byte. For each: the victim's p50/p99
// in ms and its p99 against the 1 s target, the server's RSS before, at peak and after in MiB.
//   --clients N (default 500)  --feed S (seconds the wide agent feeds them, default 30)
//   --runaway S (seconds at 100×, default 45)  --idle N (default 10000)  --body MiB (default 50)
//   --distinct-filters  also the worst case: each metrics client with a filter of its own
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FloodDrill, TARGET_P99_MS, describeCase, type Measured } from './flood-drill.ts'
import { fmt, say } from './fleet-data.ts'

const argOf = (name: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const CLIENTS = Number(argOf('clients') ?? 500)
const FEED_SECONDS = Number(argOf('feed') ?? 30)
const RUNAWAY_SECONDS = Number(argOf('runaway') ?? 45)
const IDLE = Number(argOf('idle') ?? 10_000)
const BODY_MIB = Number(argOf('body') ?? 50)
const DISTINCT_FILTERS = process.argv.includes('--distinct-filters')
/** The product's default (HTTP_REQUEST_TIMEOUT 120 s): Node's headersTimeout is min(it, 30 s). */
const HEADERS_TIMEOUT_SECONDS = 30
const SETTLE_MS = 5000
const MIN_VICTIM_MS = 5000

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-bench-floods-'))
  say(`hostpulse bench:floods — victim p99 target ${TARGET_P99_MS} ms; API (npm start, embedded engine) in a child process; Node ${process.version}`)
  const drill = await FloodDrill.start(join(dir, 'server'), '120s')
  const cases: Array<Measured<unknown>> = []
  const run = async <T>(name: string, flood: () => Promise<T>): Promise<Measured<T>> => {
    say(`\n${name} …`)
    const m = await drill.measure(name, flood, { settleMs: SETTLE_MS, minMs: MIN_VICTIM_MS })
    cases.push(m)
    say(`  ${describeCase(m)}`)
    return m
  }
  try {
    say(`API up, server RSS ${drill.rssMiB()} MiB`)
    await run('no flood (baseline)', () => new Promise((resolve) => setTimeout(resolve, 5000)))

    const ws = await run(`${fmt(CLIENTS)} never-reading WebSocket clients`, () => drill.neverReadingClients(CLIENTS, FEED_SECONDS))
    reportWs(ws.result)
    if (DISTINCT_FILTERS) {
      const worst = await run(`${fmt(CLIENTS)} never-reading WebSocket clients, each metrics client with its own filter`, () => drill.neverReadingClients(CLIENTS, FEED_SECONDS, true))
      reportWs(worst.result)
    }

    const runaway = await run(`one agent at 100× its rate for ${RUNAWAY_SECONDS} s, then past its budget`, () => drill.runawayAgent(RUNAWAY_SECONDS))
    const r = runaway.result
    say(`  ${fmt(r.sent)} realistic batches at one per 100 ms: ${JSON.stringify(r.statuses)}; then ${fmt(r.burst.accepted)} small ones accepted before ` +
      `${r.burst.status} ${r.burst.body?.error ?? ''} (Retry-After ${r.burst.retryAfter} s) — the per-key budget, 600 a minute, is 100× an agent's normal pace`)

    const body = await run(`${BODY_MIB} MiB bodies to POST /api/v1/ingest`, async () => ({
      'with Content-Length': await drill.hugeBody(BODY_MIB * 1024 * 1024, false),
      chunked: await drill.hugeBody(BODY_MIB * 1024 * 1024, true),
    }))
    for (const [how, b] of Object.entries(body.result)) {
      say(`  ${how}: ${b.status} ${b.body?.error ?? ''} after ${(b.ms / 1000).toFixed(2)} s, ${mib(b.sentBeforeAnswer)} of ${BODY_MIB} MiB sent when it came, Connection: ${b.connection}`)
    }

    const idle = await run(`${fmt(IDLE)} connections that never send a byte`, () => drill.idleConnections(IDLE, (HEADERS_TIMEOUT_SECONDS + 10) * 1000))
    const i = idle.result
    say(`  opened in ${i.openSeconds.toFixed(1)} s; the server closed ${fmt(i.closedByServer)} of ${fmt(i.opened)} between ${i.firstCloseSeconds.toFixed(1)} s and ` +
      `${i.lastCloseSeconds.toFixed(1)} s after (headersTimeout ${HEADERS_TIMEOUT_SECONDS} s), ${fmt(i.answered408)} with a 408`)

    const errors = await drill.serverErrors()
    say(`\nsummary (victim: GET /health, GET /api/v1/agents, an agent's ingest, one every 50 ms at most; RSS of the API process)`)
    say(`  ${'case'.padEnd(72)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'p99/1 s'.padStart(8)}   RSS before / peak / after MiB`)
    for (const c of cases) {
      say(`  ${c.name.padEnd(72)} ${c.victim.p50.toFixed(1).padStart(8)} ${c.victim.p99.toFixed(1).padStart(8)} ${(c.victim.p99 / TARGET_P99_MS).toFixed(3).padStart(8)}   ${c.rss.before} / ${c.rss.peak} / ${c.rss.after}`)
    }
    const failed = cases.reduce((n, c) => n + c.victim.failed, 0)
    const over = cases.filter((c) => c.victim.p99 >= TARGET_P99_MS).map((c) => c.name)
    say(`  5xx answered by the server: ${errors}; victim requests failed: ${failed}; cases over the target: ${over.length ? over.join(', ') : 'none'}`)
    say(`  API stopped with exit code ${await drill.stop()}`)
  } finally {
    drill.api.child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
}

function reportWs(r: Awaited<ReturnType<FloodDrill['neverReadingClients']>>): void {
  say(`  ${r.metricsClients} on /ws/metrics/:agent_id and ${r.liveClients} on /ws/live, upgraded in ${r.upgradeSeconds.toFixed(1)} s; ${r.ingests} ingests of 1,000 series ` +
    `pushed ${mib(r.readerBytes)} to a reading client (${r.readerGotLast ? 'it got the last one' : 'it MISSED the last one'}, ${r.readerDropNotices} drop notices): ` +
    `${fmt(r.readerBytes * r.metricsClients / 1024 / 1024)} MiB if every stuck client's copy were kept; dropped instead: ${fmt(r.dropped.metrics)} metrics and ` +
    `${fmt(r.dropped.live)} fleet messages; ${r.closedByServer} stuck clients closed by the server`)
}

await main()
