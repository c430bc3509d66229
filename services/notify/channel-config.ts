// A channel's `config` per type: validation with field-named errors, the masked view the API shows
// (secrets never leave in full), keeping stored secrets when a client sends the masked view back, and the
// checks on targets set through the API (scheme, and the SSRF guard at create/update).
import { isIP } from 'node:net'
import { Type, type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import { invalidField } from '../errors/domain-error.ts'
import { invalidInput } from '../errors/validation-issues.ts'
import { OutboundTargetError, checkOutboundTarget, type Resolver } from '../security/outbound-target.ts'
import type { ChannelType } from '../store/database.ts'

/** What replaces a secret in every answer; sending it back keeps the stored value. */
export const MASK = '****'

const Url = Type.String({ minLength: 1, maxLength: 2048 })
const Address = Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@<>,;"]+@[^\\s@<>,;"]+$' })
// "Name <a@b>" or a bare address; no line breaks, so no header can be smuggled in.
const Mailbox = Type.String({ minLength: 3, maxLength: 320, pattern: '^[^\\r\\n]*@[^\\r\\n]*$' })

const SlackConfigSchema = Type.Object({ webhook_url: Url }, { additionalProperties: false })
const SmtpSchema = Type.Object({
  host: Type.String({ minLength: 1, maxLength: 253 }),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'default 587 (465 when secure)' })),
  secure: Type.Optional(Type.Boolean({ description: 'TLS from the first byte (port 465); otherwise STARTTLS when offered' })),
  username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  password: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 1024 }), Type.Null()], { description: `"${MASK}" or absent keeps the stored one, null removes it` })),
  has_password: Type.Optional(Type.Boolean({ description: 'read-only, ignored' })),
}, { additionalProperties: false })
const EmailConfigSchema = Type.Object({
  to: Type.Array(Address, { minItems: 1, maxItems: 50 }),
  from: Type.Optional(Mailbox),
  smtp: Type.Optional(SmtpSchema),
}, { additionalProperties: false })
const WebhookConfigSchema = Type.Object({
  url: Url,
  secret: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 512 }), Type.Null()], { description: `HMAC-SHA256 key; "${MASK}" or absent keeps the stored one, null removes it` })),
  has_secret: Type.Optional(Type.Boolean({ description: 'read-only, ignored' })),
  headers: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 4096 }), { maxProperties: 20 })),
}, { additionalProperties: false })

const CHECKS = {
  slack: Compile(SlackConfigSchema), discord: Compile(SlackConfigSchema), email: Compile(EmailConfigSchema), webhook: Compile(WebhookConfigSchema),
}

type SmtpInput = Static<typeof SmtpSchema>
type EmailInput = Static<typeof EmailConfigSchema>
type WebhookInput = Static<typeof WebhookConfigSchema>

/** Stored configs: secrets in full, no read-only fields. */
/** Slack and Discord: the incoming-webhook URL (its path is the credential). */
export interface WebhookUrlConfig { webhook_url: string }
export type SlackConfig = WebhookUrlConfig
export type DiscordConfig = WebhookUrlConfig
export interface SmtpOverride { host: string; port: number; secure: boolean; username?: string; password?: string }
export interface EmailConfig { to: string[]; from?: string; smtp?: SmtpOverride }
export interface WebhookConfig { url: string; secret?: string; headers?: Record<string, string> }
export type ChannelConfig = WebhookUrlConfig | EmailConfig | WebhookConfig

export interface ConfigRules {
  allowPrivate: boolean
  resolve?: Resolver
  /** The operator's SMTP server is configured (email channels may then omit `smtp`). */
  hasOperatorSmtp: boolean
}

const bad = (field: string, problem: string) => invalidField(field, problem)

// Headers the sender sets itself, or that would change how the request is framed or routed.
const RESERVED_HEADERS = /^(host|content-length|content-type|transfer-encoding|connection|keep-alive|upgrade|te|trailer|proxy-.*|x-hostpulse-.*)$/i
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/

