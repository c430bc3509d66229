// The server backend when its database cannot be reached (runs in CI: `pg` over the wire bridge to an
// in-process PGlite, through a proxy the test cuts or silences): a refused connection and a connection lost
// inside a transaction both surface as the `unavailable` domain error (503 with Retry-After on every face),
// the process survives a connection dying between two statements, and the store works again once the
// database is back. A silent partition (bytes dropped, nothing reset) is answered 503 within the statement
// deadline, through the API: a statement caught in flight, /ready, ingest (a group's write caught in flight
// stores nothing; one whose answer is lost was stored, and sent again is stored once) and the alert evaluation loop, which pauses and resumes. The whole drill against
// a real TimescaleDB server is test/drills/database-outage.test.ts.
import t, { type Test } from 'tap'
import { sql } from 'kysely'
import { DomainError } from '../../services/errors/domain-error.ts'
import { openStore, storeOptionsFromConfig } from '../../services/store/open-store.ts'
import { prepareStore } from '../../services/store/prepare-store.ts'
import { isDatabaseUnavailable } from '../../services/store/database-unavailable.ts'
import { toErrorBody } from '../../services/http/errors.ts'
import { loadConfig } from '../../services/config/config.ts'
import { EvaluationLoop } from '../../services/alerting/evaluation-loop.ts'
import type { IngestBatch } from '../../contract/ingest-batch.ts'
import { TcpProxy } from '../../bench/tcp-proxy.ts'
import { makeBatch, rowCounts, startClient } from '../test-client.ts'
import { silentLog } from '../alerting/evaluation-helpers.ts'
import { bridgedServerBackend, RETENTION } from './backends.ts'

/** A wire bridge in front of the embedded engine, a proxy the test cuts or silences in front of it, and the proxy's URL. */
async function proxiedBridge(t: Test): Promise<{ proxy: TcpProxy; url: URL }> {
  const bridge = await bridgedServerBackend()
  t.teardown(() => bridge.dispose())
  const probe = await bridge.open()
  const bridgeUrl = new URL(probe.location)
  await probe.close()
  const proxy = new TcpProxy('127.0.0.1', Number(bridgeUrl.port))
  await proxy.start()
  t.teardown(() => proxy.close())
  const url = new URL(bridgeUrl)
  url.port = String(proxy.port)
  return { proxy, url }
}

t.test('a lost or refused database connection is "unavailable", never a crash', async (t) => {
  const { proxy, url } = await proxiedBridge(t)
  const store = await openStore({ backend: 'server', databaseUrl: url.toString(), poolSize: 1 })
  t.teardown(() => store.close().catch(() => {}))
  t.same((await sql<{ n: number }>`select 1::int as n`.execute(store.db)).rows, [{ n: 1 }], 'reachable through the proxy')

  // Cut between two statements of a transaction: the next statement fails; the process lives on.
  const inTransaction = store.db.transaction().execute(async (trx) => {
    await sql`select 1`.execute(trx)
    await proxy.cut()
    await new Promise((resolve) => setTimeout(resolve, 200))
    await sql`select 2`.execute(trx)
  })
  const lost = await inTransaction.then(() => undefined, (err: unknown) => err)
  t.ok(lost instanceof DomainError && lost.kind === 'unavailable', `a connection lost inside a transaction is unavailable (${(lost as Error)?.message})`)

  // Refused while the proxy is down.
  const refused = await sql`select 1`.execute(store.db).then(() => undefined, (err: unknown) => err)
  t.ok(refused instanceof DomainError && refused.kind === 'unavailable', `a refused connection is unavailable (${(refused as Error)?.message})`)
  t.ok(isDatabaseUnavailable(refused), 'and is recognised as such')
  const body = toErrorBody(refused as Error)
  t.match(body, { error: 'SERVICE_UNAVAILABLE', code: 503, details: { retry_after: Number } }, 'the native face answers 503 with retry_after')
  const pingError = await store.ping().then(() => undefined, (err: unknown) => err)
  t.ok(isDatabaseUnavailable(pingError), '/ready\'s ping fails as unavailable')

  // A statement that fails on its own is not "unavailable".
  await proxy.restore()
  let back = false
  for (let i = 0; i < 20 && !back; i++) {
    back = await sql`select 1`.execute(store.db).then(() => true, () => false)
    if (!back) await new Promise((resolve) => setTimeout(resolve, 250))
  }
  t.ok(back, 'the store works again once the database is back')
  const bad = await sql`select * from no_such_table`.execute(store.db).then(() => undefined, (err: unknown) => err)
  t.notOk(isDatabaseUnavailable(bad), `a statement's own error stays what it is (${(bad as Error)?.message})`)
  t.equal(toErrorBody(bad as Error).code, 500, 'and is not dressed up as 503')
})

/** Statements' deadline and the connect timeout in this test: small, so a silent partition costs seconds. */
const DEADLINE_MS = 1000
const CONNECT_MS = 1000
/** A request taking longer hangs: the test gives up on it rather than waiting out TCP. */
const GIVE_UP_MS = 8000
/**
 * How much later than the server's own give-up time (its deadlines) a 503 may come on a slow, busy machine:
 * half the test's give-up time. Every bound below stays under GIVE_UP_MS, so a request the deadlines do not end
 * fails its bound (and its 503) rather than passing by being answered late.
 */
