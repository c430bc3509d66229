// Durations as operators write them ("30s", "5m", "30d"), in milliseconds.
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const
const INTERVAL_UNIT = { ms: 'milliseconds', s: 'seconds', m: 'minutes', h: 'hours', d: 'days', w: 'weeks' } as const
const DURATION = /^(\d+)(ms|s|m|h|d|w)$/

/** Longer is no time span anyone means, and now + it must stay a valid Date (JavaScript's limit is ±273,790 years). */
export const MAX_DURATION_MS = 100_000 * 365 * 86_400_000

/** A well-formed duration past MAX_DURATION_MS (callers can say "too long" rather than "not a duration"). */
export class DurationTooLongError extends RangeError {}

export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim())
  if (!m) throw new RangeError(`not a duration: "${text}" (use e.g. 30s, 5m, 1h, 30d)`)
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]
  if (!Number.isSafeInteger(ms) || ms > MAX_DURATION_MS) throw new DurationTooLongError(`duration too long: "${text}" (at most 100000 years)`)
  return ms
}

/** The same duration as a PostgreSQL interval literal. */
export function durationToInterval(text: string): string {
  const m = DURATION.exec(text.trim())
  if (!m) throw new RangeError(`not a duration: "${text}" (use e.g. 30s, 5m, 1h, 30d)`)
  parseDuration(text) // the same limits
  return `${m[1]} ${INTERVAL_UNIT[m[2] as keyof typeof INTERVAL_UNIT]}`
}
