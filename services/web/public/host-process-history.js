// The host page's process history: the starts and exits over the chosen range, newest first (GET
// .../processes/changes), and, for a span dragged across a chart, the processes that used it (GET
// .../processes/blame, by CPU, memory or disk I/O as the chart was). A time in either opens the process tree
// as it was then.
import { h, replaceChildren } from './elements.js'
import { api } from './session.js'
import { formatBytes, formatFullTime, formatNumber, formatPercent, formatTime } from './format.js'

const PAGE = 50
/** The changes endpoint answers at most this long a window (process-history-routes.ts). */
const MAX_CHANGES_MS = 7 * 86_400_000
const BLAME_LIMIT = 15

/** A link-styled button that opens the tree at `iso`. */
const instantButton = (iso, onInstant, text = formatTime(iso)) => h('button', {
  type: 'button', class: 'link', title: `The processes as they were at ${formatFullTime(iso)}`, dataset: { at: iso }, onclick: () => onInstant(iso),
}, text)

/**
 * `range()` gives the page's range ({ id, label, ms }); `onInstant(iso)` opens the tree then.
 * Returns { refresh, destroy }.
 */
export function mountProcessChanges(section, agentId, { range, onInstant }) {
  let destroyed = false
  let generation = 0
  let offset = 0
  const note = h('p', { class: 'muted', id: 'changes-note', 'aria-live': 'polite' })
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const tbody = h('tbody')
  const more = h('button', { type: 'button', class: 'secondary', id: 'changes-more', hidden: true, onclick: () => load(true) }, 'Older changes')
  replaceChildren(section,
    h('div', { class: 'section-head' }, h('h2', { id: 'changes-title' }, 'Starts and exits'), note),
    error,
    h('div', { class: 'table-scroll' }, h('table', { id: 'process-changes' },
      h('caption', { class: 'visually-hidden' }, 'Processes that started or exited, newest first'),
      h('thead', {}, h('tr', {}, [['When'], ['What'], ['Process'], ['PID', 'num'], ['User'], ['Peak CPU', 'num'], ['Peak memory', 'num'], ['Command line']]
        .map(([c, cls]) => h('th', { scope: 'col', class: cls }, c)))),
      tbody)),
    more)

  /** A life's events on the timeline: its start (when it began in the window) and its exit (when it ended in it). */
  function events(c) {
    const out = []
    // The exit is known to within a snapshot: it was gone by `end`, the first snapshot without it.
    if (c.exited) out.push({ kind: 'exited', at: c.end, c })
    if (c.started) out.push({ kind: 'started', at: c.start_time ?? c.first_seen, c })
    return out
  }

  async function load(older = false) {
    const mine = ++generation
    const r = range()
    const span = Math.min(r.ms, MAX_CHANGES_MS)
    if (!older) offset = 0
    const start = new Date(Date.now() - span).toISOString()
    note.textContent = `Loading the last ${r.label}…`
    try {
      const res = await api(`/api/v1/agents/${encodeURIComponent(agentId)}/processes/changes?start=${encodeURIComponent(start)}&limit=${PAGE}&offset=${offset}`)
      if (destroyed || mine !== generation) return
      error.hidden = true
      // A start opens the first snapshot with the process, an exit the last one.
      const rows = res.changes.flatMap(events).map(({ kind, at, c }) => h('tr', { dataset: { kind, pid: String(c.pid), name: c.name } },
        h('td', { title: formatFullTime(at) }, instantButton(kind === 'exited' ? c.last_seen : c.first_seen, onInstant, formatTime(at))),
        h('td', {}, h('span', { class: `change change-${kind}` }, kind === 'exited' ? 'exited' : 'started')),
        h('th', { scope: 'row' }, c.name), h('td', { class: 'num' }, String(c.pid)), h('td', {}, c.username ?? '–'),
        h('td', { class: 'num' }, formatPercent(c.peak_cpu_percent)), h('td', { class: 'num' }, formatBytes(c.peak_memory_bytes)),
        h('td', { class: 'cmdline', title: c.cmdline ?? '' }, c.cmdline || h('span', { class: 'muted' }, `[${c.name}]`))))
      if (older) tbody.append(...rows)
      else replaceChildren(tbody, rows.length ? rows : h('tr', {}, h('td', { colspan: 8, class: 'muted' }, `No process started or exited in the last ${span === r.ms ? r.label : '7 days'}.`)))
      offset += res.count
      more.hidden = offset >= res.total
      note.textContent = `${res.total} process${res.total === 1 ? '' : 'es'} started or exited in the last ${span === r.ms ? r.label : '7 days (the longest asked at once)'}`
        + '; a time opens the tree with the process in it (its first or last snapshot)'
    } catch (err) {
      if (destroyed || mine !== generation) return
      error.textContent = `Could not load the starts and exits: ${err.message}`
      error.hidden = false
    }
  }

  load()
  return { refresh: () => load(false), destroy() { destroyed = true } }
}

