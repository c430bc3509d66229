// Alerting: #/alerting/rules (list; create and edit with a live preview of what the rule selects and where
// each series stands against the thresholds; enable, disable, delete; rules of the rules file read-only),
// #/alerting/channels (list, create, edit with secrets kept masked, delete, Test send with its answer, the
// delivery log) and #/alerting/silences (silences and maintenance windows, active, planned and past; create,
// with the alerts firing now that it would mute; end now). `#/alerting/silences?rule=<name>&agent=<name>`
// pre-fills a silence for one alert. Viewers read; editors and admins write (the API decides either way).
import { choice as select, h, labelled as field, replaceChildren } from './elements.js'
import { api, currentSession } from './session.js'
import { formatAgo, formatFullTime, formatNumber } from './format.js'

const SECTIONS = [['rules', 'Rules'], ['channels', 'Channels'], ['silences', 'Silences']]
const AGGREGATIONS = ['avg', 'min', 'max', 'last', 'count', 'p95', 'rate']
const CONDITIONS = ['>', '>=', '<', '<=', '==', '!=']
const SEVERITIES = ['critical', 'warning', 'info']
const PREVIEW_DELAY_MS = 400

export function mountAlerting(container, section) {
  document.title = 'Alerting · hostpulse'
  const canWrite = ['admin', 'editor'].includes(currentSession()?.user?.role)
  const tabs = h('nav', { class: 'admin-tabs', 'aria-label': 'Alerting' },
    SECTIONS.map(([id, label]) => h('a', { href: `#/alerting/${id}`, ...(id === section ? { 'aria-current': 'page' } : {}) }, label)))
  const body = h('div')
  replaceChildren(container, h('section', { class: 'alerting', 'aria-labelledby': 'alerting-title' }, h('h1', { id: 'alerting-title' }, 'Alerting'), tabs, body))
  if (section === 'channels') return mountChannels(body, canWrite)
  if (section === 'silences') return mountSilences(body, canWrite)
  return mountRules(body, canWrite)
}

const numberOrNull = (text) => (text.trim() === '' ? undefined : Number(text))
const list = (text) => text.split(',').map((s) => s.trim()).filter(Boolean)
/** Where a channel sends, as the API shows it (secret parts masked). */
const targetOf = (c) => c.config.url ?? c.config.webhook_url ?? (c.config.to ?? []).join(', ')
const thresholdText = (r) => [r.threshold !== null ? `${r.condition} ${formatNumber(r.threshold)} (${r.severity})` : null,
  r.warning_threshold !== null ? `${r.condition} ${formatNumber(r.warning_threshold)} (warning)` : null].filter(Boolean).join(', ') || '–'

/** A stored rule as the body PUT takes (the answer's own fields, minus what the server keeps). */
function bodyOf(rule) {
  const { id, source, created_at, updated_at, last_evaluated_at, last_evaluation_error, ...body } = rule
  return body
}

