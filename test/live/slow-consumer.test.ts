// A client that stops reading must not make the server hold more and more: its queue is bounded (oldest
// dropped first), the socket is fed only up to a high-water mark, and when it reads again it is told how
// many messages it missed and still gets the newest values. A reading client beside it misses nothing.
import t from 'tap'
import type { Socket } from 'node:net'
import { makeBatch, metric } from '../test-client.ts'
import { connectWs, startClient, until } from './live-helpers.ts'

const LIMITS = { queueMaxMessages: 64, queueMaxBytes: 512 * 1024, socketHighWaterBytes: 64 * 1024 }
const api = await startClient(t, { live: LIMITS })
const agent = await api.createAgent('firehose')

// 1,000 series with long tags: about 30 KB per message of 100 values, 300 KB per ingest.
const padding = 'x'.repeat(200)
const start = Date.now() - 120_000
const bigBatch = (i: number) => makeBatch({
  time: new Date(start + i * 1000).toISOString(),
  metrics: Array.from({ length: 1000 }, (_, n) => metric('cpu', 'usage_percent', i, { tags: { core: `${padding}-${n}` } })),
  disks: [], networks: [], processes: [],
})

/**
 * Ingests batches 1 … n through `client` and returns the highest of the live streams' stats after each.
 * `delivered(i)`, if given, is awaited after ingest i (and the stats are taken again after it).
 */
async function ingestWatching(client: typeof api, key: string, n: number, batchOf: (i: number) => ReturnType<typeof makeBatch>,
  delivered?: (i: number) => Promise<unknown>) {
  const peak = { queuedBytes: 0, bufferedBytes: 0, heldBytes: 0, queuedAndBuffered: 0 }
  const watch = () => {
    const s = client.app.live.stats()
    peak.queuedBytes = Math.max(peak.queuedBytes, s.queuedBytes)
    peak.bufferedBytes = Math.max(peak.bufferedBytes, s.bufferedBytes)
    peak.heldBytes = Math.max(peak.heldBytes, s.heldBytes)
    peak.queuedAndBuffered = Math.max(peak.queuedAndBuffered, s.queuedBytes + s.bufferedBytes)
  }
  for (let i = 1; i <= n; i++) {
    await client.ingestOk(key, batchOf(i))
    watch()
    if (delivered) {
      await delivered(i)
      watch()
    }
  }
  return peak
}

t.test('a client that never reads keeps the server\'s queue bounded and is told what it missed', async (t) => {
  const reader = await connectWs(t, `${api.wsUrl}/ws/metrics/firehose?token=${api.adminToken}`)
  const sleeper = await connectWs(t, `${api.wsUrl}/ws/metrics/firehose?token=${api.adminToken}`)
  await reader.waitFor((m) => m.type === 'metrics')
  await sleeper.waitFor((m) => m.type === 'metrics')
  // The sleeper's process stops reading its socket: the kernel buffers fill, then the server's.
  const sleeperSocket = (sleeper.ws as unknown as { _socket: Socket })._socket
  sleeperSocket.pause()

  const INGESTS = 60
  const SERIES = 1000
  const lastSeries = `cpu.usage_percent{core=${padding}-${SERIES - 1}}`
  // Ingests that arrive while a read is under way are answered by one read (newest value per series), so how
  // many messages 60 back-to-back ingests make depends on how the reads and ingests interleave. Each next
  // ingest waits until the reading client has the last one's values: one read per ingest, whatever the
  // machine's speed, and the sleeper is sent exactly as much (its queue bound, not the timing, decides what
  // the server holds for it).
  const readerGot = (i: number) => reader.waitFor((m) => m.type === 'metrics' && m.data[lastSeries]?.value === i)
  const { queuedBytes: peakQueued, bufferedBytes: peakBuffered } = await ingestWatching(api, agent.api_key, INGESTS, bigBatch, readerGot)
  let largestMessage = 0
  // The rest of the last read's messages (sent together with the one awaited).
  const produced = 1 + INGESTS * SERIES / 100
  await until(() => reader.messages.filter((m) => m.type === 'metrics').length >= produced, 15_000, 'the reading client got every message of the last read')
  const readerBytes = reader.messages.reduce((n, m) => n + JSON.stringify(m).length, 0)
  for (const m of reader.messages) largestMessage = Math.max(largestMessage, JSON.stringify(m).length)
  t.equal(reader.messages.filter((m) => m.type === 'dropped').length, 0, 'the reading client lost nothing')
  t.equal(reader.messages.filter((m) => m.type === 'metrics').length, produced,
    `it got every message (the snapshot, then ${SERIES / 100} of 100 values per ingest of ${SERIES} series: ${produced})`)
  const values = new Map<number, number>()
  for (const m of reader.messages.slice(1)) for (const v of Object.values(m.data ?? {}) as Array<{ value: number }>) values.set(v.value, (values.get(v.value) ?? 0) + 1)
  t.ok([...Array(INGESTS).keys()].every((k) => values.get(k + 1) === SERIES), `each ingest's ${SERIES} values exactly once`)

  const s = api.app.live.stats()
  t.comment(`sent to each client: ${(readerBytes / 1048576).toFixed(1)} MiB; server held for the sleeper at most ${(peakQueued / 1024).toFixed(0)} KiB queued + ${(peakBuffered / 1024).toFixed(0)} KiB in its socket`)
  t.ok(readerBytes > 10 * (LIMITS.queueMaxBytes + LIMITS.socketHighWaterBytes), 'far more was produced than the bounds allow to hold')
  t.ok(peakQueued <= LIMITS.queueMaxBytes, `queued bytes stay within the bound (${peakQueued} ≤ ${LIMITS.queueMaxBytes})`)
  t.ok(peakBuffered <= LIMITS.socketHighWaterBytes + largestMessage + 1024, `socket-held bytes stay near the high-water mark (${peakBuffered})`)
  t.ok(s.queuedMessages <= LIMITS.queueMaxMessages, 'queued messages within the bound')
  t.ok(s.queuedMessages > 0, 'the sleeper really is behind (its queue is in use)')

  const metrics = await api.req('GET', '/metrics', { token: api.adminToken })
  const dropped = Number(/hostpulse_ws_messages_dropped_total\{stream="metrics"\} (\d+)/.exec(metrics.text)?.[1])
  t.ok(dropped > 0, `Prometheus counts the dropped messages (${dropped})`)

  sleeperSocket.resume()
  const notice = await sleeper.waitFor((m) => m.type === 'dropped', 15_000)
  t.same(Object.keys(notice).sort(), ['count', 'type'], '{"type":"dropped","count"}')
  t.ok(notice.count > 0, `told it missed ${notice.count} messages`)
  const last = await sleeper.waitFor((m) => m.type === 'metrics' && m.data[`cpu.usage_percent{core=${padding}-999}`]?.value === INGESTS, 15_000)
  t.ok(last, 'and still gets the newest values: the oldest were dropped, not the newest')
  await until(() => sleeper.messages.filter((m) => m.type === 'metrics').length + notice.count >= produced, 10_000, 'the rest arrived')
  const received = sleeper.messages.filter((m) => m.type === 'metrics').length
  const droppedTold = sleeper.messages.filter((m) => m.type === 'dropped').reduce((n, m) => n + m.count, 0)
  t.equal(received + droppedTold, produced, 'received + dropped = every message produced for it')
  await until(() => api.app.live.stats().queuedBytes === 0, 10_000, 'queues drained')
  t.pass('the queue is empty once the client reads again')
})

