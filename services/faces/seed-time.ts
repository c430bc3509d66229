// Times as the faces' Python agents write them: ISO 8601, where an offset-less time is UTC (as Python's
// isoformat() writes datetime.utcnow()), or seconds since 1970 (time.time()). Shared by seed 002's and seed
// 003's uploads.
import { invalidField } from '../errors/domain-error.ts'

/** A seed time as RFC3339, or a 400 naming `field`. */
export function seedTime(value: string | number, field: string): string {
  const unreadable = () => invalidField(field, 'must be an ISO 8601 time or seconds since 1970')
  // Type coercion lets a one-item array through as the item's type: only a string or a number is a time.
  if (typeof value !== 'string' && typeof value !== 'number') throw unreadable()
  let ms: number
  if (typeof value === 'string' && /^\d+(\.\d+)?$/.test(value.trim())) value = Number(value)
  if (typeof value === 'number') {
    ms = value > 1e11 ? value : value * 1000 // milliseconds, or seconds as time.time() gives them
  } else {
    const text = value.trim().replace(' ', 'T')
    ms = Date.parse(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text) ? `${text}Z` : text)
  }
  // A Date holds ±8.64e15 ms; past that (or not a number at all) it is no time.
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) throw unreadable()
  return new Date(ms).toISOString()
}