function mountRules(body, canWrite) {
  let destroyed = false
  let timer = 0
  let editing = null
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const rows = h('tbody')
  const inputs = {
    name: h('input', { id: 'rule-name', required: true, maxlength: 200, placeholder: 'CPU high' }),
    metric: h('input', { id: 'rule-metric', required: true, maxlength: 200, value: 'cpu.usage_percent' }),
    aggregation: select('rule-aggregation', AGGREGATIONS, 'avg'),
    window: h('input', { id: 'rule-window', value: '5m', size: 6 }),
    condition: select('rule-condition', CONDITIONS, '>'),
    threshold: h('input', { id: 'rule-threshold', inputmode: 'decimal', size: 8, value: '90' }),
    warning: h('input', { id: 'rule-warning', inputmode: 'decimal', size: 8 }),
    for: h('input', { id: 'rule-for', value: '0s', size: 6 }),
    severity: select('rule-severity', SEVERITIES, 'critical'),
    agents: h('input', { id: 'rule-agents', placeholder: 'all agents', size: 18 }),
    channels: h('input', { id: 'rule-channels', placeholder: 'channel names', size: 18 }),
  }
  const previewStatus = h('p', { class: 'muted', id: 'rule-preview-status', role: 'status' })
  const previewRows = h('tbody')
  const submit = h('button', { type: 'submit' }, 'Create rule')
  const cancel = h('button', { type: 'button', class: 'secondary', hidden: true, onclick: () => startEdit(null) }, 'Cancel')
  const form = h('form', { id: 'rule-form', class: 'admin-form', oninput: schedulePreview, onchange: schedulePreview, onsubmit: (e) => { e.preventDefault(); save() } },
    field('Name', inputs.name), field('Metric', inputs.metric), field('Aggregation', inputs.aggregation), field('Window', inputs.window),
    field('Condition', inputs.condition), field('Threshold', inputs.threshold), field('Warning at', inputs.warning), field('For', inputs.for),
    field('Severity', inputs.severity), field('Agents', inputs.agents), field('Channels', inputs.channels), submit, cancel)
  replaceChildren(body, error,
    canWrite ? h('section', { 'aria-labelledby': 'rule-form-title' }, h('h2', { id: 'rule-form-title' }, 'New rule'), form,
      h('h3', {}, 'Preview: where each selected series stands now'), previewStatus,
      h('div', { class: 'table-scroll' }, h('table', { id: 'rule-preview' },
        h('thead', {}, h('tr', {}, ['Agent', 'Series', 'Value', 'Now'].map((c) => h('th', { scope: 'col' }, c)))), previewRows))) : null,
    h('section', { 'aria-labelledby': 'rules-title' }, h('h2', { id: 'rules-title' }, 'Rules'),
      h('div', { class: 'table-scroll' }, h('table', { id: 'alert-rules' },
        h('thead', {}, h('tr', {}, ['Name', 'Metric', 'Over', 'Fires when', 'Agents', 'State', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))), rows))))
  const showError = (text) => { error.textContent = text; error.hidden = !text }

  function formBody() {
    const b = {
      name: inputs.name.value.trim() || 'preview', metric: inputs.metric.value.trim(), aggregation: inputs.aggregation.value,
      window: inputs.window.value.trim(), condition: inputs.condition.value, for: inputs.for.value.trim(), severity: inputs.severity.value,
      agents: list(inputs.agents.value), channels: list(inputs.channels.value),
    }
    const threshold = numberOrNull(inputs.threshold.value)
    const warning = numberOrNull(inputs.warning.value)
    if (threshold !== undefined) b.threshold = threshold
    if (warning !== undefined) b.warning_threshold = warning
    return editing ? { ...bodyOf(editing), ...b } : b
  }

  function schedulePreview() {
    clearTimeout(timer)
    timer = setTimeout(preview, PREVIEW_DELAY_MS)
  }

  async function preview() {
    try {
      const res = await api('/api/v1/alerts/preview', { method: 'POST', body: { ...formBody(), channels: [] } })
      if (destroyed) return
      const firing = res.series.filter((s) => s.level).length
      previewStatus.textContent = `${res.agents} agent(s) selected, ${res.series.length} series (read from ${res.source}); ${firing} would fire now`
        + (res.notice ? `. No data: ${res.notice}` : '')
      replaceChildren(previewRows, res.series.map((s) => h('tr', { dataset: { agent: s.agent, level: s.level ?? 'ok' } },
        h('td', {}, s.agent), h('td', {}, Object.entries(s.tags).map(([k, v]) => `${k}=${v}`).join(', ') || '–'),
        h('td', { class: 'num' }, s.missing ? 'no data' : formatNumber(s.value)),
        h('td', { class: s.level ? `severity-${s.level}` : 'muted' }, s.level ?? 'below the thresholds'))))
    } catch (err) {
      if (destroyed) return
      previewStatus.textContent = `No preview: ${err.message}`
      replaceChildren(previewRows)
    }
  }

  function startEdit(rule) {
    editing = rule
    submit.textContent = rule ? `Save ${rule.name}` : 'Create rule'
    cancel.hidden = !rule
    const r = rule ?? { name: '', metric: 'cpu.usage_percent', aggregation: 'avg', window: '5m', condition: '>', threshold: 90, warning_threshold: null, for: '0s', severity: 'critical', agents: [], channels: [] }
    inputs.name.value = r.name
    inputs.metric.value = r.metric
    inputs.aggregation.value = r.aggregation
    inputs.window.value = r.window
    inputs.condition.value = r.condition
    inputs.threshold.value = r.threshold ?? ''
    inputs.warning.value = r.warning_threshold ?? ''
    inputs.for.value = r.for
    inputs.severity.value = r.severity
    inputs.agents.value = r.agents.join(', ')
    inputs.channels.value = r.channels.join(', ')
    if (rule) inputs.name.focus()
    schedulePreview()
  }

  async function save() {
    showError('')
    try {
      const b = formBody()
      if (editing) await api(`/api/v1/alerts/${editing.id}`, { method: 'PUT', body: b })
      else await api('/api/v1/alerts', { method: 'POST', body: b })
      startEdit(null)
      await load()
    } catch (err) {
      showError(`Could not save the rule: ${err.message}`)
    }
  }

  async function act(rule, what) {
    showError('')
    try {
      if (what === 'delete') {
        if (!confirm(`Delete the rule "${rule.name}"? Its alert history stays.`)) return
        await api(`/api/v1/alerts/${rule.id}`, { method: 'DELETE' })
      } else {
        await api(`/api/v1/alerts/${rule.id}`, { method: 'PUT', body: { ...bodyOf(rule), enabled: what === 'enable' } })
      }
      await load()
    } catch (err) {
      showError(`Could not ${what} "${rule.name}": ${err.message}`)
    }
  }

  async function load() {
    try {
      const res = await api('/api/v1/alerts')
      if (destroyed) return
      const rules = res.rules ?? []
      replaceChildren(rows, rules.length === 0 ? h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No rules yet.')) : rules.map((r) => {
        const fromFile = r.source === 'file'
        const actions = !canWrite ? [] : fromFile ? [h('span', { class: 'muted', title: 'Change it in the rules file' }, 'rules file')] : [
          h('button', { type: 'button', class: 'secondary', dataset: { action: 'edit' }, onclick: () => startEdit(r) }, 'Edit'),
          h('button', { type: 'button', class: 'secondary', dataset: { action: r.enabled ? 'disable' : 'enable' }, onclick: () => act(r, r.enabled ? 'disable' : 'enable') }, r.enabled ? 'Disable' : 'Enable'),
          h('button', { type: 'button', class: 'secondary danger', dataset: { action: 'delete' }, onclick: () => act(r, 'delete') }, 'Delete'),
        ]
        return h('tr', { dataset: { rule: r.name, source: r.source } },
          h('td', { title: r.description || '' }, r.name), h('td', {}, r.metric), h('td', {}, `${r.aggregation} over ${r.window}${r.for !== '0s' ? `, for ${r.for}` : ''}`),
          h('td', {}, thresholdText(r)), h('td', {}, r.agents.length ? r.agents.join(', ') : 'all'),
          h('td', { title: r.last_evaluation_error ?? (r.last_evaluated_at ? `evaluated ${formatFullTime(r.last_evaluated_at)}` : '') },
            r.enabled ? (r.last_evaluation_error ? 'error' : 'enabled') : 'disabled'),
          h('td', { class: 'actions' }, actions))
      }))
    } catch (err) {
      if (!destroyed) showError(err.status === 404 ? 'Alerting is not available on this server.' : `Could not load the rules: ${err.message}`)
    }
  }
  load()
  if (canWrite) schedulePreview()
  return () => { destroyed = true; clearTimeout(timer) }
}

