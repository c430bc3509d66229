// Delivery and the disk buffer end to end, against a real HTTP server on 127.0.0.1.
import t from 'tap'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { RejectedBatches } from '../../agent/buffer/rejected-batches.ts'
import { startAgent, type AgentOptions } from '../../agent/run-agent.ts'
import { bufferedIds, IngestServer, logRecorder, tempDir, waitFor } from './ingest-server.ts'

const API_KEY = 'test-key-123'

/** An agent that never ticks on its own (tests call collectNow) and retries fast. */
function agentOptions(serverUrl: string, dataDir: string, log: AgentOptions['log'], extra: Partial<AgentOptions> = {}): AgentOptions {
  return { serverUrl, apiKey: API_KEY, dataDir, log, intervalMs: 3_600_000, backoff: { baseMs: 50, capMs: 200 }, stopGraceMs: 300, ...extra }
}

/**
 * How much later than the server's Retry-After a retry may come on a slow, busy machine. The lower bound (not
 * before the time asked) is the defect these tests look for and has no slack; the upper one only catches a
 * retry far past the time asked.
 */
const RETRY_SLACK_MS = 5000

const segmentFiles = async (dataDir: string) => (await readdir(join(dataDir, 'buffer'))).filter(n => n.endsWith('.jsonl'))

t.test('server down: batches go to disk; server up: replayed in order, each once, files deleted', async t => {
  const dataDir = await tempDir(t)
  const port = await IngestServer.freePort()
  const { lines, log } = logRecorder()
  const agent = await startAgent(agentOptions(`http://127.0.0.1:${port}`, dataDir, log))
  t.teardown(() => agent.stop())

  for (let i = 0; i < 3; i++) await agent.collectNow()
  const buffered = await bufferedIds(join(dataDir, 'buffer'))
  t.equal(buffered.length, 3, 'three batches on disk')
  t.match(lines.join('\n'), /warn cannot deliver to http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); buffering to disk/)

  const server = await new IngestServer(port).start()
  t.teardown(() => server.stop())
  await waitFor(() => server.accepted.length >= 3, 'the buffer to be replayed')
  t.same(server.accepted, buffered, 'replayed oldest first, each batch_id exactly once')
  t.ok(server.requests.every(r => r.apiKey === API_KEY), 'X-API-Key sent')
  t.ok(server.requests.some(r => r.isArray), 'replay uses the array body')
  await waitFor(async () => (await segmentFiles(dataDir)).length === 0, 'buffer files to be deleted')

  await agent.collectNow()
  t.equal(server.accepted.length, 4, 'once online, a new batch is sent directly')
  t.equal(server.requests.at(-1)!.isArray, false, 'as a single object')
  t.same(await segmentFiles(dataDir), [])
  t.match(lines.join('\n'), /info server reachable again/)
})

t.test('a 400 answer sets the batch aside: kept in rejected/, logged once, never retried', async t => {
  const dataDir = await tempDir(t)
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  server.respond = () => ({ status: 400, body: { message: 'body/metrics/0/metric_name must match pattern' } })
  const { lines, log } = logRecorder()
  const agent = await startAgent(agentOptions(server.url, dataDir, log))
  t.teardown(() => agent.stop())
  await agent.collectNow()
  t.equal(server.requests.length, 1, 'sent once')
  t.same(await segmentFiles(dataDir), [], 'not queued for a retry')
  const aside = await new RejectedBatches(join(dataDir, 'rejected')).list()
  t.equal(aside.length, 1, 'set aside on disk')
  t.same(aside[0].batch.batch_id, server.requests[0].batchIds[0])
  t.equal(aside[0].status, 400)
  t.equal(aside[0].message, 'body/metrics/0/metric_name must match pattern')
  t.match(lines.join('\n'), /warn server rejected batch [0-9a-f-]+ \(HTTP 400: body\/metrics\/0\/metric_name must match pattern\); set it aside in .*rejected.*, not retried/)

  await agent.collectNow()
  t.equal(server.requests.length, 2, 'the next batch is still sent (a 400 is not an outage)')
  await new Promise(r => setTimeout(r, 600)) // longer than the test backoff cap: a retry would have happened
  t.equal(server.requests.length, 2, 'neither batch was sent again')
  t.same(server.requests.map(r => r.batchIds[0]).length, new Set(server.requests.map(r => r.batchIds[0])).size, 'two distinct batches')
  t.equal(lines.filter(l => l.startsWith('warn server rejected')).length, 1, 'the same error is logged once at warn level')
  t.equal((await new RejectedBatches(join(dataDir, 'rejected')).list()).length, 2)
})

