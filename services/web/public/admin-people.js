// Administration, admins only: #/admin/users (create a user with a role, change a role, reset a password,
// delete), #/admin/organizations (all of them and a create form for the built-in organization's admins; any
// other admin sees their own) and #/admin/audit (the organization's audit log, newest first, filtered by
// action, older pages on demand). The API decides either way: these pages only spare people its 403s.
import { choice, dataTable, h, labelled, replaceChildren } from './elements.js'
import { api, currentSession } from './session.js'
import { formatAgo, formatFullTime } from './format.js'

const ROLES = ['viewer', 'editor', 'admin']
const ROLE_HELP = 'viewer: reads everything; editor: also manages agents, rules, channels and silences; admin: also users and the audit log.'
/** The organization created with the server (auth/bootstrap-admin.ts): its admins manage the others. */
const BUILTIN_ORGANIZATION = 'default'
const AUDIT_PAGE = 100

/** A status line and an error line for a page; `say` and `fail` clear each other. */
function messages(id) {
  const status = h('p', { id: `${id}-status`, role: 'status', class: 'muted' })
  const error = h('p', { id: `${id}-error`, class: 'error', role: 'alert', hidden: true })
  return {
    nodes: [error, status],
    say(text) { status.textContent = text; error.hidden = true },
    fail(text) { error.textContent = text; error.hidden = !text; status.textContent = '' },
  }
}

export function mountUsers(body) {
  let destroyed = false
  let resetting = null
  const me = currentSession()?.user?.username
  const msg = messages('users')
  const rows = h('tbody')
  const inputs = {
    username: h('input', { id: 'new-user-name', required: true, maxlength: 64, autocomplete: 'off', pattern: '[A-Za-z0-9][A-Za-z0-9._@\\-]*', placeholder: 'jane' }),
    password: h('input', { id: 'new-user-password', type: 'password', required: true, minlength: 8, maxlength: 1024, autocomplete: 'new-password' }),
    role: choice('new-user-role', ROLES, 'viewer'),
    display_name: h('input', { id: 'new-user-display', maxlength: 128, placeholder: 'optional' }),
    email: h('input', { id: 'new-user-email', type: 'email', maxlength: 254, placeholder: 'optional' }),
  }
  const form = h('form', { id: 'create-user', class: 'admin-form', onsubmit: (e) => { e.preventDefault(); create() } },
    labelled('Username', inputs.username), labelled('Password (8+ characters)', inputs.password), labelled('Role', inputs.role),
    labelled('Display name', inputs.display_name), labelled('Email', inputs.email), h('button', { type: 'submit' }, 'Create user'))
  replaceChildren(body,
    h('section', { 'aria-labelledby': 'new-user-title' }, h('h2', { id: 'new-user-title' }, 'Add a user'), h('p', { class: 'muted' }, ROLE_HELP), form),
    ...msg.nodes,
    h('section', { 'aria-labelledby': 'users-title' }, h('h2', { id: 'users-title' }, 'Users'),
      dataTable('users', ['Username', 'Name', 'Email', 'Role', 'Created', 'Actions'], rows)))

  async function create() {
    const payload = { username: inputs.username.value.trim(), password: inputs.password.value, role: inputs.role.value }
    if (inputs.display_name.value.trim()) payload.display_name = inputs.display_name.value.trim()
    if (inputs.email.value.trim()) payload.email = inputs.email.value.trim()
    try {
      const made = await api('/api/v1/users', { method: 'POST', body: payload })
      for (const input of [inputs.username, inputs.password, inputs.display_name, inputs.email]) input.value = ''
      msg.say(`${made.username} can log in now, as ${made.role}.`)
      await load()
    } catch (err) {
      msg.fail(`Could not create the user: ${err.message}`)
    }
  }

  async function change(user, fields, done) {
    try {
      const updated = await api(`/api/v1/users/${user.id}`, { method: 'PUT', body: fields })
      msg.say(done(updated))
      await load()
    } catch (err) {
      msg.fail(`Could not change ${user.username}: ${err.message}`)
      await load()
    }
  }

  async function remove(user) {
    if (!confirm(`Delete the user "${user.username}"? Their sessions end at once.`)) return
    try {
      await api(`/api/v1/users/${user.id}`, { method: 'DELETE' })
      msg.say(`${user.username} is deleted.`)
      await load()
    } catch (err) {
      msg.fail(`Could not delete ${user.username}: ${err.message}`)
    }
  }

  function resetRow(user) {
    const password = h('input', { type: 'password', name: 'password', required: true, minlength: 8, maxlength: 1024, autocomplete: 'new-password', 'aria-label': `New password for ${user.username}` })
    const form = h('form', { class: 'inline-form', onsubmit: (e) => {
      e.preventDefault()
      resetting = null
      change(user, { password: password.value }, (u) => `The password of ${u.username} is reset; their sessions ended.`)
    } }, labelled(`New password for ${user.username}`, password), h('button', { type: 'submit' }, 'Set password'),
    h('button', { type: 'button', class: 'secondary', onclick: () => { resetting = null; load() } }, 'Cancel'))
    queueMicrotask(() => password.focus())
    return h('tr', { class: 'form-row' }, h('td', { colspan: 6 }, form))
  }

  function row(user) {
    const self = user.username === me
    const role = self
      ? h('span', { title: 'You cannot change your own role: another admin can.' }, user.role, h('span', { class: 'muted' }, ' (you)'))
      : h('select', { 'aria-label': `Role of ${user.username}`, dataset: { roleFor: user.username },
        onchange: (e) => change(user, { role: e.currentTarget.value }, (u) => `${u.username} is now ${u.role}.`) },
        ROLES.map((r) => h('option', { value: r, selected: r === user.role }, r)))
    return h('tr', { dataset: { user: user.username } },
      h('td', {}, user.username), h('td', {}, user.display_name ?? '–'), h('td', {}, user.email ?? '–'), h('td', {}, role),
      h('td', { title: formatFullTime(user.created_at) }, formatAgo(user.created_at)),
      h('td', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', dataset: { action: 'reset' }, onclick: () => { resetting = user.id; load() } }, 'Reset password'),
        self ? null : h('button', { type: 'button', class: 'secondary danger', dataset: { action: 'delete' }, onclick: () => remove(user) }, 'Delete')))
  }

  async function load() {
    try {
      const res = await api('/api/v1/users?limit=1000')
      if (destroyed) return
      replaceChildren(rows, res.users.flatMap((u) => (u.id === resetting ? [row(u), resetRow(u)] : [row(u)])))
    } catch (err) {
      if (!destroyed) msg.fail(`Could not load the users: ${err.message}`)
    }
  }
  load()
  return () => { destroyed = true }
}