const BLAME = {
  cpu: { label: 'CPU', value: (v) => `${formatNumber(v, 1)} CPU-s`, help: 'CPU-seconds: 1 is one core busy for one second' },
  memory: { label: 'Memory', value: (v) => `${formatBytes(v / 3600)}·h`, help: 'resident memory over time, in byte-hours' },
  disk_io: { label: 'Disk I/O', value: (v) => formatBytes(v), help: 'bytes read plus written' },
}

/** Which blame a chart's span asks for. */
export const blameMetricOf = (chartId) => (chartId === 'memory' ? 'memory' : chartId === 'diskio' ? 'disk_io' : 'cpu')

/** The panel for a dragged span: hidden until a span is chosen. Returns { show(startMs, endMs, metric), destroy }. */
export function mountSpanBlame(section, agentId, { onInstant }) {
  let destroyed = false
  let generation = 0
  let span = null
  section.hidden = true
  const title = h('h2', { id: 'span-title' }, 'Who used it')
  const note = h('p', { class: 'muted', id: 'span-note', 'aria-live': 'polite' })
  const metric = h('select', { id: 'span-metric', onchange: () => span && show(span.start, span.end, metric.value) },
    Object.entries(BLAME).map(([id, b]) => h('option', { value: id }, b.label)))
  const tbody = h('tbody')
  const close = h('button', { type: 'button', class: 'secondary', onclick: () => { section.hidden = true; span = null } }, 'Close')
  replaceChildren(section,
    h('div', { class: 'section-head' }, title, note),
    h('div', { class: 'toolbar' }, h('label', { for: 'span-metric' }, 'By'), metric, close),
    h('div', { class: 'table-scroll' }, h('table', { id: 'span-blame' },
      h('caption', { class: 'visually-hidden' }, 'The processes that used the chosen span'),
      h('thead', {}, h('tr', {}, [['Process'], ['Share', 'num'], ['Used', 'num'], ['User'], ['Command line']].map(([c, cls]) => h('th', { scope: 'col', class: cls }, c)))),
      tbody)))

  async function show(startMs, endMs, which) {
    const mine = ++generation
    span = { start: startMs, end: endMs }
    metric.value = which
    section.hidden = false
    const start = new Date(startMs).toISOString()
    const end = new Date(endMs).toISOString()
    title.replaceChildren('Who used it: ', instantButton(start, onInstant), ' to ', instantButton(end, onInstant))
    note.textContent = 'Loading…'
    replaceChildren(tbody)
    section.scrollIntoView({ block: 'nearest' })
    try {
      const res = await api(`/api/v1/agents/${encodeURIComponent(agentId)}/processes/blame?metric=${which}&start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}&limit=${BLAME_LIMIT}`)
      if (destroyed || mine !== generation) return
      const b = BLAME[which]
      replaceChildren(tbody, res.processes.length === 0
        ? h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No process list in this span.'))
        : [...res.processes.map((p) => h('tr', { dataset: { name: p.name } },
          h('th', { scope: 'row' }, p.name), h('td', { class: 'num' }, formatPercent(p.share_percent)), h('td', { class: 'num' }, b.value(p.value)),
          h('td', {}, p.username ?? '–'), h('td', { class: 'cmdline', title: p.cmdline ?? '' }, p.cmdline || h('span', { class: 'muted' }, `[${p.name}]`)))),
        ...(res.other.names > 0 ? [h('tr', { class: 'muted' }, h('td', {}, `${res.other.names} others`), h('td', { class: 'num' }, formatPercent(res.other.share_percent)),
          h('td', { class: 'num' }, b.value(res.other.value)), h('td', { colspan: 2 }))] : [])])
      note.textContent = `${b.help}; shares of the host's total ${b.value(res.total)}${res.resolution === 'raw' ? '' : ` (from the hourly aggregate: whole hours ${formatTime(res.start)} to ${formatTime(res.end)})`}`
    } catch (err) {
      if (destroyed || mine !== generation) return
      note.textContent = `Could not load who used it: ${err.message}`
    }
  }

  return { show, destroy() { destroyed = true } }
}
