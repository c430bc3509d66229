// The process tree of a host's latest snapshot: collapsible, searchable by name, pid or command line,
// siblings sorted by CPU, memory, pid or name, refreshed on a timer without losing what the user opened,
// closed or typed (that state lives here, not in the DOM). A collapsed parent shows its subtree's CPU and
// memory (itself and every descendant), and siblings sort by those totals, so a busy child is never hidden
// behind an idle parent; kernel threads (kthreadd's children) start collapsed. Disk I/O is bytes read plus
// written per second ('–' where the agent could not read the process's I/O: another user's, without root).
import { h, replaceChildren } from './elements.js'
import { api } from './session.js'
import { formatBytes, formatByteRate, formatFullTime, formatPercent, formatTime } from './format.js'

const REFRESH_MS = 10_000
const SORTS = {
  cpu: { label: 'CPU', compare: (a, b) => b.total.cpu - a.total.cpu || a.pid - b.pid },
  memory: { label: 'Memory', compare: (a, b) => b.total.memory - a.total.memory || a.pid - b.pid },
  io: { label: 'Disk I/O', compare: (a, b) => b.total.io - a.total.io || a.pid - b.pid },
  pid: { label: 'PID', compare: (a, b) => a.pid - b.pid },
  name: { label: 'Name', compare: (a, b) => a.name.localeCompare(b.name) || a.pid - b.pid },
}

/** A moment as a datetime-local input's value (the viewer's time zone, to the second). */
export function localInputValue(iso) {
  const d = new Date(iso)
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 19)
}

/**
 * `at`: show the snapshot taken at or just before this instant (RFC3339) instead of the latest; `onAt(iso |
 * null)` hears every change of it (the page keeps it in its address). Returns { refresh, showAt, destroy }.
 */
