// Delivery and the disk buffer end to end, against a real HTTP server on 127.0.0.1.
import t from 'tap'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { startAgent, type AgentOptions } from '../../agent/run-agent.ts'
import { bufferedIds, IngestServer, logRecorder, tempDir, waitFor } from './ingest-server.ts'

const API_KEY = 'test-key-123'

/** An agent that never ticks on its own (tests call collectNow) and retries fast. */
function agentOptions(serverUrl: string, dataDir: string, log: AgentOptions['log'], extra: Partial<AgentOptions> = {}): AgentOptions {
  return { serverUrl, apiKey: API_KEY, dataDir, log, intervalMs: 3_600_000, backoff: { baseMs: 50, capMs: 200 }, stopGraceMs: 300, ...extra }
}

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

t.test('a 400 answer drops the batch instead of retrying it forever', async t => {
  const dataDir = await tempDir(t)
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  server.respond = () => ({ status: 400, body: { message: 'body/metrics/0/metric_name must match pattern' } })
  const { lines, log } = logRecorder()
  const agent = await startAgent(agentOptions(server.url, dataDir, log))
  t.teardown(() => agent.stop())
  await agent.collectNow()
  t.equal(server.requests.length, 1, 'sent once')
  t.same(await segmentFiles(dataDir), [], 'nothing buffered')
  t.match(lines.join('\n'), /warn server rejected batch [0-9a-f-]+ \(HTTP 400: body\/metrics\/0\/metric_name must match pattern\); dropped it/)
  await agent.collectNow()
  t.equal(server.requests.length, 2, 'the next batch is still sent (a 400 is not an outage)')
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
  t.match(lines.join('\n'), /error server refused the API key \(HTTP 401: invalid API key\); keeping batches on disk\. Fix: pass a valid key/)
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