function mountChannels(body, canWrite) {
  let destroyed = false
  let editing = null
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const answer = h('div', { id: 'channel-answer', role: 'status' })
  const rows = h('tbody')
  const log = h('div', { id: 'channel-deliveries' })
  const name = h('input', { id: 'channel-name', required: true, maxlength: 200, placeholder: 'ops webhook' })
  const type = select('channel-type', ['webhook', 'slack', 'discord', 'email'], 'webhook')
  const target = h('input', { id: 'channel-target', required: true, size: 40, placeholder: 'https://… or a@example.com, b@example.com' })
  const secret = h('input', { id: 'channel-secret', type: 'password', size: 16, autocomplete: 'off', placeholder: 'optional' })
  const secretField = field('Signing secret (webhook)', secret)
  const title = h('h2', {}, 'New channel')
  const submit = h('button', { type: 'submit' }, 'Create channel')
  const cancel = h('button', { type: 'button', class: 'secondary', hidden: true, onclick: () => startEdit(null) }, 'Cancel')
  const form = h('form', { id: 'channel-form', class: 'admin-form', onsubmit: (e) => { e.preventDefault(); save() } },
    field('Name', name), field('Type', type), field('URL or addresses', target), secretField, submit, cancel)
  const showSecret = () => { secretField.hidden = type.value !== 'webhook' }
  type.addEventListener('change', showSecret)
  replaceChildren(body, error, canWrite ? h('section', {}, title,
    h('p', { class: 'muted' }, 'Secrets are shown masked (****) once stored; leave a masked value as it is to keep it.'), form) : null, answer,
  h('section', { 'aria-labelledby': 'channels-title' }, h('h2', { id: 'channels-title' }, 'Channels'),
    h('div', { class: 'table-scroll' }, h('table', { id: 'channels' },
      h('thead', {}, h('tr', {}, ['Name', 'Type', 'Target', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))), rows))), log)
  const showError = (text) => { error.textContent = text; error.hidden = !text }

  /** The config to send: on an edit, the stored (masked) one with the fields the form changes, so masked secrets are kept. */
  function config() {
    const t = target.value.trim()
    const kept = editing && editing.type === type.value ? { ...editing.config } : {}
    delete kept.has_secret
    if (kept.smtp) { const { has_password: _p, ...smtp } = kept.smtp; kept.smtp = smtp }
    if (type.value === 'email') return { ...kept, to: list(t) }
    if (type.value === 'webhook') return { ...kept, url: t, ...(secret.value ? { secret: secret.value } : {}) }
    return { ...kept, webhook_url: t }
  }

  function startEdit(c) {
    editing = c
    title.textContent = c ? `Edit ${c.name}` : 'New channel'
    submit.textContent = c ? 'Save channel' : 'Create channel'
    cancel.hidden = !c
    name.value = c?.name ?? ''
    type.value = c?.type ?? 'webhook'
    target.value = c ? targetOf(c) : ''
    secret.value = ''
    secret.placeholder = c?.config.has_secret ? 'stored (****): type to replace' : 'optional'
    showSecret()
    if (c) name.focus()
  }

  async function save() {
    showError('')
    const payload = { name: name.value.trim(), type: type.value, config: config() }
    try {
      if (editing) await api(`/api/v1/notification-channels/${editing.id}`, { method: 'PUT', body: { ...payload, enabled: editing.enabled } })
      else await api('/api/v1/notification-channels', { method: 'POST', body: payload })
      replaceChildren(answer, h('p', { class: 'ok' }, editing ? `${payload.name} is saved.` : `${payload.name} is created: send it a test.`))
      startEdit(null)
      await load()
    } catch (err) {
      showError(`Could not ${editing ? 'save' : 'create'} the channel: ${err.message}`)
    }
  }

  async function remove(c) {
    if (!confirm(`Delete the channel "${c.name}"? Rules that notify it stop sending there.`)) return
    showError('')
    try {
      await api(`/api/v1/notification-channels/${c.id}`, { method: 'DELETE' })
      if (editing?.id === c.id) startEdit(null)
      replaceChildren(answer, h('p', { role: 'status' }, `${c.name} is deleted.`))
      await load()
    } catch (err) {
      showError(`Could not delete ${c.name}: ${err.message}`)
    }
  }

  async function test(c) {
    replaceChildren(answer, h('p', { class: 'muted' }, `Sending a test to ${c.name}…`))
    try {
      const res = await api(`/api/v1/notification-channels/${c.id}/test`, { method: 'POST' })
      replaceChildren(answer, h('p', { class: res.delivered ? 'ok' : 'error', dataset: { delivered: String(res.delivered) } },
        res.delivered ? `Delivered to ${c.name}${res.message_id ? ` (message ${res.message_id})` : ''}.` : `Not delivered to ${c.name}: ${res.error}`))
    } catch (err) {
      replaceChildren(answer, h('p', { class: 'error' }, `Could not test ${c.name}: ${err.message}`))
    }
    await deliveries(c)
  }

  async function deliveries(c) {
    try {
      const res = await api(`/api/v1/notification-channels/${c.id}/deliveries?limit=50`)
      replaceChildren(log, h('h2', {}, `Delivery log: ${c.name}`), res.deliveries.length === 0 ? h('p', { class: 'muted' }, 'Nothing sent through this channel yet (tests are not logged).') :
        h('div', { class: 'table-scroll' }, h('table', { id: 'delivery-log' },
          h('thead', {}, h('tr', {}, ['When', 'Rule', 'Agent', 'Kind', 'Status', 'Attempts', 'Error'].map((x) => h('th', { scope: 'col' }, x)))),
          h('tbody', {}, res.deliveries.map((d) => h('tr', {},
            h('td', { title: formatFullTime(d.created_at) }, formatAgo(d.created_at)), h('td', {}, d.rule_name ?? '–'), h('td', {}, d.agent_name ?? '–'),
            h('td', {}, d.kind), h('td', {}, d.status), h('td', { class: 'num' }, String(d.attempts)), h('td', {}, d.last_error ?? '')))))))
    } catch (err) {
      replaceChildren(log, h('p', { class: 'error' }, `Could not load the delivery log: ${err.message}`))
    }
  }

  async function load() {
    try {
      const res = await api('/api/v1/notification-channels')
      if (destroyed) return
      replaceChildren(rows, res.channels.length === 0 ? h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No channels yet.')) : res.channels.map((c) => h('tr', { dataset: { channel: c.name } },
        h('td', {}, c.name), h('td', {}, c.type),
        h('td', {}, targetOf(c)),
        h('td', { class: 'actions' },
          canWrite ? h('button', { type: 'button', class: 'secondary', dataset: { action: 'test' }, onclick: () => test(c) }, 'Test') : null,
          canWrite ? h('button', { type: 'button', class: 'secondary', dataset: { action: 'edit' }, onclick: () => startEdit(c) }, 'Edit') : null,
          canWrite ? h('button', { type: 'button', class: 'secondary danger', dataset: { action: 'delete' }, onclick: () => remove(c) }, 'Delete') : null,
          h('button', { type: 'button', class: 'secondary', dataset: { action: 'log' }, onclick: () => deliveries(c) }, 'Delivery log')))))
    } catch (err) {
      if (!destroyed) showError(`Could not load the channels: ${err.message}`)
    }
  }
  load()
  return () => { destroyed = true }
}

