// A uPlot time-series chart over a sliding window [now − range, now]: history is set once per range,
// live points are appended as they arrive and points that leave the window are dropped.
import uPlot from './uPlot.esm.js'
import { h } from './elements.js'
import { formatValue } from './format.js'
import { yScale, ySplits } from './chart-scale.js'

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf']
const HEIGHT = 200
/** The narrowest x range, in seconds, whatever little data there is. */
const MIN_WINDOW_S = 300

// Tick labels in the viewer's locale and time zone (uPlot's own are English, 12-hour).
const tickSeconds = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
const tickMinutes = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })
const tickDays = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' })
const legendTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' })

function timeTicks(u, splits, axisIdx, space, incr) {
  return splits.map((s) => {
    const d = new Date(s * 1000)
    if (incr >= 86_400 || (d.getHours() === 0 && d.getMinutes() === 0 && d.getSeconds() === 0 && incr >= 3600)) return tickDays.format(d)
    return incr < 60 ? tickSeconds.format(d) : tickMinutes.format(d)
  })
}

/** The newest value of a series: what the legend shows while the cursor is off the chart. */
function lastValue(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i]
  return null
}

export class TimeChart {
  /**
   * @param {HTMLElement} container
   * @param {{ title: string, unit: string, labels: string[], rangeMs: number, onPick?: (ms: number) => void, onSpan?: (startMs: number, endMs: number) => void }} options
   *   onPick: a click on the plot, at that instant; onSpan: a span dragged across the plot (not a zoom)
   */
  constructor(container, { title, unit, labels, rangeMs, onPick, onSpan }) {
    this.unit = unit
    this.rangeMs = rangeMs
    this.xs = []
    this.ys = labels.map(() => [])
    this.root = h('div', { class: 'chart', role: 'img', 'aria-label': `${title} chart` })
    container.append(this.root)
    const fmt = (v) => (v === null || v === undefined ? '–' : formatValue(unit, v))
    this.plot = new uPlot({
      width: Math.max(280, container.clientWidth || 600),
      height: HEIGHT,
      scales: {
        x: { time: true, range: () => this.window() },
        y: { range: (u, min, max) => { const scale = yScale(unit, min, max); this.yStep = scale.step; return [scale.bottom, scale.top] } },
      },
      axes: [
        { stroke: '#555', grid: { stroke: '#eee' }, values: timeTicks, space: 60 },
        {
          stroke: '#555', grid: { stroke: '#eee' }, values: (u, splits) => splits.map(fmt),
          // Ticks are ours: every step from the bottom to the top, so the top of the axis is always labelled.
          splits: (u, axisIdx, min, max) => ySplits(min, max, this.yStep),
          // Wide enough for the longest label ("512 MiB/s"), measured in characters.
          size: (u, values) => 16 + 7 * Math.max(3, ...(values ?? []).map((v) => String(v).length)),
        },
      ],
      series: [
        { label: 'Time', value: (u, v) => (v === null || v === undefined ? 'latest' : legendTime.format(new Date(v * 1000))) },
        ...labels.map((label, i) => ({
          label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
          value: (u, v, sidx, idx) => fmt(idx === null || idx === undefined ? lastValue(u.data[sidx]) : v),
        })),
      ],
      cursor: { drag: { x: Boolean(onSpan), y: false, setScale: false } },
      hooks: {
        setSelect: [(u) => {
          if (!onSpan || u.select.width < 4) return
          const from = u.posToVal(u.select.left, 'x') * 1000
          const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false)
          onSpan(Math.round(from), Math.round(to))
        }],
      },
      legend: { live: true },
    }, this.data(), this.root)
    if (onPick) {
      // A click (not the end of a drag) picks the instant under the cursor.
      let downX = null
      this.plot.over.addEventListener('mousedown', (e) => { downX = e.clientX })
      this.plot.over.addEventListener('click', (e) => {
        if (downX !== null && Math.abs(e.clientX - downX) > 3) return
        const left = e.clientX - this.plot.over.getBoundingClientRect().left
        if (!(left >= 0)) return
        onPick(Math.round(this.plot.posToVal(left, 'x') * 1000))
      })
      this.plot.over.title = onSpan ? 'Click: the processes at that moment; drag: the processes that used the span' : 'Click: the processes at that moment'
    }
    this.resizer = new ResizeObserver(() => {
      const width = Math.max(280, container.clientWidth)
      if (Math.abs(width - this.plot.width) > 2) this.plot.setSize({ width, height: HEIGHT })
    })
    this.resizer.observe(container)
  }

  /**
   * The x range: the chosen range, or from the first point when the data starts later (a fresh install has
   * minutes of data, which would otherwise be squeezed against the right edge), but never under 5 minutes.
   */
  window() {
    const now = Date.now() / 1000
    const last = this.xs.length > 0 ? this.xs[this.xs.length - 1] : now
    const first = this.xs.length > 0 ? this.xs[0] : -Infinity
    const from = Math.min(Math.max(now - this.rangeMs / 1000, first - (now - first) * 0.05), now - MIN_WINDOW_S)
    return [from, Math.max(now, last)]
  }

  data() { return [this.xs, ...this.ys] }

  /**
   * Replaces the points with history: `series[i]` is { timestamps: ms[], values: number[] } for label i.
   * Live points newer than the history (they arrived while it loaded) are kept.
   */
  setHistory(series, rangeMs = this.rangeMs) {
    this.rangeMs = rangeMs
    const times = new Set()
    for (const s of series) for (const t of s?.timestamps ?? []) times.add(t)
    const newestHistory = times.size > 0 ? Math.max(...times) / 1000 : -Infinity
    const live = []
    this.xs.forEach((x, i) => { if (x > newestHistory) live.push([x, new Map(this.ys.map((col, s) => [s, col[i]]).filter(([, v]) => v !== null))]) })
    this.xs = [...times].sort((a, b) => a - b).map((t) => t / 1000)
    const index = new Map(this.xs.map((x, i) => [x, i]))
    this.ys = series.map((s) => {
      const col = this.xs.map(() => null)
      s?.timestamps.forEach((t, i) => { col[index.get(t / 1000)] = s.values[i] })
      return col
    })
    for (const [x, values] of live) this.add(x * 1000, values)
    this.draw()
  }

  /** One instant's values (series index → value), drawn at once. */
  append(tMs, values) {
    this.add(tMs, values)
    this.redraw()
  }

  /** Adds without drawing (call redraw() after a batch): merged into an existing instant, kept sorted. */
  add(tMs, values) {
    if (values.size === 0 || !Number.isFinite(tMs)) return
    const x = tMs / 1000
    let i = this.xs.length
    while (i > 0 && this.xs[i - 1] > x) i--
    if (i > 0 && this.xs[i - 1] === x) {
      for (const [s, v] of values) this.ys[s][i - 1] = v
    } else {
      this.xs.splice(i, 0, x)
      this.ys.forEach((col, s) => col.splice(i, 0, values.has(s) ? values.get(s) : null))
    }
  }

  /** Drops what left the window and draws. */
  redraw() {
    const from = Date.now() / 1000 - this.rangeMs / 1000
    let drop = 0
    while (drop < this.xs.length - 1 && this.xs[drop] < from) drop++
    if (drop > 0) { this.xs.splice(0, drop); for (const col of this.ys) col.splice(0, drop) }
    this.draw()
  }

  draw() {
    this.plot.setData(this.data())
    // Off the chart, the legend shows each series' newest value; uPlot refreshes it only on cursor moves.
    if (this.plot.cursor.idx === null || this.plot.cursor.idx === undefined) this.plot.setLegend({ idx: null }, false)
  }

  /** The newest instant held, in ms (or 0). */
  lastTime() { return this.xs.length > 0 ? this.xs[this.xs.length - 1] * 1000 : 0 }

  destroy() {
    this.resizer.disconnect()
    this.plot.destroy()
    this.root.remove()
  }
}