// Many stuck clients, each with a filter that lets a different set of metrics through (so no message is shared
// between them), and each one's own bound times their number would be far more than the server should hold.
// The shared budget caps them together.
t.test('stuck clients with filters of their own hold no more than the shared budget together', async (t) => {
  const BUDGET = 2 * 1024 * 1024
  const SLEEPERS = 12
  const budgeted = await startClient(t, { live: { ...LIMITS, sendBudgetBytes: BUDGET } })
  const source = await budgeted.createAgent('firehose-2')
  const url = `${budgeted.wsUrl}/ws/metrics/firehose-2?token=${budgeted.adminToken}`
  const reader = await connectWs(t, url)
  await reader.waitFor((m) => m.type === 'metrics')
  for (let i = 0; i < SLEEPERS; i++) {
    const sleeper = await connectWs(t, url)
    await sleeper.waitFor((m) => m.type === 'metrics')
    sleeper.ws.send(JSON.stringify({ type: 'filter', metric_types: ['cpu'], metric_names: ['usage_percent', `client_${i}`] }))
    // A ping after the filter: once its pong is back, the server has read the filter (messages are handled in order).
    await new Promise<void>((resolve) => { sleeper.ws.once('pong', () => resolve()); sleeper.ws.ping() })
    ;(sleeper.ws as unknown as { _socket: Socket })._socket.pause()
  }
  t.ok(SLEEPERS * (LIMITS.queueMaxBytes + LIMITS.socketHighWaterBytes) > 2 * BUDGET, 'their own bounds alone would allow far more than the budget')
  const INGESTS = 40
  // Each sleeper's own metric beside the 1,000 shared series: its messages are its own.
  const batchFor = (i: number) => {
    const batch = bigBatch(i)
    batch.metrics!.push(...Array.from({ length: SLEEPERS }, (_, n) => metric('cpu', `client_${n}`, i)))
    return batch
  }
  const { heldBytes: peakHeld, queuedAndBuffered: peakMeasured } = await ingestWatching(budgeted, source.api_key, INGESTS, batchFor)
  await until(() => reader.messages.some((m) => m.type === 'metrics' && m.data[`cpu.usage_percent{core=${padding}-999}`]?.value === INGESTS),
    15_000, 'the reading client got the last ingest')
  const largest = Math.max(...reader.messages.map((m) => JSON.stringify(m).length))
  t.comment(`held for ${SLEEPERS} stuck clients at most ${(peakHeld / 1024).toFixed(0)} KiB by the budget's count, ${(peakMeasured / 1024).toFixed(0)} KiB queued + in sockets; budget ${BUDGET / 1024} KiB`)
  t.ok(peakHeld <= BUDGET + largest, `within the budget (${peakHeld} ≤ ${BUDGET} + one message)`)
  t.ok(peakMeasured <= BUDGET + SLEEPERS * largest, `the sockets' own count agrees (${peakMeasured})`)
  t.equal(reader.messages.filter((m) => m.type === 'dropped').length, 0, 'the reading client beside them lost nothing')
})