function mountSilences(body, canWrite) {
  let destroyed = false
  let previewTimer = 0
  const wanted = new URLSearchParams(location.hash.split('?')[1] ?? '')
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const rows = h('tbody')
  const kind = select('silence-kind', ['silence', 'maintenance'], 'silence')
  const rule = h('input', { id: 'silence-rule', size: 18, placeholder: 'any rule', value: wanted.get('rule') ?? '' })
  const agent = h('input', { id: 'silence-agent', size: 18, placeholder: 'any agent', value: wanted.get('agent') ?? '' })
  const severity = select('silence-severity', ['any', ...SEVERITIES], 'any')
  const starts = h('input', { id: 'silence-starts', type: 'datetime-local', title: 'empty: now' })
  const duration = h('input', { id: 'silence-duration', size: 6, value: '2h' })
  const comment = h('input', { id: 'silence-comment', size: 30, placeholder: 'why' })
  const mutedNow = h('div', { id: 'silence-preview', role: 'status' })
  const form = h('form', { id: 'silence-form', class: 'admin-form', onsubmit: (e) => { e.preventDefault(); create() } },
    field('Kind', kind), field('Rule', rule), field('Agent', agent), field('Severity', severity), field('Starts (empty: now)', starts),
    field('For', duration), field('Comment', comment), h('button', { type: 'submit' }, 'Create'))
  replaceChildren(body, error, canWrite ? h('section', {}, h('h2', {}, 'New silence or maintenance window'),
    h('p', { class: 'muted' }, 'Alerts matching every field given keep being evaluated and recorded, but nobody is notified. '
      + 'A maintenance window is the same, planned ahead: give when it starts.'), form, mutedNow) : null,
  h('section', { 'aria-labelledby': 'silences-title' }, h('h2', { id: 'silences-title' }, 'Silences and maintenance windows'),
    h('div', { class: 'table-scroll' }, h('table', { id: 'silences' },
      h('thead', {}, h('tr', {}, ['Kind', 'Mutes', 'From', 'Until', 'Status', 'Comment', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))), rows))))
  const showError = (text) => { error.textContent = text; error.hidden = !text }
  const mutes = (m) => [m.rule ? `rule ${m.rule}` : null, m.agent ? `agent ${m.agent}` : null, m.severity ? `severity ${m.severity}` : null,
    ...Object.entries(m.labels ?? {}).map(([k, v]) => `${k}=${v}`)].filter(Boolean).join(', ') || 'everything'

  function matchers() {
    const m = {}
    if (rule.value.trim()) m.rule = rule.value.trim()
    if (agent.value.trim()) m.agent = agent.value.trim()
    if (severity.value !== 'any') m.severity = severity.value
    return m
  }

  /** The alerts firing now that the matchers would mute, as the evaluator matches them. */
  async function preview() {
    const m = matchers()
    if (Object.keys(m).length === 0) { replaceChildren(mutedNow, h('p', { class: 'muted' }, 'Give a rule, an agent or a severity: a silence of everything is refused.')); return }
    try {
      const res = await api('/api/v1/silences/preview', { method: 'POST', body: { matchers: m } })
      if (destroyed) return
      replaceChildren(mutedNow, res.count === 0 ? h('p', { class: 'muted' }, 'No alert firing now matches; later ones will be muted while it holds.')
        : [h('p', {}, `Mutes ${res.count} alert${res.count === 1 ? '' : 's'} firing now:`),
          h('ul', { id: 'silence-mutes' }, res.events.map((e) => h('li', { dataset: { event: e.id } }, `${e.rule_name} on ${e.agent_name} (${e.severity})`)))])
    } catch (err) {
      if (!destroyed) replaceChildren(mutedNow, h('p', { class: 'error' }, `Cannot preview: ${err.message}`))
    }
  }
  const schedulePreview = () => { clearTimeout(previewTimer); previewTimer = setTimeout(preview, PREVIEW_DELAY_MS) }
  for (const input of [rule, agent, severity]) input.addEventListener('input', schedulePreview)

  async function create() {
    showError('')
    const payload = { kind: kind.value, matchers: matchers(), duration: duration.value.trim(), comment: comment.value.trim() || undefined }
    if (starts.value) payload.starts_at = new Date(starts.value).toISOString()
    try {
      await api('/api/v1/silences', { method: 'POST', body: payload })
      comment.value = ''
      await load()
      await preview()
    } catch (err) {
      showError(`Could not create the ${kind.value === 'maintenance' ? 'maintenance window' : 'silence'}: ${err.message}`)
    }
  }

  async function end(s) {
    showError('')
    try {
      await api(`/api/v1/silences/${s.id}`, { method: 'DELETE' })
      await load()
    } catch (err) {
      showError(`Could not end the silence: ${err.message}`)
    }
  }

  async function load() {
    try {
      const res = await api('/api/v1/silences')
      if (destroyed) return
      replaceChildren(rows, res.silences.length === 0 ? h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No silences.')) : res.silences.map((s) => h('tr', { dataset: { silence: s.id, status: s.status, kind: s.kind } },
        h('td', {}, s.kind), h('td', {}, mutes(s.matchers)), h('td', { title: formatFullTime(s.starts_at) }, formatFullTime(s.starts_at)), h('td', {}, formatFullTime(s.ends_at)),
        h('td', {}, s.status), h('td', {}, s.comment || '–'),
        h('td', { class: 'actions' }, canWrite && s.status !== 'expired' ? h('button', { type: 'button', class: 'secondary', dataset: { action: 'end' }, onclick: () => end(s) }, s.status === 'pending' ? 'Cancel' : 'End now') : null))))
    } catch (err) {
      if (!destroyed) showError(`Could not load the silences: ${err.message}`)
    }
  }
  load()
  if (canWrite) preview()
  return () => { destroyed = true; clearTimeout(previewTimer) }
}
