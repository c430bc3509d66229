// Each sender against a real peer (no database): a local HTTP server standing in for Slack, Discord and a
// webhook receiver, and a real SMTP server. Checks the JSON shapes, the HMAC signature, both email parts,
// grouped messages listing every alert, and the outbound guard at connect time (literal addresses, a
// name that turns private after the channel was saved, an SMTP override host), timeouts and redirects.
import t from 'tap'
import { buildAlertMessage, subjectOf, testMessage, type AlertEventRow, type AlertMessage } from '../../services/notify/alert-message.ts'
import { sendToChannel } from '../../services/notify/senders.ts'
import { DeliveryError, type SendContext } from '../../services/notify/send-context.ts'
import { verifyWebhookSignature, signWebhook } from '../../services/notify/webhook-signature.ts'
import { slackPayload } from '../../services/notify/slack-sender.ts'
import { channelSmtpOptions } from '../../services/notify/email-sender.ts'
import nodemailer from 'nodemailer'
import { discordPayload } from '../../services/notify/discord-sender.ts'
import { startReceiver, startSmtp, tableResolver } from './notify-helpers.ts'

const AGENT_IDS = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333']

function events(n: number, overrides: Partial<AlertEventRow> = {}): AlertEventRow[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `aaaaaaaa-aaaa-4aaa-8aaa-${String(i).padStart(12, '0')}`, rule_id: 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', rule_name: 'High CPU',
    agent_id: AGENT_IDS[i % 3], agent_name: `server-${String(i + 1).padStart(3, '0')}`, series_key: '', series_tags: {},
    severity: 'critical' as const, state: 'firing' as const, value: 95.123 + i, threshold: 90, summary: `CPU high on server-${i + 1}`,
    started_at: new Date('2026-01-30T10:00:00Z'), resolved_at: null, ...overrides,
  }))
}

