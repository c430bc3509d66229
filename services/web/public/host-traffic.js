// The host page's traffic panel: bytes received and sent in the billing cycle (current or previous) against
// the quota as a usage bar, the forecast for the cycle's end, each interface and each day; editors change
// the cycle's start day, its time zone and the quota here (GET/PUT /api/v1/agents/:id/traffic…).
import { h, labelled, replaceChildren } from './elements.js'
import { api, currentSession } from './session.js'
import { usageBar } from './usage-bar.js'
import { formatTrafficBytes } from './format.js'

const DIRECTIONS = { total: 'received + sent', sent: 'sent', received: 'received' }
const REFRESH_MS = 60_000
/** Quotas are entered in decimal gigabytes, as providers state them. */
const GB = 1e9

const dateOf = (iso, timeZone) => new Intl.DateTimeFormat(undefined, { timeZone, dateStyle: 'medium' }).format(new Date(iso))

/** The cycle's span in its own time zone: "Dec 1, 2026 – Dec 31, 2026". */
function cycleSpan(cycle) {
  return `${dateOf(cycle.start, cycle.time_zone)} – ${dateOf(new Date(Date.parse(cycle.end) - 1).toISOString(), cycle.time_zone)}`
}

/** What the quota line says: "812 GB of 1 TB (81.2 %) received + sent". */
export function quotaText(quota) {
  return `${formatTrafficBytes(quota.used_bytes)} of ${formatTrafficBytes(quota.bytes)} (${quota.used_percent.toFixed(1)} %) ${DIRECTIONS[quota.direction] ?? quota.direction}`
}

