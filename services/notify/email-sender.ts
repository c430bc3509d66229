// Email through nodemailer: HTML and plain-text parts. The operator's SMTP_URL is trusted; a channel's own
// SMTP server was set through the API, so its host is checked by the outbound guard at send time and the
// connection goes to exactly the address that passed (nodemailer resolves names itself and takes no
// `lookup`; pinning the checked address is what guardedLookup does for HTTP). TLS still verifies the name.
import nodemailer from 'nodemailer'
import { isIP } from 'node:net'
import { OutboundTargetError, checkOutboundTarget } from '../security/outbound-target.ts'
import { alertLabel, colourOf, formatValue, subjectOf, alertText, type AlertMessage } from './alert-message.ts'
import type { EmailConfig } from './channel-config.ts'
import { DeliveryError, excerpt, type SendContext } from './send-context.ts'

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

export function emailBodies(message: AlertMessage): { subject: string; text: string; html: string } {
  const subject = subjectOf(message)
  const text = [
    subject, '',
    ...message.alerts.map((a) => `- ${alertText(a)}${a.url ? `\n  ${a.url}` : ''}`),
    '', `Rule: ${message.rule.name} · ${message.alerts.length} alert${message.alerts.length === 1 ? '' : 's'} · sent by hostpulse`,
  ].join('\n')
  const cell = 'style="padding:4px 8px;border-bottom:1px solid #ddd;text-align:left"'
  const rows = message.alerts.map((a) => {
    const name = a.url ? `<a href="${escapeHtml(a.url)}">${escapeHtml(alertLabel(a))}</a>` : escapeHtml(alertLabel(a))
    return `<tr><td ${cell}>${name}</td><td ${cell}>${escapeHtml(a.severity)}</td><td ${cell}>${escapeHtml(formatValue(a.value))}</td>`
      + `<td ${cell}>${escapeHtml(formatValue(a.threshold))}</td><td ${cell}>${escapeHtml(a.state === 'resolved' && a.resolved_at ? a.resolved_at : a.started_at)}</td>`
      + `<td ${cell}>${escapeHtml(a.summary)}</td></tr>`
  }).join('\n')
  const html = `<!doctype html><html><body style="font-family:sans-serif">
<h2 style="border-left:6px solid ${colourOf(message)};padding-left:8px">${escapeHtml(subject)}</h2>
<table style="border-collapse:collapse">
<tr><th ${cell}>Agent</th><th ${cell}>Severity</th><th ${cell}>Value</th><th ${cell}>Threshold</th><th ${cell}>${message.kind === 'resolved' ? 'Resolved' : 'Since'}</th><th ${cell}>Summary</th></tr>
${rows}
</table>
<p style="color:#666">Rule ${escapeHtml(message.rule.name)} · sent by hostpulse</p>
</body></html>`
  return { subject, text, html }
}

async function transportFor(config: EmailConfig, ctx: SendContext) {
  const timeouts = { connectionTimeout: ctx.timeoutMs, greetingTimeout: ctx.timeoutMs, socketTimeout: ctx.timeoutMs }
  if (!config.smtp) {
    if (!ctx.smtpUrl) throw new DeliveryError('no SMTP server: set SMTP_URL or give the channel its own smtp settings', { permanent: true })
    return nodemailer.createTransport({ url: ctx.smtpUrl, ...timeouts } as never)
  }
  const { host } = config.smtp
  let address: string
  try {
    address = (await checkOutboundTarget(host, { allowPrivate: ctx.allowPrivate, resolve: ctx.resolve })).addresses[0].address
  } catch (err) {
    if (err instanceof OutboundTargetError) throw new DeliveryError(`refused: ${err.message}`, { permanent: err.reason !== 'unresolvable', cause: err })
    throw err
  }
  return nodemailer.createTransport(channelSmtpOptions(config.smtp, address, ctx) as never)
}

/** Transport options for a channel's own SMTP server, connecting to the checked `address`. */
export function channelSmtpOptions(smtp: NonNullable<EmailConfig['smtp']>, address: string, ctx: Pick<SendContext, 'timeoutMs' | 'allowPrivate'>) {
  const { host, port, secure, username, password } = smtp
  const servername = isIP(host) ? undefined : host
  return {
    host: address, port, secure, connectionTimeout: ctx.timeoutMs, greetingTimeout: ctx.timeoutMs, socketTimeout: ctx.timeoutMs,
    auth: username ? { user: username, pass: password ?? '' } : undefined,
    // Without secure, nodemailer upgrades only if the server offers STARTTLS: insist, or the password may go in clear.
    // allowPrivate (a lab or test server on the local network) may speak plain SMTP.
    requireTLS: !secure && Boolean(password) && !ctx.allowPrivate,
    tls: servername ? { servername } : undefined,
    ...(servername ? { servername } : {}),
  }
}

export async function sendEmail(config: EmailConfig, message: AlertMessage, ctx: SendContext): Promise<string> {
  const transport = await transportFor(config, ctx)
  const { subject, text, html } = emailBodies(message)
  let timer: NodeJS.Timeout | undefined
  let onAbort = () => {}
  try {
    const sent = transport.sendMail({
      from: config.from ?? ctx.smtpFrom, to: config.to, subject, text, html,
      headers: { 'X-Hostpulse-Message-Id': message.message_id },
    })
    const stop = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new DeliveryError(`the SMTP server did not finish within ${ctx.timeoutMs} ms`)), ctx.timeoutMs)
      onAbort = () => reject(new DeliveryError('interrupted: the server is shutting down'))
      if (ctx.signal?.aborted) onAbort()
      else ctx.signal?.addEventListener('abort', onAbort, { once: true })
    })
    const info = await Promise.race([sent, stop])
    return String(info.messageId ?? '')
  } catch (err) {
    if (err instanceof DeliveryError) throw err
    const e = err as { code?: string; responseCode?: number; message?: string }
    // 5xx SMTP replies (bad recipient, auth refused) will not change on retry; 4xx ones are temporary.
    const permanent = typeof e.responseCode === 'number' && e.responseCode >= 500
    throw new DeliveryError(`SMTP: ${e.code ? `${e.code} ` : ''}${excerpt(e.message ?? String(err))}`, { permanent, cause: err })
  } finally {
    clearTimeout(timer)
    ctx.signal?.removeEventListener('abort', onAbort)
    transport.close()
  }
}
