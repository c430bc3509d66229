// Administration: #/admin/agents (register an agent and get its key once, with the commands that run it
// with the key in a file or the environment, never on a command line; rotate or revoke a key; delete) and
// #/admin/tokens (enrollment tokens, and the registrations waiting for approval) for editors and admins;
// #/admin/users, #/admin/organizations and #/admin/audit for admins (admin-people.js). The API refuses the
// rest anyway. Keys and token secrets are shown once, in a box with a Copy button.
import { h, replaceChildren } from './elements.js'
import { api, currentSession } from './session.js'
import { formatAgo, formatFullTime } from './format.js'
import { mountAudit, mountOrganizations, mountUsers } from './admin-people.js'

const EDITOR_SECTIONS = [['agents', 'Agents', mountAgents], ['tokens', 'Enrollment', mountTokens]]
const ADMIN_SECTIONS = [['users', 'Users', mountUsers], ['organizations', 'Organizations', mountOrganizations], ['audit', 'Audit log', mountAudit]]

export function mountAdmin(container, section) {
  const role = currentSession()?.user?.role
  document.title = 'Admin · hostpulse'
  const sections = role === 'admin' ? [...EDITOR_SECTIONS, ...ADMIN_SECTIONS] : EDITOR_SECTIONS
  const tabs = h('nav', { class: 'admin-tabs', 'aria-label': 'Administration' },
    sections.map(([id, label]) => h('a', { href: `#/admin/${id}`, ...(id === section ? { 'aria-current': 'page' } : {}) }, label)))
  const body = h('div', { class: 'admin-body' })
  replaceChildren(container, h('section', { class: 'admin', 'aria-labelledby': 'admin-title' }, h('h1', { id: 'admin-title' }, 'Administration'), tabs, body))
  if (role !== 'admin' && role !== 'editor') {
    replaceChildren(body, h('p', { class: 'unavailable', id: 'admin-forbidden' }, 'Administration needs the editor or admin role; ask an admin of your organization.'))
    return () => {}
  }
  const mount = sections.find(([id]) => id === section)?.[2]
  if (mount) return mount(body)
  const adminOnly = ADMIN_SECTIONS.some(([id]) => id === section)
  replaceChildren(body, h('p', { class: 'unavailable', id: 'admin-forbidden' }, adminOnly
    ? `The ${section} page needs the admin role; ask an admin of your organization.`
    : `There is no "${section}" page; see `, adminOnly ? null : h('a', { href: '#/admin/agents' }, 'Agents'), adminOnly ? null : '.'))
  return () => {}
}

/** A secret shown once: the value, a Copy button, and what to do with it. */
function secretBox(id, label, value, ...explain) {
  const copied = h('span', { class: 'muted', role: 'status' })
  const copy = h('button', {
    type: 'button', class: 'secondary',
    onclick: async () => {
      try { await navigator.clipboard.writeText(value); copied.textContent = 'Copied.' } catch { copied.textContent = 'Select the text and copy it.' }
    },
  }, 'Copy')
  return h('div', { class: 'secret-box', id },
    h('p', {}, h('strong', {}, label), ' — shown this once: you will not see it again.'),
    h('div', { class: 'secret-line' }, h('code', { class: 'secret-value' }, value), copy, copied),
    ...explain)
}

/** How to start an agent with `key`: in a file only the agent's user reads, or the environment; never argv. */
function runCommands(key) {
  const server = location.origin
  const env = `HOSTPULSE_SERVER=${server}\nHOSTPULSE_API_KEY=${key}\n`
  const block = (title, text) => h('div', { class: 'run-command' }, h('p', {}, title), h('pre', {}, h('code', {}, text)))
  return h('div', { class: 'run-commands' },
    h('p', { class: 'muted' }, 'The key goes in a file or the environment, never on the command line (any user of the host can read a command line).'),
    block('From a clone of hostpulse on the host:', `printf '${env.replace(/\n/g, '\\n')}' > agent.env && chmod 600 agent.env\nnpm run agent -- --config agent.env`),
    block('As a systemd service (agent/hostpulse-agent.service reads /etc/hostpulse/agent.env):',
      `sudo install -d -m 700 /etc/hostpulse\nprintf '${env.replace(/\n/g, '\\n')}' | sudo tee /etc/hostpulse/agent.env >/dev/null\nsudo chmod 600 /etc/hostpulse/agent.env\nsudo systemctl enable --now hostpulse-agent`),
    block('In a container (docker-compose.yml\'s agent service: put the two lines in .env beside it):', `${env}docker-compose up -d agent`))
}