/** Mounts the panel in `section` for agent `agentId`. Returns { refresh, destroy }. */
export function mountHostTraffic(section, agentId) {
  const state = { cycle: 'current', generation: 0 }
  const canEdit = ['admin', 'editor'].includes(currentSession()?.user?.role)
  const cycleSelect = h('select', { id: 'traffic-cycle', onchange: () => { state.cycle = cycleSelect.value; refresh() } },
    h('option', { value: 'current' }, 'This cycle'), h('option', { value: 'previous' }, 'Previous cycle'))
  const span = h('span', { class: 'muted', id: 'traffic-span' })
  const quotaLine = h('div', { class: 'traffic-quota', id: 'traffic-quota' })
  const forecast = h('p', { id: 'traffic-forecast' })
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const ifBody = h('tbody')
  const settings = canEdit ? settingsForm() : null
  replaceChildren(section,
    h('div', { class: 'section-head' }, h('h2', { id: 'traffic-title' }, 'Traffic'), span),
    h('div', { class: 'toolbar' }, h('label', { for: 'traffic-cycle' }, 'Cycle'), cycleSelect),
    error, quotaLine, forecast,
    h('div', { class: 'table-scroll' }, h('table', { id: 'traffic-interfaces' },
      h('caption', { class: 'visually-hidden' }, 'Traffic per interface in the cycle'),
      h('thead', {}, h('tr', {}, [['Interface'], ['Received', 'num'], ['Sent', 'num'], ['Total', 'num'], ['Counted']]
        .map(([c, cls]) => h('th', { scope: 'col', class: cls }, c)))), ifBody)),
    settings?.element ?? '')

  function showError(text) { error.textContent = text; error.hidden = !text }

  async function refresh() {
    const generation = ++state.generation
    try {
      const t = await api(`/api/v1/agents/${encodeURIComponent(agentId)}/traffic?cycle=${state.cycle}`)
      if (generation !== state.generation) return
      showError('')
      span.textContent = `${cycleSpan(t.cycle)} (${t.cycle.time_zone})`
      const totals = `${formatTrafficBytes(t.received_bytes)} received, ${formatTrafficBytes(t.sent_bytes)} sent`
      replaceChildren(quotaLine, t.quota
        ? [usageBar(t.quota.used_percent), h('span', { class: 'traffic-quota-text' }, ` ${quotaText(t.quota)}`), h('span', { class: 'muted' }, ` · ${totals}; quota from ${t.quota.source}`)]
        : [h('span', {}, `${formatTrafficBytes(t.total_bytes)} in total`), h('span', { class: 'muted' }, ` · ${totals}; no quota set`)])
      forecast.textContent = t.forecast?.text ?? (t.cycle.complete ? 'This cycle is over.' : 'A forecast needs the cycle\'s first hour.')
      forecast.classList.toggle('error', Boolean(t.quota && t.forecast && t.forecast.bytes > t.quota.bytes))
      replaceChildren(ifBody, t.interfaces.length === 0
        ? h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No interface reported traffic in this cycle.'))
        : t.interfaces.map((i) => h('tr', { dataset: { interface: i.interface } },
          h('td', {}, i.interface), h('td', { class: 'num' }, formatTrafficBytes(i.received_bytes)),
          h('td', { class: 'num' }, formatTrafficBytes(i.sent_bytes)), h('td', { class: 'num' }, formatTrafficBytes(i.total_bytes)),
          h('td', { title: i.counted ? 'part of the host total' : 'loopback or virtual: its traffic also crosses a counted interface' }, i.counted ? 'yes' : 'no'))))
    } catch (err) {
      if (generation === state.generation) showError(`Could not load traffic: ${err.message}`)
    }
  }

  function settingsForm() {
    const day = h('input', { id: 'traffic-day', type: 'number', min: 1, max: 31, step: 1, required: true })
    const zone = h('input', { id: 'traffic-zone', type: 'text', placeholder: 'Europe/Berlin', required: true, list: 'traffic-zones' })
    const zones = h('datalist', { id: 'traffic-zones' }, (Intl.supportedValuesOf?.('timeZone') ?? []).map((z) => h('option', { value: z })))
    const quota = h('input', { id: 'traffic-quota-gb', type: 'number', min: 0, step: 'any', placeholder: 'none' })
    const direction = h('select', { id: 'traffic-direction' }, Object.entries(DIRECTIONS).map(([v, label]) => h('option', { value: v }, label)))
    const note = h('span', { class: 'muted', role: 'status' })
    const form = h('form', {
      class: 'traffic-settings', id: 'traffic-settings',
      onsubmit: async (event) => {
        event.preventDefault()
        note.textContent = 'Saving…'
        const gb = quota.value.trim()
        try {
          await api(`/api/v1/agents/${encodeURIComponent(agentId)}/traffic/settings`, {
            method: 'PUT',
            body: { cycle_start_day: Number(day.value), time_zone: zone.value.trim(), quota_bytes: gb === '' ? null : Math.round(Number(gb) * GB), quota_direction: direction.value },
          })
          note.textContent = 'Saved.'
          refresh()
        } catch (err) {
          note.textContent = `Not saved: ${err.message}`
        }
      },
    },
    labelled('Cycle starts on day', day), labelled('Time zone', zone), zones,
    labelled('Quota (GB per cycle)', quota), labelled('Counting', direction),
    h('button', { type: 'submit' }, 'Save'), note)
    const element = h('details', { class: 'traffic-settings-box' }, h('summary', {}, 'Cycle and quota'), form)
    element.addEventListener('toggle', async () => {
      if (!element.open) return
      try {
        const s = await api(`/api/v1/agents/${encodeURIComponent(agentId)}/traffic/settings`)
        day.value = String(s.cycle_start_day)
        zone.value = s.time_zone
        quota.value = s.quota_bytes === null ? '' : String(s.quota_bytes / GB)
        direction.value = s.quota_direction
      } catch (err) {
        note.textContent = `Could not read the settings: ${err.message}`
      }
    })
    return { element }
  }

  refresh()
  // The totals move slowly (materialized every 5 minutes, the rest read from raw samples): once a minute.
  const timer = setInterval(refresh, REFRESH_MS)
  return { refresh, destroy: () => clearInterval(timer) }
}
