// Floods and slow consumers drill (issue 15 part 4), CI-sized: the API (`npm start`, embedded engine) in a
// child process, a victim client doing normal requests throughout (GET /health, GET /api/v1/agents, another
// agent's ingest), and one flood at a time: WebSocket clients that never read, one agent at 100× its rate,
// a 50 MiB body, connections that never send a byte. Each must leave the victim's p99 under 1 s, the
// server's RSS under a bound and back near where it was, and no request answered 5xx.
// `npm run bench:floods` runs the full size (500 clients, 10,000 connections).
import t from 'tap'
import type { Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FloodDrill, INGEST_BUDGET_PER_MINUTE, TARGET_P99_MS, VICTIM_MIN_REQUESTS, describeCase, type Measured } from '../../bench/flood-drill.ts'

const WS_CLIENTS = 100
/** The streams are fed this long, and longer while the victim still lacks its samples (bench/flood-drill.ts). */
const WS_FEED_SECONDS = 12
const RUNAWAY_SECONDS = 8
const BODY_BYTES = 50 * 1024 * 1024
const IDLE_CONNECTIONS = 2000
/** Node's headersTimeout is min(HTTP_REQUEST_TIMEOUT, 30 s): 10 s here keeps the drill short; production waits 30 s. */
const REQUEST_TIMEOUT_SECONDS = 10
const SETTLE_MS = 2000
/** The victim runs this long at least in each case: 100 samples or more, so its p99 is not just its maximum. */
const MIN_VICTIM_MS = 6000
/** The server's RSS may grow this much over its level before a flood, and must be back within the second bound after. */
const PEAK_GROWTH_MIB = 150
const AFTER_GROWTH_MIB = 100

