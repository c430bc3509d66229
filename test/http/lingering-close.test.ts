// A body refused before it was read (413) must reach a client that is still sending: the server half-closes
// and reads the rest away instead of closing with bytes unread, which resets the connection and loses the
// answer (the floods drill saw "announced: 0" on CI). The client here keeps sending and reads only later,
// the case in which a reset always wins.
import t from 'tap'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { listenApp, openTestStore } from '../test-client.ts'

const MiB = 1024 * 1024
const ANNOUNCED = 64 * MiB

interface Outcome { answer: string; writeError: string | null; sent: number; closedAfterMs: number }

/**
 * Sends `ANNOUNCED` bytes (announced in Content-Length, or chunked) as fast as the server takes them and
 * reads nothing for `readAfterMs`.
 */
function sendWhileNotReading(port: number, path: string, chunked: boolean, readAfterMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const t0 = performance.now()
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let writeError: string | null = null
    let sent = 0
    socket.pause()
    socket.on('error', (err: NodeJS.ErrnoException) => { writeError ??= err.code ?? err.message })
    socket.on('data', (d: Buffer) => chunks.push(d))
    socket.on('close', () => resolve({ answer: Buffer.concat(chunks).toString('utf8'), writeError, sent, closedAfterMs: performance.now() - t0 }))
    socket.once('connect', () => {
      socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n`
        + `${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${ANNOUNCED}`}\r\n\r\n`)
      const spaces = Buffer.alloc(MiB, 0x20)
      const chunk = chunked ? Buffer.concat([Buffer.from(`${MiB.toString(16)}\r\n`), spaces, Buffer.from('\r\n')]) : spaces
      const pump = () => {
        while (sent < ANNOUNCED && !socket.destroyed) {
          sent += MiB
          if (!socket.write(chunk)) { socket.once('drain', pump); return }
        }
      }
      pump()
      setTimeout(() => socket.resume(), readAfterMs)
    })
  })
}

t.test('a 413 reaches a client still sending its body', async (t) => {
  const store = await openTestStore(t)
  const { url } = await listenApp(t, store)
  const port = Number(new URL(url).port)
  const path = '/api/v1/auth/login'
  for (const [how, chunked] of [['announced', false], ['chunked', true]] as const) {
    const r = await sendWhileNotReading(port, path, chunked, 500)
    t.comment(`${how}: ${r.sent / MiB} MiB sent, write error ${r.writeError}, closed after ${r.closedAfterMs.toFixed(0)} ms`)
    t.match(r.answer, /^HTTP\/1\.1 413 /, `${how}: the 413 arrived (got ${JSON.stringify(r.answer.slice(0, 40))})`)
    t.match(r.answer, /\r\nconnection: close\r\n/i, `${how}: and says the connection closes`)
    const body = JSON.parse(r.answer.slice(r.answer.indexOf('\r\n\r\n') + 4))
    t.match(body, { error: 'PAYLOAD_TOO_LARGE', code: 413, message: String }, `${how}: in the error format`)
    t.equal(r.writeError, null, `${how}: the client's sending was not cut off by a reset`)
  }
  // Still serving: the lingering connections did not hold anything up.
  t.equal((await fetch(`${url}/health`)).status, 200)
  await sleep(0)
})
