// Makes the opened store available to routes as `app.store`; whoever opened it closes it.
import fp from 'fastify-plugin'
import type { Store } from './open-store.ts'

declare module 'fastify' {
  interface FastifyInstance { store: Store }
}

export const storePlugin = fp(async (app, opts: { store: Store }) => {
  app.decorate('store', opts.store)
}, { name: 'hostpulse-store' })