const dir = await mkdtemp(join(tmpdir(), 'hostpulse-drill-floods-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const drill = await FloodDrill.start(join(dir, 'server'), `${REQUEST_TIMEOUT_SECONDS}s`)
t.teardown(() => { drill.api.child.kill('SIGKILL') })
const startRss = drill.rssMiB()

/** What every case must keep: the victim served in time and without failures, the server's memory bounded. */
function checkCase(t: Test, m: Measured<unknown>): void {
  t.comment(describeCase(m))
  t.ok(m.victim.requests >= VICTIM_MIN_REQUESTS, `the victim kept asking (${m.victim.requests} requests, ${VICTIM_MIN_REQUESTS} needed)`)
  t.ok(m.victim.p99 < TARGET_P99_MS, `victim p99 ${m.victim.p99.toFixed(1)} ms < ${TARGET_P99_MS} ms`)
  t.equal(m.victim.failed, 0, `every victim request answered, none 5xx (${JSON.stringify(m.victim.statuses)})`)
  t.ok(m.rss.peak - m.rss.before <= PEAK_GROWTH_MIB, `server RSS peak ${m.rss.peak} MiB within ${PEAK_GROWTH_MIB} MiB of ${m.rss.before} MiB`)
  t.ok(m.rss.after - m.rss.before <= AFTER_GROWTH_MIB, `server RSS back to ${m.rss.after} MiB, within ${AFTER_GROWTH_MIB} MiB of ${m.rss.before} MiB`)
}

t.test('baseline: the victim with no flood', async (t) => {
  checkCase(t, await drill.measure('no flood', () => Promise.resolve(), { settleMs: SETTLE_MS, minMs: MIN_VICTIM_MS }))
})

t.test(`${WS_CLIENTS} WebSocket clients that never read: the server drops their oldest messages instead of holding them`, async (t) => {
  const m = await drill.measure(`${WS_CLIENTS} never-reading WebSocket clients`, () => drill.neverReadingClients(WS_CLIENTS, WS_FEED_SECONDS), { settleMs: SETTLE_MS, minMs: MIN_VICTIM_MS })
  checkCase(t, m)
  const r = m.result
  const unbounded = r.readerBytes * r.metricsClients / 1024 / 1024
  t.comment(`${r.metricsClients} on /ws/metrics, ${r.liveClients} on /ws/live, upgraded in ${r.upgradeSeconds.toFixed(1)} s; ${r.ingests} ingests pushed ` +
    `${(r.readerBytes / 1024 / 1024).toFixed(1)} MiB (${r.readerMessages} messages) to a reading client: ${unbounded.toFixed(0)} MiB if every stuck client's copy were kept; ` +
    `${r.dropped.metrics} metrics and ${r.dropped.live} fleet messages dropped for the stuck clients`)
  t.ok(r.readerGotLast, 'the reading client beside them got every update, up to the last ingest\'s')
  t.equal(r.readerDropNotices, 0, 'and lost none of them')
  t.ok(unbounded > 3 * PEAK_GROWTH_MIB, `far more was pushed (${unbounded.toFixed(0)} MiB) than the server's RSS bound allows to hold`)
  t.ok(r.dropped.metrics > 0, 'the per-client queue bound was reached: messages were dropped, not held')
  t.equal(r.closedByServer, 0, 'the stuck clients are not disconnected for it (a dropped-messages notice awaits them)')
  t.equal(r.clientsGaugeAfterClose, 0, 'once they go, the server holds no connection for them')
})

t.test('one agent at 100× its normal rate, then past its budget', async (t) => {
  const m = await drill.measure('one agent at 100× its rate', () => drill.runawayAgent(RUNAWAY_SECONDS), { settleMs: SETTLE_MS, minMs: MIN_VICTIM_MS })
  checkCase(t, m)
  const r = m.result
  t.comment(`${r.sent} batches in ${RUNAWAY_SECONDS} s (one every 100 ms, 100× the 10 s default): ${JSON.stringify(r.statuses)}; ` +
    `then ${r.burst.accepted} more accepted before a ${r.burst.status} (Retry-After ${r.burst.retryAfter} s)`)
  // The per-key budget (600 a minute) is 100× an agent's normal pace: an agent at 100× is served in full.
  t.same(r.statuses, { 202: r.sent }, 'at 100× every batch is accepted')
  // Past it the agent is refused with 429 and Retry-After, which the agent honours (it keeps the batches and
  // retries later): the right answer, since it bounds what one agent, broken or hostile, costs everyone else.
  t.equal(r.burst.status, 429, 'past its budget the agent is answered 429')
  t.match(r.burst.body, { error: 'RATE_LIMITED', code: 429, message: String, details: { budget: 'ingest' } }, 'in the error format')
  t.ok(Number(r.burst.retryAfter) >= 1, `with Retry-After (${r.burst.retryAfter} s)`)
  t.equal(r.sent + r.burst.accepted, INGEST_BUDGET_PER_MINUTE, `refused exactly at its budget of ${INGEST_BUDGET_PER_MINUTE} a minute`)
})

t.test('a 50 MiB body to POST /api/v1/ingest: 413 in the error format, without reading it all', async (t) => {
  const m = await drill.measure('50 MiB bodies', async () => ({
    announced: await drill.hugeBody(BODY_BYTES, false),
    chunked: await drill.hugeBody(BODY_BYTES, true),
  }), { settleMs: SETTLE_MS, minMs: MIN_VICTIM_MS })
  checkCase(t, m)
  for (const [how, r] of Object.entries(m.result)) {
    t.comment(`${how}: ${r.status} after ${(r.ms / 1000).toFixed(2)} s, with ${(r.sentBeforeAnswer / 1024 / 1024).toFixed(1)} MiB of ${BODY_BYTES / 1024 / 1024} MiB sent`)
    t.equal(r.status, 413, `${how}: 413`)
    t.match(r.body, { error: 'PAYLOAD_TOO_LARGE', code: 413, message: String }, `${how}: in the error format`)
    t.same(Object.keys(r.body).filter((k) => !['error', 'message', 'code', 'details'].includes(k)), [], `${how}: nothing but error, message, code, details`)
    t.equal(r.connection, 'close', `${how}: the connection is closed, not drained`)
    t.ok(r.sentBeforeAnswer < BODY_BYTES, `${how}: answered before the body was all sent`)
  }
  t.ok(m.result.announced.sentBeforeAnswer < BODY_BYTES / 4, 'a Content-Length over the limit is refused before the body is read')
})

t.test(`${IDLE_CONNECTIONS} connections that never send a byte are closed, and the server keeps serving`, async (t) => {
  const m = await drill.measure(`${IDLE_CONNECTIONS} idle connections`, () => drill.idleConnections(IDLE_CONNECTIONS, (REQUEST_TIMEOUT_SECONDS + 8) * 1000), { settleMs: SETTLE_MS, minMs: MIN_VICTIM_MS })
  checkCase(t, m)
  const r = m.result
  t.comment(`${r.opened} opened in ${r.openSeconds.toFixed(1)} s; the server closed ${r.closedByServer} between ${r.firstCloseSeconds.toFixed(1)} s and ${r.lastCloseSeconds.toFixed(1)} s after ` +
    `(headersTimeout ${REQUEST_TIMEOUT_SECONDS} s), ${r.answered408} with a 408`)
  t.equal(r.closedByServer, r.opened, 'the server closed every one of them')
  t.ok(r.lastCloseSeconds <= REQUEST_TIMEOUT_SECONDS + 3, `within the headers timeout (${REQUEST_TIMEOUT_SECONDS} s) and Node's 1 s check`)
  t.equal(r.answered408 + r.silent, r.opened, 'each with a 408 or nothing')
})

t.test('no request was answered 5xx; the API stops cleanly', async (t) => {
  t.equal(await drill.serverErrors(), 0, 'the server\'s own request histogram counts no 5xx')
  const endRss = drill.rssMiB()
  t.comment(`server RSS ${startRss} MiB after start, ${endRss} MiB at the end`)
  t.equal(await drill.stop(), 0, 'SIGINT stops it with exit code 0')
})