export function mountProcessTree(container, agentId, { at = null, onAt = () => {} } = {}) {
  const state = { roots: [], total: 0, timestamp: null, query: '', sort: 'cpu', auto: true, loadedAt: null, at }
  // Only explicit choices are kept; everything else follows the defaults (roots open) or the search.
  const expanded = new Set()
  const collapsed = new Set()
  let timer = 0
  let destroyed = false
  let inFlight = null

  const search = h('input', { id: 'process-search', type: 'search', placeholder: 'name, pid or command line', oninput: () => { state.query = search.value.trim(); render() } })
  const sortSelect = h('select', { id: 'process-sort', onchange: () => { state.sort = sortSelect.value; render() } },
    Object.entries(SORTS).map(([key, s]) => h('option', { value: key }, s.label)))
  const auto = h('input', { id: 'process-auto', type: 'checkbox', checked: true, onchange: () => { state.auto = auto.checked; schedule() } })
  const status = h('p', { class: 'muted', id: 'process-status', 'aria-live': 'polite' })
  // The tree at any instant: typed here, or picked on a chart or in the starts and exits.
  const atInput = h('input', { id: 'process-at', type: 'datetime-local', step: 1, 'aria-label': 'Show the processes as they were at',
    onchange: () => showAt(atInput.value ? new Date(atInput.value).toISOString() : null) })
  const latest = h('button', { type: 'button', class: 'secondary', id: 'process-latest', hidden: !state.at, onclick: () => showAt(null) }, 'Latest')
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const tbody = h('tbody')
  // Fixed column widths (set through the CSSOM: the CSP allows no style attribute): searching, collapsing or
  // a refresh never makes the columns jump.
  const table = h('table', { class: 'process-table', id: 'process-table' },
    h('caption', { class: 'visually-hidden' }, 'Processes as a tree'),
    h('colgroup', {}, COLUMN_WIDTHS.map((width) => { const col = h('col'); col.style.width = width; return col })),
    h('thead', {}, h('tr', {}, ['Process', 'PID', 'User', 'CPU', 'Memory', 'Mem %', 'Disk I/O', 'Threads', 'Command line']
      .map((c) => h('th', { scope: 'col', class: ['PID', 'CPU', 'Memory', 'Mem %', 'Disk I/O', 'Threads'].includes(c) ? 'num' : undefined }, c)))),
    tbody)

  replaceChildren(container,
    h('div', { class: 'section-head' }, h('h2', { id: 'processes-title' }, 'Processes'), status),
    h('div', { class: 'toolbar' },
      h('label', { for: 'process-search' }, 'Search'), search,
      h('label', { for: 'process-sort' }, 'Sort by'), sortSelect,
      h('button', { type: 'button', class: 'secondary', onclick: () => setAll(true) }, 'Expand all'),
      h('button', { type: 'button', class: 'secondary', onclick: () => setAll(false) }, 'Collapse all'),
      h('span', { class: 'check' }, auto, h('label', { for: 'process-auto' }, `Auto-refresh (${REFRESH_MS / 1000} s)`)),
      h('button', { type: 'button', class: 'secondary', onclick: () => refresh() }, 'Refresh now'),
      h('label', { for: 'process-at' }, 'As of'), atInput, latest),
    error,
    h('div', { class: 'table-scroll' }, table))

  function setAll(open) {
    expanded.clear()
    collapsed.clear()
    const walk = (nodes) => { for (const n of nodes) { if (n.children.length > 0) (open ? expanded : collapsed).add(n.pid); walk(n.children) } }
    walk(state.roots)
    render()
  }

  async function refresh() {
    if (inFlight) return inFlight
    inFlight = (async () => {
      try {
        const asked = state.at
        const res = await api(`/api/v1/agents/${encodeURIComponent(agentId)}/processes${asked ? `?at=${encodeURIComponent(asked)}` : ''}`)
        if (destroyed || asked !== state.at) return
        state.roots = withTotals(res.process_tree)
        state.total = res.total_processes
        state.timestamp = res.timestamp
        state.loadedAt = new Date()
        error.hidden = true
        render()
      } catch (err) {
        error.textContent = `Could not load processes: ${err.message}`
        error.hidden = false
      } finally {
        inFlight = null
        schedule()
      }
    })()
    return inFlight
  }

  function schedule() {
    clearTimeout(timer)
    // A past instant does not change: only the latest snapshot is refreshed.
    if (state.auto && !state.at && !destroyed) timer = setTimeout(refresh, REFRESH_MS)
  }

  /** The tree as it was at `iso` (null: the latest), kept in the page's address by onAt. */
  function showAt(iso) {
    state.at = iso
    atInput.value = iso ? localInputValue(iso) : ''
    latest.hidden = !iso
    state.loadedAt = null
    render()
    onAt(iso)
    return refresh()
  }

  function render() {
    if (destroyed) return
    const q = state.query.toLowerCase()
    // Which nodes match, and which have a match below them (their path stays open while searching).
    const hit = new Set()
    const below = new Set()
    const mark = (node) => {
      let any = false
      for (const c of node.children) any = mark(c) || any
      if (any) below.add(node.pid)
      const self = q !== '' && (node.name.toLowerCase().includes(q) || (node.cmdline ?? '').toLowerCase().includes(q) || String(node.pid) === state.query)
      if (self) hit.add(node.pid)
      return self || any
    }
    if (q) for (const r of state.roots) mark(r)

    // Re-rendering replaces the rows: the toggle that had the focus gets it back.
    const active = document.activeElement
    const focusedPid = active && tbody.contains(active) ? active.dataset.pid : undefined
    const rows = []
    const compare = SORTS[state.sort].compare
    const walk = (nodes, depth, filtered) => {
      for (const node of [...nodes].sort(compare)) {
        if (filtered && !hit.has(node.pid) && !below.has(node.pid)) continue
        const open = isOpen(node, depth, filtered)
        rows.push(row(node, depth, open, hit.has(node.pid)))
        // A match the user opened shows all its children; otherwise only the paths to matches.
        if (open) walk(node.children, depth + 1, filtered && !(hit.has(node.pid) && expanded.has(node.pid)))
      }
    }
    const isOpen = (node, depth, filtered) => {
      if (node.children.length === 0) return false
      if (collapsed.has(node.pid)) return false
      if (expanded.has(node.pid)) return true
      return filtered ? below.has(node.pid) : depth === 0 && !isKernelThreads(node)
    }
    walk(state.roots, 0, q !== '')

    if (state.timestamp === null && state.loadedAt) {
      rows.push(h('tr', {}, h('td', { colspan: 9, class: 'muted' }, state.at
        ? `No process list at or before ${formatFullTime(state.at)}.` : 'This host has not sent a process list yet.')))
    } else if (rows.length === 0 && q) rows.push(h('tr', {}, h('td', { colspan: 9, class: 'muted' }, `No process matches "${state.query}".`)))
    replaceChildren(tbody, rows)
    if (focusedPid) tbody.querySelector(`button[data-pid="${CSS.escape(focusedPid)}"]`)?.focus()

    const parts = []
    if (state.loadedAt) parts.push(`${state.total} processes`)
    if (state.timestamp) parts.push(state.at ? `as it was at ${formatFullTime(state.timestamp)} (the snapshot at or before ${formatFullTime(state.at)})` : `snapshot at ${formatTime(state.timestamp)}`)
    if (q) parts.push(`${hit.size} match${hit.size === 1 ? '' : 'es'}`)
    status.textContent = state.loadedAt ? parts.join(' · ') : 'Loading processes…'
    if (state.timestamp) status.title = formatFullTime(state.timestamp)
  }

  function row(node, depth, open, isHit) {
    const toggle = node.children.length > 0
      ? h('button', {
        type: 'button', class: 'tree-toggle', 'aria-expanded': String(open), dataset: { pid: String(node.pid) },
        'aria-label': `${open ? 'Collapse' : 'Expand'} ${node.name} (${node.pid}), ${node.children.length} child${node.children.length === 1 ? '' : 'ren'}`,
        onclick: () => {
          if (open) { collapsed.add(node.pid); expanded.delete(node.pid) } else { expanded.add(node.pid); collapsed.delete(node.pid) }
          render()
        },
      }, open ? '▾' : '▸')
      : h('span', { class: 'tree-leaf', 'aria-hidden': 'true' }, '·')
    const q = state.query.toLowerCase()
    const nameCell = h('td', { class: 'tree-name' }, toggle, isHit && node.name.toLowerCase().includes(q) ? marked(node.name, q) : h('span', {}, node.name),
      node.children.length > 0 && !open ? h('span', { class: 'muted' }, ` (${node.total.count - 1})`) : null)
    nameCell.style.paddingLeft = `${0.3 + depth * 1.2}em`
    // Collapsed: the subtree's totals, marked Σ, with the process's own figures in the title.
    const summed = node.children.length > 0 && !open
    const io = ioOf(node)
    const figure = (own, total, format, what) => summed
      ? h('span', { class: 'subtree-total', title: `${format(total)} with its ${node.total.count - 1} descendants; ${node.name} itself ${format(own)} ${what}` }, h('span', { class: 'muted', 'aria-hidden': 'true' }, 'Σ '), format(total))
      : format(own)
    return h('tr', { dataset: { pid: String(node.pid), depth: String(depth), ...(summed ? { subtree: 'true' } : {}) }, class: isHit ? 'hit' : null },
      nameCell,
      h('td', { class: 'num' }, String(node.pid)),
      h('td', {}, node.username ?? '–'),
      h('td', { class: 'num', dataset: { col: 'cpu' } }, figure(node.cpu_percent, node.total.cpu, formatPercent, 'CPU')),
      h('td', { class: 'num', dataset: { col: 'memory' } }, figure(node.memory_rss, node.total.memory, formatBytes, 'resident memory')),
      h('td', { class: 'num' }, formatPercent(node.memory_percent)),
      h('td', { class: 'num', dataset: { col: 'io' }, title: io === null ? 'not readable by the agent (it needs CAP_SYS_PTRACE for other users\' processes)' : `read ${formatByteRate(node.read_bytes_per_sec)}, written ${formatByteRate(node.write_bytes_per_sec)}` },
        summed ? figure(io, node.total.io, formatByteRate, 'disk I/O') : formatByteRate(io)),
      h('td', { class: 'num' }, node.num_threads ?? '–'),
      h('td', { class: 'cmdline', title: node.cmdline || '' }, node.cmdline
        ? (isHit && q && !node.name.toLowerCase().includes(q) ? marked(node.cmdline, q) : node.cmdline)
        : h('span', { class: 'muted' }, `[${node.name}]`)))
  }

  status.textContent = 'Loading processes…'
  if (state.at) atInput.value = localInputValue(state.at)
  refresh()

  return {
    /** Re-read soon (new data arrived); the timer keeps running either way. A past instant stays as it is. */
    refresh: () => (state.at ? Promise.resolve() : refresh()),
    showAt,
    destroy() { destroyed = true; clearTimeout(timer) },
  }
}

