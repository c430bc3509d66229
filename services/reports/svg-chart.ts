// A line chart as an inline SVG string, for documents printed or opened offline (reports): axes with time
// and value ticks in the series' unit, one path per series with a gap where a value is missing, a legend.
// Deterministic: the same input gives the same string.

export interface ChartSeries { name: string; values: Array<number | null> }

export interface LineChart {
  title: string
  /** The values' unit: %, B/s, MiB, ops/s, pkt/s … (bytes are shown with binary prefixes). */
  unit: string
  timestamps: Date[]
  series: ChartSeries[]
  width?: number
  height?: number
}

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563']
const MARGIN = { top: 24, right: 12, bottom: 40, left: 64 }
const LEGEND_PER_ROW = 4
const LEGEND_ROW = 14
const BYTE_UNIT = /^(B|KiB|MiB|GiB|TiB)(\/s)?$/
const BYTE_STEPS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB']
const SI_PREFIXES = [[1e18, 'E'], [1e15, 'P'], [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
/** Time-axis steps: round UTC instants, so ticks read 10:00, 10:15 … rather than 10:03, 10:17 … */
const TIME_STEPS = [1, 2, 5, 10, 15, 30].map((s) => s * SECOND)
  .concat([1, 2, 5, 10, 15, 30].map((m) => m * MINUTE), [1, 2, 3, 6, 12].map((h) => h * HOUR), [1, 2, 7, 14, 28, 56, 91].map((d) => d * DAY))
const MAX_TIME_TICKS = 6

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

const round = (n: number) => Math.round(n * 10) / 10

/** About three significant digits, without trailing zeros: 47, 12.5, 3.14, 0.042. */
function trim(v: number): string {
  const a = Math.abs(v)
  const fixed = a === 0 ? '0' : a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(2)
  return String(Number(fixed))
}

/** A value with its unit: binary prefixes for bytes (B, B/s, MiB), SI for the rest, plain for %. */
export function formatValue(value: number | null, unit: string): string {
  if (value === null || !Number.isFinite(value)) return '—'
  if (unit === '%') return `${trim(value)} %`
  const bytes = BYTE_UNIT.exec(unit)
  if (bytes) {
    let i = BYTE_STEPS.indexOf(bytes[1])
    let v = value
    while (Math.abs(v) >= 1024 && i < BYTE_STEPS.length - 1) { v /= 1024; i++ }
    return `${trim(v)} ${BYTE_STEPS[i]}${bytes[2] ?? ''}`
  }
  // The prefix goes with the number, so word units read well too: 1.5k ops/s, 2.3M packets/s.
  const prefix = SI_PREFIXES.find(([size]) => Math.abs(value) >= size)
  const number = prefix ? `${trim(value / prefix[0])}${prefix[1]}` : trim(value)
  return `${number} ${unit}`.trim()
}

/** Round value ticks (1, 2 or 5 × 10ⁿ apart) covering [min, max]. */
function valueTicks(min: number, max: number): number[] {
  if (min === max) { const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.1 : 1; min -= pad; max += pad }
  const raw = (max - min) / 5
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw
  const ticks: number[] = []
  for (let v = Math.floor(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)))
  if (ticks.at(-1)! < max) ticks.push(Number((ticks.at(-1)! + step).toPrecision(12)))
  return ticks
}

/** The factor from `unit` to the binary prefix a value of `magnitude` is labelled in (1 for other units). */
function byteScale(unit: string, magnitude: number): number {
  if (!BYTE_UNIT.test(unit)) return 1
  let scale = 1
  while (magnitude / scale >= 1024) scale *= 1024
  return scale
}

/** Round UTC instants within [t0, t1], at most MAX_TIME_TICKS of them, and the step between them. */
function timeTicks(t0: number, t1: number): { ticks: number[]; step: number } {
  const step = TIME_STEPS.find((s) => Math.floor(t1 / s) - Math.ceil(t0 / s) + 1 <= MAX_TIME_TICKS) ?? TIME_STEPS.at(-1)!
  const ticks: number[] = []
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ticks.push(t)
  // A span shorter than the smallest step (two samples a second apart) still shows where it starts.
  return { ticks: ticks.length > 0 ? ticks : [t0], step }
}

/** A UTC time as short as the axis allows: seconds for short ranges, the date once the range spans days. */
function timeLabel(t: number, step: number, span: number): string {
  const iso = new Date(t).toISOString()
  if (step >= DAY) return iso.slice(0, 10)
  if (step < MINUTE) return iso.slice(11, 19)
  return span > DAY ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16)
}

