// LISTEN on a TimescaleDB server: one dedicated connection (a pooled one would lose its LISTENs when the
// pool hands it to someone else), opened only when something first listens, reconnected with backoff.
import pg from 'pg'
import { connectionConfig } from './server-connections.ts'

export type NotificationHandler = (payload: string) => void

/** Channel names go into LISTEN as identifiers: only plain lower-case names are allowed. */
const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/

export function checkChannel(channel: string): void {
  if (!CHANNEL.test(channel)) throw new Error(`invalid notification channel "${channel}": use lower-case letters, digits and _`)
}

export interface NotificationListenerOptions {
  connectionString: string
  /** DATABASE_CONNECT_TIMEOUT; 10 s by default. */
  connectTimeoutMs?: number
  /** First delay before reconnecting; doubled up to `maxRetryMs`. */
  retryMs?: number
  maxRetryMs?: number
  /** Told of a lost or refused connection (the listener keeps retrying). */
  onError?: (err: Error) => void
  /** Told when a lost connection is back: notifications sent meanwhile were missed. */
  onReconnect?: () => void
}

/** Calls each of `handlers`; one handler's failure must not starve the others. */
function tellEach(handlers: Iterable<() => void>): void {
  for (const handler of handlers) {
    try {
      handler()
    } catch { /* see above */ }
  }
}

export class NotificationListener {
  private client?: pg.Client
  private connecting?: Promise<pg.Client>
  private readonly handlers = new Map<string, Set<NotificationHandler>>()
  private readonly reconnectHandlers = new Set<() => void>()
  private readonly lostHandlers = new Set<() => void>()
  private retryTimer?: NodeJS.Timeout
  private retryMs: number
  private closed = false
  private everConnected = false

  constructor(private readonly opts: NotificationListenerOptions) {
    this.retryMs = opts.retryMs ?? 250
  }

  /** Whether the dedicated connection is open now (tests and /ready may ask). */
  get connected(): boolean { return this.client !== undefined }

  /**
   * `onReconnect`: told when the lost connection is back, so notifications on `channel` may have been missed.
   * `onLost`: told when the connection is lost (from then on, until `onReconnect`, nothing arrives).
   */
  async listen(channel: string, handler: NotificationHandler, onReconnect?: () => void, onLost?: () => void): Promise<() => Promise<void>> {
    checkChannel(channel)
    if (this.closed) throw new Error('the notification listener is closed')
    let set = this.handlers.get(channel)
    const first = !set
    if (!set) {
      set = new Set()
      this.handlers.set(channel, set)
    }
    set.add(handler)
    if (onReconnect) this.reconnectHandlers.add(onReconnect)
    if (onLost) this.lostHandlers.add(onLost)
    try {
      const client = await this.connect()
      // connect() already LISTENs to every channel known when it connected; this one may be newer.
      if (first) await client.query(`LISTEN ${channel}`)
    } catch (err) {
      // The first connection failing is the caller's problem (a start with a wrong URL stops); later
      // losses are retried in the background.
      if (!this.everConnected) {
        if (onReconnect) this.reconnectHandlers.delete(onReconnect)
        if (onLost) this.lostHandlers.delete(onLost)
        set.delete(handler)
        if (set.size === 0) this.handlers.delete(channel)
        throw err
      }
    }
    if (!this.client) {
      // Subscribed while the connection is down: nothing arrives until it is back, and `onReconnect` says so.
      if (onLost) tellEach([onLost])
      this.scheduleReconnect()
    }
    return async () => {
      if (onReconnect) this.reconnectHandlers.delete(onReconnect)
      if (onLost) this.lostHandlers.delete(onLost)
      const current = this.handlers.get(channel)
      if (!current?.delete(handler) || current.size > 0) return
      this.handlers.delete(channel)
      await this.client?.query(`UNLISTEN ${channel}`).catch(() => undefined)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.retryTimer)
    this.handlers.clear()
    this.reconnectHandlers.clear()
    this.lostHandlers.clear()
    const client = this.client ?? await this.connecting?.catch(() => undefined)
    this.client = undefined
    await client?.end().catch(() => undefined)
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client)
    this.connecting ??= this.open().finally(() => { this.connecting = undefined })
    return this.connecting
  }

  private async open(): Promise<pg.Client> {
    // Keepalive: this connection only ever reads, so a server gone silent is noticed by TCP or never.
    const client = new pg.Client(connectionConfig(this.opts.connectionString, this.opts.connectTimeoutMs))
    client.on('notification', (msg) => {
      for (const handler of this.handlers.get(msg.channel) ?? []) {
        try {
          handler(msg.payload ?? '')
        } catch { /* one handler's failure must not starve the others */ }
      }
    })
    // After an 'error' pg also emits 'end'; both lead to one reconnect.
    client.on('error', (err) => this.opts.onError?.(err))
    client.on('end', () => this.lost(client))
    try {
      await client.connect()
      for (const channel of this.handlers.keys()) await client.query(`LISTEN ${channel}`)
    } catch (err) {
      client.removeAllListeners('end')
      await client.end().catch(() => undefined)
      throw err
    }
    if (this.closed) {
      await client.end().catch(() => undefined)
      throw new Error('the notification listener is closed')
    }
    const reconnected = this.everConnected
    this.client = client
    this.everConnected = true
    this.retryMs = this.opts.retryMs ?? 250
    if (reconnected) {
      this.opts.onReconnect?.()
      tellEach(this.reconnectHandlers)
    }
    return client
  }

  private lost(client: pg.Client): void {
    if (this.client === client) {
      this.client = undefined
      tellEach(this.lostHandlers)
    }
    if (!this.closed) this.scheduleReconnect()
  }

  private scheduleReconnect(): void {
    if (this.retryTimer || this.closed || this.handlers.size === 0) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.connect().catch((err: Error) => {
        this.opts.onError?.(err)
        this.retryMs = Math.min(this.retryMs * 2, this.opts.maxRetryMs ?? 5000)
        this.scheduleReconnect()
      })
    }, this.retryMs)
    this.retryTimer.unref()
  }
}
