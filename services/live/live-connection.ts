// One WebSocket client: a bounded queue in front of the socket, so a client that reads slowly (or not
// at all) costs the server at most `maxBytes` queued plus `socketHighWaterBytes` handed to the socket.
// All clients together hold at most a shared budget: many stuck clients, each with a filter of its own
// (so no message is shared), cannot add up to more than that.
import { WebSocket } from 'ws'
import type { Principal } from '../auth/auth-plugin.ts'
import { outbound, type Outbound } from './live-messages.ts'

export interface QueueLimits {
  /** Messages waiting for the socket; beyond this the oldest are dropped. */
  maxMessages: number
  /** Bytes waiting for the socket; beyond this the oldest are dropped. */
  maxBytes: number
  /** What the socket may hold unsent (ws bufferedAmount) before new messages wait in the queue. */
  socketHighWaterBytes: number
}

/** Messages are JSON: text frames, whatever buffer they are held in. */
const TEXT_FRAME = { binary: false }

export interface ConnectionCounters { sent(n: number): void; dropped(n: number): void }

/** What every client's queue and socket hold together, against one limit. */
export class SendBudget {
  heldBytes = 0
  constructor(readonly maxBytes: number) {}
  get exceeded(): boolean { return this.heldBytes > this.maxBytes }
}

export class LiveConnection {
  private readonly queue: Outbound[] = []
  private queuedBytesNow = 0
  private droppedUntold = 0
  /** Bytes handed to the socket and not yet written out (counted against the shared budget). */
  private inSocket = 0
  /** Answered the last ping (or has not been pinged yet). */
  alive = true

  constructor(readonly ws: WebSocket, readonly principal: Principal, private readonly limits: QueueLimits,
    private readonly counters: ConnectionCounters, private readonly budget: SendBudget = new SendBudget(Infinity)) {
    ws.on('pong', () => { this.alive = true })
    ws.once('close', () => {
      this.budget.heldBytes -= this.queuedBytesNow + this.inSocket
      this.queue.length = 0
      this.queuedBytesNow = 0
      this.inSocket = 0
    })
  }

  get open(): boolean { return this.ws.readyState === WebSocket.OPEN }
  get queuedMessages(): number { return this.queue.length }
  get queuedBytes(): number { return this.queuedBytesNow }
  get bufferedBytes(): number { return this.ws.bufferedAmount }

  send(message: Outbound): void {
    if (!this.open) return
    this.queue.push(message)
    this.queuedBytesNow += message.bytes
    this.budget.heldBytes += message.bytes
    let dropped = 0
    // Over its own bounds, or all clients together over the shared budget: this client's oldest go. A client
    // that keeps up has an empty queue, so it is never the one to lose messages to the budget.
    while (this.queue.length > this.limits.maxMessages || (this.queue.length > 0 && (this.queuedBytesNow > this.limits.maxBytes || this.budget.exceeded))) {
      const oldest = this.queue.shift()!.bytes
      this.queuedBytesNow -= oldest
      this.budget.heldBytes -= oldest
      dropped++
    }
    if (dropped > 0) {
      this.droppedUntold += dropped
      this.counters.dropped(dropped)
    }
    this.pump()
  }

  /** Refuses a client message; the connection stays open. */
  reject(message: string): void {
    this.send(outbound({ type: 'error', message }))
  }

  close(code: number, reason: string): void {
    this.budget.heldBytes -= this.queuedBytesNow
    this.queue.length = 0
    this.queuedBytesNow = 0
    this.ws.close(code, reason)
  }

  /** Hands queued messages to the socket while it holds less than the high-water mark. */
  private pump(): void {
    while (this.queue.length > 0 && this.open && this.ws.bufferedAmount < this.limits.socketHighWaterBytes) {
      if (this.droppedUntold > 0) {
        this.ws.send(JSON.stringify({ type: 'dropped', count: this.droppedUntold }))
        this.droppedUntold = 0
        this.counters.sent(1)
      }
      const next = this.queue.shift()!
      this.queuedBytesNow -= next.bytes
      this.inSocket += next.bytes
      // The callback runs once the socket wrote the frame out (or failed to): the moment to refill it.
      this.ws.send(next.data, TEXT_FRAME, () => {
        if (this.inSocket >= next.bytes) {
          this.inSocket -= next.bytes
          this.budget.heldBytes -= next.bytes
        }
        this.pump()
      })
      this.counters.sent(1)
    }
  }
}
