// Discord: a webhook message with one embed per 25 alerts (Discord's field limit), the severity colour
// on its side; within Discord's 6,000-character (titles, fields and footer, all counted) and 10-embed limits, the rest is counted, not listed.
import { alertLabel, colourOf, formatValue, subjectOf, type AlertItem, type AlertMessage } from './alert-message.ts'
import type { DiscordConfig } from './channel-config.ts'
import { postOutbound, requireSuccess } from './guarded-http.ts'
import type { SendContext } from './send-context.ts'

const FIELDS_PER_EMBED = 25
const MAX_EMBEDS = 10
/** Discord counts every embed's title, fields and footer against 6,000 characters; a margin is kept. */
const MAX_TOTAL_CHARS = 5900
const CONTINUED = '(continued)'
/** The "… and N more alerts" field at the most (N under 10,000), and the title of an embed it may open. */
const MORE_FIELD_CHARS = 'More'.length + '… and 9999 more alerts'.length + CONTINUED.length

const clip = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s)

function field(a: AlertItem) {
  const threshold = a.threshold === null ? '' : ` (threshold ${formatValue(a.threshold)})`
  const lines = [`**${a.severity}** · value **${formatValue(a.value)}**${threshold}`]
  if (a.summary) lines.push(a.summary)
  if (a.url) lines.push(`[host page](${a.url})`)
  return { name: clip(alertLabel(a), 256), value: clip(lines.join('\n'), 1024), inline: false }
}

export function discordPayload(message: AlertMessage) {
  const subject = subjectOf(message)
  const colour = parseInt(colourOf(message).slice(1), 16)
  const title = clip(subject, 256)
  const footer = `hostpulse · rule ${clip(message.rule.name, 200)}`
  const fields: ReturnType<typeof field>[] = []
  // The first embed's title and the footer (on the last embed only), and room for the "more" field.
  let chars = title.length + footer.length + MORE_FIELD_CHARS
  for (const a of message.alerts) {
    const f = field(a)
    // A field that starts another embed brings that embed's title.
    const size = f.name.length + f.value.length + (fields.length > 0 && fields.length % FIELDS_PER_EMBED === 0 ? CONTINUED.length : 0)
    if (fields.length >= FIELDS_PER_EMBED * MAX_EMBEDS - 1 || chars + size > MAX_TOTAL_CHARS) break
    fields.push(f)
    chars += size
  }
  const hidden = message.alerts.length - fields.length
  if (hidden > 0) fields.push({ name: 'More', value: `… and ${hidden} more alert${hidden === 1 ? '' : 's'}`, inline: false })
  const embeds = []
  for (let i = 0; i < fields.length; i += FIELDS_PER_EMBED) {
    const last = i + FIELDS_PER_EMBED >= fields.length
    embeds.push({
      title: i === 0 ? title : CONTINUED, color: colour, fields: fields.slice(i, i + FIELDS_PER_EMBED),
      ...(last ? { footer: { text: footer }, timestamp: new Date().toISOString() } : {}),
    })
  }
  return { username: 'hostpulse', content: clip(subject, 2000), embeds, allowed_mentions: { parse: [] } }
}

export async function sendDiscord(config: DiscordConfig, message: AlertMessage, ctx: SendContext): Promise<void> {
  const answer = await postOutbound(config.webhook_url, JSON.stringify(discordPayload(message)), { 'content-type': 'application/json' }, ctx)
  requireSuccess('Discord', answer)
}
