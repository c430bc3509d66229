// What a cycle's usage says about its end, for people: the bytes at this pace by the cycle's end and the
// day the quota runs out (or ran out). Pure: the numbers come from the store (hostpulse_traffic_usage).

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB']

/** Bytes in decimal units, as providers bill them: 1 TB = 10^12 B; three significant digits at most ("1.3 TB", "640 GB"). */
export function formatTrafficBytes(bytes: number): string {
  let v = bytes
  let unit = 0
  while (Math.abs(v) >= 1000 && unit < DECIMAL_UNITS.length - 1) { v /= 1000; unit++ }
  const digits = unit === 0 || Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2
  return `${Number(v.toFixed(digits))} ${DECIMAL_UNITS[unit]}`
}

/** 1 → "1st", 22 → "22nd", 28 → "28th". */
export function ordinalDay(day: number): string {
  const teen = day % 100 >= 11 && day % 100 <= 13
  const suffix = teen ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[day % 10] ?? 'th'
  return `${day}${suffix}`
}

/** The calendar date (YYYY-MM-DD) of an instant in a time zone. */
export function localDate(at: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(at)
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '00'
  return `${get('year')}-${get('month')}-${get('day')}`
}

export interface CycleUsage {
  cycleStart: Date
  cycleEnd: Date
  now: Date
  timeZone: string
  usedBytes: number
  /** Null before the cycle's first hour is over (too little to judge a pace by) and for a finished cycle. */
  forecastBytes: number | null
  quotaBytes: number | null
  /** The quota's bytes per local day (in its direction), oldest first: when a past overrun happened. */
  days: Array<{ date: string; bytes: number }>
}

export interface Forecast {
  /** Bytes by the cycle's end at the pace so far. */
  bytes: number
  /** Of the quota, when there is one. */
  percent: number | null
  /** When the quota runs out at this pace (within the cycle), or the local day it ran out; null if neither. */
  exhausted_at: string | null
  exhausted_on: string | null
  text: string
}

/** The forecast of a cycle under way; null when there is no pace yet. */
export function forecastOf(u: CycleUsage): Forecast | null {
  if (u.forecastBytes === null) return null
  const quota = u.quotaBytes
  const projected = `${formatTrafficBytes(u.forecastBytes)}${quota !== null ? ` of ${formatTrafficBytes(quota)}` : ''}`
  if (quota === null) {
    return { bytes: u.forecastBytes, percent: null, exhausted_at: null, exhausted_on: null, text: `At this pace, ${projected} by the cycle's end.` }
  }
  const percent = Math.round((u.forecastBytes / quota) * 1000) / 10
  if (u.usedBytes >= quota) {
    let running = 0
    const day = u.days.find((d) => (running += d.bytes) >= quota)?.date ?? localDate(u.now, u.timeZone)
    return {
      bytes: u.forecastBytes, percent, exhausted_at: null, exhausted_on: day,
      text: `${formatTrafficBytes(u.usedBytes)} of ${formatTrafficBytes(quota)} used: the quota ran out on the ${ordinalDay(Number(day.slice(8)))}; at this pace, ${formatTrafficBytes(u.forecastBytes)} by the cycle's end.`,
    }
  }
  if (u.forecastBytes <= quota) {
    return { bytes: u.forecastBytes, percent, exhausted_at: null, exhausted_on: null, text: `At this pace, ${projected} by the cycle's end.` }
  }
  // The pace so far, kept up: the quota's remaining bytes take (quota − used) / pace more seconds.
  const elapsed = u.now.getTime() - u.cycleStart.getTime()
  const at = new Date(u.cycleStart.getTime() + elapsed * (quota / u.usedBytes))
  const on = localDate(at, u.timeZone)
  return {
    bytes: u.forecastBytes, percent, exhausted_at: at.toISOString(), exhausted_on: on,
    text: `At this pace, ${projected} by the cycle's end: the quota runs out on the ${ordinalDay(Number(on.slice(8)))}.`,
  }
}
