// Notification channels and the dispatcher. (skeleton: being built)
import fp from 'fastify-plugin'

export interface NotifyOptions {
  /** Run the outbox dispatcher in this instance (main.ts: yes; most tests: no). */
  dispatch?: boolean
}

export const notifyPlugin = fp(async (_app, _opts: NotifyOptions) => {
}, { name: 'hostpulse-notify', dependencies: ['hostpulse-auth'] })