/** Bytes read plus written per second, or null when the agent could not read them. */
function ioOf(node) {
  const r = node.read_bytes_per_sec
  const w = node.write_bytes_per_sec
  return r === null || r === undefined || w === null || w === undefined ? null : r + w
}

/** Each node gets `total`: its own CPU and resident memory plus every descendant's, and how many processes that is. */
function withTotals(nodes) {
  const add = (node) => {
    const total = { cpu: node.cpu_percent ?? 0, memory: node.memory_rss ?? 0, io: ioOf(node) ?? 0, count: 1 }
    for (const c of node.children) {
      add(c)
      total.cpu += c.total.cpu
      total.memory += c.total.memory
      total.io += c.total.io
      total.count += c.total.count
    }
    node.total = total
  }
  for (const n of nodes) add(n)
  return nodes
}

/** Process, PID, User, CPU, Memory, Mem %, Disk I/O, Threads, Command line. */
const COLUMN_WIDTHS = ['21%', '6%', '8%', '7%', '8%', '6%', '9%', '6%', '29%']

/** kthreadd (Linux's pid 2, parent of every kernel thread): dozens of children nobody asked to see. */
const isKernelThreads = (node) => node.name === 'kthreadd' && !node.cmdline

/** `text` with the first match of `q` (lower case) in a <mark>: the name, or the command line when the match is there. */
function marked(text, q) {
  const at = text.toLowerCase().indexOf(q)
  if (!q || at < 0) return h('mark', {}, text)
  return h('span', {}, text.slice(0, at), h('mark', {}, text.slice(at, at + q.length)), text.slice(at + q.length))
}