/** `https://hooks.slack.com/…/****`: the origin stays readable, the path and query (the token) do not. */
export function maskUrl(url: string): string {
  try { return `${new URL(url).origin}/…/${MASK}` } catch { return MASK }
}

/** The config as the API shows it. */
export function maskConfig(type: ChannelType, config: Record<string, unknown>): Record<string, unknown> {
  if (type === 'slack' || type === 'discord') return { webhook_url: maskUrl(String((config as unknown as SlackConfig).webhook_url)) }
  if (type === 'webhook') {
    const c = config as unknown as WebhookConfig
    const out: Record<string, unknown> = { url: maskUrl(c.url), has_secret: Boolean(c.secret) }
    if (c.headers) out.headers = Object.fromEntries(Object.keys(c.headers).map((k) => [k, MASK]))
    return out
  }
  const c = config as unknown as EmailConfig
  const out: Record<string, unknown> = { to: c.to }
  if (c.from) out.from = c.from
  if (c.smtp) {
    const { password, ...smtp } = c.smtp
    out.smtp = { ...smtp, has_password: Boolean(password) }
  }
  return out
}

/**
 * Validates `raw` for `type` and resolves masked values against `stored` (a PUT): a masked URL or header
 * value, an absent secret or password, or "****" keeps what is stored. Secrets sent to a target are kept
 * only while that target stays the same, so a changed URL or SMTP host cannot carry them elsewhere.
 */
export function parseChannelConfig(type: ChannelType, raw: unknown, stored?: { type: ChannelType; config: Record<string, unknown> }): ChannelConfig {
  const check = CHECKS[type]
  if (!check.Check(raw)) throw invalidInput([...check.Errors(raw)] as never, 'config')
  const previous = stored && stored.type === type ? stored.config : undefined
  if (type === 'slack' || type === 'discord') {
    const prev = previous as SlackConfig | undefined
    return { webhook_url: keepUrl('config.webhook_url', (raw as SlackConfig).webhook_url, prev?.webhook_url) }
  }
  if (type === 'webhook') return parseWebhook(raw as WebhookInput, previous as WebhookConfig | undefined)
  return parseEmail(raw as EmailInput, previous as EmailConfig | undefined)
}

function keepUrl(field: string, given: string, stored: string | undefined): string {
  const trimmed = given.trim()
  if (stored !== undefined && trimmed === maskUrl(stored)) return stored
  if (trimmed.includes(`/…/${MASK}`) || trimmed === MASK) {
    throw bad(field, stored === undefined ? 'is a masked value: send the full URL' : 'is a masked value of another URL: send the full URL, or the value exactly as the API showed it')
  }
  return trimmed
}

function parseWebhook(raw: WebhookInput, prev: WebhookConfig | undefined): WebhookConfig {
  const url = keepUrl('config.url', raw.url, prev?.url)
  const out: WebhookConfig = { url }
  if (raw.secret === MASK || raw.secret === undefined) {
    if (raw.secret === MASK && !prev?.secret) throw bad('config.secret', 'is a masked value but no secret is stored: send the secret itself')
    if (prev?.secret) out.secret = prev.secret
  } else if (raw.secret !== null) out.secret = raw.secret
  if (raw.headers) {
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(raw.headers)) {
      const field = `config.headers.${name}`
      if (!HEADER_NAME.test(name)) throw bad(field, 'is not a valid header name')
      if (RESERVED_HEADERS.test(name)) throw bad(field, 'is set by hostpulse itself and cannot be configured')
      if (/[\r\n]/.test(value)) throw bad(field, 'must not contain line breaks')
      // What Node's HTTP client can send (it throws on anything else, at every delivery).
      if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) throw bad(field, 'must hold only tabs and printable ASCII or Latin-1 characters')
      if (value === MASK) {
        const kept = prev?.headers && Object.entries(prev.headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1]
        if (kept === undefined) throw bad(field, 'is a masked value but no such header is stored: send the value itself')
        if (prev?.url !== url) throw bad(field, 'is a masked value, but the URL changed: send the header value again (stored header values only go to the URL they were set for)')
        headers[name] = kept
      } else headers[name] = value
    }
    if (Object.keys(headers).length > 0) out.headers = headers
  }
  return out
}

