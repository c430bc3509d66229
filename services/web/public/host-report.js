// The host page's "Report" action (seed 004 §5): a report of this host over a chosen range (the page's
// range preselected), its progress until it is completed or failed, then open or download it; below, this
// host's reports with their status. Report files need the bearer token, so they are fetched into a Blob.
import { h, replaceChildren } from './elements.js'
import { accessToken, api, refresh } from './session.js'
import { formatBytes, formatFullTime, formatTime } from './format.js'

/** Seed 004's time range mapping: the host page's range ids and the report API's hours. */
const RANGES = [
  { id: '1h', hours: 1, label: 'Last hour' },
  { id: '6h', hours: 6, label: 'Last 6 hours' },
  { id: '24h', hours: 24, label: 'Last 24 hours' },
  { id: '7d', hours: 168, label: 'Last 7 days' },
  { id: '30d', hours: 720, label: 'Last 30 days' },
]
const FORMATS = [{ id: 'html', label: 'HTML' }, { id: 'pdf', label: 'PDF' }]
const POLL_MS = 2000
/** Reports another tab started are re-read this often while any of them is unfinished. */
const LIST_POLL_MS = 10_000
/** Object URLs live this long: enough for a tab or a download to read them. */
const BLOB_URL_MS = 60_000
const STATUS_TEXT = {
  pending: 'Waiting to start…',
  generating: 'Generating the report…',
  completed: 'Completed',
  failed: 'Failed',
}
const unfinished = (r) => r.status === 'pending' || r.status === 'generating'
const rangeLabel = (hours) => RANGES.find((r) => r.hours === hours)?.label ?? `Last ${hours} h`

/**
 * `agent` is the native agent JSON; `button` (placed by the host page next to its range picker) opens and
 * closes the section; `range()` is the page's current range id.
 */
