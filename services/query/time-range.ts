// start/end/limit as seed 001 defines them: RFC3339 with any offset, start defaulting to end − 24 h,
// end to now; limit with a default and a cap (a larger limit is capped, not refused).
import { DomainError } from '../errors/domain-error.ts'

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/
const DAY_MS = 86_400_000
/** PostgreSQL's timestamps end with year 9999 as its text shows them: a later instant is refused as a 400, not by the database. */
const LAST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

/** Every field within its calendar range: Date.parse would roll 30 February over to 1 March. */
function isRealTime(m: RegExpExecArray): boolean {
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number)
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate()
  const offsetOk = m[9] === undefined || (Number(m[9]) <= 23 && Number(m[10]) <= 59)
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59 && offsetOk
}

export function parseRfc3339(field: string, text: string): Date {
  const m = RFC3339.exec(text)
  const ms = m && isRealTime(m) ? Date.parse(text) : NaN
  // Nothing is stored before 1970, and PostgreSQL refuses year 0: a clear 400 instead of its error.
  if (ms < 0) {
    throw new DomainError('invalid', `Invalid request: ${field} must be 1970-01-01T00:00:00Z or later (got "${text}")`, { details: { [field]: ['must be 1970 or later'] } })
  }
  if (ms > LAST_MS) {
    throw new DomainError('invalid', `Invalid request: ${field} must be 9999-12-31T23:59:59Z or earlier (got "${text}")`, { details: { [field]: ['must be in year 9999 or earlier'] } })
  }
  if (Number.isNaN(ms)) {
    throw new DomainError('invalid', `Invalid request: ${field} must be an RFC3339 time such as 2024-01-30T15:30:00Z or 2024-01-30T10:30:00-05:00 (got "${text}")`,
      { details: { [field]: ['must be an RFC3339 date-time'] } })
  }
  return new Date(ms)
}

export interface TimeRange { start: Date; end: Date }

export function parseTimeRange(q: { start?: string; end?: string }, now = new Date()): TimeRange {
  const end = q.end ? parseRfc3339('end', q.end) : now
  const start = q.start ? parseRfc3339('start', q.start) : new Date(end.getTime() - DAY_MS)
  if (start >= end) {
    throw new DomainError('invalid', 'Invalid request: start must be before end', { details: { start: ['must be before end'] } })
  }
  return { start, end }
}

export function parseLimit(text: string | undefined, defaultLimit: number, max: number): number {
  if (text === undefined || text === '') return defaultLimit
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new DomainError('invalid', `Invalid request: limit must be a whole number from 1 to ${max} (got "${text}")`, { details: { limit: [`must be an integer between 1 and ${max}`] } })
  }
  return Math.min(Number(text), max)
}
