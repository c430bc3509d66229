// The generic webhook's signature: HMAC-SHA256 over "<timestamp>.<body>" with the channel's secret, sent as
// `X-Hostpulse-Signature: sha256=<hex>` next to `X-Hostpulse-Timestamp: <unix seconds>`. The timestamp is
// inside the MAC so a captured request cannot be replayed later; receivers check both.
import { createHmac, timingSafeEqual } from 'node:crypto'

export const SIGNATURE_HEADER = 'X-Hostpulse-Signature'
export const TIMESTAMP_HEADER = 'X-Hostpulse-Timestamp'

export function signWebhook(secret: string, timestamp: number | string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')
}

/** A receiver's check: the signature matches and the timestamp is within `toleranceSeconds` of now. */
export function verifyWebhookSignature(secret: string, timestamp: string | undefined, body: string, signature: string | undefined,
  opts: { toleranceSeconds?: number; nowSeconds?: number } = {}): boolean {
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return false
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000)
  if (Math.abs(now - Number(timestamp)) > (opts.toleranceSeconds ?? 300)) return false
  const expected = Buffer.from(signWebhook(secret, timestamp, body))
  const given = Buffer.from(signature)
  return given.length === expected.length && timingSafeEqual(given, expected)
}