function mountAgents(body) {
  let destroyed = false
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const shown = h('div', { id: 'agent-secret', 'aria-live': 'polite' })
  const name = h('input', { id: 'new-agent-name', name: 'name', required: true, maxlength: 128, autocomplete: 'off', placeholder: 'web-01' })
  const labels = h('input', { id: 'new-agent-labels', name: 'labels', autocomplete: 'off', placeholder: 'env=prod, team=ops' })
  const rows = h('tbody')
  const count = h('span', { class: 'muted', id: 'agent-count' })
  const form = h('form', { id: 'register-agent', class: 'admin-form', onsubmit: (e) => { e.preventDefault(); register() } },
    h('label', {}, 'Name ', name), h('label', {}, 'Labels ', labels), h('button', { type: 'submit' }, 'Register agent'))
  replaceChildren(body,
    h('section', { 'aria-labelledby': 'register-title' }, h('h2', { id: 'register-title' }, 'Register an agent'), form, error, shown),
    h('section', { 'aria-labelledby': 'agents-title' }, h('div', { class: 'section-head' }, h('h2', { id: 'agents-title' }, 'Agents'), count),
      h('div', { class: 'table-scroll' }, h('table', { id: 'admin-agents' },
        h('thead', {}, h('tr', {}, ['Name', 'Hostname', 'Status', 'Last seen', 'Labels', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))), rows))))

  const showError = (text) => { error.textContent = text; error.hidden = !text }

  function parseLabels(text) {
    const out = {}
    for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
      const [k, ...v] = part.split('=')
      if (!k.trim() || v.length === 0) throw new Error(`Labels are key=value pairs separated by commas ("${part}" is not)`)
      out[k.trim()] = v.join('=').trim()
    }
    return out
  }

  async function register() {
    showError('')
    try {
      const made = await api('/api/v1/agents', { method: 'POST', body: { name: name.value.trim(), labels: parseLabels(labels.value) } })
      name.value = ''
      labels.value = ''
      replaceChildren(shown, secretBox('new-agent-key', `API key of ${made.name}`, made.api_key, runCommands(made.api_key)))
      await load()
    } catch (err) {
      showError(`Could not register the agent: ${err.message}`)
    }
  }

  async function act(agent, what) {
    showError('')
    try {
      if (what === 'rotate') {
        if (!confirm(`Replace the API key of "${agent.name}"? The old key stops working at once.`)) return
        const res = await api(`/api/v1/agents/${agent.id}/rotate-key`, { method: 'POST' })
        replaceChildren(shown, secretBox('new-agent-key', `New API key of ${res.name}`, res.api_key, runCommands(res.api_key)))
      } else if (what === 'revoke') {
        if (!confirm(`Revoke the API key of "${agent.name}"? It sends nothing more until you rotate a new key.`)) return
        await api(`/api/v1/agents/${agent.id}/revoke-key`, { method: 'POST' })
        replaceChildren(shown, h('p', { role: 'status' }, `The key of ${agent.name} is revoked.`))
      } else if (what === 'delete') {
        if (!confirm(`Delete "${agent.name}" and every sample it sent? This cannot be undone.`)) return
        await api(`/api/v1/agents/${agent.id}`, { method: 'DELETE' })
        replaceChildren(shown, h('p', { role: 'status' }, `${agent.name} is deleted.`))
      }
      await load()
    } catch (err) {
      showError(`Could not ${what} ${agent.name}: ${err.message}`)
    }
  }

  function render(list, total) {
    count.textContent = `${total} in all`
    replaceChildren(rows, list.length === 0
      ? h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No agents yet: register one above.'))
      : list.map((a) => h('tr', { dataset: { agent: a.name } },
        h('td', {}, h('a', { href: `#/hosts/${encodeURIComponent(a.name)}` }, a.name)),
        h('td', {}, a.hostname ?? '–'),
        h('td', {}, a.status),
        h('td', { title: a.last_seen_at ? formatFullTime(a.last_seen_at) : '' }, a.last_seen_at ? formatAgo(a.last_seen_at) : 'never'),
        h('td', {}, Object.entries(a.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '–'),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'secondary', dataset: { action: 'rotate' }, onclick: () => act(a, 'rotate') }, 'Rotate key'),
          h('button', { type: 'button', class: 'secondary', dataset: { action: 'revoke' }, onclick: () => act(a, 'revoke') }, 'Revoke key'),
          h('button', { type: 'button', class: 'secondary danger', dataset: { action: 'delete' }, onclick: () => act(a, 'delete') }, 'Delete')))))
  }

  async function load() {
    try {
      const res = await api('/api/v1/agents?limit=1000')
      if (!destroyed) render(res.agents ?? [], res.total ?? 0)
    } catch (err) {
      if (!destroyed) showError(`Could not load the agents: ${err.message}`)
    }
  }
  load()
  return () => { destroyed = true }
}

