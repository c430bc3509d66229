// The login session and every call to the API: the access token lives in this tab's sessionStorage, is
// refreshed before it expires, and a 401 that a refresh cannot cure ends the session (back to login).

const STORAGE_KEY = 'hostpulse.session'
/** Refresh this long before the access token expires (or at 3/4 of a shorter lifetime). */
const REFRESH_MARGIN_MS = 60_000

/** An API answer in the error format, or a failure to reach the API at all (status 0). */
export class ApiError extends Error {
  constructor(status, body, fallback) {
    super(body?.message || fallback || `Request failed with status ${status}`)
    this.name = 'ApiError'
    this.status = status
    this.code = body?.error ?? (status === 0 ? 'NETWORK_ERROR' : 'HTTP_ERROR')
    this.details = body?.details
  }
}

let session = readStored()
let refreshTimer = 0
let refreshing = null
const listeners = new Set()

function readStored() {
  try {
    const s = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null')
    return s && typeof s.token === 'string' && typeof s.refresh_token === 'string' ? s : null
  } catch { return null }
}

function store(next, reason) {
  session = next
  if (next) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next))
  else sessionStorage.removeItem(STORAGE_KEY)
  scheduleRefresh()
  for (const fn of listeners) fn(session, reason)
}

/** Called with (session | null, reason) whenever the user logs in, is refreshed or is logged out. */
export function onSessionChange(fn) { listeners.add(fn); return () => listeners.delete(fn) }

export const currentSession = () => session
export const accessToken = () => session?.token ?? null

function fromTokens(pair, user) {
  return { token: pair.token, refresh_token: pair.refresh_token, expires_at: Date.now() + pair.expires_in * 1000, ttl_ms: pair.expires_in * 1000, user }
}

function scheduleRefresh() {
  clearTimeout(refreshTimer)
  if (!session) return
  const margin = Math.min(REFRESH_MARGIN_MS, session.ttl_ms / 4)
  const due = Math.max(1000, session.expires_at - margin - Date.now())
  refreshTimer = setTimeout(() => { refresh().catch(() => undefined) }, due)
}

async function send(path, { method = 'GET', body, token } = {}) {
  const headers = {}
  if (token) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  let res
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' })
  } catch (err) {
    throw new ApiError(0, null, `Cannot reach the hostpulse server (${err.message})`)
  }
  const text = await res.text()
  let parsed
  try { parsed = text ? JSON.parse(text) : undefined } catch { parsed = undefined }
  if (!res.ok) throw new ApiError(res.status, parsed, `${method} ${path} failed with status ${res.status}`)
  return parsed
}

export async function login(username, password) {
  const pair = await send('/api/v1/auth/login', { method: 'POST', body: { username, password } })
  const me = await send('/api/v1/auth/me', { token: pair.token })
  store(fromTokens(pair, { username: me.username ?? username, role: me.role ?? 'viewer' }), 'login')
}

/** One refresh at a time: a second caller waits for the first. A spent or revoked session ends here. */
export function refresh() {
  if (!session) return Promise.reject(new ApiError(401, null, 'Not logged in'))
  refreshing ??= (async () => {
    const user = session.user
    try {
      const pair = await send('/api/v1/auth/refresh', { method: 'POST', body: { refresh_token: session.refresh_token } })
      store(fromTokens(pair, user), 'refresh')
    } catch (err) {
      if (err.status === 401 || err.status === 400) store(null, 'Your session has ended: log in again.')
      else scheduleRetry()
      throw err
    } finally {
      refreshing = null
    }
  })()
  return refreshing
}

/** The server could not be reached: try again soon, the token may still be valid for a while. */
function scheduleRetry() {
  clearTimeout(refreshTimer)
  refreshTimer = setTimeout(() => { refresh().catch(() => undefined) }, 10_000)
}

export async function logout() {
  const token = accessToken()
  store(null, 'You have logged out.')
  // The session ends on the server too, so a copied token stops working at once.
  if (token) await send('/api/v1/auth/logout', { method: 'POST', token }).catch(() => undefined)
}

/** GET (or another method) on the API as the logged-in user; JSON back or an ApiError. */
export async function api(path, { method = 'GET', body } = {}) {
  if (!session) throw new ApiError(401, null, 'Not logged in')
  try {
    return await send(path, { method, body, token: session.token })
  } catch (err) {
    if (err.status !== 401 || !session) throw err
    // The access token may have expired while the tab slept: one refresh, one retry.
    await refresh()
    try {
      return await send(path, { method, body, token: session.token })
    } catch (again) {
      if (again.status === 401) store(null, 'Your session has ended: log in again.')
      throw again
    }
  }
}

// A tab reopened with a stored session refreshes on schedule (or at once, if the token is stale).
scheduleRefresh()
