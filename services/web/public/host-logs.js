// A host's recent log lines (GET /api/v1/logs, the last 24 hours): newest first, a level filter (that level
// and more severe ones), a text search, older lines on demand, and new lines on a timer that keeps what the
// user chose and the older lines already shown.
import { h, replaceChildren } from './elements.js'
import { api } from './session.js'
import { formatFullTime, formatTime } from './format.js'

const REFRESH_MS = 10_000
const PAGE = 100
const SEARCH_DELAY_MS = 300
const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical']

export function mountHostLogs(container, agentId) {
  const state = { level: '', q: '', lines: [], next: null, loadedAt: null, auto: true }
  let timer = 0
  let searchTimer = 0
  let destroyed = false
  // Answers to an older filter never replace those to the current one.
  let generation = 0

  const levelSelect = h('select', { id: 'log-level', onchange: () => { state.level = levelSelect.value; reload() } },
    h('option', { value: '' }, 'All levels'), LEVELS.map((l) => h('option', { value: l }, l === 'critical' ? 'critical' : `${l} and above`)))
  const search = h('input', {
    id: 'log-search', type: 'search', placeholder: 'text in the message', maxlength: 256,
    oninput: () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => { state.q = search.value.trim(); reload() }, SEARCH_DELAY_MS) },
  })
  const auto = h('input', { id: 'log-auto', type: 'checkbox', checked: true, onchange: () => { state.auto = auto.checked; schedule() } })
  const status = h('p', { class: 'muted', id: 'log-status', 'aria-live': 'polite' })
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const tbody = h('tbody')
  const more = h('button', { type: 'button', class: 'secondary', id: 'log-more', hidden: true, onclick: () => loadOlder() }, 'Older lines')

  replaceChildren(container,
    h('div', { class: 'section-head' }, h('h2', { id: 'logs-title' }, 'Logs'), status),
    h('div', { class: 'toolbar' },
      h('label', { for: 'log-level' }, 'Level'), levelSelect,
      h('label', { for: 'log-search' }, 'Search'), search,
      h('span', { class: 'check' }, auto, h('label', { for: 'log-auto' }, `Auto-refresh (${REFRESH_MS / 1000} s)`)),
      h('button', { type: 'button', class: 'secondary', id: 'log-refresh', onclick: () => refresh() }, 'Refresh now')),
    error,
    h('div', { class: 'table-scroll' }, h('table', { class: 'log-table', id: 'log-table' },
      h('caption', { class: 'visually-hidden' }, 'Log lines, newest first'),
      h('thead', {}, h('tr', {}, ['Time', 'Level', 'Source', 'Message'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody)),
    h('p', {}, more))

  function path(cursor) {
    const params = new URLSearchParams({ agent: agentId, limit: String(PAGE) })
    if (state.level) params.set('level', state.level)
    if (state.q) params.set('q', state.q)
    if (cursor) params.set('cursor', cursor)
    return `/api/v1/logs?${params}`
  }

  async function read(task) {
    const ticket = generation
    try {
      const res = await api(path(task.cursor))
      if (destroyed || ticket !== generation) return
      task.apply(res)
      state.loadedAt = new Date()
      error.hidden = true
      render()
    } catch (err) {
      if (destroyed || ticket !== generation) return
      error.textContent = `Could not load log lines: ${err.message}`
      error.hidden = false
    }
  }

  /** The newest page again, for a new filter. */
  function reload() {
    generation++
    state.lines = []
    state.next = null
    state.loadedAt = null
    render()
    return refresh()
  }

  /** New lines on top; when the newest page no longer meets the lines shown, it replaces them. */
  async function refresh() {
    clearTimeout(timer)
    await read({
      apply: (res) => {
        const known = new Set(state.lines.map((l) => l.id))
        const fresh = res.logs.filter((l) => !known.has(l.id))
        if (state.lines.length === 0 || fresh.length === res.logs.length) {
          state.lines = res.logs
          state.next = res.next_cursor ?? null
        } else state.lines = [...fresh, ...state.lines]
      },
    })
    schedule()
  }

  function loadOlder() {
    if (!state.next) return
    return read({ cursor: state.next, apply: (res) => { state.lines = [...state.lines, ...res.logs]; state.next = res.next_cursor ?? null } })
  }

  function schedule() {
    clearTimeout(timer)
    if (state.auto && !destroyed) timer = setTimeout(refresh, REFRESH_MS)
  }

  function render() {
    if (destroyed) return
    const rows = state.lines.map((l) => h('tr', { dataset: { logId: String(l.id), level: l.level } },
      h('td', { class: 'log-time', title: formatFullTime(l.time) }, formatTime(l.time)),
      h('td', {}, h('span', { class: `log-level level-${l.level}` }, l.level)),
      h('td', { class: 'log-source', title: l.source }, l.source),
      h('td', { class: 'log-message' }, l.message)))
    if (rows.length === 0 && state.loadedAt) {
      const filtered = state.level || state.q
      rows.push(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, filtered ? 'No log line matches in the last 24 hours.' : 'No log lines in the last 24 hours.')))
    }
    replaceChildren(tbody, rows)
    more.hidden = !state.next
    status.textContent = state.loadedAt ? `${state.lines.length} line${state.lines.length === 1 ? '' : 's'} shown, newest first` : 'Loading log lines…'
  }

  render()
  refresh()

  return {
    destroy() { destroyed = true; clearTimeout(timer); clearTimeout(searchTimer) },
  }
}
