// The fleet: every agent with status, CPU, memory, disk, a CPU sparkline, traffic in its billing cycle
// (against its quota) and last seen; sortable and filterable. Values come from the live feed; while it is
// down, from the REST API every POLL_MS. Traffic is read every TRAFFIC_MS.
import { h, replaceChildren, svg } from './elements.js'
import { api } from './session.js'
import { isLive, subscribe, summaryOf } from './live-feed.js'
import { alertMarker } from './host-alerts.js'
import { formatAgo, formatFullTime, formatPercent, formatTime, formatTrafficBytes } from './format.js'
import { eachLimited } from './concurrency.js'
import { usageBar } from './usage-bar.js'

const POLL_MS = 10_000
const TRAFFIC_MS = 60_000
const SPARK_WINDOW_MS = 3_600_000
const SPARK_POINTS = 60
/** Sparkline history is fetched for this many agents; the rest fill theirs from live updates. */
const MAX_SPARK_FETCH = 100
/** Agents whose values are polled per round while the live feed is down (the visible ones first). */
const MAX_POLLED_DETAILS = 25

const COLUMNS = [
  { key: 'status', label: 'Status' },
  { key: 'name', label: 'Name' },
  { key: 'hostname', label: 'Hostname' },
  { key: 'cpu', label: 'CPU', num: true },
  { key: 'memory', label: 'Memory', num: true },
  { key: 'disk', label: 'Disk', num: true },
  { key: null, label: 'CPU, last hour' },
  { key: 'traffic', label: 'Traffic, this cycle', num: true },
  { key: 'last_seen', label: 'Last seen' },
]
const STATUS_ORDER = { online: 0, pending: 1, offline: 2 }