t.test('a rejected replay array is split so only the bad batch is lost', async t => {
  const dataDir = await tempDir(t)
  const port = await IngestServer.freePort()
  const { log } = logRecorder()
  const agent = await startAgent(agentOptions(`http://127.0.0.1:${port}`, dataDir, log))
  t.teardown(() => agent.stop())
  for (let i = 0; i < 5; i++) await agent.collectNow()
  const ids = await bufferedIds(join(dataDir, 'buffer'))
  const bad = ids[1]
  const server = new IngestServer(port)
  server.respond = batches => (batches.some(b => b.batch_id === bad) ? { status: 400, body: { message: 'bad batch' } } : { status: 202 })
  await server.start()
  t.teardown(() => server.stop())
  await waitFor(async () => (await segmentFiles(dataDir)).length === 0, 'the buffer to drain')
  t.same(server.accepted, ids.filter(id => id !== bad), 'every good batch arrived once, in order')
})

t.test('401/403: keeps buffering and logs a clear line about the key', async t => {
  const dataDir = await tempDir(t)
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  server.respond = () => ({ status: 401, body: { message: 'invalid API key' } })
  const { lines, log } = logRecorder()
  // A refused key waits the full cap before the next try; make the cap long enough to observe that.
  const agent = await startAgent(agentOptions(server.url, dataDir, log, { backoff: { baseMs: 50, capMs: 10_000 } }))
  t.teardown(() => agent.stop())
  await agent.collectNow()
  await agent.collectNow()
  t.equal((await bufferedIds(join(dataDir, 'buffer'))).length, 2, 'both batches kept on disk')
  t.match(lines.join('\n'), /error server refused the API key \(HTTP 401: invalid API key\); keeping batches on disk\. Fix: set a valid key in HOSTPULSE_API_KEY/)
  t.equal(server.requests.length, 1, 'no hammering: the second batch waits for the retry')
})

t.test('5xx answers are retried later, not dropped', async t => {
  const dataDir = await tempDir(t)
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  let failures = 2
  server.respond = () => (failures-- > 0 ? { status: 503, body: { message: 'database starting' } } : { status: 202 })
  const { lines, log } = logRecorder()
  const agent = await startAgent(agentOptions(server.url, dataDir, log))
  t.teardown(() => agent.stop())
  await agent.collectNow()
  const [id] = await bufferedIds(join(dataDir, 'buffer'))
  await waitFor(() => server.accepted.length === 1, 'the retry to succeed')
  t.same(server.accepted, [id])
  t.match(lines.join('\n'), /HTTP 503 database starting/)
})