const LATE_MS = GIVE_UP_MS / 2
/** The latest a 503 may come when the server should give up after `serverGiveUpMs`. */
const answeredBy = (serverGiveUpMs: number) => serverGiveUpMs + LATE_MS

interface Timed { status: number | 'no answer'; ms: number; retryAfter: string | null; body: any }

async function timed(url: string, init: RequestInit = {}): Promise<Timed> {
  const started = performance.now()
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(GIVE_UP_MS) })
    const text = await res.text()
    return { status: res.status, ms: performance.now() - started, retryAfter: res.headers.get('retry-after'), body: text ? JSON.parse(text) : undefined }
  } catch {
    return { status: 'no answer', ms: performance.now() - started, retryAfter: null, body: undefined }
  }
}

/** 503 with Retry-After in the error format, within `boundMs`. */
function assertUnavailable(t: Test, r: Timed, what: string, boundMs: number): void {
  t.equal(r.status, 503, `${what}: 503 (${r.status} after ${Math.round(r.ms)} ms)`)
  t.equal(r.retryAfter, '5', `${what}: with Retry-After`)
  t.match(r.body, { error: 'SERVICE_UNAVAILABLE', code: 503, details: { retry_after: 5 } }, `${what}: in the error format`)
  t.ok(r.ms < boundMs, `${what}: within ${boundMs} ms (${Math.round(r.ms)} ms)`)
}

