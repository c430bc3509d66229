// Alerts: the firing ones and the history (filtered by state, severity, agent, rule and time; older pages on
// demand), with Acknowledge (until resolved or for a while), Unacknowledge and Resolve for editors and admins.
// Servers without the alerting routes answer 404: the page says alerting is not available.
import { choice, h, labelled, replaceChildren } from './elements.js'
import { api, currentSession } from './session.js'
import { subscribe } from './live-feed.js'
import { formatFullTime, formatMetricValue, formatTime } from './format.js'

const POLL_MS = 30_000
const HISTORY_PAGE = 50
/** What "Silence 2h" on a firing alert makes. */
const QUICK_SILENCE = '2h'
/** How long an acknowledgement holds: '' is until the alert resolves. */
const ACK_FOR = [['', 'until resolved'], ['30m', '30 minutes'], ['1h', '1 hour'], ['4h', '4 hours'], ['1d', '1 day'], ['7d', '7 days']]
const SINCE = [['1d', 'last 24 hours'], ['7d', 'last 7 days'], ['30d', 'last 30 days'], ['', 'all time']]
const SINCE_MS = { '1d': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 }

export function mountAlerts(container) {
  const state = { firing: [], recent: [], next: null, loaded: false, form: null }
  const canWrite = currentSession()?.user?.role !== 'viewer'
  let destroyed = false
  let timer = 0
  // `#/alerts?event=<id>` (from a host's marker or strip): that alert is highlighted and scrolled to once.
  const wanted = new URLSearchParams(location.hash.split('?')[1] ?? '').get('event')
  let scrolled = false

  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const notice = h('p', { class: 'ok', id: 'alerts-notice', role: 'status', hidden: true })
  const firingBody = h('tbody')
  const recentBody = h('tbody')
  const firingCount = h('span', { class: 'muted', id: 'firing-count' })
  const table = (id, body, caption) => h('div', { class: 'table-scroll' }, h('table', { id, class: 'alerts-table' },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, ['Severity', 'State', 'Rule', 'Agent', 'Value', 'Summary', 'Started', 'Status', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
    body))
  const filters = {
    state: choice('history-state', ['any state', 'firing', 'resolved'], 'any state'),
    severity: choice('history-severity', ['any severity', 'critical', 'warning', 'info'], 'any severity'),
    agent: h('input', { id: 'history-agent', size: 14, maxlength: 128, placeholder: 'any agent' }),
    rule: h('input', { id: 'history-rule', size: 14, maxlength: 200, placeholder: 'any rule' }),
    since: h('select', { id: 'history-since' }, SINCE.map(([value, label]) => h('option', { value, selected: value === '7d' }, label))),
  }
  const filterForm = h('form', { id: 'history-filter', class: 'inline-form', onsubmit: (e) => { e.preventDefault(); load() } },
    labelled('State', filters.state), labelled('Severity', filters.severity), labelled('Agent', filters.agent), labelled('Rule', filters.rule),
    labelled('When', filters.since), h('button', { type: 'submit' }, 'Filter'))
  for (const select of [filters.state, filters.severity, filters.since]) select.addEventListener('change', () => load())
  const historyCount = h('span', { class: 'muted', id: 'history-count' })
  const older = h('button', { type: 'button', class: 'secondary', id: 'history-older', hidden: true, onclick: () => loadOlder() }, 'Older alerts')
  const content = h('div', {},
    h('section', { 'aria-labelledby': 'firing-title' }, h('div', { class: 'section-head' }, h('h2', { id: 'firing-title' }, 'Firing'), firingCount),
      table('firing-alerts', firingBody, 'Firing alerts')),
    h('section', { 'aria-labelledby': 'recent-title' }, h('div', { class: 'section-head' }, h('h2', { id: 'recent-title' }, 'History'), historyCount),
      filterForm, table('recent-alerts', recentBody, 'Alert history, newest first'), older))
  replaceChildren(container, h('section', { class: 'alerts', 'aria-labelledby': 'alerts-title' },
    h('h1', { id: 'alerts-title' }, 'Alerts'), error, notice, content))
  document.title = 'Alerts · hostpulse'

  function showError(text) { error.textContent = text; error.hidden = !text }

  async function load() {
    clearTimeout(timer)
    try {
      const [firing, recent] = await Promise.all([
        api('/api/v1/alerts/events?state=firing&limit=100'),
        api(`/api/v1/alerts/events?${historyQuery()}`),
      ])
      if (destroyed) return
      state.firing = firing.events ?? []
      state.recent = recent.events ?? []
      state.next = recent.next_cursor ?? null
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

  /** The history's filters as the events endpoint takes them. */
  function historyQuery(cursor) {
    const q = new URLSearchParams({ limit: String(HISTORY_PAGE) })
    if (filters.state.value !== 'any state') q.set('state', filters.state.value)
    if (filters.severity.value !== 'any severity') q.set('severity', filters.severity.value)
    if (filters.agent.value.trim()) q.set('agent', filters.agent.value.trim())
    if (filters.rule.value.trim()) q.set('rule', filters.rule.value.trim())
    if (SINCE_MS[filters.since.value]) q.set('start', new Date(Date.now() - SINCE_MS[filters.since.value]).toISOString())
    if (cursor) q.set('cursor', cursor)
    return q
  }

  async function loadOlder() {
    older.disabled = true
    try {
      const page = await api(`/api/v1/alerts/events?${historyQuery(state.next)}`)
      if (destroyed) return
      state.recent = [...state.recent, ...(page.events ?? [])]
      state.next = page.next_cursor ?? null
      showError('')
      if (!state.form) render()
    } catch (err) {
      showError(`Could not load older alerts: ${err.message}`)
    }
    older.disabled = false
  }

  function render() {
    firingCount.textContent = `${state.firing.length} firing`
    historyCount.textContent = state.loaded ? `${state.recent.length}${state.next ? '+' : ''} shown` : ''
    older.hidden = !state.next
    fill(firingBody, state.firing, 'No alert is firing.')
    fill(recentBody, state.recent, 'No alert matches these filters.')
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
    const until = (at) => (at ? ` until ${formatTime(at)}` : '')
    const acknowledged = e.acknowledged ?? Boolean(e.acknowledged_at)
    const status = e.state === 'resolved'
      ? `resolved ${formatTime(e.resolved_at)}${by(e.resolved_by_name)}${note(e.resolve_comment)}`
      : acknowledged ? `acknowledged ${formatTime(e.acknowledged_at)}${by(e.acknowledged_by_name)}${until(e.ack_expires_at)}${note(e.ack_comment)}`
        : e.acknowledged_at && e.ack_expires_at ? `open (acknowledgement ended ${formatTime(e.ack_expires_at)})` : 'open'
    const actions = []
    if (canWrite && e.state === 'firing') {
      actions.push(acknowledged ? unacknowledgeButton(e) : actionButton(e, 'ack', 'Acknowledge'))
      actions.push(actionButton(e, 'resolve', 'Resolve'))
      // One click silences this rule on this agent for two hours; Silence… opens the form pre-filled for more.
      actions.push(silenceButton(e))
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
      h('td', { class: 'num' }, `${formatMetricValue(e.metric, e.value)}${typeof e.threshold === 'number' ? ` (threshold ${formatMetricValue(e.metric, e.threshold)})` : ''}`),
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

  /** Silences this rule on this agent for QUICK_SILENCE at once; the status line says until when and links to it. */
  function silenceButton(e) {
    return h('button', {
      type: 'button', class: 'secondary', dataset: { action: 'quick-silence' }, 'aria-label': `Silence ${e.rule_name} on ${e.agent_name} for 2 hours`,
      onclick: async (event) => {
        const button = event.currentTarget
        button.disabled = true
        try {
          const made = await api('/api/v1/silences', { method: 'POST', body: {
            matchers: { rule: e.rule_name, ...(e.agent_name ? { agent: e.agent_name } : {}) }, duration: QUICK_SILENCE, comment: 'silenced from the Alerts page',
          } })
          replaceChildren(notice, `${e.rule_name} on ${e.agent_name} is silenced until ${formatTime(made.ends_at)}: `,
            h('a', { href: '#/alerting/silences' }, 'see or end it'), '.')
          notice.hidden = false
        } catch (err) {
          showError(`Could not silence: ${err.message}`)
        }
        button.disabled = false
      },
    }, 'Silence 2h')
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
    // An acknowledgement can lapse on its own, so a forgotten one does not mute the alert forever.
    const lasts = action === 'ack' ? h('select', { name: 'expires_in', 'aria-label': 'Acknowledged for' }, ACK_FOR.map(([value, text]) => h('option', { value }, text))) : null
    const formError = h('span', { class: 'error', role: 'alert' })
    const submit = h('button', { type: 'submit' }, label)
    const form = h('form', { class: 'inline-form' },
      h('label', { for: inputId }, `Comment for "${label.toLowerCase()}"`), comment, lasts ? labelled('for', lasts) : null, submit,
      h('button', { type: 'button', class: 'secondary', onclick: () => { state.form = null; render() } }, 'Cancel'),
      formError)
    form.addEventListener('submit', async (event) => {
      event.preventDefault()
      submit.disabled = true
      try {
        const body = { comment: comment.value }
        if (lasts?.value) body.expires_in = lasts.value
        await api(`/api/v1/alerts/events/${encodeURIComponent(e.id)}/${action}`, { method: 'POST', body })
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
