// One host: live cards and charts (WS /ws/metrics/<agent>, REST polling while it is down), history over
// a chosen range from the series endpoint, the custom metrics other tools wrote, filesystem and interface
// tables, the process tree (at any instant: `at`, kept in the address as ?at=; a click on a chart or a time in
// the starts and exits picks one), the starts and exits over the range, the processes that used a span dragged
// across a chart, and the host's recent log lines. `focus: 'processes'` scrolls to the process tree once the
// page has its layout.
import { h, replaceChildren } from './elements.js'
import { api } from './session.js'
import { LiveSocket } from './live-socket.js'
import { TimeChart } from './time-chart.js'
import { chartsFor, seriesKey } from './host-charts.js'
import { mountProcessTree } from './process-tree.js'
import { mountHostLogs } from './host-logs.js'
import { mountHostReport } from './host-report.js'
import { customMetrics, mountCustomMetrics } from './host-custom-metrics.js'
import { mountHostAlerts } from './host-alerts.js'
import { mountTopProcesses } from './host-top-processes.js'
import { mountHostTraffic } from './host-traffic.js'
import { blameMetricOf, mountProcessChanges, mountSpanBlame } from './host-process-history.js'
import { eachLimited } from './concurrency.js'
import { usageBar } from './usage-bar.js'
import { formatAgo, formatByteRate, formatBytes, formatFullTime, formatNumber, formatPerSecond, formatPercent, formatValue } from './format.js'

export const RANGES = [
  { id: '1h', label: '1 hour', ms: 3_600_000 },
  { id: '6h', label: '6 hours', ms: 6 * 3_600_000 },
  { id: '24h', label: '24 hours', ms: 24 * 3_600_000 },
  { id: '7d', label: '7 days', ms: 7 * 86_400_000 },
  { id: '30d', label: '30 days', ms: 30 * 86_400_000 },
]
const POLL_MS = 10_000
/** Tables and wide-table chart points are re-read at most this often when live data arrives. */
const TABLES_MIN_INTERVAL_MS = 5_000
const PROCESSES_MIN_INTERVAL_MS = 5_000
/** How far back the filesystem and interface tables look for the newest rows. */
const TABLE_WINDOW_MS = 15 * 60_000

const CARDS = [
  { id: 'cpu', label: 'CPU', keys: ['cpu.usage_percent'], unit: 'percent' },
  { id: 'memory', label: 'Memory', keys: ['memory.usage_percent'], unit: 'percent' },
  { id: 'load', label: 'Load (1 min)', keys: ['load.load1', 'cpu.load_avg_1'], unit: 'load' },
  { id: 'swap', label: 'Swap', keys: ['swap.usage_percent'], unit: 'percent' },
]

