// One POST to the ingest endpoint, with the answer sorted into what the delivery loop must do next.
import { INGEST_PATH, type IngestAccepted, type IngestBatch } from '../contract/ingest-batch.ts'

export type SendOutcome =
  | { kind: 'accepted'; status: number; answer: IngestAccepted | undefined }
  /** 4xx: this body is bad and resending it will not help. */
  | { kind: 'rejected'; status: number; message: string }
  /** 401/403: the key is bad; keep the data and wait for an operator. */
  | { kind: 'unauthorized'; status: number; message: string }
  /** 5xx, 408, 429, timeouts, refused connections: try again later. */
  | { kind: 'retry'; reason: string }

export interface SendTarget { serverUrl: string; apiKey: string; timeoutMs: number }

export function ingestUrl(serverUrl: string): string {
  return new URL(INGEST_PATH, serverUrl.endsWith('/') ? serverUrl : serverUrl + '/').toString()
}

export async function sendBatches(target: SendTarget, body: IngestBatch | IngestBatch[], abort?: AbortSignal): Promise<SendOutcome> {
  const signals = [AbortSignal.timeout(target.timeoutMs), ...(abort ? [abort] : [])]
  let res: Response
  try {
    res = await fetch(ingestUrl(target.serverUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': target.apiKey },
      body: JSON.stringify(body),
      signal: AbortSignal.any(signals),
    })
  } catch (err) {
    return { kind: 'retry', reason: describeFetchError(err) }
  }
  const text = await res.text().catch(() => '')
  if (res.ok) return { kind: 'accepted', status: res.status, answer: parseJson(text) as IngestAccepted | undefined }
  const message = serverMessage(text) || res.statusText
  if (res.status === 401 || res.status === 403) return { kind: 'unauthorized', status: res.status, message }
  if (res.status === 408 || res.status === 429 || res.status >= 500) return { kind: 'retry', reason: `HTTP ${res.status} ${message}`.trim() }
  return { kind: 'rejected', status: res.status, message }
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

/** fetch hides the socket error in `cause`; that is the part an operator can act on. */
function describeFetchError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } }
  if (e.name === 'TimeoutError') return 'request timed out'
  if (e.name === 'AbortError') return 'request aborted (agent stopping)'
  return e.cause?.code ?? e.cause?.message ?? e.message
}
