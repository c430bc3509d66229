// What every sender gets besides the channel and the message: the outbound guard, a deadline, and the
// operator's SMTP settings. A DeliveryError's message is shown to users and logged: it never holds a
// secret (no URL path or query, no credential), only the host, the status and what the receiver said.
import type { Resolver } from '../security/outbound-target.ts'
import { redactUrls } from '../security/redact-urls.ts'

export interface SendContext {
  /** ALERT_TARGETS_ALLOW_PRIVATE: targets on loopback/private addresses (and plain http) are allowed. */
  allowPrivate: boolean
  /** Name resolution for the outbound guard; the system resolver by default (tests inject one). */
  resolve?: Resolver
  /** The whole send (connect, TLS, request, answer) must finish within this. */
  timeoutMs: number
  /** Aborted when the server shuts down. */
  signal?: AbortSignal
  /** The operator's SMTP server (SMTP_URL), trusted: not subject to the private-address guard. */
  smtpUrl?: string
  smtpFrom: string
}

export class DeliveryError extends Error {
  /** True when trying again cannot help (refused target, 4xx other than 408/429): the row fails at once. */
  readonly permanent: boolean
  constructor(message: string, opts: { permanent?: boolean; cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.name = 'DeliveryError'
    this.permanent = opts.permanent ?? false
  }
}

/**
 * A short, printable excerpt of what a receiver answered, with URLs, paths and tokens redacted: receivers
 * echo the request's path ("Cannot POST /services/T0/B0/secret"), which is a webhook's secret, and these
 * excerpts reach the API's answers and the log.
 */
export function excerpt(text: string, max = 200): string {
  const flat = redactUrls(text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim())
  return flat.length > max ? `${flat.slice(0, max)}…` : flat
}