export function mountFleet(container) {
  const rows = new Map()
  const state = { sortKey: 'name', sortDir: 1, filter: '', status: '', onlineWindowMs: 20_000, loaded: false }
  let pollTimer = 0
  let tickTimer = 0
  let renderQueued = false
  let destroyed = false

  const filterInput = h('input', { id: 'fleet-filter', type: 'search', placeholder: 'name or hostname', oninput: () => { state.filter = filterInput.value.trim().toLowerCase(); queueRender() } })
  const statusSelect = h('select', { id: 'fleet-status', onchange: () => { state.status = statusSelect.value; queueRender() } },
    h('option', { value: '' }, 'All'), h('option', { value: 'online' }, 'Online'), h('option', { value: 'offline' }, 'Offline'),
    h('option', { value: 'pending' }, 'Pending'))
  const counts = h('p', { class: 'muted', id: 'fleet-counts', 'aria-live': 'polite' })
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const headRow = h('tr')
  const tbody = h('tbody')
  const table = h('table', { class: 'fleet-table', id: 'fleet-table' }, h('caption', { class: 'visually-hidden' }, 'Agents'), h('thead', {}, headRow), tbody)

  replaceChildren(container, h('section', { class: 'fleet', 'aria-labelledby': 'fleet-title' },
    h('div', { class: 'section-head' }, h('h1', { id: 'fleet-title' }, 'Fleet'), counts),
    h('div', { class: 'toolbar' },
      h('label', { for: 'fleet-filter' }, 'Filter'), filterInput,
      h('label', { for: 'fleet-status' }, 'Status'), statusSelect),
    error,
    h('div', { class: 'table-scroll' }, table)))
  document.title = 'Fleet · hostpulse'

  function showError(text) { error.textContent = text; error.hidden = !text }

  function rowFor(agent) {
    let row = rows.get(agent.id)
    if (!row) {
      row = { id: agent.id, name: agent.name, hostname: agent.hostname, cpu: null, memory: null, disk: null, last_seen: null, spark: [], traffic: null, trafficQuota: null }
      rows.set(agent.id, row)
    }
    row.name = agent.name
    row.hostname = agent.hostname
    row.adminStatus = agent.status
    row.restOnline = agent.online
    // While the feed is down, the REST answer is the newer word on status.
    if (!isLive()) row.liveStatus = undefined
    // "Last seen" is the agent's last contact, as the live summaries give it.
    row.last_seen = latestTime(row.last_seen, agent.last_seen_at)
    applySummary(row, summaryOf(agent))
    return row
  }

  function applySummary(row, s) {
    if (!s) return
    row.liveStatus = s.status
    if (typeof s.cpu === 'number') row.cpu = s.cpu
    if (typeof s.memory === 'number') row.memory = s.memory
    if (typeof s.disk === 'number') row.disk = s.disk
    row.last_seen = latestTime(row.last_seen, s.last_seen)
    if (typeof s.cpu === 'number') addSparkPoint(row, Date.parse(s.last_seen) || Date.now(), s.cpu)
  }

  function statusOf(row) {
    if (row.adminStatus === 'pending' || row.liveStatus === 'pending') return 'pending'
    const online = row.liveStatus !== undefined ? row.liveStatus === 'online' : row.restOnline
    if (!online) return 'offline'
    // Summaries arrive when an agent reports; one that went quiet turns offline here without a message.
    const seen = row.last_seen ? Date.parse(row.last_seen) : 0
    return Date.now() - seen <= state.onlineWindowMs + 5000 ? 'online' : 'offline'
  }

  async function load() {
    try {
      const [list, stats] = await Promise.all([
        api('/api/v1/agents?limit=1000'),
        api('/api/v1/agents/stats').catch(() => null),
      ])
      if (destroyed) return
      if (stats?.online_window_seconds) state.onlineWindowMs = stats.online_window_seconds * 1000
      const seen = new Set()
      for (const agent of list.agents) seen.add(rowFor(agent).id)
      for (const id of [...rows.keys()]) if (!seen.has(id)) rows.delete(id)
      state.loaded = true
      showError(list.total > list.agents.length ? `Showing the first ${list.agents.length} of ${list.total} agents.` : '')
      render()
    } catch (err) {
      showError(`Could not load agents: ${err.message}`)
    }
  }

  /** Each agent's bytes in its billing cycle and its quota (GET /api/v1/traffic). */
  async function loadTraffic() {
    try {
      const res = await api('/api/v1/traffic')
      if (destroyed) return
      for (const t of res.agents) {
        const row = rows.get(t.agent_id)
        if (!row) continue
        row.traffic = t.total_bytes
        row.trafficQuota = t.quota
        row.trafficSince = t.cycle_start
      }
      queueRender()
    } catch { /* the column shows "–" until the next round */ }
  }

  async function loadSparklines() {
    const start = new Date(Date.now() - SPARK_WINDOW_MS).toISOString()
    const targets = [...rows.values()].sort(byName).slice(0, MAX_SPARK_FETCH)
    await eachLimited(targets, 4, async (row) => {
      if (destroyed) return
      try {
        const s = await api(`/api/v1/metrics/series/${encodeURIComponent(row.id)}?metric=cpu.usage_percent&start=${encodeURIComponent(start)}&max_points=${SPARK_POINTS}`)
        const points = s.timestamps.map((t, i) => [Date.parse(t), s.values[i]])
        row.spark = mergePoints(points, row.spark)
        if (row.cpu === null && points.length > 0) row.cpu = points[points.length - 1][1]
        queueRender()
      } catch { /* a missing sparkline is shown as "no data" */ }
    })
  }

  /** While the live feed is down: newest CPU, memory and disk of the shown agents, from the REST API. */
  async function pollDetails() {
    const targets = visibleRows().slice(0, MAX_POLLED_DETAILS)
    const since = new Date(Date.now() - 10 * 60_000).toISOString()
    await eachLimited(targets, 3, async (row) => {
      if (destroyed || isLive()) return
      try {
        const latest = await api(`/api/v1/metrics/latest/${encodeURIComponent(row.id)}?limit=500`)
        const pick = (type, name) => latest.metrics.find((m) => m.metric_type === type && m.metric_name === name && Object.keys(m.tags ?? {}).length === 0)
        const cpu = pick('cpu', 'usage_percent')
        const memory = pick('memory', 'usage_percent')
        if (cpu) { row.cpu = cpu.value; addSparkPoint(row, Date.parse(cpu.time), cpu.value) }
        if (memory) row.memory = memory.value
        const disks = await api(`/api/v1/metrics/disk/${encodeURIComponent(row.id)}?start=${encodeURIComponent(since)}&limit=200`)
        const newest = disks.metrics[0]?.time
        const current = disks.metrics.filter((d) => d.time === newest)
        if (current.length > 0) row.disk = Math.max(...current.map((d) => d.usage_percent))
        queueRender()
      } catch (err) {
        if (err.status !== 404) showError(`Could not refresh ${row.name}: ${err.message}`)
      }
    })
  }

  let lastPollAt = 0
  async function poll() {
    clearTimeout(pollTimer)
    if (destroyed) return
    lastPollAt = Date.now()
    if (!isLive()) {
      await load()
      await pollDetails()
    }
    if (!destroyed) pollTimer = setTimeout(poll, POLL_MS)
  }

  let reloadQueued = 0
  function reloadSoon() {
    if (reloadQueued) return
    reloadQueued = setTimeout(async () => { reloadQueued = 0; await load() }, 1000)
  }

  const unsubscribe = subscribe((kind, payload) => {
    if (kind === 'snapshot') {
      for (const row of rows.values()) applySummary(row, summaryOf(row))
      if (payload.agents?.some((a) => !rows.has(a.agent_id) && ![...rows.values()].some((r) => r.name === a.name))) reloadSoon()
      queueRender()
    } else if (kind === 'agent') {
      const row = rows.get(payload.agent_id) ?? [...rows.values()].find((r) => r.name === payload.name)
      if (row) { applySummary(row, payload); queueRender() } else reloadSoon()
    } else if (kind === 'alert') {
      queueRender()
    } else if (kind === 'dropped') {
      reloadSoon()
    } else if (kind === 'state' && payload.state === 'down' && Date.now() - lastPollAt > POLL_MS / 2) {
      // The feed just went down: values may be missing since; each reconnect attempt does not poll again.
      poll()
    }
  })

  function visibleRows() {
    const list = [...rows.values()].filter((r) => {
      if (state.status && statusOf(r) !== state.status) return false
      if (!state.filter) return true
      return r.name.toLowerCase().includes(state.filter) || (r.hostname ?? '').toLowerCase().includes(state.filter)
    })
    const key = state.sortKey
    const value = (r) => (key === 'status' ? STATUS_ORDER[statusOf(r)] : key === 'last_seen' ? (r.last_seen ? Date.parse(r.last_seen) : -Infinity) : r[key])
    return list.sort((a, b) => {
      const va = value(a)
      const vb = value(b)
      // Missing values sort last in either direction.
      if (va === null || va === undefined) return vb === null || vb === undefined ? byName(a, b) : 1
      if (vb === null || vb === undefined) return -1
      const c = typeof va === 'string' ? va.localeCompare(vb) : va - vb
      return c !== 0 ? c * state.sortDir : byName(a, b)
    })
  }

  function renderHead() {
    replaceChildren(headRow, COLUMNS.map((col) => {
      if (!col.key) return h('th', { scope: 'col' }, col.label)
      const active = state.sortKey === col.key
      return h('th', { scope: 'col', class: col.num ? 'num' : undefined, 'aria-sort': active ? (state.sortDir > 0 ? 'ascending' : 'descending') : 'none' },
        h('button', {
          type: 'button', class: 'sort', dataset: { sort: col.key },
          onclick: () => {
            if (state.sortKey === col.key) state.sortDir = -state.sortDir
            else { state.sortKey = col.key; state.sortDir = ['cpu', 'memory', 'disk', 'traffic', 'last_seen'].includes(col.key) ? -1 : 1 }
            render()
          },
        }, col.label, h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, active ? (state.sortDir > 0 ? ' ▲' : ' ▼') : '')))
    }))
  }

  function render() {
    renderQueued = false
    if (destroyed) return
    renderHead()
    const visible = visibleRows()
    const all = [...rows.values()]
    const online = all.filter((r) => statusOf(r) === 'online').length
    const pending = all.filter((r) => statusOf(r) === 'pending').length
    counts.textContent = `${all.length} agent${all.length === 1 ? '' : 's'} · ${online} online · ${all.length - online - pending} offline${pending ? ` · ${pending} pending` : ''}`
    if (!state.loaded) { replaceChildren(tbody, h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'muted' }, 'Loading agents…'))); return }
    if (visible.length === 0) {
      replaceChildren(tbody, h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'muted' },
        all.length === 0 ? 'No agents yet: register one (POST /api/v1/agents) and start it with its key.' : 'No agent matches the filter.')))
      return
    }
    replaceChildren(tbody, visible.map((r) => {
      const status = statusOf(r)
      // An offline agent's figures are its last ones: shown faded, not as if current.
      return h('tr', { dataset: { agent: r.name, status }, title: status === 'offline' ? `offline: the figures are the last ones received${r.last_seen ? ` (${formatAgo(r.last_seen)})` : ''}` : undefined },
        h('td', {}, h('span', { class: `status status-${status}` }, status)),
        h('td', {}, h('a', { href: `#/hosts/${encodeURIComponent(r.id)}`, class: 'agent-link' }, r.name), ' ', alertMarker(r)),
        h('td', {}, r.hostname ?? '–'),
        h('td', { class: 'num', dataset: { col: 'cpu' } }, usageBar(r.cpu)),
        h('td', { class: 'num', dataset: { col: 'memory' } }, usageBar(r.memory)),
        h('td', { class: 'num', dataset: { col: 'disk' } }, usageBar(r.disk)),
        h('td', {}, sparkline(r.spark, r.name)),
        h('td', { class: 'num', dataset: { col: 'traffic' }, title: trafficTitle(r) }, trafficCell(r)),
        h('td', { title: r.last_seen ? formatFullTime(r.last_seen) : '' }, r.last_seen ? h('time', { datetime: r.last_seen }, formatAgo(r.last_seen)) : 'never'))
    }))
  }

  function queueRender() {
    if (renderQueued || destroyed) return
    renderQueued = true
    requestAnimationFrame(render)
  }

  render()
  load().then(() => {
    if (!isLive()) pollDetails()
    loadSparklines()
    loadTraffic()
  })
  const trafficTimer = setInterval(loadTraffic, TRAFFIC_MS)
  pollTimer = setTimeout(poll, POLL_MS)
  // "12 s ago" and online → offline move with the clock.
  tickTimer = setInterval(queueRender, 5000)

  return () => {
    destroyed = true
    unsubscribe()
    clearTimeout(pollTimer)
    clearTimeout(reloadQueued)
    clearInterval(tickTimer)
    clearInterval(trafficTimer)
  }
}

