// How the agent gets its API key: given on the command line, stored from an earlier enrollment, or by
// registering with an enrollment token now (seed 003: pending until an admin approves, or auto-approved).
//
// The agent's side of the registration protocol (the server side comes with the seed 003 work):
//   POST {server}/api/v1/agents/register   {token, hostname, ip_address, os, ...inventory}
//        header Idempotency-Key: one UUID for every attempt of this registration, kept on disk before the
//        first, so an attempt whose answer was lost (a timeout, a restart) gets the same registration back
//        instead of spending another use of the token or making a second agent; Idempotency-Attempt: the
//        attempt's number (POSTs and polls, counted on disk), so an older attempt held up on its way never
//        has the key of a newer one's answer replaced
//     201 {status:"approved", agent_id, api_key}   → done
//     202 {status:"pending", registration_id}      → poll
//   GET  {server}/api/v1/agents/register/{registration_id}   header X-Enrollment-Token: token
//     200 {status:"pending"} | {status:"approved", api_key, agent_id?} | {status:"rejected", reason?}
import { randomUUID } from 'node:crypto'
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { HostInfo } from '../contract/ingest-batch.ts'
import { describeFailure, httpCall } from './http-request.ts'
import type { AgentLog } from './logger.ts'

export const REGISTER_PATH = '/api/v1/agents/register'
export const ENROLL_TOKEN_HEADER = 'x-enrollment-token'
/** In the data dir, mode 0600: the key this agent received at enrollment. */
export const KEY_FILE = 'agent-key.json'
/**
 * In the data dir: the registration under way (its request key from before the first attempt, its id once the
 * server answered "pending"), so a restart repeats the same request or keeps polling instead of asking twice.
 */
const PENDING_FILE = 'pending-registration.json'
/** The header that makes the registration's attempts one registration, and the one that orders them. */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key'
export const IDEMPOTENCY_ATTEMPT_HEADER = 'idempotency-attempt'

interface PendingRegistration { request_key?: string; registration_id?: string; server_url: string; attempts?: number }

export interface StoredKey { api_key: string; agent_id?: string; server_url: string; enrolled_at: string }

export interface ApiKeySource {
  serverUrl: string
  dataDir: string
  /** A key given by the operator wins over everything. */
  apiKey?: string
  enrollToken?: string
  /** What the registration tells the server about this host. */
  hostInfo: () => Promise<HostInfo>
  log: AgentLog
  /** Time between polls while pending; default 30 s. */
  pollMs?: number
  /** Per-request timeout; default 15 s. */
  timeoutMs?: number
  /** Stops waiting (SIGTERM while pending). */
  signal?: AbortSignal
}

/** A reason the agent cannot get a key; the message names the cause and the fix. */
export class EnrollmentError extends Error {}

/** The one entry point: the API key to use, registering first when there is none yet. */
export async function resolveApiKey(src: ApiKeySource): Promise<string> {
  if (src.apiKey) return src.apiKey
  const stored = await readStoredKey(src.dataDir)
  if (stored && sameServer(stored.server_url, src.serverUrl)) return stored.api_key
  if (!src.enrollToken) {
    throw new EnrollmentError(stored
      ? `the key in ${join(src.dataDir, KEY_FILE)} was issued by ${stored.server_url}, not ${src.serverUrl}; pass --enroll-token TOKEN to register with this server, or set HOSTPULSE_API_KEY`
      : 'no API key given; set HOSTPULSE_API_KEY (create one on the server) or pass --enroll-token TOKEN to register this host')
  }
  const key = await enroll(src)
  await storeKey(src.dataDir, key)
  src.log('info', `enrolled with ${src.serverUrl}${key.agent_id ? ` as agent ${key.agent_id}` : ''}; key stored in ${join(src.dataDir, KEY_FILE)}`)
  return key.api_key
}

export async function readStoredKey(dataDir: string): Promise<StoredKey | undefined> {
  const text = await readFile(join(dataDir, KEY_FILE), 'utf8').catch(() => undefined)
  if (!text) return undefined
  try {
    const key = JSON.parse(text) as StoredKey
    return typeof key.api_key === 'string' && key.api_key ? key : undefined
  } catch {
    return undefined
  }
}

/** Written to a temporary file and renamed, so a crash leaves either no key or the whole key; owner-only. */
export async function storeKey(dataDir: string, key: StoredKey): Promise<void> {
  await writePrivate(dataDir, KEY_FILE, key)
  await unlink(join(dataDir, PENDING_FILE)).catch(() => {})
}

async function writePrivate(dataDir: string, name: string, value: unknown): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const tmp = join(dataDir, `${name}.tmp`)
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.chmod(0o600) // an old tmp file left with other permissions
    await fh.write(JSON.stringify(value, null, 2) + '\n')
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, join(dataDir, name))
}

const sameServer = (a: string, b: string) => new URL(a).origin === new URL(b).origin