export function mountOrganizations(body) {
  let destroyed = false
  const msg = messages('organizations')
  const rows = h('tbody')
  const formPlace = h('div')
  replaceChildren(body, formPlace, ...msg.nodes,
    h('section', { 'aria-labelledby': 'organizations-title' }, h('h2', { id: 'organizations-title' }, 'Organizations'),
      h('p', { class: 'muted' }, 'Each organization sees only its own agents, data, alerts and users.'),
      dataTable('organizations', ['Name', 'Created', ''], rows)))

  function createForm() {
    const name = h('input', { id: 'new-org-name', required: true, maxlength: 128, pattern: '[A-Za-z0-9][A-Za-z0-9 ._\\-]*', placeholder: 'acme' })
    const admin = h('input', { id: 'new-org-admin', required: true, maxlength: 64, autocomplete: 'off', placeholder: 'their first admin' })
    const password = h('input', { id: 'new-org-password', type: 'password', required: true, minlength: 8, maxlength: 1024, autocomplete: 'new-password' })
    const form = h('form', { id: 'create-organization', class: 'admin-form', onsubmit: async (e) => {
      e.preventDefault()
      try {
        const made = await api('/api/v1/organizations', { method: 'POST', body: { name: name.value.trim(), admin: { username: admin.value.trim(), password: password.value } } })
        name.value = ''; admin.value = ''; password.value = ''
        msg.say(`${made.name} is created; ${made.admin.username} logs in with the password you set and adds the others.`)
        await load()
      } catch (err) {
        msg.fail(`Could not create the organization: ${err.message}`)
      }
    } }, labelled('Name', name), labelled('First admin', admin), labelled('Their password (8+ characters)', password), h('button', { type: 'submit' }, 'Create organization'))
    return h('section', { 'aria-labelledby': 'new-org-title' }, h('h2', { id: 'new-org-title' }, 'New organization'), form)
  }

  async function load() {
    try {
      const [me, res] = await Promise.all([api('/api/v1/auth/me'), api('/api/v1/organizations')])
      if (destroyed) return
      const builtin = me.organization === BUILTIN_ORGANIZATION
      if (builtin && !formPlace.firstChild) replaceChildren(formPlace, createForm())
      if (!builtin) replaceChildren(formPlace, h('p', { class: 'muted', id: 'organizations-own-only' }, 'Only admins of the built-in organization create organizations; yours is listed below.'))
      replaceChildren(rows, res.organizations.map((o) => h('tr', { dataset: { organization: o.name } },
        h('td', {}, o.name), h('td', { title: formatFullTime(o.created_at) }, formatAgo(o.created_at)),
        h('td', { class: 'muted' }, o.id === me.org_id ? 'yours' : ''))))
    } catch (err) {
      if (!destroyed) msg.fail(`Could not load the organizations: ${err.message}`)
    }
  }
  load()
  return () => { destroyed = true }
}