export function mountHost(container, agentId, { focus = null, at = null } = {}) {
  const state = { agent: null, range: RANGES[0], charts: [], generation: 0, lastSample: null, tablesAt: 0, processesAt: 0, onlineWindowMs: 20_000 }
  const cardTimes = new Map()
  let destroyed = false
  let socket = null
  let tree = null
  let logs = null
  let report = null
  let alerts = null
  let top = null
  let traffic = null
  let changes = null
  let span = null
  let pollTimer = 0
  let tablesTimer = 0
  let tickTimer = 0

  const title = h('h1', { id: 'host-title' }, agentId)
  const meta = h('p', { class: 'host-meta muted', id: 'host-meta' })
  const statusBadge = h('span', { class: 'status', id: 'host-status' })
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const alertStrip = h('section', { class: 'alert-strip', id: 'host-alerts', 'aria-label': 'Firing alerts', hidden: true })
  const liveNote = h('span', { class: 'live-note', id: 'host-live', 'aria-live': 'polite' })
  const cardValues = new Map()
  const cards = h('div', { class: 'cards' }, [...CARDS, { id: 'disk', label: 'Fullest filesystem' }, { id: 'seen', label: 'Last sample' }].map((c) => {
    const value = h('span', { class: 'card-value', id: `card-${c.id}` }, '–')
    const detail = h('span', { class: 'card-detail muted' })
    cardValues.set(c.id, { value, detail })
    return h('div', { class: 'card', dataset: { card: c.id } }, h('span', { class: 'card-label' }, c.label), value, detail)
  }))
  const rangeButtons = RANGES.map((r) => h('button', {
    type: 'button', class: 'range', dataset: { range: r.id }, 'aria-pressed': String(r === state.range), title: `Last ${r.label}`,
    onclick: () => { if (state.range !== r) { state.range = r; showRange(); loadHistory(); top?.refresh(); changes?.refresh() } },
  }, r.id))
  const historyNote = h('span', { class: 'muted', id: 'history-note', 'aria-live': 'polite' })
  const chartsGrid = h('div', { class: 'charts', id: 'charts' })
  const customSection = h('section', { class: 'custom-metrics', id: 'custom-metrics', 'aria-labelledby': 'custom-title' })
  const fsBody = h('tbody')
  const ifBody = h('tbody')
  const trafficSection = h('section', { class: 'traffic-panel', id: 'traffic-panel', 'aria-labelledby': 'traffic-title' })
  const topSection = h('section', { class: 'top-processes-panel', id: 'top-processes-panel', 'aria-labelledby': 'top-title' })
  const spanSection = h('section', { class: 'span-blame', id: 'span-panel', 'aria-labelledby': 'span-title' })
  const changesSection = h('section', { class: 'process-changes', id: 'changes-panel', 'aria-labelledby': 'changes-title' })
  const processSection = h('section', { class: 'processes', 'aria-labelledby': 'processes-title' })
  const logsSection = h('section', { class: 'logs', 'aria-labelledby': 'logs-title' })
  const reportSection = h('section', { class: 'report', id: 'report', 'aria-labelledby': 'report-title', hidden: true })
  const reportButton = h('button', { type: 'button', class: 'secondary', id: 'report-button', disabled: true }, 'Report')

  replaceChildren(container, h('article', { class: 'host' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← Fleet')),
    h('div', { class: 'section-head' }, title, liveNote),
    meta, error, alertStrip, cards,
    h('section', { 'aria-labelledby': 'charts-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'charts-title' }, 'Charts'),
        h('div', { class: 'range-picker', role: 'group', 'aria-label': 'History range' }, rangeButtons), reportButton, historyNote),
      reportSection, chartsGrid),
    spanSection,
    changesSection,
    customSection,
    h('section', { 'aria-labelledby': 'fs-title' }, h('h2', { id: 'fs-title' }, 'Filesystems'),
      h('div', { class: 'table-scroll' }, h('table', { id: 'filesystems' }, h('thead', {}, h('tr', {},
        ['Mount', 'Device', 'Type', 'Size', 'Used', 'Available', 'Use', 'Inodes', 'Read', 'Write'].map((c, i) => h('th', { scope: 'col', class: i >= 3 ? 'num' : undefined }, c)))), fsBody))),
    h('section', { 'aria-labelledby': 'if-title' }, h('h2', { id: 'if-title' }, 'Network interfaces'),
      h('div', { class: 'table-scroll' }, h('table', { id: 'interfaces' }, h('thead', {}, h('tr', {},
        ['Interface', 'State', 'Receive', 'Send', 'Received', 'Sent', 'Packets in', 'Packets out', 'Errors in/out', 'Drops in/out']
          .map((c, i) => h('th', { scope: 'col', class: i >= 2 ? 'num' : undefined }, c)))), ifBody))),
    trafficSection,
    topSection,
    processSection,
    logsSection))
  document.title = `${agentId} · hostpulse`

  function showError(text) { error.textContent = text; error.hidden = !text }
  function showRange() { for (const b of rangeButtons) b.setAttribute('aria-pressed', String(b.dataset.range === state.range.id)) }

  function setCard(id, text, detail = '', at = null) {
    const card = cardValues.get(id)
    if (!card) return
    if (at !== null) {
      const t = Date.parse(at)
      // An older value (a poll answering late) never replaces a newer one.
      if (t < (cardTimes.get(id) ?? 0)) return
      cardTimes.set(id, t)
    }
    card.value.textContent = text
    card.detail.textContent = detail
  }

  function noteSample(at) {
    if (!at) return
    if (!state.lastSample || Date.parse(at) > Date.parse(state.lastSample)) state.lastSample = at
    setCard('seen', formatAgo(state.lastSample), formatFullTime(state.lastSample))
    showStatus()
  }

  /** Live values by series key (`<type>.<name>`, tagged ones `<type>.<name>{k=v,…}`): charts and cards. */
  function applyValues(data) {
    for (const { def, chart } of state.charts) {
      if (!chart) continue
      const byTime = new Map()
      def.series.forEach((s, i) => {
        const point = data[seriesKey(s)]
        if (!point || typeof point.value !== 'number') return
        const t = Date.parse(point.timestamp)
        if (!byTime.has(t)) byTime.set(t, new Map())
        byTime.get(t).set(i, point.value)
      })
      for (const [t, values] of byTime) chart.add(t, values)
      if (byTime.size > 0) chart.redraw()
    }
    for (const card of CARDS) {
      const key = card.keys.find((k) => typeof data[k]?.value === 'number')
      if (key) setCard(card.id, formatValue(card.unit, data[key].value), '', data[key].timestamp)
    }
    const times = Object.values(data).map((p) => Date.parse(p?.timestamp)).filter(Number.isFinite)
    if (times.length > 0) noteSample(new Date(Math.max(...times)).toISOString())
  }

  function onLiveMessage(msg) {
    if (msg.type === 'metrics' && msg.data && typeof msg.data === 'object') {
      applyValues(msg.data)
      refreshTablesSoon()
      refreshProcessesSoon()
    } else if (msg.type === 'error') {
      showError(`Live stream: ${msg.message}`)
    } else if (msg.type === 'dropped') {
      // Points were lost on the way: re-read the history so the charts have no silent hole.
      loadHistory()
    }
  }

  function onLiveState(s) {
    liveNote.dataset.state = s
    liveNote.textContent = s === 'open' ? 'Live' : s === 'connecting' ? 'Connecting…' : `Live stream unavailable: polling every ${POLL_MS / 1000} s`
  }

  async function loadAgent() {
    try {
      state.agent = await api(`/api/v1/agents/${encodeURIComponent(agentId)}`)
    } catch (err) {
      if (err.status === 404) {
        replaceChildren(container, h('section', {}, h('h1', {}, 'Agent not found'),
          h('p', {}, `There is no agent "${agentId}" in your organization. `, h('a', { href: '#/' }, 'Back to the fleet'))))
      } else showError(`Could not load agent "${agentId}": ${err.message}`)
      return false
    }
    const a = state.agent
    title.textContent = a.name
    document.title = `${a.name} · hostpulse`
    replaceChildren(meta, statusBadge,
      ` ${[a.hostname, [a.os, a.os_version].filter(Boolean).join(' '), a.ip_address, a.agent_version ? `agent ${a.agent_version}` : null].filter(Boolean).join(' · ')}`)
    noteSample(a.last_metrics_at)
    const stats = await api('/api/v1/agents/stats').catch(() => null)
    if (stats?.online_window_seconds) state.onlineWindowMs = stats.online_window_seconds * 1000
    showStatus()
    return true
  }

  /** Online while samples keep arriving within the server's online window; pending until approved. */
  function showStatus() {
    if (!state.agent) return
    const fresh = state.lastSample && Date.now() - Date.parse(state.lastSample) <= state.onlineWindowMs + 5000
    const status = state.agent.status === 'pending' ? 'pending' : fresh ? 'online' : 'offline'
    statusBadge.className = `status status-${status}`
    statusBadge.textContent = status
    // Offline: the cards hold the last values received, faded so they do not pass for current ones.
    cards.classList.toggle('stale', status === 'offline')
    cards.title = status === 'offline' ? 'offline: the last values received' : ''
  }

  /** Latest scalar metrics as live data (`type.name{k=v}` keys), for the cards and the poll fallback. */
  async function readLatest() {
    const latest = await api(`/api/v1/metrics/latest/${encodeURIComponent(state.agent.id)}?limit=1000`)
    const data = {}
    for (const m of latest.metrics) {
      data[seriesKey({ metric: `${m.metric_type}.${m.metric_name}`, tags: m.tags ?? {} })] = { value: m.value, timestamp: m.time }
    }
    return { metrics: latest.metrics, data }
  }

  async function readTables() {
    const start = encodeURIComponent(new Date(Date.now() - TABLE_WINDOW_MS).toISOString())
    const id = encodeURIComponent(state.agent.id)
    const [disks, nets] = await Promise.all([
      api(`/api/v1/metrics/disk/${id}?start=${start}&limit=2000`),
      api(`/api/v1/metrics/network/${id}?start=${start}&limit=2000`),
    ])
    return { disks: disks.metrics, nets: nets.metrics }
  }

  /** Rows are newest first: the first row of each key is its current one. */
  const newestBy = (rows, key) => {
    const out = new Map()
    for (const r of rows) if (!out.has(r[key])) out.set(r[key], r)
    return [...out.values()].sort((a, b) => String(a[key]).localeCompare(String(b[key])))
  }

  function renderTables({ disks, nets }) {
    const mounts = newestBy(disks, 'mount_point')
    const ifaces = newestBy(nets, 'interface')
    replaceChildren(fsBody, mounts.length === 0
      ? h('tr', {}, h('td', { colspan: 10, class: 'muted' }, 'No filesystem rows in the last 15 minutes.'))
      : mounts.map((d) => h('tr', { dataset: { mount: d.mount_point } },
        h('th', { scope: 'row' }, d.mount_point), h('td', {}, d.device), h('td', {}, d.filesystem ?? '–'),
        h('td', { class: 'num' }, formatBytes(d.total_bytes)), h('td', { class: 'num' }, formatBytes(d.used_bytes)),
        h('td', { class: 'num' }, formatBytes(d.available_bytes)), h('td', { class: 'num' }, usageBar(d.usage_percent)),
        h('td', { class: 'num' }, formatPercent(d.inodes_percent)), h('td', { class: 'num' }, formatByteRate(d.read_bytes_per_sec)),
        h('td', { class: 'num' }, formatByteRate(d.write_bytes_per_sec)))))
    replaceChildren(ifBody, ifaces.length === 0
      ? h('tr', {}, h('td', { colspan: 10, class: 'muted' }, 'No interface rows in the last 15 minutes.'))
      : ifaces.map((n) => h('tr', { dataset: { interface: n.interface } },
        h('th', { scope: 'row' }, n.interface), h('td', {}, n.is_up ? 'up' : 'down'),
        h('td', { class: 'num' }, formatByteRate(n.bytes_recv_per_sec)), h('td', { class: 'num' }, formatByteRate(n.bytes_sent_per_sec)),
        h('td', { class: 'num' }, formatBytes(n.bytes_recv)), h('td', { class: 'num' }, formatBytes(n.bytes_sent)),
        h('td', { class: 'num' }, formatPerSecond(n.packets_recv_per_sec)), h('td', { class: 'num' }, formatPerSecond(n.packets_sent_per_sec)),
        h('td', { class: 'num' }, `${formatNumber(n.errors_in, 0)} / ${formatNumber(n.errors_out, 0)}`),
        h('td', { class: 'num' }, `${formatNumber(n.drop_in, 0)} / ${formatNumber(n.drop_out, 0)}`))))
    const fullest = mounts.reduce((a, b) => (a && a.usage_percent >= b.usage_percent ? a : b), null)
    if (fullest) setCard('disk', formatPercent(fullest.usage_percent), fullest.mount_point)
    // A down interface is listed in the table but not charted (its 0 B/s would read as idle); idle ones are
    // charted only when none moves data (host-charts.js chartedDevices).
    return {
      mounts,
      interfaces: ifaces.filter((n) => n.is_up !== false).map((n) => ({ name: n.interface, activity: (n.bytes_recv_per_sec ?? 0) + (n.bytes_sent_per_sec ?? 0) })),
    }
  }

  /** Points of the wide-table series (disk per mount, network per interface) from listing rows. */
  function addWidePoints({ disks, nets }) {
    for (const { def, chart } of state.charts) {
      if (!chart) continue
      let added = false
      def.series.forEach((s, i) => {
        if (!s.wide) return
        const [family, field] = s.metric.split('.')
        const rows = family === 'disk' ? disks.filter((d) => d.mount_point === s.tags.mount_point) : nets.filter((n) => n.interface === s.tags.interface)
        const column = field
        for (const r of rows) {
          if (typeof r[column] !== 'number') continue
          chart.add(Date.parse(r.time), new Map([[i, r[column]]]))
          added = true
        }
      })
      if (added) chart.redraw()
    }
  }

  async function refreshTables() {
    clearTimeout(tablesTimer)
    tablesTimer = 0
    state.tablesAt = Date.now()
    try {
      const tables = await readTables()
      if (destroyed) return
      renderTables(tables)
      addWidePoints(tables)
    } catch (err) {
      showError(`Could not refresh filesystems and interfaces: ${err.message}`)
    }
  }

  function refreshTablesSoon() {
    if (tablesTimer) return
    tablesTimer = setTimeout(refreshTables, Math.max(0, state.tablesAt + TABLES_MIN_INTERVAL_MS - Date.now()))
  }

  function refreshProcessesSoon() {
    if (!tree || Date.now() - state.processesAt < PROCESSES_MIN_INTERVAL_MS) return
    state.processesAt = Date.now()
    tree.refresh()
  }

  function newChart(box, def) {
    return new TimeChart(box, {
      title: def.title, unit: def.unit, labels: def.series.map((s) => s.label), rangeMs: state.range.ms,
      onPick: (ms) => openTreeAt(new Date(ms).toISOString()),
      onSpan: (from, to) => span?.show(from, to, blameMetricOf(def.id)),
    })
  }

  /** The process tree as it was at `iso`, scrolled into view. */
  function openTreeAt(iso) {
    if (!tree) return
    tree.showAt(iso)
    processSection.scrollIntoView({ block: 'start' })
  }

  /** The tree's instant in the address, so it can be shared (replaced, not pushed: no page reload). */
  function keepInstant(iso) {
    const path = `#/hosts/${encodeURIComponent(state.agent?.name ?? agentId)}`
    history.replaceState(null, '', iso ? `${path}?at=${encodeURIComponent(iso)}` : path)
  }

  function buildCharts(defs) {
    for (const c of state.charts) c.chart?.destroy()
    replaceChildren(chartsGrid)
    state.charts = defs.map((def) => {
      const box = h('figure', { class: 'chart-box', dataset: { chart: def.id } }, h('figcaption', {}, def.title))
      chartsGrid.append(box)
      if (def.series.length === 0) {
        box.append(h('p', { class: 'muted chart-empty' }, `This host reports no ${def.title.toLowerCase()} data.`))
        return { def, chart: null }
      }
      return { def, chart: newChart(box, def) }
    })
  }

  /** The chosen custom metric's chart joins the others (history over the range, live values). */
  function showCustom(def, box) {
    const old = state.charts.find((c) => c.def.id === 'custom')
    old?.chart?.destroy()
    const entry = { def, chart: newChart(box, def) }
    state.charts = [...state.charts.filter((c) => c !== old), entry]
    loadHistory([entry])
  }

  /** Reads every chart's history over the range (or only `only`'s, for a chart just added). */
  async function loadHistory(only = null) {
    const generation = only ? state.generation : ++state.generation
    const range = state.range
    const start = new Date(Date.now() - range.ms).toISOString()
    const width = chartsGrid.clientWidth || 800
    const maxPoints = Math.max(60, Math.min(600, Math.round(width / 2)))
    historyNote.textContent = `Loading the last ${range.label}…`
    const failures = []
    await eachLimited((only ?? state.charts).filter((c) => c.chart), 2, async ({ def, chart }) => {
      const series = await Promise.all(def.series.map(async (s) => {
        const tags = Object.entries(s.tags).map(([k, v]) => `&tags.${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('')
        try {
          const res = await api(`/api/v1/metrics/series/${encodeURIComponent(state.agent.id)}?metric=${encodeURIComponent(s.metric)}&start=${encodeURIComponent(start)}&max_points=${maxPoints}${tags}`)
          return { timestamps: res.timestamps.map((t) => Date.parse(t)), values: res.values, resolution: res.resolution, step: res.step }
        } catch (err) {
          failures.push(`${def.title} ${s.label}: ${err.message}`)
          return { timestamps: [], values: [] }
        }
      }))
      if (destroyed || generation !== state.generation) return
      chart.setHistory(series, range.ms)
      chart.root.dataset.range = range.id
      const level = series.find((s) => s.resolution)
      if (level) chart.root.dataset.resolution = level.resolution
    })
    if (destroyed || generation !== state.generation) return
    historyNote.textContent = `Last ${range.label}`
    showError(failures.length > 0 ? `Some history could not be loaded: ${failures.join('; ')}` : '')
  }

  async function poll() {
    clearTimeout(pollTimer)
    if (destroyed) return
    if (socket?.state !== 'open') {
      try {
        const { data } = await readLatest()
        if (!destroyed) applyValues(data)
        await refreshTables()
        refreshProcessesSoon()
      } catch (err) {
        showError(`Could not refresh: ${err.message}`)
      }
    }
    if (!destroyed) pollTimer = setTimeout(poll, POLL_MS)
  }

  async function start() {
    if (!(await loadAgent()) || destroyed) return
    socket = new LiveSocket(`/ws/metrics/${encodeURIComponent(state.agent.name)}`, { onMessage: onLiveMessage, onState: onLiveState })
    socket.start()
    tree = mountProcessTree(processSection, state.agent.id, { at, onAt: keepInstant })
    changes = mountProcessChanges(changesSection, state.agent.id, { range: () => state.range, onInstant: openTreeAt })
    span = mountSpanBlame(spanSection, state.agent.id, { onInstant: openTreeAt })
    logs = mountHostLogs(logsSection, state.agent.id)
    report = mountHostReport(reportSection, state.agent, { button: reportButton, range: () => state.range.id })
    alerts = mountHostAlerts(alertStrip, state.agent)
    top = mountTopProcesses(topSection, state.agent.id, () => state.range)
    traffic = mountHostTraffic(trafficSection, state.agent.id)
    state.processesAt = Date.now()
    showFocus()
    try {
      const [latest, tables] = await Promise.all([readLatest(), readTables()])
      if (destroyed) return
      const wide = renderTables(tables)
      buildCharts(chartsFor(latest.metrics, wide))
      mountCustomMetrics(customSection, customMetrics(latest.metrics), showCustom)
      // The charts above the process tree now have their height.
      showFocus()
      applyValues(latest.data)
      state.tablesAt = Date.now()
      await loadHistory()
      addWidePoints(tables)
    } catch (err) {
      showError(`Could not load this host's metrics: ${err.message}`)
    }
    pollTimer = setTimeout(poll, POLL_MS)
  }

  function showFocus() {
    if ((focus === 'processes' || at) && !destroyed) processSection.scrollIntoView({ block: 'start' })
  }

  start()
  tickTimer = setInterval(() => {
    if (state.lastSample) setCard('seen', formatAgo(state.lastSample), formatFullTime(state.lastSample))
    showStatus()
  }, 5000)

  return () => {
    destroyed = true
    socket?.stop()
    tree?.destroy()
    logs?.destroy()
    report?.destroy()
    alerts?.()
    top?.destroy()
    traffic?.destroy()
    changes?.destroy()
    span?.destroy()
    clearTimeout(pollTimer)
    clearTimeout(tablesTimer)
    clearInterval(tickTimer)
    for (const c of state.charts) c.chart?.destroy()
  }
}