const byName = (a, b) => a.name.localeCompare(b.name)

/** The cycle's bytes, and the share of the quota as a bar when there is one. */
function trafficCell(r) {
  if (r.traffic === null) return h('span', { class: 'muted' }, '–')
  return h('span', { class: 'traffic-cell' }, h('span', {}, formatTrafficBytes(r.traffic)), r.trafficQuota ? usageBar(r.trafficQuota.used_percent) : '')
}

function trafficTitle(r) {
  if (r.traffic === null) return undefined
  const since = r.trafficSince ? ` since ${formatFullTime(r.trafficSince)}` : ''
  const q = r.trafficQuota
  return q ? `${formatTrafficBytes(q.used_bytes)} of ${formatTrafficBytes(q.bytes)} quota (${q.direction})${since}` : `received + sent${since}; no quota`
}

function latestTime(a, b) {
  if (!a) return b ?? null
  if (!b) return a
  return Date.parse(b) > Date.parse(a) ? b : a
}

function addSparkPoint(row, t, v) {
  if (!Number.isFinite(t) || typeof v !== 'number') return
  const last = row.spark[row.spark.length - 1]
  if (last && last[0] >= t) return
  row.spark.push([t, v])
  const from = Date.now() - SPARK_WINDOW_MS
  while (row.spark.length > 0 && (row.spark[0][0] < from || row.spark.length > SPARK_POINTS * 4)) row.spark.shift()
}

function mergePoints(history, live) {
  const lastHistory = history.length > 0 ? history[history.length - 1][0] : -Infinity
  return [...history, ...live.filter(([t]) => t > lastHistory)]
}

function sparkline(points, name) {
  if (points.length < 2) return h('span', { class: 'muted' }, points.length === 1 ? formatPercent(points[0][1]) : 'no data')
  const width = 120
  const height = 28
  const now = Date.now()
  // From the first point when the data is younger than the window (a fresh install), so it fills the width.
  const from = Math.min(Math.max(now - SPARK_WINDOW_MS, points[0][0]), now - 5 * 60_000)
  const x = (t) => ((t - from) / (now - from)) * width
  const y = (v) => height - 2 - (Math.max(0, Math.min(100, v)) / 100) * (height - 4)
  const values = points.map((p) => p[1])
  const line = svg('polyline', { points: points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' '), class: 'spark-line' })
  return svg('svg', {
    class: 'sparkline', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img',
    'aria-label': `${name} CPU ${now - from >= SPARK_WINDOW_MS - 60_000 ? 'over the last hour' : `since ${formatTime(new Date(from).toISOString())}`}: min ${formatPercent(Math.min(...values))}, max ${formatPercent(Math.max(...values))}`,
  }, line)
}
