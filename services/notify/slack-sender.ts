// Slack: an incoming webhook through @slack/webhook, carrying a Block Kit message inside an attachment
// so the severity colour shows as the bar on its left. Connections go through the guarded fetch.
import { IncomingWebhook, type IncomingWebhookSendArguments } from '@slack/webhook'
import { alertLabel, colourOf, formatValue, subjectOf, type AlertItem, type AlertMessage } from './alert-message.ts'
import { guardedFetch } from './guarded-http.ts'
import { DeliveryError, excerpt, type SendContext } from './send-context.ts'
import type { SlackConfig } from './channel-config.ts'

/** Slack allows 50 blocks a message and 3,000 characters a section. */
const MAX_BLOCKS = 48
const MAX_SECTION_CHARS = 2900

type SlackBlock = NonNullable<IncomingWebhookSendArguments['blocks']>[number]

const escapeMrkdwn = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function alertMrkdwn(a: AlertItem): string {
  const name = a.url ? `<${a.url}|${escapeMrkdwn(alertLabel(a))}>` : escapeMrkdwn(alertLabel(a))
  const threshold = a.threshold === null ? '' : ` (threshold ${formatValue(a.threshold)})`
  const summary = a.summary ? ` — ${escapeMrkdwn(a.summary)}` : ''
  return `• *${name}* ${a.severity}: value *${formatValue(a.value)}*${threshold}${summary}`
}

export function slackPayload(message: AlertMessage): IncomingWebhookSendArguments {
  const subject = subjectOf(message)
  const sections: string[] = []
  let current = ''
  for (const line of message.alerts.map(alertMrkdwn)) {
    const clipped = line.length > MAX_SECTION_CHARS ? `${line.slice(0, MAX_SECTION_CHARS - 1)}…` : line
    if (current && current.length + 1 + clipped.length > MAX_SECTION_CHARS) { sections.push(current); current = '' }
    current = current ? `${current}\n${clipped}` : clipped
  }
  if (current) sections.push(current)
  const shown = sections.slice(0, MAX_BLOCKS - 2)
  const hidden = sections.slice(shown.length).reduce((n, s) => n + s.split('\n').length, 0)
  const blocks: SlackBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `*${escapeMrkdwn(subject)}*` } },
    ...shown.map((text) => ({ type: 'section', text: { type: 'mrkdwn', text } })),
    { type: 'context', elements: [{ type: 'mrkdwn', text: `hostpulse · rule ${escapeMrkdwn(message.rule.name)} · ${message.alerts.length} alert${message.alerts.length === 1 ? '' : 's'}${hidden ? ` (${hidden} not shown)` : ''}` }] },
  ]
  return { text: subject, attachments: [{ color: colourOf(message), fallback: subject, blocks }] }
}

export async function sendSlack(config: SlackConfig, message: AlertMessage, ctx: SendContext): Promise<void> {
  const webhook = new IncomingWebhook(config.webhook_url, { fetch: guardedFetch(ctx), timeout: 0 })
  try {
    await webhook.send(slackPayload(message))
  } catch (err) {
    const e = err as { original?: unknown; statusCode?: number; body?: string }
    if (e.original instanceof DeliveryError) throw e.original
    if (typeof e.statusCode === 'number') {
      const permanent = e.statusCode >= 300 && e.statusCode < 500 && e.statusCode !== 408 && e.statusCode !== 429
      throw new DeliveryError(`Slack answered HTTP ${e.statusCode}${e.body ? `: ${excerpt(e.body)}` : ''}`, { permanent })
    }
    throw err instanceof DeliveryError ? err : new DeliveryError(`Slack: ${excerpt((err as Error).message ?? String(err))}`)
  }
}