export function lineChart(c: LineChart): string {
  const width = c.width ?? 720
  const extraLegendRows = Math.max(0, Math.ceil(c.series.length / LEGEND_PER_ROW) - 1)
  const height = (c.height ?? 220) + extraLegendRows * LEGEND_ROW
  const plotW = width - MARGIN.left - MARGIN.right
  const plotH = height - MARGIN.top - MARGIN.bottom - extraLegendRows * LEGEND_ROW
  const axisY = MARGIN.top + plotH
  const parts: string[] = [
    `<svg role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" class="chart">`,
    `<title>${escapeXml(c.title)}</title>`,
    `<text x="${MARGIN.left}" y="14" class="chart-title">${escapeXml(c.title)}${c.unit ? ` (${escapeXml(c.unit)})` : ''}</text>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#d1d5db"/>`,
  ]
  const values = c.series.flatMap((s) => s.values.slice(0, c.timestamps.length)).filter((v): v is number => v !== null && Number.isFinite(v))
  if (c.timestamps.length === 0 || values.length === 0) {
    parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${MARGIN.top + plotH / 2}" text-anchor="middle" class="chart-empty">No data in this range</text>`, '</svg>')
    return parts.join('')
  }
  // The axis always holds 0, so a flat or all-negative series is drawn at its true height.
  let vMin = Math.min(0, ...values)
  let vMax = Math.max(0, ...values)
  if (vMin === 0 && vMax === 0) vMax = 1
  // Byte units tick at round numbers of the prefix the labels use (5 GiB, not 4.88 GiB).
  const scale = byteScale(c.unit, Math.max(-vMin, vMax))
  const ticks = valueTicks(vMin / scale, vMax / scale).map((v) => v * scale)
  const lo = ticks[0]
  const hi = ticks.at(-1)!
  const t0 = c.timestamps[0].getTime()
  const t1 = c.timestamps.at(-1)!.getTime()
  const span = t1 - t0
  const x = (t: number) => round(MARGIN.left + (span <= 0 ? plotW / 2 : ((t - t0) / span) * plotW))
  const y = (v: number) => round(axisY - ((v - lo) / (hi - lo)) * plotH)

  for (const v of ticks) {
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#eef0f3"/>`,
      `<text x="${MARGIN.left - 6}" y="${y(v) + 4}" text-anchor="end" class="tick value">${escapeXml(formatValue(v, c.unit))}</text>`)
  }
  const time = span <= 0 ? { ticks: [t0], step: MINUTE } : timeTicks(t0, t1)
  parts.push(`<text x="${MARGIN.left - 6}" y="${axisY + 16}" text-anchor="end" class="tick">UTC</text>`)
  for (const t of time.ticks) {
    // Labels near the plot's edges align with them, so none is cut off.
    const at = x(t)
    const anchor = span > 0 && at - MARGIN.left < 30 ? 'start' : span > 0 && MARGIN.left + plotW - at < 30 ? 'end' : 'middle'
    parts.push(`<line x1="${at}" x2="${at}" y1="${axisY}" y2="${axisY + 4}" stroke="#9ca3af"/>`,
      `<text x="${at}" y="${axisY + 16}" text-anchor="${anchor}" class="tick time">${escapeXml(timeLabel(t, time.step, span))}</text>`)
  }
  const present = (v: number | null | undefined): v is number => v !== null && v !== undefined && Number.isFinite(v)
  c.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]
    let d = ''
    const dots: string[] = []
    c.timestamps.forEach((ts, j) => {
      const v = s.values[j]
      if (!present(v)) return
      const px = x(ts.getTime())
      const py = y(v)
      const joined = j > 0 && present(s.values[j - 1])
      // A point with no neighbour draws no line: a dot shows it.
      if (!joined && !(j + 1 < c.timestamps.length && present(s.values[j + 1]))) dots.push(`<circle cx="${px}" cy="${py}" r="2.5" fill="${color}"/>`)
      d += `${joined ? 'L' : 'M'}${px},${py}`
    })
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5" stroke-linejoin="round"/>`)
    parts.push(...dots)
    const lx = round(MARGIN.left + (i % LEGEND_PER_ROW) * (plotW / LEGEND_PER_ROW))
    const ly = axisY + 34 + Math.floor(i / LEGEND_PER_ROW) * LEGEND_ROW
    parts.push(`<rect x="${lx}" y="${ly - 8}" width="10" height="3" fill="${color}"/>`,
      `<text x="${lx + 14}" y="${ly - 4}" class="legend">${escapeXml(s.name)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('')
}
