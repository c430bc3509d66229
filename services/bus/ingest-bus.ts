// The bus between ingest and its listeners (the live view, the alert evaluator): ingest publishes one
// event per committed request; listeners subscribe. Neither side imports the other: both import this.
// Local listeners hear a publish at once, in process. Once relayed through the database, the event is also
// sent with NOTIFY, and events NOTIFYed by other API instances on the same database reach local listeners.
import { EventEmitter } from 'node:events'
import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import { sql } from 'kysely'
import { Type, type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import type { Store } from '../store/open-store.ts'

/** One committed ingest request, as listeners hear of it. */
export interface IngestEvent {
  orgId: string
  agentId: string
  agentName: string
  /** The newest sample time the request stored (ISO 8601). */
  time: string
}

export interface IngestFeed {
  /** Called by ingest after its transaction committed. */
  publish(event: IngestEvent): void
  /** Every committed ingest reaches the listener; returns the unsubscribe function. */
  subscribe(listener: (event: IngestEvent) => void): () => void
}

/** The NOTIFY channel; its payload is {org_id, agent_id, agent_name, time, src}: ids, never values (8000-byte limit). */
export const INGEST_CHANNEL = 'hostpulse_ingest'

const IngestNotification = Type.Object({ org_id: Type.String(), agent_id: Type.String(), agent_name: Type.String(), time: Type.String(), src: Type.String() })
type IngestNotification = Static<typeof IngestNotification>
const checkNotification = Compile(IngestNotification)

function parseNotification(payload: string): IngestNotification | undefined {
  try {
    const n: unknown = JSON.parse(payload)
    return checkNotification.Check(n) ? n : undefined
  } catch {
    return undefined
  }
}

interface Relay { store: Store; stop: () => Promise<void>; onError: (err: Error) => void }

/**
 * The buses relaying through each embedded store. No other process can open an embedded database, so only
 * these can hear its NOTIFYs: with one alone (an API as `npm start` runs it), an ingest's NOTIFY would cost a
 * statement on the engine's one session and reach nobody, and is not sent.
 */
const embeddedRelays = new WeakMap<Store, Set<IngestBus>>()

/** In-process delivery, optionally relayed through the database to and from other instances. */
export class IngestBus implements IngestFeed {
  private readonly emitter = new EventEmitter()
  /** Tells this instance's own notifications apart: its listeners already heard them in process. */
  private readonly instanceId = randomUUID()
  private relay?: Relay

  constructor() { this.emitter.setMaxListeners(0) }

  publish(event: IngestEvent): void {
    this.emitter.emit('ingest', event)
    const relay = this.relay
    if (!relay) return
    if (relay.store.backend === 'embedded' && (embeddedRelays.get(relay.store)?.size ?? 0) < 2) return
    const payload: IngestNotification = { org_id: event.orgId, agent_id: event.agentId, agent_name: event.agentName, time: event.time, src: this.instanceId }
    this.outbox.push(JSON.stringify(payload))
    if (this.outbox.length > 1) return
    // After this tick: the local listeners' reads queue for the (embedded, one-session) database first. The
    // events of one tick (a committed ingest group answers many requests at once) go in one statement.
    setImmediate(() => {
      const payloads = this.outbox.splice(0)
      sql`select pg_notify(${INGEST_CHANNEL}, p) from unnest(${payloads}::text[]) as p`.execute(relay.store.db).catch(relay.onError)
    })
  }

  /** Notifications waiting for this tick's statement. */
  private readonly outbox: string[] = []

  subscribe(listener: (event: IngestEvent) => void): () => void {
    this.emitter.on('ingest', listener)
    return () => { this.emitter.off('ingest', listener) }
  }

  get relayed(): boolean { return this.relay !== undefined }

  /** From now on, publishes are NOTIFYed too and other instances' ingests reach the local listeners. */
  async relayThrough(store: Store, onError: (err: Error) => void): Promise<void> {
    if (this.relay) return
    const stop = await store.listen(INGEST_CHANNEL, (payload) => {
      const n = parseNotification(payload)
      if (!n || n.src === this.instanceId) return
      this.emitter.emit('ingest', { orgId: n.org_id, agentId: n.agent_id, agentName: n.agent_name, time: n.time } satisfies IngestEvent)
    })
    this.relay = { store, stop, onError }
    if (store.backend === 'embedded') {
      let buses = embeddedRelays.get(store)
      if (!buses) embeddedRelays.set(store, buses = new Set())
      buses.add(this)
    }
  }

  async stopRelay(): Promise<void> {
    const relay = this.relay
    this.relay = undefined
    if (relay) embeddedRelays.get(relay.store)?.delete(this)
    await relay?.stop().catch(() => undefined)
  }
}

declare module 'fastify' {
  interface FastifyInstance { ingestFeed: IngestBus }
}

export interface IngestBusOptions {
  /**
   * Relay through the database (NOTIFY/LISTEN) so several API instances on one database hear each other.
   * Default: on for the embedded store (no extra connection), off for a server, where it opens one dedicated
   * connection (main.ts turns it on).
   */
  relay?: boolean
}

/** One bus per app; the bus itself turns the relay on, whichever consumers listen. */
export const ingestBusPlugin = fp<IngestBusOptions>(async (app, opts) => {
  const bus = new IngestBus()
  app.decorate('ingestFeed', bus)
  if (opts.relay ?? app.store.backend === 'embedded') await bus.relayThrough(app.store, (err) => app.log.warn({ err }, 'could not NOTIFY an ingest to other instances'))
  app.addHook('onClose', async () => { await bus.stopRelay() })
}, { name: 'hostpulse-ingest-feed', dependencies: ['hostpulse-store'] })
