// The one HTTP client for user-configured targets (Slack, Discord, webhooks): every connection resolves
// its host through guardedLookup (so a name that turns private after the check at create time — DNS
// rebinding — is refused at connect time), redirects are never followed, and the whole exchange has a
// deadline. Errors name the host, never the URL's path or query (they hold tokens).
import http from 'node:http'
import https from 'node:https'
import { isIP } from 'node:net'
import { OutboundTargetError, checkOutboundTarget, guardedLookup } from '../security/outbound-target.ts'
import { DeliveryError, excerpt, type SendContext } from './send-context.ts'

export interface HttpAnswer { status: number; statusText: string; headers: http.IncomingHttpHeaders; text: string }

const MAX_ANSWER_BYTES = 64 * 1024

export async function postOutbound(url: string, body: string, headers: Record<string, string>, ctx: SendContext): Promise<HttpAnswer> {
  let target: URL
  try { target = new URL(url) } catch { throw new DeliveryError('the target URL is not valid', { permanent: true }) }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new DeliveryError(`URL scheme ${target.protocol} is not allowed`, { permanent: true })
  const host = target.hostname.replace(/^\[|\]$/g, '')
  const guard = { allowPrivate: ctx.allowPrivate, resolve: ctx.resolve }
  // A literal address is connected to without any lookup, so it is checked here.
  if (isIP(host)) await checkOutboundTarget(host, guard).catch((err: unknown) => { throw asDeliveryError(err, host) })
  const client = target.protocol === 'https:' ? https : http

  return new Promise<HttpAnswer>((resolve, reject) => {
    let settled = false
    const finish = (err: unknown, answer?: HttpAnswer) => {
      if (settled) return
      settled = true
      clearTimeout(deadline)
      ctx.signal?.removeEventListener('abort', onAbort)
      if (err) reject(asDeliveryError(err, host))
      else resolve(answer!)
    }
    let req: http.ClientRequest
    try {
      req = client.request(target, {
        method: 'POST', agent: false, lookup: guardedLookup(guard),
        headers: { 'user-agent': 'hostpulse-notify', ...headers, 'content-length': String(Buffer.byteLength(body)) },
      }, onAnswer)
    } catch (err) {
      // Refused before anything was sent (a header Node cannot write): sending again cannot help.
      settled = true
      return reject(new DeliveryError(`cannot send: ${excerpt((err as Error).message ?? String(err))}`, { permanent: true, cause: err }))
    }
    function onAnswer(res: http.IncomingMessage): void {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_ANSWER_BYTES) chunks.push(chunk)
        size += chunk.length
      })
      res.on('end', () => finish(null, {
        status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers,
        text: Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8'),
      }))
      res.on('error', (err) => finish(err))
    }
    const deadline = setTimeout(() => req.destroy(new DeliveryError(`${host} did not answer within ${ctx.timeoutMs} ms`)), ctx.timeoutMs)
    const onAbort = () => req.destroy(new DeliveryError('interrupted: the server is shutting down'))
    if (ctx.signal?.aborted) onAbort()
    else ctx.signal?.addEventListener('abort', onAbort, { once: true })
    req.on('error', (err) => finish(err))
    req.end(body)
  })
}

function asDeliveryError(err: unknown, host: string): DeliveryError {
  if (err instanceof DeliveryError) return err
  // The guard's message names the host and the kind of address, never the path.
  if (err instanceof OutboundTargetError || (err as Error).name === 'OutboundTargetError') {
    return new DeliveryError(`refused: ${(err as Error).message}`, { permanent: true, cause: err })
  }
  const code = (err as NodeJS.ErrnoException).code
  return new DeliveryError(`cannot reach ${host}: ${code ? `${code} ` : ''}${excerpt((err as Error).message ?? String(err))}`, { cause: err })
}

/** Throws a DeliveryError unless the answer is a 2xx; 4xx (but 408 and 429) and redirects are permanent. */
export function requireSuccess(service: string, answer: HttpAnswer): void {
  const { status } = answer
  if (status >= 200 && status < 300) return
  if (status >= 300 && status < 400) throw new DeliveryError(`${service} answered with a redirect (HTTP ${status}), which is not followed`, { permanent: true })
  const said = excerpt(answer.text)
  const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429
  throw new DeliveryError(`${service} answered HTTP ${status}${answer.statusText ? ` ${answer.statusText}` : ''}${said ? `: ${said}` : ''}`, { permanent })
}

/** A `fetch` for clients that take one (@slack/webhook), over postOutbound. */
export function guardedFetch(ctx: SendContext) {
  return async (url: string | URL, init?: { headers?: Record<string, string>; body?: unknown }) => {
    const answer = await postOutbound(String(url), typeof init?.body === 'string' ? init.body : '', init?.headers ?? {}, ctx)
    const headerList = Object.entries(answer.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v ?? '')] as [string, string])
    return {
      ok: answer.status >= 200 && answer.status < 300, status: answer.status, statusText: answer.statusText, url: String(url),
      headers: { get: (name: string) => headerList.find(([k]) => k === name.toLowerCase())?.[1] ?? null, entries: () => headerList },
      text: async () => answer.text,
      json: async () => JSON.parse(answer.text) as unknown,
      arrayBuffer: async () => new TextEncoder().encode(answer.text).buffer as ArrayBuffer,
    }
  }
}
