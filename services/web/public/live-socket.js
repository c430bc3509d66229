// One WebSocket that comes back by itself: reconnects with exponential backoff (1 s … 30 s, jittered)
// and always with the current access token, because the server checks it only at the upgrade.
import { accessToken } from './session.js'

const MIN_BACKOFF_MS = 1000
const MAX_BACKOFF_MS = 30_000

export class LiveSocket {
  /**
   * @param {string} path e.g. /ws/live
   * @param {{ onMessage(msg: object): void, onState?(state: 'connecting'|'open'|'down', retryInMs?: number): void }} handlers
   */
  constructor(path, handlers) {
    this.path = path
    this.handlers = handlers
    this.ws = null
    this.stopped = true
    this.failures = 0
    this.timer = 0
    this.state = 'down'
  }

  start() {
    if (!this.stopped) return
    this.stopped = false
    this.connect()
  }

  stop() {
    this.stopped = true
    clearTimeout(this.timer)
    const ws = this.ws
    this.ws = null
    if (ws) { ws.onclose = null; ws.onerror = null; ws.onmessage = null; ws.close(1000, 'page left') }
  }

  /** Sends a JSON message if the socket is open; false otherwise. */
  send(message) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false
    this.ws.send(JSON.stringify(message))
    return true
  }

  setState(state, retryInMs) {
    this.state = state
    this.handlers.onState?.(state, retryInMs)
  }

  connect() {
    const token = accessToken()
    if (this.stopped || !token) return
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    const url = `${scheme}://${location.host}${this.path}`
    this.setState('connecting')
    let ws
    // The token travels as a subprotocol, not in the URL: reverse proxies log URLs.
    try { ws = new WebSocket(url, ['hostpulse', token]) } catch { this.retry(); return }
    this.ws = ws
    ws.onopen = () => { this.setState('open') }
    ws.onmessage = (event) => {
      // A message proves the server accepted us: the next drop starts the backoff from the beginning.
      this.failures = 0
      let msg
      try { msg = JSON.parse(event.data) } catch { return }
      if (msg && typeof msg === 'object') this.handlers.onMessage(msg)
    }
    ws.onclose = () => {
      if (this.ws !== ws) return
      this.ws = null
      this.retry()
    }
    // Errors are followed by a close event, where the reconnect is scheduled.
    ws.onerror = () => {}
  }

  retry() {
    if (this.stopped) return
    const base = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** this.failures)
    this.failures++
    const delay = Math.round(base / 2 + Math.random() * base / 2)
    this.setState('down', delay)
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.connect(), delay)
  }
}