t.test('an answer about the address, not the batch (a redirect, 404, 405), is an outage: batches are kept, not set aside', async t => {
  const answers: Array<[number, Record<string, string>]> = [[301, { location: 'https://monitor.example/api/v1/ingest' }], [302, { location: '/login' }], [404, {}], [405, {}]]
  for (const [status, headers] of answers) {
    const dataDir = await tempDir(t)
    const server = await new IngestServer(await IngestServer.freePort()).start()
    t.teardown(() => server.stop())
    let wrong = 2
    server.respond = () => (wrong-- > 0 ? { status, headers, body: { message: 'somewhere else' } } : { status: 202 })
    const { lines, log } = logRecorder()
    const agent = await startAgent(agentOptions(server.url, dataDir, log))
    t.teardown(() => agent.stop())
    await agent.collectNow()
    const [id] = await bufferedIds(join(dataDir, 'buffer'))
    t.ok(id, `HTTP ${status}: the batch is on disk`)
    await waitFor(() => server.accepted.length === 1, `HTTP ${status}: the retry to succeed`)
    t.same(server.accepted, [id], `HTTP ${status}: delivered once the address answers`)
    t.same(await new RejectedBatches(join(dataDir, 'rejected')).list(), [], `HTTP ${status}: nothing set aside`)
    const why = lines.find((l) => l.includes(`HTTP ${status} from`)) ?? ''
    t.match(why, /not hostpulse's ingest endpoint; check --server/, `HTTP ${status}: the log says what to fix`)
    if ('location' in headers) t.match(why, `redirected to ${headers.location}`, `HTTP ${status}: and where it was sent`)
    await agent.stop()
  }
})

t.test('a replay too large to send within the request timeout (a slow uplink) is sent in smaller requests', async t => {
  const dataDir = await tempDir(t)
  const port = await IngestServer.freePort()
  const { lines, log } = logRecorder()
  const agent = await startAgent(agentOptions(`http://127.0.0.1:${port}`, dataDir, log, { requestTimeoutMs: 400 }))
  t.teardown(() => agent.stop())
  for (let i = 0; i < 10; i++) await agent.collectNow()
  const buffered = await bufferedIds(join(dataDir, 'buffer'))
  t.equal(buffered.length, 10, 'ten batches buffered during the outage')
  // More than three batches in one request never finish uploading within the timeout.
  const server = new IngestServer(port)
  server.respond = (batches) => (batches.length > 3 ? 'hang' : { status: 202 })
  await server.start()
  t.teardown(() => server.stop())
  await waitFor(() => server.accepted.length >= 10, 'the replay in smaller requests', 15_000)
  t.same(server.accepted, buffered, 'every batch delivered once, in order')
  t.ok(server.requests.filter((r) => r.batchIds.length <= 3 && r.isArray).length >= 4, 'in requests of at most three batches')
  t.match(lines.join('\n'), /a replay of 10 batches timed out; sending at most 5 a request/, 'the log says why')
})

t.test('a replay that times out part way does not upload again what the server already took', async t => {
  const dataDir = await tempDir(t)
  const port = await IngestServer.freePort()
  const { log } = logRecorder()
  const agent = await startAgent(agentOptions(`http://127.0.0.1:${port}`, dataDir, log, { requestTimeoutMs: 400 }))
  t.teardown(() => agent.stop())
  for (let i = 0; i < 6; i++) await agent.collectNow()
  const buffered = await bufferedIds(join(dataDir, 'buffer'))
  // The whole segment times out; then three are taken, and the next three time out.
  const server = new IngestServer(port)
  let request = 0
  server.respond = () => (++request === 1 || request === 3 ? 'hang' : { status: 202 })
  await server.start()
  t.teardown(() => server.stop())
  await waitFor(() => server.accepted.length >= 6, 'the whole replay', 15_000)
  t.same(server.accepted, buffered, 'every batch delivered once, in order')
  const uploads = server.requests.flatMap((r) => r.batchIds)
  for (const id of buffered.slice(0, 3)) t.equal(uploads.filter((u) => u === id).length, 2, 'one of the first three: in the timed-out whole, then once taken, never again')
})

t.test('stop() during an outage keeps the batch on disk; the next agent with that data dir sends it', async t => {
  const dataDir = await tempDir(t)
  const port = await IngestServer.freePort()
  const first = await startAgent(agentOptions(`http://127.0.0.1:${port}`, dataDir, logRecorder().log))
  await first.collectNow()
  await first.stop()
  const left = await bufferedIds(join(dataDir, 'buffer'))
  t.equal(left.length, 1, 'the batch outlived the agent')

  const server = await new IngestServer(port).start()
  t.teardown(() => server.stop())
  const second = await startAgent(agentOptions(server.url, dataDir, logRecorder().log))
  t.teardown(() => second.stop())
  await waitFor(() => server.accepted.length === 1, 'the new agent to replay at start')
  t.same(server.accepted, left)
  await waitFor(async () => (await segmentFiles(dataDir)).length === 0, 'buffer files to be deleted')
})

t.test('stop() while the server hangs aborts after the grace period and keeps the batch', async t => {
  const dataDir = await tempDir(t)
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  server.respond = () => 'hang'
  const agent = await startAgent(agentOptions(server.url, dataDir, logRecorder().log))
  const pending = agent.collectNow()
  await waitFor(() => server.requests.length === 1, 'the request to reach the server')
  const t0 = Date.now()
  await agent.stop()
  await pending
  t.ok(Date.now() - t0 < 2000, 'stop() did not wait for the request timeout')
  t.same(await bufferedIds(join(dataDir, 'buffer')), server.requests[0].batchIds, 'the in-flight batch is on disk')
})

t.test('startAgent refuses bad options with the fix in the message', async t => {
  const dataDir = await tempDir(t)
  await t.rejects(startAgent({ serverUrl: 'localhost:8080', apiKey: 'k', dataDir }), /must start with http:\/\/ or https:\/\//)
  await t.rejects(startAgent({ serverUrl: 'http://127.0.0.1:1', apiKey: '', dataDir }), /no API key/)
})

t.test('429 with Retry-After in seconds: the retry waits as long as the server asked', async t => {
  const dataDir = await tempDir(t)
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  let first = true
  server.respond = () => {
    if (!first) return { status: 202 }
    first = false
    return { status: 429, body: { message: 'slow down' }, headers: { 'retry-after': '2' } }
  }
  const { lines, log } = logRecorder()
  const agent = await startAgent(agentOptions(server.url, dataDir, log))
  t.teardown(() => agent.stop())
  await agent.collectNow()
  await waitFor(() => server.accepted.length === 1, 'the retry after Retry-After', 2000 + RETRY_SLACK_MS + 5000)
  const waited = server.arrivals[1] - server.arrivals[0]
  t.ok(waited >= 2000, `waited ${waited} ms, at least the 2 s asked (own backoff would be ≤ 200 ms)`)
  t.ok(waited < 2000 + RETRY_SLACK_MS, `and not much longer (${waited} ms)`)
  t.equal(server.requests.length, 2, 'no request in between')
  t.same(server.accepted, server.requests[0].batchIds, 'the same batch, delivered once')
  t.match(lines.join('\n'), /HTTP 429 slow down, server asked to retry after 2 s/)
})

t.test('503 with Retry-After as an HTTP date is honoured too', async t => {
  const dataDir = await tempDir(t)
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  let retryAt = 0
  server.respond = () => {
    if (retryAt) return { status: 202 }
    // HTTP dates have whole seconds: ask for the start of the second after next.
    retryAt = (Math.floor(Date.now() / 1000) + 2) * 1000
    return { status: 503, body: { message: 'maintenance' }, headers: { 'retry-after': new Date(retryAt).toUTCString() } }
  }
  const agent = await startAgent(agentOptions(server.url, dataDir, logRecorder().log))
  t.teardown(() => agent.stop())
  await agent.collectNow()
  await waitFor(() => server.accepted.length === 1, 'the retry at the given date', 3000 + RETRY_SLACK_MS + 5000)
  t.ok(server.arrivals[1] >= retryAt, `retried ${server.arrivals[1] - retryAt} ms after the date the server gave, not before`)
  t.ok(server.arrivals[1] - retryAt < RETRY_SLACK_MS, 'and not much later')
})

t.test("Retry-After as an HTTP date is read against the server's clock (its Date header), not the agent's", async t => {
  const dataDir = await tempDir(t)
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  let answered = false
  server.respond = () => {
    if (answered) return { status: 202 }
    answered = true
    // The server's clock is an hour behind the agent's; it asks for 3 s of its own time.
    const serverNow = Math.floor(Date.now() / 1000) * 1000 - 3_600_000
    return { status: 503, body: { message: 'maintenance' }, headers: { date: new Date(serverNow).toUTCString(), 'retry-after': new Date(serverNow + 3000).toUTCString() } }
  }
  const agent = await startAgent(agentOptions(server.url, dataDir, logRecorder().log))
  t.teardown(() => agent.stop())
  await agent.collectNow()
  await waitFor(() => server.accepted.length === 1, 'the retry', 3000 + RETRY_SLACK_MS + 5000)
  const waited = server.arrivals[1] - server.arrivals[0]
  t.ok(waited >= 2900, `retried ${waited} ms after the 503: the 3 s the server asked for, not at once`)
  t.ok(waited < 3000 + RETRY_SLACK_MS, 'and not much later')
})

t.test('queue bound during an outage: oldest batches dropped and counted, the rest delivered once in order', async t => {
  const dataDir = await tempDir(t)
  const port = await IngestServer.freePort()
  const { lines, log } = logRecorder()
  // Real batches are tens of KB (the process list); 160 KB holds only a few of them.
  const agent = await startAgent(agentOptions(`http://127.0.0.1:${port}`, dataDir, log, { bufferMaxBytes: 160 * 1024 }))
  t.teardown(() => agent.stop())
  const collected = 12
  for (let i = 0; i < collected; i++) await agent.collectNow()
  const kept = await bufferedIds(join(dataDir, 'buffer'))
  const dropped = lines.filter(l => l.startsWith('warn buffer full'))
    .map(l => Number(/dropped the (\d+) oldest batch\(es\)/.exec(l)![1])).reduce((a, b) => a + b, 0)
  t.ok(dropped > 0, `${dropped} batch(es) dropped`)
  t.equal(kept.length + dropped, collected, 'every batch is either kept or counted as dropped')
  const files = await segmentFiles(dataDir)
  let bytes = 0
  for (const f of files) bytes += (await import('node:fs')).statSync(join(dataDir, 'buffer', f)).size
  t.ok(bytes <= 160 * 1024, `${bytes} bytes on disk, within the bound`)

  const server = await new IngestServer(port).start()
  t.teardown(() => server.stop())
  await waitFor(() => server.accepted.length >= kept.length, 'the kept batches to be replayed')
  t.same(server.accepted, kept, 'the newest batches, each once, oldest first')
})

/** batch_ids in a buffer dir, tolerating a line torn by SIGKILL. */
async function idsOnDisk(bufferDir: string): Promise<string[]> {
  const { readFile } = await import('node:fs/promises')
  const names = (await readdir(bufferDir).catch(() => [] as string[])).filter(n => n.endsWith('.jsonl')).sort()
  const ids: string[] = []
  for (const n of names) {
    for (const line of (await readFile(join(bufferDir, n), 'utf8')).split('\n')) {
      try { if (line) ids.push(JSON.parse(line).batch_id) } catch { /* torn by the kill */ }
    }
  }
  return ids
}

t.test('agent process SIGKILLed with a non-empty queue: the restarted agent delivers every queued batch once, in order', async t => {
  const { spawn } = await import('node:child_process')
  const { fileURLToPath } = await import('node:url')
  const bin = fileURLToPath(new URL('../../agent/bin.js', import.meta.url))
  const dataDir = await tempDir(t)
  const port = await IngestServer.freePort()
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HOSTPULSE_')))
  const run = () => spawn(process.execPath, [bin, '--server', `http://127.0.0.1:${port}`, '--api-key', API_KEY, '--interval', '1s', '--data-dir', dataDir],
    { env: cleanEnv, stdio: ['ignore', 'ignore', 'pipe'] })

  const first = run()
  await waitFor(async () => (await idsOnDisk(join(dataDir, 'buffer'))).length >= 3, 'three queued batches', 20_000)
  first.kill('SIGKILL')
  await new Promise(r => first.once('exit', r))
  const queued = await idsOnDisk(join(dataDir, 'buffer'))
  t.ok(queued.length >= 3, `${queued.length} batches queued when killed`)

  const server = await new IngestServer(port).start()
  t.teardown(() => server.stop())
  const second = run()
  t.teardown(() => { second.kill('SIGKILL') })
  await waitFor(() => queued.every(id => server.accepted.includes(id)), 'every queued batch to arrive', 20_000)
  t.same(server.accepted.slice(0, queued.length), queued, 'the queued batches first, in collection order')
  t.equal(new Set(server.accepted).size, server.accepted.length, 'none twice')
  second.kill('SIGTERM')
  await new Promise(r => second.once('exit', r))
})