/** An audit entry's actor, target and details as short text. */
const actorText = (e) => (e.actor_name ? `${e.actor_name} (${e.actor_type})` : e.actor_type)
const targetText = (e) => (e.target_type ? `${e.target_type} ${e.target_id ?? ''}`.trim() : '–')
const detailsText = (d) => Object.entries(d ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '–'

export function mountAudit(body) {
  let destroyed = false
  let before = null
  const seen = new Set()
  const msg = messages('audit')
  const rows = h('tbody')
  const actions = h('datalist', { id: 'audit-actions' })
  const action = h('input', { id: 'audit-action', list: 'audit-actions', size: 24, placeholder: 'every action', pattern: '[a-z_.]*' })
  const older = h('button', { type: 'button', class: 'secondary', id: 'audit-older', hidden: true, onclick: () => load(true) }, 'Older entries')
  const filter = h('form', { id: 'audit-filter', class: 'admin-form', onsubmit: (e) => { e.preventDefault(); load(false) } },
    labelled('Action', action), actions, h('button', { type: 'submit' }, 'Show'))
  replaceChildren(body, filter, ...msg.nodes,
    h('section', { 'aria-labelledby': 'audit-title' }, h('h2', { id: 'audit-title' }, 'Audit log'),
      h('p', { class: 'muted' }, 'Who did what, newest first. Entries name people and objects, never a password, key or token.'),
      dataTable('audit', ['Time', 'Who', 'Action', 'Target', 'Address', 'Details'], rows)),
    older)

  async function load(more) {
    const query = new URLSearchParams({ limit: String(AUDIT_PAGE) })
    if (action.value.trim()) query.set('action', action.value.trim())
    if (more && before !== null) query.set('before', String(before))
    try {
      const res = await api(`/api/v1/audit?${query}`)
      if (destroyed) return
      const list = res.entries.map((e) => h('tr', { dataset: { action: e.action } },
        h('td', { title: formatFullTime(e.time) }, formatAgo(e.time)), h('td', {}, actorText(e)), h('td', {}, h('code', {}, e.action)),
        h('td', {}, targetText(e)), h('td', {}, e.ip ?? '–'), h('td', { class: 'details' }, detailsText(e.details))))
      if (more) rows.append(...list)
      else replaceChildren(rows, list.length ? list : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No entries.')))
      for (const e of res.entries) {
        if (!seen.has(e.action)) { seen.add(e.action); actions.append(h('option', { value: e.action })) }
      }
      before = res.next_before
      older.hidden = before === null
      msg.say(`${rows.querySelectorAll('tr[data-action]').length} entries shown${before === null ? ', the oldest included' : ''}.`)
    } catch (err) {
      if (!destroyed) msg.fail(`Could not load the audit log: ${err.message}`)
    }
  }
  load(false)
  return () => { destroyed = true }
}
