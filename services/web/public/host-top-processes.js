// The host page's "what is eating my machine" answer: the processes that used the most CPU, memory or disk I/O over
// the chosen range (GET /api/v1/processes/top), each process by its pid and start time, or, when asked
// (or when the range is long enough to read the hourly aggregate, which keeps names only), grouped by name,
// and the panel says which.
import { h, replaceChildren } from './elements.js'
import { api } from './session.js'
import { formatBytes, formatByteRate, formatFullTime, formatPercent, formatTime } from './format.js'

const LIMIT = 10
const BY_LABEL = { cpu: 'CPU', memory: 'memory', disk_io: 'disk I/O (bytes read and written per second)' }

/** Mounts the panel in `section`; `range()` gives the page's range ({ id, label, ms }). Returns { refresh, destroy }. */
export function mountTopProcesses(section, agentId, range) {
  const state = { by: 'cpu', group: 'process', generation: 0 }
  let destroyed = false
  const by = h('select', { id: 'top-by', onchange: () => { state.by = by.value; refresh() } },
    h('option', { value: 'cpu' }, 'CPU'), h('option', { value: 'memory' }, 'Memory'), h('option', { value: 'disk_io' }, 'Disk I/O'))
  const group = h('input', { id: 'top-group', type: 'checkbox', onchange: () => { state.group = group.checked ? 'name' : 'process'; refresh() } })
  const note = h('p', { class: 'muted', id: 'top-note', 'aria-live': 'polite' })
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const tbody = h('tbody')
  replaceChildren(section,
    h('div', { class: 'section-head' }, h('h2', { id: 'top-title' }, 'Top processes'), note),
    h('div', { class: 'toolbar' },
      h('label', { for: 'top-by' }, 'By'), by,
      h('span', { class: 'check' }, group, h('label', { for: 'top-group' }, 'Group by name'))),
    error,
    h('div', { class: 'table-scroll' }, h('table', { id: 'top-processes', class: 'top-processes' },
      h('caption', { class: 'visually-hidden' }, 'The processes that used the most over the range'),
      h('thead', {}, h('tr', {}, [['Process'], ['PID', 'num'], ['User'], ['Started'], ['Average', 'num'], ['Peak', 'num'], ['Command line']]
        .map(([c, cls]) => h('th', { scope: 'col', class: cls }, c)))),
      tbody)))

  async function refresh() {
    const generation = ++state.generation
    const r = range()
    const start = new Date(Date.now() - r.ms).toISOString()
    note.textContent = `Loading the last ${r.label}…`
    try {
      const res = await api(`/api/v1/processes/top/${encodeURIComponent(agentId)}?by=${state.by}&group=${state.group}&start=${encodeURIComponent(start)}&limit=${LIMIT}`)
      if (destroyed || generation !== state.generation) return
      error.hidden = true
      render(res, r)
    } catch (err) {
      if (destroyed || generation !== state.generation) return
      error.textContent = `Could not load the top processes: ${err.message}`
      error.hidden = false
    }
  }

  function render(res, r) {
    const grouped = res.group === 'name'
    const forced = grouped && state.group === 'process'
    note.textContent = `${BY_LABEL[state.by]} over the last ${r.label}, ${grouped ? 'every process of a name together' : 'each process by pid and start time'}`
      + (forced ? ' (ranges this long are read from the hourly aggregate, which keeps names only)' : '')
    section.dataset.group = res.group
    const value = (p, stat) => (state.by === 'cpu' ? formatPercent(p[`${stat}_cpu_percent`])
      : state.by === 'memory' ? formatBytes(p[`${stat}_memory_bytes`]) : formatByteRate(p[`${stat}_io_bytes_per_sec`]))
    replaceChildren(tbody, res.processes.length === 0
      ? h('tr', {}, h('td', { colspan: 7, class: 'muted' }, `No process list in the last ${r.label}.`))
      : res.processes.map((p) => h('tr', { dataset: { name: p.name, ...(p.pid !== null ? { pid: String(p.pid) } : {}) } },
        h('th', { scope: 'row' }, p.name),
        h('td', { class: 'num' }, p.pid ?? (p.last_pid !== null ? h('span', { class: 'muted', title: 'the newest pid of the name' }, `(${p.last_pid})`) : '–')),
        h('td', {}, p.username ?? '–'),
        h('td', { title: p.started_at ? formatFullTime(p.started_at) : '' }, p.started_at ? formatTime(p.started_at) : '–'),
        h('td', { class: 'num' }, value(p, 'avg')),
        h('td', { class: 'num' }, value(p, 'max')),
        h('td', { class: 'cmdline', title: p.cmdline ?? '' }, p.cmdline || h('span', { class: 'muted' }, `[${p.name}]`)))))
  }

  refresh()
  return { refresh, destroy() { destroyed = true } }
}