async function enroll(src: ApiKeySource): Promise<StoredKey> {
  const pollMs = src.pollMs ?? 30_000
  // Kept before the first attempt: whatever becomes of its answer, every later attempt is the same request.
  const pending: PendingRegistration = { request_key: randomUUID(), server_url: src.serverUrl, attempts: 0, ...await pendingRegistration(src) }
  /** The next attempt's headers: its number is on disk before the request leaves. */
  const attempt = async (): Promise<Record<string, string>> => {
    pending.attempts = (pending.attempts ?? 0) + 1
    await writePrivate(src.dataDir, PENDING_FILE, pending)
    return { [IDEMPOTENCY_KEY_HEADER]: pending.request_key!, [IDEMPOTENCY_ATTEMPT_HEADER]: String(pending.attempts) }
  }
  let registrationId = pending.registration_id
  if (!registrationId) {
    const answer = await call(src, 'POST', REGISTER_PATH, { token: src.enrollToken, ...(await src.hostInfo()) }, attempt)
    if (answer.status === 'approved') return approvedKey(src, answer)
    if (answer.status !== 'pending' || typeof answer.registration_id !== 'string' && typeof answer.registration_id !== 'number') {
      throw new EnrollmentError(`the server answered the registration with ${JSON.stringify(answer).slice(0, 200)}; expected status "approved" or "pending"`)
    }
    registrationId = pending.registration_id = String(answer.registration_id)
    await writePrivate(src.dataDir, PENDING_FILE, pending)
  }
  src.log('info', `registration ${registrationId} is waiting for an administrator to approve this host on ${src.serverUrl}; checking every ${Math.round(pollMs / 1000)} s`)
  for (;;) {
    await sleep(pollMs, src.signal)
    const answer = await call(src, 'GET', `${REGISTER_PATH}/${encodeURIComponent(registrationId)}`, undefined, attempt)
    if (answer.status === 'approved') return approvedKey(src, answer)
    if (answer.status === 'rejected') {
      await unlink(join(src.dataDir, PENDING_FILE)).catch(() => {})
      throw new EnrollmentError(`an administrator rejected registration ${registrationId}${answer.reason ? ` (${String(answer.reason)})` : ''}; ask for it to be approved, then start the agent again`)
    }
    if (answer.status === 'gone') {
      // The server no longer knows this registration (expired, or its database was reset): ask again.
      await unlink(join(src.dataDir, PENDING_FILE)).catch(() => {})
      src.log('warn', `registration ${registrationId} is unknown to the server now; registering again`)
      return enroll(src)
    }
    src.log('debug', `registration ${registrationId} still pending`)
  }
}

/** The registration under way with this server, if any (a file for another server, or unreadable, is none). */
async function pendingRegistration(src: ApiKeySource): Promise<PendingRegistration | undefined> {
  const text = await readFile(join(src.dataDir, PENDING_FILE), 'utf8').catch(() => undefined)
  if (!text) return undefined
  try {
    const p = JSON.parse(text) as Partial<PendingRegistration>
    if (typeof p.server_url !== 'string' || !sameServer(p.server_url, src.serverUrl)) return undefined
    // Only the fields present are given, so absent ones do not overwrite the defaults of a registration under way.
    const found: PendingRegistration = { server_url: p.server_url }
    if (typeof p.request_key === 'string' && p.request_key) found.request_key = p.request_key
    if (typeof p.registration_id === 'string' && p.registration_id) found.registration_id = p.registration_id
    if (typeof p.attempts === 'number' && Number.isSafeInteger(p.attempts) && p.attempts > 0) found.attempts = p.attempts
    return found.request_key || found.registration_id ? found : undefined
  } catch {
    return undefined
  }
}

function approvedKey(src: ApiKeySource, answer: Record<string, unknown>): StoredKey {
  if (typeof answer.api_key !== 'string' || !answer.api_key) {
    throw new EnrollmentError('the server approved the registration but sent no api_key; check the server version')
  }
  const key: StoredKey = { api_key: answer.api_key, server_url: src.serverUrl, enrolled_at: new Date().toISOString() }
  if (answer.agent_id !== undefined) key.agent_id = String(answer.agent_id)
  return key
}

/**
 * One request; network errors and 5xx are retried with a capped backoff (a server being deployed),
 * a refused token or a missing endpoint end enrollment with the fix. `numbered` gives each try of a registration
 * its headers (its request key and its attempt number, on disk first).
 */
async function call(src: ApiKeySource, method: 'GET' | 'POST', path: string, body?: unknown,
  numbered: () => Promise<Record<string, string>> = async () => ({})): Promise<Record<string, unknown>> {
  const url = new URL(path, src.serverUrl).toString()
  for (let attempt = 1; ; attempt++) {
    let problem: string
    try {
      const res = await httpCall({
        url,
        method,
        headers: { 'content-type': 'application/json', [ENROLL_TOKEN_HEADER]: src.enrollToken ?? '', ...await numbered() },
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs: src.timeoutMs ?? 15_000,
        signal: src.signal,
      })
      const text = res.text
      let json: Record<string, unknown> = {}
      try { json = JSON.parse(text) as Record<string, unknown> } catch { /* not JSON: judged by status below */ }
      if (res.status >= 200 && res.status < 300) return json
      const message = typeof json.message === 'string' ? json.message : text.slice(0, 200)
      if (res.status === 401 || res.status === 403) throw new EnrollmentError(`the server refused the enrollment token (HTTP ${res.status}: ${message}); create a new token on the server and pass it with --enroll-token`)
      if (res.status === 404 && method === 'POST') throw new EnrollmentError(`${src.serverUrl} has no registration endpoint (HTTP 404 for ${REGISTER_PATH}); create an API key on the server and set it as HOSTPULSE_API_KEY`)
      if (res.status === 404) return { status: 'gone' }
      if (res.status < 500 && res.status !== 408 && res.status !== 429) throw new EnrollmentError(`the server refused the registration (HTTP ${res.status}: ${message})`)
      problem = `HTTP ${res.status} ${message}`.trim()
    } catch (err) {
      if (err instanceof EnrollmentError) throw err
      if (src.signal?.aborted) throw new EnrollmentError('stopped while registering')
      problem = describeFailure(err)
    }
    const wait = Math.min(60_000, 1000 * 2 ** Math.min(attempt - 1, 6))
    src.log(attempt === 1 ? 'warn' : 'info', `registration at ${url} failed (${problem}); trying again in ${wait / 1000} s`)
    await sleep(wait, src.signal)
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new EnrollmentError('stopped while registering'))
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = () => { clearTimeout(timer); reject(new EnrollmentError('stopped while registering')) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
