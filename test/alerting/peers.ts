// Real peers for alerting tests: an SMTP server (smtp-server) and an HTTP server standing in for Slack,
// Discord and webhook receivers. Both listen on 127.0.0.1 and are closed at the test's teardown.
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { SMTPServer } from 'smtp-server'

export interface ReceivedMail { from: string; to: string[]; raw: string; subject: string }

export async function startSmtpPeer(t: Test): Promise<{ url: string; mails: ReceivedMail[] }> {
  const mails: ReceivedMail[] = []
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        const subject = /^Subject: (.*(?:\r?\n[ \t].*)*)/mi.exec(raw)?.[1].replace(/\r?\n[ \t]/g, ' ') ?? ''
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address), raw, subject: decodeMimeWords(subject),
        })
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.server.address() as AddressInfo
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `smtp://127.0.0.1:${port}`, mails }
}

/** `=?UTF-8?Q?...?=` / `=?UTF-8?B?...?=` encoded words, as nodemailer writes non-ASCII subjects. */
function decodeMimeWords(text: string): string {
  return text.replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=\s*/g, (_m, _cs: string, enc: string, data: string) =>
    enc.toUpperCase() === 'B'
      ? Buffer.from(data, 'base64').toString('utf8')
      : Buffer.from(data.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'))
}

export interface ReceivedRequest { path: string; headers: IncomingHttpHeaders; body: string; json: any; at: number }

/**
 * An HTTP receiver: every request is recorded by path. `failures[path] = n` answers 500 to the first n
 * requests on that path (a channel that is down for a while).
 */
export async function startHttpPeer(t: Test): Promise<{ url: string; requests: ReceivedRequest[]; on(path: string): ReceivedRequest[]; failures: Record<string, number> }> {
  const requests: ReceivedRequest[] = []
  const failures: Record<string, number> = {}
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      let json: unknown
      try { json = JSON.parse(body) } catch { json = undefined }
      const path = (req.url ?? '/').split('?')[0]
      requests.push({ path, headers: req.headers, body, json, at: Date.now() })
      if ((failures[path] ?? 0) > 0) {
        failures[path]--
        res.writeHead(500, { 'content-type': 'text/plain' }).end('receiver down')
        return
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { url: `http://127.0.0.1:${port}`, requests, on: (path) => requests.filter((r) => r.path === path), failures }
}

/** Polls `check` until it returns a truthy value or the deadline passes (then throws with `what`). */
export async function eventually<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
