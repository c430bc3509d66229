// Alerts: the firing ones and the recent history, with Acknowledge and Resolve (editors and admins).
// Servers without the alerting routes answer 404: the page says alerting is not available.
import { h, replaceChildren } from './elements.js'
import { api, currentSession } from './session.js'
import { subscribe } from './live-feed.js'
import { formatFullTime, formatNumber, formatTime } from './format.js'

const POLL_MS = 30_000
const RECENT_LIMIT = 50

export function mountAlerts(container) {
  const state = { firing: [], recent: [], loaded: false, form: null }
  const canWrite = currentSession()?.user?.role !== 'viewer'
  let destroyed = false
  let timer = 0
  // `#/alerts?event=<id>` (from a host's marker or strip): that alert is highlighted and scrolled to once.
  const wanted = new URLSearchParams(location.hash.split('?')[1] ?? '').get('event')
  let scrolled = false

  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const firingBody = h('tbody')
  const recentBody = h('tbody')
  const firingCount = h('span', { class: 'muted', id: 'firing-count' })
  const table = (id, body, caption) => h('div', { class: 'table-scroll' }, h('table', { id, class: 'alerts-table' },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, ['Severity', 'State', 'Rule', 'Agent', 'Value', 'Summary', 'Started', 'Status', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
    body))
  const content = h('div', {},
    h('section', { 'aria-labelledby': 'firing-title' }, h('div', { class: 'section-head' }, h('h2', { id: 'firing-title' }, 'Firing'), firingCount),
      table('firing-alerts', firingBody, 'Firing alerts')),
    h('section', { 'aria-labelledby': 'recent-title' }, h('h2', { id: 'recent-title' }, 'Recent'),
      table('recent-alerts', recentBody, `The ${RECENT_LIMIT} most recent alerts`)))
  replaceChildren(container, h('section', { class: 'alerts', 'aria-labelledby': 'alerts-title' },
    h('h1', { id: 'alerts-title' }, 'Alerts'), error, content))
  document.title = 'Alerts · hostpulse'

  function showError(text) { error.textContent = text; error.hidden = !text }

  async function load() {
    clearTimeout(timer)
    try {
      const [firing, recent] = await Promise.all([
        api('/api/v1/alerts/events?state=firing&limit=100'),
        api(`/api/v1/alerts/events?limit=${RECENT_LIMIT}`),
      ])
      if (destroyed) return
      state.firing = firing.events ?? []
      state.recent = recent.events ?? []
      state.loaded = true
      showError('')
      // A comment being typed is not wiped by a refresh: the refresh shows when the form closes.
      if (!state.form) render()
    } catch (err) {
      if (destroyed) return
      if (err.status === 404) {
        replaceChildren(content, h('p', { class: 'unavailable', id: 'alerting-unavailable' },
          'Alerting is not available on this server: it does not answer /api/v1/alerts/events.'))
        return
      }
      showError(`Could not load alerts: ${err.message}`)
    }
    if (!destroyed) timer = setTimeout(load, POLL_MS)
  }

  function render() {
    firingCount.textContent = `${state.firing.length} firing`
    fill(firingBody, state.firing, 'No alert is firing.')
    fill(recentBody, state.recent, 'No alerts yet.')
    if (wanted && !scrolled && state.loaded) {
      const row = content.querySelector(`tr[data-event="${CSS.escape(wanted)}"]`)
      if (row) { row.scrollIntoView({ block: 'center' }); scrolled = true }
    }
  }

  function fill(body, events, empty) {
    if (!state.loaded) { replaceChildren(body, h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'Loading…'))); return }
    if (events.length === 0) { replaceChildren(body, h('tr', {}, h('td', { colspan: 9, class: 'muted' }, empty))); return }
    replaceChildren(body, events.flatMap((e) => {
      const rows = [eventRow(e)]
      if (state.form && state.form.id === e.id && state.form.body === body) rows.push(formRow(e))
      return rows
    }))
  }

  function eventRow(e) {
    const by = (name) => (name ? ` by ${name}` : '')
    const note = (comment) => (comment ? `: ${comment}` : '')
    const acknowledged = e.acknowledged ?? Boolean(e.acknowledged_at)
    const status = e.state === 'resolved'
      ? `resolved ${formatTime(e.resolved_at)}${by(e.resolved_by_name)}${note(e.resolve_comment)}`
      : acknowledged ? `acknowledged ${formatTime(e.acknowledged_at)}${by(e.acknowledged_by_name)}${note(e.ack_comment)}` : 'open'
    const actions = []
    if (canWrite && e.state === 'firing') {
      actions.push(acknowledged ? unacknowledgeButton(e) : actionButton(e, 'ack', 'Acknowledge'))
      actions.push(actionButton(e, 'resolve', 'Resolve'))
      // One click to a silence for this rule on this agent, pre-filled on the Alerting page.
      actions.push(h('a', { class: 'button-link', dataset: { action: 'silence' },
        href: `#/alerting/silences?rule=${encodeURIComponent(e.rule_name)}&agent=${encodeURIComponent(e.agent_name ?? '')}` }, 'Silence…'))
    }
    // A resolved alert keeps its severity as a word, not as an alarm colour.
    const severity = e.state === 'resolved'
      ? h('span', { class: 'severity severity-resolved', title: `${e.severity}, resolved` }, e.severity)
      : h('span', { class: `severity severity-${e.severity}` }, e.severity)
    return h('tr', { dataset: { event: e.id, state: e.state }, class: e.id === wanted ? 'highlight' : undefined },
      h('td', {}, severity),
      h('td', {}, e.state),
      h('td', {}, e.rule_name),
      h('td', {}, e.agent_id ? h('a', { href: `#/hosts/${encodeURIComponent(e.agent_id)}` }, e.agent_name) : e.agent_name),
      h('td', { class: 'num' }, `${formatNumber(e.value)}${typeof e.threshold === 'number' ? ` (threshold ${formatNumber(e.threshold)})` : ''}`),
      h('td', {}, e.summary || '–'),
      h('td', { title: formatFullTime(e.started_at) }, formatTime(e.started_at)),
      h('td', {}, status),
      h('td', { class: 'actions' }, actions))
  }

  function actionButton(e, action, label) {
    return h('button', {
      type: 'button', class: 'secondary', dataset: { action },
      'aria-label': `${label} ${e.rule_name} on ${e.agent_name}`,
      onclick: (event) => {
        state.form = { id: e.id, action, label, body: event.currentTarget.closest('tbody') }
        render()
        state.form.body.querySelector('input[name="comment"]')?.focus()
      },
    }, label)
  }

  /** Takes an acknowledgement back at once (no comment): the alert notifies again on its repeat interval. */
  function unacknowledgeButton(e) {
    return h('button', {
      type: 'button', class: 'secondary', dataset: { action: 'unack' }, 'aria-label': `Unacknowledge ${e.rule_name} on ${e.agent_name}`,
      onclick: async (event) => {
        const button = event.currentTarget
        button.disabled = true
        try {
          await api(`/api/v1/alerts/events/${encodeURIComponent(e.id)}/ack`, { method: 'DELETE' })
          await load()
        } catch (err) {
          showError(`Could not unacknowledge: ${err.message}`)
          button.disabled = false
        }
      },
    }, 'Unacknowledge')
  }

  function formRow(e) {
    const { action, label } = state.form
    const inputId = `comment-${e.id}`
    const comment = h('input', { id: inputId, name: 'comment', maxlength: 1000, placeholder: 'optional' })
    const formError = h('span', { class: 'error', role: 'alert' })
    const submit = h('button', { type: 'submit' }, label)
    const form = h('form', { class: 'inline-form' },
      h('label', { for: inputId }, `Comment for "${label.toLowerCase()}"`), comment, submit,
      h('button', { type: 'button', class: 'secondary', onclick: () => { state.form = null; render() } }, 'Cancel'),
      formError)
    form.addEventListener('submit', async (event) => {
      event.preventDefault()
      submit.disabled = true
      try {
        await api(`/api/v1/alerts/events/${encodeURIComponent(e.id)}/${action}`, { method: 'POST', body: { comment: comment.value } })
        state.form = null
        await load()
      } catch (err) {
        formError.textContent = err.message
        submit.disabled = false
      }
    })
    return h('tr', { class: 'form-row' }, h('td', { colspan: 9 }, form))
  }

  let reloadTimer = 0
  const unsubscribe = subscribe((kind) => {
    if (kind !== 'alert' && kind !== 'snapshot') return
    clearTimeout(reloadTimer)
    reloadTimer = setTimeout(load, 500)
  })

  render()
  load()
  return () => {
    destroyed = true
    unsubscribe()
    clearTimeout(timer)
    clearTimeout(reloadTimer)
  }
}
