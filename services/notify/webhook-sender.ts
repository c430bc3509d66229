// The generic webhook: the message as JSON, signed with the channel's secret (see webhook-signature.ts),
// plus the channel's own headers.
import type { AlertMessage } from './alert-message.ts'
import type { WebhookConfig } from './channel-config.ts'
import { postOutbound, requireSuccess } from './guarded-http.ts'
import type { SendContext } from './send-context.ts'
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhook } from './webhook-signature.ts'

/** Bumped when a field changes meaning or goes away; new fields may appear at any time. */
export const WEBHOOK_PAYLOAD_VERSION = 1

export function webhookPayload(message: AlertMessage, sentAt = new Date()) {
  return {
    version: WEBHOOK_PAYLOAD_VERSION,
    kind: message.kind,
    test: message.test,
    message_id: message.message_id,
    sent_at: sentAt.toISOString(),
    rule: message.rule,
    severity: message.severity,
    alerts: message.alerts.map((a) => ({
      event_id: a.event_id, agent: a.agent, agent_id: a.agent_id, series: a.series, series_tags: a.series_tags,
      severity: a.severity, state: a.state, value: a.value, threshold: a.threshold, summary: a.summary,
      started_at: a.started_at, resolved_at: a.resolved_at, url: a.url,
    })),
  }
}

export async function sendWebhook(config: WebhookConfig, message: AlertMessage, ctx: SendContext): Promise<void> {
  const now = new Date()
  const body = JSON.stringify(webhookPayload(message, now))
  const timestamp = String(Math.floor(now.getTime() / 1000))
  const headers: Record<string, string> = {
    ...config.headers,
    'content-type': 'application/json',
    [TIMESTAMP_HEADER]: timestamp,
    'X-Hostpulse-Message-Id': message.message_id,
  }
  if (config.secret) headers[SIGNATURE_HEADER] = signWebhook(config.secret, timestamp, body)
  requireSuccess('the webhook', await postOutbound(config.url, body, headers, ctx))
}
