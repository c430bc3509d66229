// The notify stage: notification channels (/api/v1/notification-channels) and, when `dispatch` is on, the
// outbox dispatcher that delivers what the evaluator queued. It never imports services/alerting: the two
// meet only at the alert_notifications table.
import fp from 'fastify-plugin'
import { sql } from 'kysely'
import type { Resolver } from '../security/outbound-target.ts'
import type { ConfigRules } from './channel-config.ts'
import { channelsRoutes } from './channels-routes.ts'
import { DEFAULT_DISPATCHER_SETTINGS, OutboxDispatcher, type DispatcherSettings } from './outbox-dispatcher.ts'
import { registerNotifyMetrics } from './notify-metrics.ts'
import { sendToChannel, type SendFunction } from './senders.ts'

export interface NotifyOptions {
  /** Run the outbox dispatcher in this instance (main.ts: yes; most tests: no). */
  dispatch?: boolean
  /** ALERT_TARGETS_ALLOW_PRIVATE: channel targets on loopback/private addresses, and plain http URLs, are accepted. */
  allowPrivateTargets?: boolean
  /** SMTP_URL: the operator's SMTP server, trusted (not subject to the private-address guard). */
  smtpUrl?: string
  /** SMTP_FROM: the sender of emails whose channel sets no `from`. */
  smtpFrom?: string
  /** PUBLIC_URL: links in notifications point to `${publicUrl}/#/hosts/<agent_id>`; no links when unset. */
  publicUrl?: string
  /** Test-sends per user per window; default 5 per minute. */
  testSendLimit?: { max: number; windowMs: number }
  /** Dispatcher tuning (poll interval, timeouts, attempts, backoff); production defaults when unset. */
  dispatcher?: Partial<DispatcherSettings>
  /** Name resolution for the SSRF guard; the system resolver by default (tests inject one). */
  resolve?: Resolver
  /** Replaces the real senders (tests of the dispatcher's own behaviour). */
  send?: SendFunction
}

export const DEFAULT_TEST_SEND_LIMIT = { max: 5, windowMs: 60_000 }
const DEFAULT_FROM = 'hostpulse <hostpulse@localhost>'

declare module 'fastify' {
  interface FastifyInstance {
    /** The running dispatcher, when `dispatch` is on (tests wait on it with `idle()`). */
    notifyDispatcher?: OutboxDispatcher
    /** The checks on channel configs written through an API (private targets, SMTP): every face that writes channels applies them. */
    channelConfigRules: ConfigRules
  }
}

export const notifyPlugin = fp(async (app, opts: NotifyOptions) => {
  const allowPrivate = opts.allowPrivateTargets ?? false
  const settings = { ...DEFAULT_DISPATCHER_SETTINGS, ...opts.dispatcher }
  const send = opts.send ?? sendToChannel
  const context = { allowPrivate, resolve: opts.resolve, smtpUrl: opts.smtpUrl, smtpFrom: opts.smtpFrom ?? DEFAULT_FROM }

  const rules: ConfigRules = { allowPrivate, resolve: opts.resolve, hasOperatorSmtp: Boolean(opts.smtpUrl) }
  app.decorate('channelConfigRules', rules)
  await app.register(channelsRoutes, {
    rules,
    send, sendContext: { ...context, timeoutMs: settings.sendTimeoutMs }, publicUrl: opts.publicUrl,
    testSendLimit: opts.testSendLimit ?? DEFAULT_TEST_SEND_LIMIT,
  })

  const metrics = registerNotifyMetrics(app.observability.registry, async () => {
    const { rows } = await sql<{ pending: number; sending: number }>`
      select count(*) filter (where status = 'pending')::int as pending, count(*) filter (where status = 'sending')::int as sending
      from alert_notifications where status in ('pending', 'sending')`.execute(app.store.db)
    return rows[0] ?? { pending: 0, sending: 0 }
  })

  if (opts.dispatch) {
    const dispatcher = new OutboxDispatcher({ db: app.store.db, send, context, publicUrl: opts.publicUrl, metrics, log: app.log }, settings)
    app.decorate('notifyDispatcher', dispatcher)
    app.addHook('onReady', async () => { dispatcher.start() })
    app.addHook('onClose', async () => { await dispatcher.stop() })
  }
}, { name: 'hostpulse-notify', dependencies: ['hostpulse-auth', 'hostpulse-rate-limit', 'hostpulse-metrics'] })
