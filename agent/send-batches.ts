// One POST to the ingest endpoint, with the answer sorted into what the delivery loop must do next.
import { INGEST_PATH, type IngestAccepted, type IngestBatch } from '../contract/ingest-batch.ts'
import { describeFailure, httpCall, HttpFailure, type HttpAnswer } from './http-request.ts'

export type SendOutcome =
  | { kind: 'accepted'; status: number; answer: IngestAccepted | undefined }
  /** 4xx: this body is bad and resending it will not help. */
  | { kind: 'rejected'; status: number; message: string }
  /** 401/403: the key is bad; keep the data and wait for an operator. */
  | { kind: 'unauthorized'; status: number; message: string }
  /**
   * 5xx, 408, 429, timeouts, refused connections, and answers about the address rather than the batch (a
   * redirect, 404, 405: a wrong --server or a proxy in the way): try again later (not before `retryAfterMs`
   * if the server said).
   */
  | { kind: 'retry'; reason: string; retryAfterMs?: number; timedOut?: boolean }

export interface SendTarget { serverUrl: string; apiKey: string; timeoutMs: number }

export function ingestUrl(serverUrl: string): string {
  return new URL(INGEST_PATH, serverUrl.endsWith('/') ? serverUrl : serverUrl + '/').toString()
}

export async function sendBatches(target: SendTarget, body: IngestBatch | IngestBatch[], abort?: AbortSignal): Promise<SendOutcome> {
  let res: HttpAnswer
  try {
    res = await httpCall({
      url: ingestUrl(target.serverUrl),
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': target.apiKey },
      body: JSON.stringify(body),
      timeoutMs: target.timeoutMs,
      signal: abort,
    })
  } catch (err) {
    return { kind: 'retry', reason: describeFailure(err), ...(err instanceof HttpFailure && err.code === 'TIMEOUT' && { timedOut: true }) }
  }
  const text = res.text
  if (res.status >= 200 && res.status < 300) return { kind: 'accepted', status: res.status, answer: parseJson(text) as IngestAccepted | undefined }
  const message = serverMessage(text)
  if (res.status === 401 || res.status === 403) return { kind: 'unauthorized', status: res.status, message }
  if (res.status === 408 || res.status === 429 || res.status >= 500) {
    const header = res.headers['retry-after']
    // An HTTP date in it is the server's clock: measured from the answer's own Date when it has one (RFC 9110
    // §10.2.3), so a skewed clock on either side neither drops the wait nor stretches it.
    const serverNow = Date.parse(typeof res.headers.date === 'string' ? res.headers.date : '')
    const retryAfterMs = parseRetryAfter(Array.isArray(header) ? header[0] : header, Number.isNaN(serverNow) ? Date.now() : serverNow)
    return { kind: 'retry', reason: `HTTP ${res.status} ${message}`.trim(), ...(retryAfterMs !== undefined && { retryAfterMs }) }
  }
  if (res.status < 400 || res.status === 404 || res.status === 405) {
    const location = res.headers.location
    return { kind: 'retry', reason: `HTTP ${res.status} from ${ingestUrl(target.serverUrl)}` +
      (location ? `, redirected to ${Array.isArray(location) ? location[0] : location}` : '') + ': not hostpulse\'s ingest endpoint; check --server' }
  }
  return { kind: 'rejected', status: res.status, message }
}

/** Longest wait a Retry-After may impose; a bogus far-future date must not silence the agent for days. */
export const RETRY_AFTER_CAP_MS = 3600_000

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3), in ms from `now`; undefined if absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined
  const text = value.trim()
  let ms: number
  if (/^\d+$/.test(text)) ms = Number(text) * 1000
  else {
    // An HTTP date names its day and month; anything else (like "-5", which Date.parse takes as a year) is garbage.
    if (!/^[A-Za-z]{3}/.test(text)) return undefined
    const at = Date.parse(text)
    if (Number.isNaN(at)) return undefined
    ms = at - now
  }
  return Math.min(RETRY_AFTER_CAP_MS, Math.max(0, ms))
}

function parseJson(text: string): unknown {
  try { return JSON.parse(text) } catch { return undefined }
}

/** Fastify-style `{message}` bodies carry the useful part; fall back to the first 200 characters. */
function serverMessage(text: string): string {
  const json = parseJson(text) as { message?: unknown } | undefined
  if (json && typeof json.message === 'string') return json.message
  return text.slice(0, 200)
}
