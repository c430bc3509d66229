// Fuzzing what agents and the ecosystem's writers send (issue 15 part 5): native ingest, InfluxDB line
// protocol, Prometheus remote write, OTLP and the InfluxDB start-up calls, FUZZ_RUNS generated requests per
// family (see fuzz-harness.ts); and the live streams: FUZZ_RUNS generated WebSocket messages, each answered
// in order (a ping after each one proves it was handled), every answer a JSON message of the stream, the
// connection closed only with a code the stream documents, the server healthy after.
import t from 'tap'
import fc from 'fast-check'
import WebSocket from 'ws'
import { fuzzFamilies, fuzzSettings, fuzzString } from './fuzz-harness.ts'
import { fuzzWorld } from './fuzz-setup.ts'

t.test('fuzzing the writers and the live streams', { timeout: 1_800_000 }, async (t) => {
  const { api, setup, snapshot } = await fuzzWorld(t)
  const before = await snapshot()
  await fuzzFamilies(t, ['ingest', 'writers'], api.app.registeredRoutes, setup)
  t.same(JSON.parse(await snapshot()), JSON.parse(before), 'no row kept aside changed')

  await t.test('WebSocket messages', async (t) => {
    const { runs, seed } = fuzzSettings()
    const paths = ['/ws/metrics/fuzz-agent', '/ws/live']
    let socket: { ws: WebSocket; path: string; messages: unknown[]; closed: number | null } | undefined
    const open = (path: string) => new Promise<NonNullable<typeof socket>>((resolve, reject) => {
      const ws = new WebSocket(`${api.wsUrl}${path}?token=${api.adminToken}`)
      const s = { ws, path, messages: [] as unknown[], closed: null as number | null }
      ws.on('message', (data) => s.messages.push(data.toString()))
      ws.on('close', (code) => { s.closed = code })
      ws.once('open', () => resolve(s))
      ws.once('error', reject)
    })
    const frame = fc.oneof(
      { weight: 3, arbitrary: fc.record({ type: fc.oneof(fc.constant('filter'), fuzzString), metric_types: fc.option(fc.array(fuzzString, { maxLength: 4 })), metric_names: fc.option(fc.array(fuzzString, { maxLength: 4 })) }).map((v) => JSON.stringify(v)) },
      { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
      { weight: 2, arbitrary: fc.string({ maxLength: 200 }) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
    )
    let frames = 0
    let closes = 0
    await fc.assert(fc.asyncProperty(fc.constantFrom(...paths), frame, async (path, data) => {
      if (!socket || socket.closed !== null || socket.path !== path) {
        socket?.ws.terminate()
        socket = await open(path)
      }
      const s = socket
      const from = s.messages.length
      s.ws.send(data)
      frames++
      // The server handles frames in order: its pong to a ping sent after the frame comes after the frame's answer.
      await new Promise<void>((resolve) => {
        const done = () => { clearTimeout(timer); s.ws.off('pong', done); s.ws.off('close', done); resolve() }
        const timer = setTimeout(done, 5000)
        s.ws.once('pong', done)
        s.ws.once('close', done)
        if (s.ws.readyState === WebSocket.OPEN) s.ws.ping()
      })
      for (const m of s.messages.slice(from)) {
        const parsed = JSON.parse(String(m))
        if (typeof parsed?.type !== 'string') throw new Error(`a message without a type: ${String(m).slice(0, 200)}`)
        if (parsed.type === 'error' && typeof parsed.message !== 'string') throw new Error(`an error without a message: ${String(m).slice(0, 200)}`)
      }
      if (s.closed !== null) {
        closes++
        // 1000 normal, 1003 unsupported data, 1007 invalid payload, 1008 policy; 1011 would be a server error.
        if (![1000, 1003, 1007, 1008, 1009].includes(s.closed)) throw new Error(`closed with ${s.closed} after ${JSON.stringify(String(data)).slice(0, 200)} on ${path}`)
      }
    }), { numRuns: runs, seed })
    socket?.ws.terminate()
    t.pass(`${frames} frames on ${paths.join(' and ')}; ${closes} closed the connection (a refused message does), each with a documented code`)
    t.equal((await fetch(`${api.url}/health`)).status, 200, 'the server is healthy after it')
  })
})
