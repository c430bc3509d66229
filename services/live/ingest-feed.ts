// The bus between ingest and its listeners (the live view, the alert evaluator): ingest publishes one
// event per committed request; listeners subscribe. Kept small so ingest never imports what listens.
import { EventEmitter } from 'node:events'
import fp from 'fastify-plugin'

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

declare module 'fastify' {
  interface FastifyInstance { ingestFeed: IngestFeed }
}

/** In-process delivery; one instance per app. */
export function inProcessFeed(): IngestFeed {
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  return {
    publish: (event) => { emitter.emit('ingest', event) },
    subscribe: (listener) => {
      emitter.on('ingest', listener)
      return () => { emitter.off('ingest', listener) }
    },
  }
}

export const ingestFeedPlugin = fp(async (app) => {
  app.decorate('ingestFeed', inProcessFeed())
}, { name: 'hostpulse-ingest-feed' })