t.test('a database gone silent (no reset) answers 503 within the deadline, stores nothing half and recovers', { timeout: 90_000 }, async (t) => {
  const { proxy, url } = await proxiedBridge(t)
  // The bridge serves one connection at a time: a pool of one.
  const cfg = loadConfig({ DATABASE_URL: url.toString(), DATABASE_POOL_SIZE: '1', DATABASE_QUERY_TIMEOUT: `${DEADLINE_MS}ms`, DATABASE_CONNECT_TIMEOUT: `${CONNECT_MS}ms` })
  const store = await openStore(storeOptionsFromConfig(cfg))
  t.teardown(() => store.close().catch(() => {}))
  await prepareStore(store, { retention: RETENTION })
  // No LISTEN connection beside the pool's one: the bridge would make it wait for the pool's to close.
  const api = await startClient(t, { rememberAgentKeys: false }, store)
  const agents = await Promise.all(['silent-a', 'silent-b', 'silent-c'].map((name) => api.createAgent(name)))
  const adminGet = (path: string) => timed(`${api.url}${path}`, { headers: { authorization: `Bearer ${api.adminToken}` } })
  const ingest = (apiKey: string, batch: IngestBatch) => timed(`${api.url}/api/v1/ingest`, {
    method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'application/json' }, body: JSON.stringify(batch),
  })
  t.equal((await ingest(agents[0].api_key, makeBatch())).status, 202, 'ingest works before the partition')
  const before = await rowCounts(store)

  // A statement already on a pooled connection when the partition starts: its answer never comes.
  const begun = proxy.silence(() => true)
  const read = await adminGet('/api/v1/agents')
  t.ok(await settlesWithin(begun, 0), 'the partition began with the request\'s first statement')
  assertUnavailable(t, read, 'a read caught in flight', answeredBy(DEADLINE_MS))
  t.ok(read.ms >= DEADLINE_MS - 50, `answered by the deadline, not by anything sooner (${Math.round(read.ms)} ms)`)

  // Still silent: /ready, and ingest, whose new connection never answers.
  const ready = await timed(`${api.url}/ready`)
  assertUnavailable(t, ready, '/ready', answeredBy(DEADLINE_MS))
  const silentIngest = await ingest(agents[0].api_key, makeBatch())
  assertUnavailable(t, silentIngest, 'ingest while silent', answeredBy(CONNECT_MS + DEADLINE_MS))

  // Healed: the pool comes back with no connection stuck on the partition.
  await proxy.restore()
  t.equal((await waitForStatus(() => adminGet('/api/v1/agents'), 200)).status, 200, 'reads work again once the partition heals')
  t.equal((await timed(`${api.url}/ready`)).status, 200, '/ready is 200 again')
  t.same(await rowCounts(store), before, 'the batch answered 503 stored nothing')
  // A connection stuck on the partition would answer 503 at the deadline; one slow moment of a loaded machine is
  // not that, so the time is bounded for the median.
  const healed: number[] = []
  for (let i = 0; i < 5; i++) {
    const r = await adminGet('/api/v1/agents')
    t.equal(r.status, 200, `request ${i + 1} after the partition: ${r.status} in ${Math.round(r.ms)} ms`)
    healed.push(r.ms)
  }
  const median = healed.sort((x, y) => x - y)[2]
  t.ok(median < DEADLINE_MS, `their median ${Math.round(median)} ms, under the ${DEADLINE_MS} ms deadline`)
  t.match(store.connections(), { max: 1, waiting: 0 }, 'nobody waits for a connection')
  t.ok(store.connections().open <= 1, `at most the pool's one connection is open (${store.connections().open})`)

  // Ingest caught in flight: the group's one statement (claim and rows) never reaches the database. Each
  // request of the group is answered 503; none of it is stored; sent again, each is stored once.
  const isWrite = (chunk: Buffer) => chunk.includes('insert into ingest_batches')
  const batches = agents.map(() => makeBatch())
  const inFlight = proxy.silence(isWrite)
  const caught = await Promise.all(agents.map((a, i) => ingest(a.api_key, batches[i])))
  t.ok(await settlesWithin(inFlight, 0), 'the partition began at the write')
  caught.forEach((r, i) => assertUnavailable(t, r, `ingest ${i + 1} of 3 caught in flight`, answeredBy(2 * CONNECT_MS + DEADLINE_MS)))
  await proxy.restore()
  await waitForStatus(() => timed(`${api.url}/ready`), 200)
  t.same(await rowCounts(store), before, 'nothing stored')
  const sent = await Promise.all(agents.map((a, i) => ingest(a.api_key, batches[i])))
  t.same(sent.map((r) => [r.status, r.body?.accepted_batches]), [[202, 1], [202, 1], [202, 1]], 'sent again, every batch is accepted')
  const stored = await rowCounts(store)
  t.equal(stored.ingest_batches - before.ingest_batches, 3, 'each batch stored once')
  t.equal(stored.metrics - before.metrics, batches.reduce((n, b) => n + b.metrics!.length, 0), 'with all its metrics')
  const again = await Promise.all(agents.map((a, i) => ingest(a.api_key, batches[i])))
  t.same(again.map((r) => r.body?.duplicate_batches), [1, 1, 1], 'a third time they are duplicates')
  t.same(await rowCounts(store), stored, 'and store nothing more')

  // Ingest done, its answer lost: the database stores the group, the API never hears so and answers 503.
  // The agents send again: each batch is acknowledged as a duplicate, and stored once.
  const late = agents.map(() => makeBatch())
  const answerLost = proxy.silence(isWrite, { deliver: true })
  const unanswered = await Promise.all(agents.map((a, i) => ingest(a.api_key, late[i])))
  t.ok(await settlesWithin(answerLost, 0), 'the partition began just after the write was sent')
  unanswered.forEach((r, i) => assertUnavailable(t, r, `ingest ${i + 1} of 3 with its answer lost`, answeredBy(2 * CONNECT_MS + DEADLINE_MS)))
  await proxy.restore()
  await waitForStatus(() => timed(`${api.url}/ready`), 200)
  const resent = await Promise.all(agents.map((a, i) => ingest(a.api_key, late[i])))
  // The group whose answer was lost is acknowledged as already stored; requests that queued behind it (not in
  // its group: how they group depends on timing) never reached the database and are stored now.
  t.same(resent.map((r) => [r.status, r.body?.accepted_batches + r.body?.duplicate_batches]), [[202, 1], [202, 1], [202, 1]], 'sent again, each batch is acknowledged')
  t.ok(resent.some((r) => r.body?.duplicate_batches === 1), `those of the group whose answer was lost as already stored (${resent.map((r) => r.body?.duplicate_batches).join(', ')} duplicates)`)
  const after = await rowCounts(store)
  t.equal(after.ingest_batches - stored.ingest_batches, 3, 'each batch stored once')
  t.equal(after.metrics - stored.metrics, late.reduce((n, b) => n + b.metrics!.length, 0), 'with all its metrics, once')

  // Alert evaluation: a cycle caught by the partition pauses evaluation, which resumes once it heals.
  const warnings: string[] = []
  const log = { ...silentLog as object, warn: (...args: unknown[]) => { warnings.push(String(args.find((a) => typeof a === 'string'))) } }
  const loop = new EvaluationLoop(store.db, log as never, undefined, { tickMs: 100 })
  loop.start()
  await sleep(300)
  await proxy.silence()
  const paused = await until(() => warnings.some((w) => w.startsWith('database unreachable: alert evaluation paused')), DEADLINE_MS + 3000)
  t.ok(paused, `evaluation paused (${warnings.join('; ') || 'no warning'})`)
  await proxy.restore()
  t.ok(await until(() => warnings.some((w) => w.startsWith('database reachable again')), 5000), 'and resumed once the partition healed')
  t.ok(await settlesWithin(loop.stop(), GIVE_UP_MS), 'the loop stops (its cycle is not stuck)')
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Whether `promise` settles within `ms` (the timer never outlives it). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([promise.then(() => true, () => true), late])
  } finally {
    clearTimeout(timer)
  }
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms
  while (!check() && performance.now() < end) await sleep(50)
  return check()
}

/** Retries `request` until it answers `status` (a healed pool may first meet a connection reset at the heal). */
async function waitForStatus(request: () => Promise<Timed>, status: number): Promise<Timed> {
  let r = await request()
  for (let i = 0; i < 20 && r.status !== status; i++) {
    await sleep(250)
    r = await request()
  }
  return r
}
