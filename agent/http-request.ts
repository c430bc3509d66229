// The agent's one HTTP client: node:http(s) rather than fetch, whose HTTP stack (undici) would cost the
// agent ~10 MB of resident memory for nothing it needs.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'

export interface HttpAnswer { status: number; headers: IncomingHttpHeaders; text: string }

/** Why no answer came: `code` is what an operator can act on (ECONNREFUSED, ENOTFOUND, TIMEOUT, ABORTED). */
export class HttpFailure extends Error {
  constructor(readonly code: string, message: string) { super(message) }
}

export interface HttpCall {
  url: string
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  timeoutMs: number
  signal?: AbortSignal
}

export function httpCall(call: HttpCall): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(call.url)
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest
    const body = call.body === undefined ? undefined : Buffer.from(call.body)
    const headers: Record<string, string | number> = { ...call.headers }
    if (body) headers['content-length'] = body.length
    let settled = false
    const fail = (code: string, message: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      call.signal?.removeEventListener('abort', onAbort)
      req.destroy()
      reject(new HttpFailure(code, message))
    }
    const onAbort = () => fail('ABORTED', 'request aborted (agent stopping)')
    const timer = setTimeout(() => fail('TIMEOUT', 'request timed out'), call.timeoutMs)
    const req = send(url, { method: call.method ?? 'GET', headers }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        clearTimeout(timer)
        call.signal?.removeEventListener('abort', onAbort)
        if (settled) return
        settled = true
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') })
      })
      res.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? 'ERROR', err.message))
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      call.signal?.removeEventListener('abort', onAbort)
      fail(err.code ?? 'ERROR', err.message)
    })
    if (call.signal?.aborted) return onAbort()
    call.signal?.addEventListener('abort', onAbort, { once: true })
    req.end(body)
  })
}

/** The cause as one short phrase for a log line. */
export function describeFailure(err: unknown): string {
  if (err instanceof HttpFailure) return err.code === 'TIMEOUT' || err.code === 'ABORTED' ? err.message : err.code
  return (err as Error).message
}
