// Numbers and times as people read them: IEC byte units, rates per second, percent, the viewer's time zone.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB']

const isNumber = (v) => typeof v === 'number' && Number.isFinite(v)

export function formatBytes(bytes) {
  if (!isNumber(bytes)) return '–'
  let value = Math.abs(bytes)
  let unit = 0
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) { value /= 1024; unit++ }
  // One rule everywhere, so figures side by side read alike ("24.0 GiB / 8.0 GiB"): whole bytes, whole
  // units from 100 up, one decimal below.
  const digits = unit === 0 || value >= 100 ? 0 : 1
  return `${bytes < 0 ? '-' : ''}${value.toFixed(digits)} ${BYTE_UNITS[unit]}`
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB']

/** Traffic in decimal units, as providers bill it (1 TB = 10^12 B): "1.3 TB", "640 GB", "12.5 MB". */
export function formatTrafficBytes(bytes) {
  if (!isNumber(bytes)) return '–'
  let value = Math.abs(bytes)
  let unit = 0
  while (value >= 1000 && unit < DECIMAL_UNITS.length - 1) { value /= 1000; unit++ }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2
  return `${bytes < 0 ? '-' : ''}${Number(value.toFixed(digits))} ${DECIMAL_UNITS[unit]}`
}

export const formatByteRate = (bytesPerSecond) => (isNumber(bytesPerSecond) ? `${formatBytes(bytesPerSecond)}/s` : '–')

/** One decimal ("7.5 %", "99.9 %"), none from 100 up ("100 %", "250 %" for a process on several cores). */
export const formatPercent = (percent) => (isNumber(percent) ? `${percent.toFixed(Math.abs(percent) >= 99.95 ? 0 : 1)} %` : '–')

/** Load averages always with two decimals, as uptime and top print them ("2.30" beside "1.22"). */
export const formatLoad = (load) => (isNumber(load) ? load.toFixed(2) : '–')

export function formatNumber(value, digits = 2) {
  if (!isNumber(value)) return '–'
  return value.toLocaleString(undefined, { maximumFractionDigits: digits })
}

export const formatPerSecond = (value) => (isNumber(value) ? `${formatNumber(value, 1)}/s` : '–')

/** By a chart's or a column's unit name. */
export function formatValue(unit, value) {
  switch (unit) {
    case 'percent': return formatPercent(value)
    case 'bytes': return formatBytes(value)
    case 'byte-rate': return formatByteRate(value)
    case 'rate': return formatPerSecond(value)
    case 'load': return formatLoad(value)
    default: return formatNumber(value)
  }
}

/** A metric's value in the unit its name gives (cpu.usage_percent → "95.0 %", memory.used_bytes → GiB …). */
export function formatMetricValue(metric, value) {
  const name = String(metric ?? '')
  const unit = /_bytes_per_sec$/.test(name) ? 'byte-rate' : /_bytes$/.test(name) ? 'bytes' : /_percent$/.test(name) ? 'percent'
    : /_per_sec$/.test(name) ? 'rate' : /^(load\.load\d+|cpu\.load_avg_\d+)$/.test(name) ? 'load' : 'number'
  return formatValue(unit, value)
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' })
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' })

/** A moment in the viewer's time zone; today's moments without the date. */
export function formatTime(value) {
  if (value === null || value === undefined || value === '') return '–'
  const date = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(date.getTime())) return '–'
  return date.toDateString() === new Date().toDateString() ? timeOnly.format(date) : dateTime.format(date)
}

export function formatFullTime(value) {
  const date = value instanceof Date ? value : new Date(value)
  return Number.isNaN(date.getTime()) ? '' : dateTime.format(date)
}

/** "12 s ago", "5 min ago", "3 h ago", "4 d ago". */
export function formatAgo(value, now = Date.now()) {
  if (!value) return 'never'
  const ms = now - new Date(value).getTime()
  if (!Number.isFinite(ms)) return '–'
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86_400)} d ago`
}

export const viewerTimeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time'