export function mountHostReport(container, agent, { button, range }) {
  const state = { collectorId: null, reports: [], current: null, loadedAt: null }
  const blobUrls = new Set()
  let destroyed = false
  let pollTimer = 0
  let listTimer = 0
  let opened = false

  const rangeSelect = h('select', { id: 'report-range' }, RANGES.map((r) => h('option', { value: String(r.hours) }, r.label)))
  const formatSelect = h('select', { id: 'report-format' }, FORMATS.map((f) => h('option', { value: f.id }, f.label)))
  const containers = h('input', { id: 'report-containers', type: 'checkbox', checked: true })
  const generate = h('button', { type: 'submit', id: 'report-generate' }, 'Generate')
  const progressBar = h('progress', { class: 'report-progress-bar', 'aria-hidden': 'true', hidden: true })
  const progress = h('span', { id: 'report-progress', role: 'status' })
  const currentActions = h('span', { class: 'report-actions', id: 'report-current-actions' })
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const listStatus = h('span', { class: 'muted', id: 'report-list-status', 'aria-live': 'polite' })
  const tbody = h('tbody')

  replaceChildren(container,
    h('div', { class: 'section-head' }, h('h3', { id: 'report-title' }, 'Report'),
      h('button', { type: 'button', class: 'secondary report-close', 'aria-label': 'Close the report section', onclick: () => toggle(false) }, 'Close')),
    h('form', { class: 'toolbar', id: 'report-form', 'aria-label': 'New report', onsubmit: (e) => { e.preventDefault(); start() } },
      h('label', { for: 'report-range' }, 'Range'), rangeSelect,
      h('label', { for: 'report-format' }, 'Format'), formatSelect,
      h('span', { class: 'check' }, containers, h('label', { for: 'report-containers' }, 'Include containers')),
      generate),
    h('div', { class: 'report-current' }, progressBar, progress, currentActions),
    error,
    h('div', { class: 'section-head' }, h('h4', { id: 'report-list-title' }, 'Reports of this host'), listStatus),
    h('div', { class: 'table-scroll' }, h('table', { class: 'report-table', id: 'report-table', 'aria-labelledby': 'report-list-title' },
      h('thead', {}, h('tr', {}, ['Created', 'Range', 'Format', 'Status', 'Size', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody)))

  container.id ||= 'report'
  button.setAttribute('aria-controls', container.id)
  button.setAttribute('aria-expanded', 'false')
  button.disabled = false
  const onButton = () => toggle(container.hidden)
  button.addEventListener('click', onButton)

  function toggle(open) {
    container.hidden = !open
    button.setAttribute('aria-expanded', String(open))
    if (!open) { button.focus(); return }
    rangeSelect.value = String(RANGES.find((r) => r.id === range())?.hours ?? RANGES[0].hours)
    rangeSelect.focus()
    if (!opened) { opened = true; loadList() }
  }

  function showError(text) { error.textContent = text; error.hidden = !text }

  /** The report API names a host by its collector id: the agent's integer number. */
  async function collectorId() {
    if (state.collectorId !== null) return state.collectorId
    if (Number.isInteger(agent.number)) return (state.collectorId = agent.number)
    const collectors = await api('/dashboard/api/collectors/')
    const mine = collectors.find((c) => c.name === agent.name)
    if (!mine) throw new Error(`no collector is named "${agent.name}"`)
    return (state.collectorId = mine.id)
  }

  async function start() {
    generate.disabled = true
    showError('')
    try {
      const body = {
        collector_id: await collectorId(), format: formatSelect.value,
        time_range_hours: Number(rangeSelect.value), include_containers: containers.checked,
      }
      const created = await api('/api/v1/reports/generate/', { method: 'POST', body })
      if (destroyed) return
      state.current = { file_url: null, file_size_bytes: null, error_message: null, time_range_hours: body.time_range_hours, ...created }
      showCurrent()
      upsert(state.current)
      poll(created.id)
    } catch (err) {
      showError(`Could not start the report: ${errorText(err)}`)
    } finally {
      generate.disabled = false
    }
  }

  /** The report's status every POLL_MS until it is completed or failed; a newer report ends this loop. */
  async function poll(id) {
    clearTimeout(pollTimer)
    if (destroyed || state.current?.id !== id || !unfinished(state.current)) return
    pollTimer = setTimeout(async () => {
      try {
        const report = await api(`/api/v1/reports/${encodeURIComponent(id)}/`)
        if (destroyed || state.current?.id !== id) return
        const changed = report.status !== state.current.status
        state.current = report
        showError('')
        showCurrent()
        upsert(report)
        if (changed && !unfinished(report)) loadList()
      } catch (err) {
        if (destroyed || state.current?.id !== id) return
        showError(`Could not check the report's status: ${errorText(err)}${err.status === 404 ? '' : ' (trying again)'}`)
        if (err.status === 404) return
      }
      poll(id)
    }, POLL_MS)
  }

  function showCurrent() {
    const r = state.current
    progressBar.hidden = !unfinished(r)
    if (r.status === 'completed') {
      progress.textContent = `Report ready: ${r.name} (${formatBytes(r.file_size_bytes)})`
    } else if (r.status === 'failed') {
      progress.textContent = `The report failed: ${r.error_message || 'no reason given'}`
    } else progress.textContent = `${STATUS_TEXT[r.status] ?? r.status} (${rangeLabel(r.time_range_hours).toLowerCase()}, ${r.format.toUpperCase()})`
    progress.dataset.status = r.status
    replaceChildren(currentActions, r.status === 'completed' ? fileActions(r, { open: 'report-open', download: 'report-download' }) : [])
  }

  function fileActions(r, ids = {}) {
    const when = formatFullTime(r.created_at)
    return [
      h('button', { type: 'button', class: 'secondary report-open', id: ids.open, 'aria-label': `Open the report of ${when}`, onclick: () => openFile(r) }, 'Open'),
      h('button', { type: 'button', class: 'secondary report-download', id: ids.download, 'aria-label': `Download the report of ${when} (${formatBytes(r.file_size_bytes)})`, onclick: () => downloadFile(r) },
        `Download (${formatBytes(r.file_size_bytes)})`),
    ]
  }

  /** This host's reports, newest first. */
  async function loadList() {
    clearTimeout(listTimer)
    try {
      const id = await collectorId()
      const all = await api('/api/v1/reports/')
      if (destroyed) return
      state.reports = all.filter((r) => r.collector_id === id)
      state.loadedAt = new Date()
      render()
    } catch (err) {
      if (destroyed) return
      listStatus.textContent = ''
      showError(`Could not load the reports: ${errorText(err)}`)
    }
    const others = state.reports.some((r) => unfinished(r) && r.id !== state.current?.id)
    if (others && !destroyed) listTimer = setTimeout(loadList, LIST_POLL_MS)
  }

  function upsert(report) {
    const i = state.reports.findIndex((r) => r.id === report.id)
    if (i >= 0) state.reports[i] = { ...state.reports[i], ...report }
    else state.reports.push(report)
    render()
  }

  function render() {
    if (destroyed) return
    const rows = [...state.reports].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || b.id - a.id)
    replaceChildren(tbody, rows.length === 0
      ? h('tr', {}, h('td', { colspan: 6, class: 'muted' }, state.loadedAt ? 'No reports of this host yet.' : 'Loading reports…'))
      : rows.map((r) => h('tr', { dataset: { reportId: String(r.id), status: r.status } },
        h('td', { title: formatFullTime(r.created_at) }, formatTime(r.created_at)),
        h('td', {}, rangeLabel(r.time_range_hours)),
        h('td', {}, r.format.toUpperCase()),
        h('td', { class: 'report-status-cell' }, h('span', { class: `report-status report-${r.status}` }, STATUS_TEXT[r.status] ?? r.status),
          r.status === 'failed' && r.error_message ? h('span', { class: 'report-error' }, r.error_message) : null),
        h('td', { class: 'num' }, r.status === 'completed' ? formatBytes(r.file_size_bytes) : '–'),
        h('td', {}, r.status === 'completed' ? h('span', { class: 'report-actions' }, fileActions(r)) : null))))
    const n = state.reports.length
    listStatus.textContent = state.loadedAt ? `${n} report${n === 1 ? '' : 's'}` : ''
  }

  /** The file with the bearer token (one refresh on 401), only from this server. */
  async function fetchFile(r) {
    const url = new URL(r.file_url, location.origin)
    if (url.origin !== location.origin) throw new Error(`the report's file is on another server (${url.origin})`)
    const get = async () => {
      try {
        return await fetch(url, { headers: { authorization: `Bearer ${accessToken()}` }, cache: 'no-store' })
      } catch (err) {
        throw new Error(`cannot reach the hostpulse server (${err.message})`)
      }
    }
    let res = await get()
    if (res.status === 401) { await refresh(); res = await get() }
    if (!res.ok) {
      const body = await res.json().catch(() => null)
      throw new Error(body?.message || `the file answered with status ${res.status}`)
    }
    return res.blob()
  }

  const fileName = (r) => decodeURIComponent(r.file_url.split('/').pop() || '') || `report-${r.id}.${r.format}`

  function blobUrl(blob) {
    const url = URL.createObjectURL(blob)
    blobUrls.add(url)
    setTimeout(() => { URL.revokeObjectURL(url); blobUrls.delete(url) }, BLOB_URL_MS)
    return url
  }

  async function openFile(r) {
    showError('')
    // Opened during the click, so no popup blocker stops it; it gets the file once it is here.
    const tab = window.open('', '_blank')
    if (!tab) { showError('Could not open the report: the browser blocked the new tab (allow pop-ups for this page, or use Download)'); return }
    tab.opener = null
    tab.document.title = 'Loading the report…'
    tab.document.body.textContent = 'Loading the report…'
    try {
      const blob = await fetchFile(r)
      const url = blobUrl(new Blob([blob], { type: r.format === 'pdf' ? 'application/pdf' : 'text/html;charset=utf-8' }))
      if (tab.closed) return
      tab.location.href = url
      if (r.format !== 'pdf') await adoptStyles(tab, url)
    } catch (err) {
      tab.close()
      showError(`Could not open the report: ${errorText(err)}`)
    }
  }

  async function downloadFile(r) {
    showError('')
    try {
      const link = h('a', { href: blobUrl(await fetchFile(r)), download: fileName(r), hidden: true })
      document.body.append(link)
      link.click()
      link.remove()
    } catch (err) {
      showError(`Could not download the report: ${errorText(err)}`)
    }
  }

  container.hidden = true
  render()

  return {
    destroy() {
      destroyed = true
      clearTimeout(pollTimer)
      clearTimeout(listTimer)
      button.removeEventListener('click', onButton)
      for (const url of blobUrls) URL.revokeObjectURL(url)
    },
  }
}

/**
 * A blob document inherits this page's CSP: the report's scripts stay off (as they should) and so do its
 * inline styles, which are applied here through the CSSOM instead (CSP does not govern it).
 */
async function adoptStyles(tab, url) {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    let doc
    try { doc = tab.closed ? null : tab.document } catch { return } // navigated away, to another origin
    if (!doc) return
    if (doc.URL !== url || doc.readyState === 'loading') continue
    const sheets = [...doc.querySelectorAll('style')].map((style) => {
      const sheet = new tab.CSSStyleSheet()
      sheet.replaceSync(style.textContent)
      return sheet
    })
    doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, ...sheets]
    for (const el of doc.querySelectorAll('[style]')) el.style.cssText = el.getAttribute('style')
    return
  }
}

/** The API's message, with a validation error's fields ("format: Must be one of: html, pdf"). */
function errorText(err) {
  const details = err?.details && typeof err.details === 'object' ? Object.entries(err.details) : []
  const fields = details.filter(([, v]) => Array.isArray(v) || typeof v === 'string').map(([k, v]) => `${k}: ${[v].flat().join(', ')}`)
  return fields.length > 0 ? `${err.message} (${fields.join('; ')})` : err?.message ?? String(err)
}
