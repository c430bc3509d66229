// The dispatcher's Prometheus metrics, on the app's registry (GET /metrics).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { ChannelType } from '../store/database.ts'

/** delivered; retry (failed, will be tried again); failed (gave up: max attempts, permanent error, channel gone). */
export type SendOutcome = 'delivered' | 'retry' | 'failed'

export interface NotifyMetrics {
  recordSend(channelType: ChannelType | 'unknown', outcome: SendOutcome, seconds?: number): void
}

export function registerNotifyMetrics(registry: Registry, queueDepth: () => Promise<{ pending: number; sending: number }>): NotifyMetrics {
  const total = new Counter({
    name: 'hostpulse_notifications_total', help: 'Notification messages sent, by channel type and outcome (delivered, retry, failed)',
    labelNames: ['channel_type', 'outcome'], registers: [registry],
  })
  const duration = new Histogram({
    name: 'hostpulse_notification_duration_seconds', help: 'Time to send one notification message (success or failure), by channel type',
    labelNames: ['channel_type'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry],
  })
  new Gauge({
    name: 'hostpulse_notification_queue', help: 'Outbox rows not yet delivered: pending (waiting or backing off) and sending (in flight)',
    labelNames: ['status'], registers: [registry],
    async collect() {
      const depth = await queueDepth()
      this.set({ status: 'pending' }, depth.pending)
      this.set({ status: 'sending' }, depth.sending)
    },
  })
  return {
    recordSend(channelType, outcome, seconds) {
      total.inc({ channel_type: channelType, outcome })
      if (seconds !== undefined) duration.observe({ channel_type: channelType }, seconds)
    },
  }
}
