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
const BYTE_UNIT = /^(B|KiB|MiB|GiB)(\/s)?$/

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

const round = (n: number) => Math.round(n * 10) / 10

/** A value with its unit: binary prefixes for bytes (B, B/s, MiB), SI for the rest, plain for %. */
export function formatValue(value: number | null, unit: string): string {
  if (value === null || !Number.isFinite(value)) return '—'
  if (unit === '%') return `${trim(value)} %`
  const bytes = BYTE_UNIT.exec(unit)
  if (bytes) {
    const steps = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
    let i = steps.indexOf(bytes[1])
    let v = value
    while (Math.abs(v) >= 1024 && i < steps.length - 1) { v /= 1024; i++ }
    return `${trim(v)} ${steps[i]}${bytes[2] ?? ''}`
  }
  const si = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const
  for (const [size, prefix] of si) if (Math.abs(value) >= size) return `${trim(value / size)} ${prefix}${unit}`
  return `${trim(value)} ${unit}`.trim()
}

function trim(v: number): string {
  const a = Math.abs(v)
  return a === 0 ? '0' : a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 0.01 ? v.toFixed(2) : v.toPrecision(2)
}

/** Round value ticks: 0, step, 2·step … covering [min, max]. */
function valueTicks(min: number, max: number): number[] {
  if (min === max) { const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.1 : 1; min -= pad; max += pad }
  const raw = (max - min) / 4
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw
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

function timeLabel(t: Date, spanMs: number): string {
  const iso = t.toISOString()
  if (spanMs <= 2 * 86_400_000) return iso.slice(11, 16)
  return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`
}

export function lineChart(c: LineChart): string {
  const width = c.width ?? 720
  const legendRows = Math.max(1, Math.ceil(c.series.length / 4))
  const height = (c.height ?? 220) + (legendRows - 1) * 14
  const plotW = width - MARGIN.left - MARGIN.right
  const plotH = height - MARGIN.top - MARGIN.bottom - (legendRows - 1) * 14
  const parts: string[] = [
    `<svg role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" class="chart">`,
    `<title>${escapeXml(c.title)}</title>`,
    `<text x="${MARGIN.left}" y="14" class="chart-title">${escapeXml(c.title)} (${escapeXml(c.unit)})</text>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#d1d5db"/>`,
  ]
  const values = c.series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v))
  if (c.timestamps.length === 0 || values.length === 0) {
    parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${MARGIN.top + plotH / 2}" text-anchor="middle" class="chart-empty">No data in this range</text>`, '</svg>')
    return parts.join('')
  }
  // Byte units tick at round numbers of the prefix the labels use (5 GiB, not 4.88 GiB).
  const scale = byteScale(c.unit, Math.max(...values.map(Math.abs)))
  const ticks = valueTicks(Math.min(0, ...values) / scale, Math.max(...values) / scale).map((v) => v * scale)
  const lo = ticks[0]
  const hi = ticks.at(-1)!
  const t0 = c.timestamps[0].getTime()
  const t1 = c.timestamps.at(-1)!.getTime()
  const span = Math.max(1, t1 - t0)
  const x = (t: Date) => round(MARGIN.left + (c.timestamps.length === 1 ? plotW / 2 : ((t.getTime() - t0) / span) * plotW))
  const y = (v: number) => round(MARGIN.top + plotH - ((v - lo) / (hi - lo)) * plotH)

  for (const v of ticks) {
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#eef0f3"/>`,
      `<text x="${MARGIN.left - 6}" y="${y(v) + 4}" text-anchor="end" class="tick">${escapeXml(formatValue(v, c.unit))}</text>`)
  }
  const timeTicks = c.timestamps.length === 1 ? [c.timestamps[0]] : [0, 1, 2, 3, 4].map((i) => new Date(t0 + (span * i) / 4))
  timeTicks.forEach((t, i) => {
    // The outer labels align with the plot's edges, so none is cut off.
    const anchor = timeTicks.length === 1 ? 'middle' : i === 0 ? 'start' : i === timeTicks.length - 1 ? 'end' : 'middle'
    parts.push(`<text x="${x(t)}" y="${MARGIN.top + plotH + 16}" text-anchor="${anchor}" class="tick">${escapeXml(timeLabel(t, span))}</text>`)
  })
  c.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]
    let d = ''
    let pen = false
    const dots: string[] = []
    s.values.forEach((v, j) => {
      if (v === null || !Number.isFinite(v) || j >= c.timestamps.length) { pen = false; return }
      const prevMissing = j === 0 || s.values[j - 1] === null
      const nextMissing = j === s.values.length - 1 || s.values[j + 1] === null
      if (prevMissing && nextMissing) dots.push(`<circle cx="${x(c.timestamps[j])}" cy="${y(v)}" r="2.5" fill="${color}"/>`)
      d += `${pen ? 'L' : 'M'}${x(c.timestamps[j])},${y(v)}`
      pen = true
    })
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`)
    parts.push(...dots)
    const lx = MARGIN.left + (i % 4) * (plotW / 4)
    const ly = MARGIN.top + plotH + 34 + Math.floor(i / 4) * 14
    parts.push(`<rect x="${lx}" y="${ly - 8}" width="10" height="3" fill="${color}"/>`,
      `<text x="${lx + 14}" y="${ly - 4}" class="legend">${escapeXml(s.name)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('')
}