function parseEmail(raw: EmailInput, prev: EmailConfig | undefined): EmailConfig {
  const out: EmailConfig = { to: raw.to }
  if (raw.from) out.from = raw.from
  if (raw.smtp) out.smtp = parseSmtp(raw.smtp, prev?.smtp)
  return out
}

function parseSmtp(raw: SmtpInput, prev: SmtpOverride | undefined): SmtpOverride {
  const secure = raw.secure ?? raw.port === 465
  const smtp: SmtpOverride = { host: raw.host.trim().replace(/^\[|\]$/g, ''), port: raw.port ?? (secure ? 465 : 587), secure }
  if (!isIP(smtp.host) && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(smtp.host)) {
    throw bad('config.smtp.host', 'must be a host name or an IP address (the port goes in config.smtp.port)')
  }
  if (raw.username) smtp.username = raw.username
  const sameServer = prev !== undefined && prev.host === smtp.host && prev.port === smtp.port && prev.username === smtp.username
  if (raw.password === MASK || raw.password === undefined) {
    if (prev?.password && sameServer) smtp.password = prev.password
    else if (raw.password === MASK) throw bad('config.smtp.password', prev?.password ? 'is a masked value, but the SMTP server or username changed: send the password again (a stored password only goes to the server it was set for)' : 'is a masked value but no password is stored: send the password itself')
  } else if (raw.password !== null) smtp.password = raw.password
  if (smtp.password && !smtp.username) throw bad('config.smtp.username', 'is required with a password')
  return smtp
}

/**
 * The checks that need the outside world: URL schemes, SMTP availability, and every API-set target through
 * the SSRF guard (a 400 naming the field and why, e.g. "resolves to a loopback address").
 */
export async function checkChannelTargets(type: ChannelType, config: ChannelConfig, rules: ConfigRules): Promise<void> {
  const guard = { allowPrivate: rules.allowPrivate, resolve: rules.resolve }
  // Plain http would carry the URL's token and the headers in clear; only inside one's own network.
  const schemes = rules.allowPrivate ? ['https', 'http'] : ['https']
  const target = async (field: string, value: string, isUrl: boolean) => {
    try {
      await checkOutboundTarget(value, { ...guard, schemes: isUrl ? schemes : undefined })
    } catch (err) {
      if (!(err instanceof OutboundTargetError)) throw err
      // The guard quotes the text it could not parse; a URL may carry a token, so it is not echoed (nor logged).
      if (err.reason === 'invalid') throw bad(field, isUrl ? 'is not a valid URL' : 'is not a valid host name')
      const why = err.reason === 'scheme' && !rules.allowPrivate ? `${err.message}; plain http is accepted only with ALERT_TARGETS_ALLOW_PRIVATE=true` : err.message
      throw bad(field, `is refused: ${why}`)
    }
  }
  if (type === 'slack' || type === 'discord') {
    const url = (config as SlackConfig).webhook_url
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw bad('config.webhook_url', 'must be an absolute https:// URL')
    await target('config.webhook_url', url, true)
  } else if (type === 'webhook') {
    const url = (config as WebhookConfig).url
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw bad('config.url', 'must be an absolute https:// URL')
    await target('config.url', url, true)
  } else {
    const email = config as EmailConfig
    if (email.smtp) await target('config.smtp.host', email.smtp.host, false)
    else if (!rules.hasOperatorSmtp) throw bad('config.smtp', 'is required: this server has no SMTP_URL, so an email channel needs its own smtp settings (host, port, …)')
  }
}