function mountTokens(body) {
  let destroyed = false
  const error = h('p', { class: 'error', role: 'alert', hidden: true })
  const shown = h('div', { id: 'token-secret', 'aria-live': 'polite' })
  const description = h('input', { id: 'new-token-description', maxlength: 200, autocomplete: 'off', placeholder: 'rack 4 servers' })
  const autoApprove = h('input', { id: 'new-token-auto', type: 'checkbox' })
  const tokenRows = h('tbody')
  const pendingRows = h('tbody')
  replaceChildren(body,
    h('section', { 'aria-labelledby': 'token-title' }, h('h2', { id: 'token-title' }, 'Create an enrollment token'),
      h('p', { class: 'muted' }, 'Agents started with an enrollment token register themselves; without auto-approve, each waits below for approval.'),
      h('form', { id: 'create-token', class: 'admin-form', onsubmit: (e) => { e.preventDefault(); create() } },
        h('label', {}, 'Description ', description), h('label', {}, autoApprove, ' Approve registrations automatically'), h('button', { type: 'submit' }, 'Create token')),
      error, shown),
    h('section', { 'aria-labelledby': 'pending-title' }, h('h2', { id: 'pending-title' }, 'Waiting for approval'),
      h('div', { class: 'table-scroll' }, h('table', { id: 'pending-registrations' },
        h('thead', {}, h('tr', {}, ['Hostname', 'Asked', 'Address', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))), pendingRows))),
    h('section', { 'aria-labelledby': 'tokens-title' }, h('h2', { id: 'tokens-title' }, 'Enrollment tokens'),
      h('div', { class: 'table-scroll' }, h('table', { id: 'enrollment-tokens' },
        h('thead', {}, h('tr', {}, ['Description', 'Auto-approve', 'Uses', 'Created', 'State', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))), tokenRows))))
  const showError = (text) => { error.textContent = text; error.hidden = !text }

  async function create() {
    showError('')
    try {
      const made = await api('/api/v1/enrollment-tokens', { method: 'POST', body: { description: description.value.trim() || undefined, auto_approve: autoApprove.checked } })
      description.value = ''
      replaceChildren(shown, secretBox('new-token-secret', 'Enrollment token', made.token,
        h('pre', {}, h('code', {}, `printf 'HOSTPULSE_SERVER=${location.origin}\\nHOSTPULSE_ENROLL_TOKEN=${made.token}\\n' > agent.env && chmod 600 agent.env\nnpm run agent -- --config agent.env`))))
      await load()
    } catch (err) {
      showError(`Could not create the token: ${err.message}`)
    }
  }

  async function act(path, what) {
    showError('')
    try {
      await api(path, { method: what === 'revoke' ? 'DELETE' : 'POST' })
      await load()
    } catch (err) {
      showError(`Could not ${what}: ${err.message}`)
    }
  }

  async function load() {
    try {
      const [tokens, pending] = await Promise.all([api('/api/v1/enrollment-tokens'), api('/api/v1/registrations/pending')])
      if (destroyed) return
      const tokenList = tokens.tokens
      const pendingList = pending.registrations
      replaceChildren(pendingRows, pendingList.length === 0
        ? h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'Nothing waiting.'))
        : pendingList.map((r) => h('tr', { dataset: { registration: r.id, hostname: r.hostname ?? '' } },
          h('td', {}, r.hostname ?? '–'), h('td', { title: formatFullTime(r.requested_at) }, formatAgo(r.requested_at)), h('td', {}, r.remote_address ?? r.ip_address ?? '–'),
          h('td', { class: 'actions' },
            h('button', { type: 'button', dataset: { action: 'approve' }, onclick: () => act(`/api/v1/registrations/${r.id}/approve`, `approve ${r.hostname}`) }, 'Approve'),
            h('button', { type: 'button', class: 'secondary danger', dataset: { action: 'reject' }, onclick: () => act(`/api/v1/registrations/${r.id}/reject`, `reject ${r.hostname}`) }, 'Reject')))))
      replaceChildren(tokenRows, tokenList.length === 0
        ? h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No tokens yet.'))
        : tokenList.map((k) => h('tr', { dataset: { token: k.id } },
          h('td', {}, k.description || '–'), h('td', {}, k.auto_approve ? 'yes' : 'no'),
          h('td', { class: 'num' }, k.max_uses ? `${k.uses ?? 0} of ${k.max_uses}` : String(k.uses ?? 0)),
          h('td', { title: formatFullTime(k.created_at) }, formatAgo(k.created_at)), h('td', {}, k.revoked_at ? 'revoked' : k.usable ? 'usable' : 'expired or used up'),
          h('td', { class: 'actions' }, k.revoked_at ? '' : h('button', { type: 'button', class: 'secondary danger', dataset: { action: 'revoke' },
            onclick: () => { if (confirm('Revoke this enrollment token? Agents not yet registered with it can no longer register.')) act(`/api/v1/enrollment-tokens/${k.id}`, 'revoke') } }, 'Revoke')))))
    } catch (err) {
      if (!destroyed) showError(`Could not load enrollment: ${err.message}`)
    }
  }
  load()
  return () => { destroyed = true }
}