const grouped = (kind: AlertMessage['kind'] = 'firing', n = 3) =>
  buildAlertMessage({ kind, ruleId: 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', events: events(n), messageId: 'cccccccc-cccc-4ccc-8ccc-cccccccccccc', publicUrl: 'https://hostpulse.example.com/' })

const ctx = (over: Partial<SendContext> = {}): SendContext => ({ allowPrivate: true, timeoutMs: 3000, smtpFrom: 'hostpulse <alerts@hostpulse.test>', ...over })

t.test('subjects and messages', async (t) => {
  t.equal(subjectOf(grouped()), '[CRITICAL] High CPU firing on server-001 (+2 more)')
  t.equal(subjectOf(grouped('repeat', 1)), '[CRITICAL] High CPU still firing on server-001')
  t.equal(subjectOf(grouped('resolved')), '[RESOLVED] High CPU resolved on server-001 (+2 more)')
  const m = grouped()
  t.equal(m.alerts[0].url, `https://hostpulse.example.com/#/hosts/${AGENT_IDS[0]}`, 'link to the host page, no double slash')
  t.equal(buildAlertMessage({ kind: 'firing', ruleId: null, events: events(1), messageId: 'x' }).alerts[0].url, null, 'no public URL: no link')
  t.match(subjectOf(testMessage('ops', 'id-1')), /^\[TEST\]/)
})

t.test('slack: Block Kit with the severity colour, every alert, the value, threshold and host link', async (t) => {
  const rx = await startReceiver(t)
  await sendToChannel({ type: 'slack', config: { webhook_url: `${rx.url}/services/T0/B0/secret-token` } }, grouped(), ctx())
  const [req] = rx.at('/services/T0/B0/secret-token')
  t.ok(req, 'one request arrived')
  t.equal(req.headers['content-type'], 'application/json')
  t.equal(req.json.text, '[CRITICAL] High CPU firing on server-001 (+2 more)')
  const att = req.json.attachments[0]
  t.equal(att.color, '#E01E5A', 'critical colour')
  const text = att.blocks.map((b: any) => b.text?.text ?? b.elements?.[0]?.text).join('\n')
  for (const name of ['server-001', 'server-002', 'server-003']) t.match(text, name, `lists ${name}`)
  t.match(text, `<https://hostpulse.example.com/#/hosts/${AGENT_IDS[0]}|server-001>`, 'linked host page')
  t.match(text, /value \*95\.12\*/, 'value rounded')
  t.match(text, /threshold 90/)
  t.equal(slackPayload(grouped('resolved')).attachments![0].color, '#2EB67D', 'resolved is green')

  rx.script('/slack-fails', () => ({ status: 404, body: 'no_service' }))
  const err = await sendToChannel({ type: 'slack', config: { webhook_url: `${rx.url}/slack-fails` } }, grouped(), ctx()).catch((e) => e)
  t.type(err, DeliveryError)
  t.match(err.message, /Slack answered HTTP 404: no_service/)
  t.equal(err.permanent, true, 'a 404 will not get better')
  t.notMatch(err.message, /slack-fails/, 'the path (token) is not in the error')
})

t.test('discord: content + embeds with title, colour and one field per alert', async (t) => {
  const rx = await startReceiver(t)
  rx.script('/api/webhooks/1/tok', () => ({ status: 204 }))
  await sendToChannel({ type: 'discord', config: { webhook_url: `${rx.url}/api/webhooks/1/tok` } }, grouped(), ctx())
  const [req] = rx.at('/api/webhooks/1/tok')
  t.equal(req.json.content, '[CRITICAL] High CPU firing on server-001 (+2 more)')
  const embed = req.json.embeds[0]
  t.equal(embed.title, req.json.content)
  t.equal(embed.color, 0xE01E5A)
  t.same(embed.fields.map((f: any) => f.name), ['server-001', 'server-002', 'server-003'])
  t.match(embed.fields[0].value, /value \*\*95\.12\*\* \(threshold 90\)/)
  t.match(embed.fields[0].value, `(https://hostpulse.example.com/#/hosts/${AGENT_IDS[0]})`)
  const big = discordPayload(grouped('firing', 300))
  t.ok(big.embeds.length <= 10 && big.embeds.every((e) => e.fields.length <= 25), 'within Discord limits')
  t.ok(JSON.stringify(big.embeds).length < 8000)
  t.match(big.embeds.at(-1)!.fields.at(-1)!.value, /and \d+ more alerts/, 'the rest counted')

  // Discord counts every embed's title, field names and values and footer against 6,000 characters. A rule
  // name at the API's 200 characters makes titles and footers long; short alerts make many embeds.
  const longName = buildAlertMessage({ kind: 'firing', ruleId: null, events: events(120, { rule_name: 'R'.repeat(200), summary: 'CPU high' }), messageId: 'x' })
  for (const message of [big, discordPayload(longName)]) {
    const counted = message.embeds.reduce((n, e) => n + e.title.length + (e.footer?.text.length ?? 0)
      + e.fields.reduce((m, f) => m + f.name.length + f.value.length, 0), 0)
    t.ok(counted <= 6000, `${message.embeds.length} embeds, ${counted} characters as Discord counts them (at most 6,000)`)
  }
})

t.test('webhook: JSON body, HMAC-SHA256 signature over "<timestamp>.<body>", custom headers', async (t) => {
  const rx = await startReceiver(t)
  const secret = 'whsec-0123456789'
  await sendToChannel({ type: 'webhook', config: { url: `${rx.url}/hook?token=abc`, secret, headers: { 'X-Team': 'ops', Authorization: 'Bearer rx-token' } } }, grouped('resolved'), ctx())
  const [req] = rx.at('/hook')
  const ts = req.headers['x-hostpulse-timestamp'] as string
  const sig = req.headers['x-hostpulse-signature'] as string
  t.match(sig, /^sha256=[0-9a-f]{64}$/)
  t.ok(verifyWebhookSignature(secret, ts, req.body, sig), 'the signature verifies')
  t.notOk(verifyWebhookSignature(secret, ts, req.body.replace('High CPU', 'Low CPU'), sig), 'a changed body does not')
  t.notOk(verifyWebhookSignature('other-secret', ts, req.body, sig), 'another secret does not')
  const old = String(Number(ts) - 3600)
  t.notOk(verifyWebhookSignature(secret, old, req.body, signWebhook(secret, old, req.body)), 'an old timestamp does not (replay)')
  t.equal(req.headers['x-team'], 'ops')
  t.equal(req.headers.authorization, 'Bearer rx-token')
  t.equal(req.headers['x-hostpulse-message-id'], 'cccccccc-cccc-4ccc-8ccc-cccccccccccc')
  const body = req.json
  t.equal(body.version, 1)
  t.equal(body.kind, 'resolved')
  t.same(body.rule, { id: 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', name: 'High CPU' })
  t.equal(body.alerts.length, 3)
  t.same(Object.keys(body.alerts[0]).sort(), ['agent', 'agent_id', 'event_id', 'resolved_at', 'series', 'series_tags', 'severity', 'started_at', 'state', 'summary', 'threshold', 'url', 'value'].sort())
  t.equal(body.alerts[0].started_at, '2026-01-30T10:00:00.000Z')

  await sendToChannel({ type: 'webhook', config: { url: `${rx.url}/unsigned` } }, grouped(), ctx())
  t.equal(rx.at('/unsigned')[0].headers['x-hostpulse-signature'], undefined, 'no secret, no signature')
})

t.test('email: operator SMTP_URL, subject with severity and rule, HTML and plain-text parts', async (t) => {
  const smtp = await startSmtp(t)
  await sendToChannel({ type: 'email', config: { to: ['ops@example.com', 'oncall@example.com'] } }, grouped(), ctx({ smtpUrl: smtp.url }))
  t.equal(smtp.mails.length, 1)
  const mail = smtp.mails[0]
  t.equal(mail.subject, '[CRITICAL] High CPU firing on server-001 (+2 more)')
  t.same(mail.to, ['ops@example.com', 'oncall@example.com'])
  t.equal(mail.from, 'alerts@hostpulse.test', 'SMTP_FROM by default')
  for (const name of ['server-001', 'server-002', 'server-003']) {
    t.match(mail.text, name, `text part lists ${name}`)
    t.match(mail.html, name, `html part lists ${name}`)
  }
  t.match(mail.text, `https://hostpulse.example.com/#/hosts/${AGENT_IDS[0]}`)
  t.match(mail.html, /<table/)
  t.match(mail.html, `href="https://hostpulse.example.com/#/hosts/${AGENT_IDS[0]}"`)
  t.match(mail.raw, /X-Hostpulse-Message-Id: cccccccc/i, "message id header")
})

t.test('email: a channel\'s own SMTP server with authentication, reached through the guard', async (t) => {
  const smtp = await startSmtp(t, { auth: { username: 'mailer', password: 'smtp-pass-1' } })
  const config = { to: ['ops@example.com'], from: 'Alerts <alerts@example.com>', smtp: { host: 'mail.example.test', port: smtp.port, secure: false, username: 'mailer', password: 'smtp-pass-1' } }
  const resolve = tableResolver({ 'mail.example.test': ['127.0.0.1'] })
  await sendToChannel({ type: 'email', config }, grouped(), ctx({ resolve }))
  t.equal(smtp.mails.length, 1)
  t.equal(smtp.mails[0].auth?.username, 'mailer', 'authenticated')
  t.equal(smtp.mails[0].from, 'alerts@example.com')

  const refused = await sendToChannel({ type: 'email', config }, grouped(), ctx({ resolve, allowPrivate: false })).catch((e) => e)
  t.type(refused, DeliveryError)
  t.match(refused.message, /loopback/, 'a private SMTP host is refused at send time')
  t.equal(smtp.mails.length, 1, 'nothing sent')

  const wrong = await sendToChannel({ type: 'email', config: { ...config, smtp: { ...config.smtp, password: 'wrong' } } }, grouped(), ctx({ resolve })).catch((e) => e)
  t.match(wrong.message, /SMTP: EAUTH/)
  t.notMatch(wrong.message, /wrong|smtp-pass/, 'no password in the error')

  const none = await sendToChannel({ type: 'email', config: { to: ['a@b.c'] } }, grouped(), ctx()).catch((e) => e)
  t.match(none.message, /no SMTP server/)
})

t.test('email: a channel\'s SMTP password never goes over plain SMTP unless private targets are allowed', async (t) => {
  // The guard refuses loopback without allowPrivate, so the options it would use are tried here directly
  // against a real server that offers no STARTTLS.
  const smtp = await startSmtp(t, { auth: { username: 'mailer', password: 'smtp-pass-2' } })
  const override = { host: 'mail.example.test', port: smtp.port, secure: false, username: 'mailer', password: 'smtp-pass-2' }
  const mail = { from: 'a@example.com', to: 'ops@example.com', subject: 's', text: 't' }
  const strict = nodemailer.createTransport(channelSmtpOptions(override, '127.0.0.1', { timeoutMs: 3000, allowPrivate: false }) as never)
  const refused = await strict.sendMail(mail).catch((e: Error & { code?: string }) => e)
  strict.close()
  t.type(refused, Error, 'refused without STARTTLS')
  t.match(String((refused as { code?: string }).code), /ETLS/)
  t.equal(smtp.mails.length, 0, 'nothing sent, no password given')
  const lab = nodemailer.createTransport(channelSmtpOptions(override, '127.0.0.1', { timeoutMs: 3000, allowPrivate: true }) as never)
  await lab.sendMail(mail)
  lab.close()
  t.equal(smtp.mails.length, 1, 'allowPrivate (a lab server) may speak plain SMTP')
  t.equal(channelSmtpOptions({ ...override, password: undefined, username: undefined }, '127.0.0.1', { timeoutMs: 3000, allowPrivate: false }).requireTLS, false, 'no password, nothing to protect')
})

t.test('the guard at connect time: literal addresses and names that turn private (DNS rebinding)', async (t) => {
  const rx = await startReceiver(t)
  const strict = ctx({ allowPrivate: false })
  const literal = await sendToChannel({ type: 'webhook', config: { url: `${rx.url}/x` } }, grouped(), strict).catch((e) => e)
  t.type(literal, DeliveryError)
  t.match(literal.message, /loopback/)
  t.equal(literal.permanent, true)

  // Public when the channel was saved; now the name answers 127.0.0.1.
  const table: Record<string, string[]> = { 'hooks.example.test': ['127.0.0.1'] }
  const rebound = await sendToChannel({ type: 'slack', config: { webhook_url: `http://hooks.example.test:${rx.port}/services/x` } }, grouped(),
    ctx({ allowPrivate: false, resolve: tableResolver(table) })).catch((e) => e)
  t.type(rebound, DeliveryError)
  t.match(rebound.message, /hooks\.example\.test.*loopback/)
  table['hooks.example.test'] = ['10.1.2.3', '127.0.0.1']
  const mixed = await sendToChannel({ type: 'discord', config: { webhook_url: `http://hooks.example.test:${rx.port}/d` } }, grouped(),
    ctx({ allowPrivate: false, resolve: tableResolver(table) })).catch((e) => e)
  t.match(mixed.message, /private/)
  t.equal(rx.requests.length, 0, 'no request reached the receiver')

  await sendToChannel({ type: 'webhook', config: { url: `http://hooks.example.test:${rx.port}/ok` } }, grouped(), ctx({ resolve: tableResolver({ 'hooks.example.test': ['127.0.0.1'] }) }))
  t.equal(rx.at('/ok').length, 1, 'with ALERT_TARGETS_ALLOW_PRIVATE the same name is reached')
})

t.test('deadlines, redirects and failures', async (t) => {
  const rx = await startReceiver(t)
  rx.script('/hang', () => ({ status: 200, hang: true }))
  const started = Date.now()
  const slow = await sendToChannel({ type: 'webhook', config: { url: `${rx.url}/hang` } }, grouped(), ctx({ timeoutMs: 300 })).catch((e) => e)
  t.match(slow.message, /did not answer within 300 ms/)
  t.ok(Date.now() - started < 2000, 'gave up at the deadline')
  t.equal(slow.permanent, false, 'a timeout is retried')

  rx.script('/moved', () => ({ status: 302, headers: { location: `${rx.url}/elsewhere` } }))
  const moved = await sendToChannel({ type: 'webhook', config: { url: `${rx.url}/moved` } }, grouped(), ctx()).catch((e) => e)
  t.match(moved.message, /redirect \(HTTP 302\), which is not followed/)
  t.equal(rx.at('/elsewhere').length, 0)

  rx.script('/busy', () => ({ status: 503, body: 'try later' }))
  const busy = await sendToChannel({ type: 'discord', config: { webhook_url: `${rx.url}/busy` } }, grouped(), ctx()).catch((e) => e)
  t.match(busy.message, /Discord answered HTTP 503 Service Unavailable: try later/)
  t.equal(busy.permanent, false)

  const closed = await sendToChannel({ type: 'webhook', config: { url: 'http://127.0.0.1:1/x' } }, grouped(), ctx()).catch((e) => e)
  t.match(closed.message, /cannot reach 127\.0\.0\.1: ECONNREFUSED/)

  const controller = new AbortController()
  const pending = sendToChannel({ type: 'webhook', config: { url: `${rx.url}/hang` } }, grouped(), ctx({ signal: controller.signal, timeoutMs: 10_000 })).catch((e) => e)
  setTimeout(() => controller.abort(), 100)
  t.match((await pending).message, /shutting down/, 'a shutdown interrupts a send')

  // A header Node cannot write (stored before the channel API refused such values): refused before anything
  // is sent, for good, rather than retried as if the receiver were down.
  const unsendable = await sendToChannel({ type: 'webhook', config: { url: `${rx.url}/hook`, headers: { 'X-Token': 'Bearer t\u20ackn' } } }, grouped(), ctx()).catch((e) => e)
  t.ok(unsendable instanceof DeliveryError, `a delivery error (${unsendable?.message})`)
  t.equal(unsendable.permanent, true, 'permanent')
  t.match(unsendable.message, /^cannot send: /)
  t.equal(rx.at('/hook').length, 0, 'nothing reached the receiver')

  // A receiver echoing the request's path: the error carries no part of the webhook's secret path.
  rx.script('/services/T0SECRET/B0SECRET/zzWebhookSecret12345', () => ({ status: 404, body: 'Cannot POST /services/T0SECRET/B0SECRET/zzWebhookSecret12345' }))
  for (const type of ['webhook', 'slack', 'discord'] as const) {
    const url = `${rx.url}/services/T0SECRET/B0SECRET/zzWebhookSecret12345`
    const echoed = await sendToChannel(type === 'webhook' ? { type, config: { url } } : { type, config: { webhook_url: url } }, grouped(), ctx()).catch((e) => e)
    t.match(echoed.message, /HTTP 404/, `${type}: the answer is reported (${echoed.message})`)
    t.notMatch(echoed.message, /SECRET|zzWebhookSecret/, `${type}: without the path it echoed`)
  }
})
