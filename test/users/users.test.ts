// Users, roles, organizations and the audit log over real HTTP: admin-only CRUD inside one organization,
// the last admin kept, role changes effective at once, password change ending other sessions.
import t from 'tap'
import { ADMIN, assertError } from '../test-client.ts'
import { startClient, unique } from '../security/security-helpers.ts'

t.test('users, organizations, audit', async (t) => {
  const api = await startClient(t)
  const admin = (await api.req('GET', '/api/v1/users/me', { token: api.adminToken })).body

  t.test('admin creates, lists, reads, updates and deletes users; nothing shows a password hash', async (t) => {
    const created = await api.req('POST', '/api/v1/users', { token: api.adminToken, body: { username: 'carol', password: 'carol-password-1', role: 'viewer', email: 'carol@example.com' } })
    t.equal(created.status, 201)
    t.match(created.body, { username: 'carol', role: 'viewer', email: 'carol@example.com', display_name: null })
    t.notOk(/password/.test(created.text), 'no password or hash in the answer')
    const list = await api.req('GET', '/api/v1/users', { token: api.adminToken })
    t.equal(list.status, 200)
    t.same(list.body.users.map((u: { username: string }) => u.username).sort(), [ADMIN.username, 'carol'].sort())
    t.notOk(/password|scrypt/.test(list.text))
    t.equal((await api.req('GET', `/api/v1/users/${created.body.id}`, { token: api.adminToken })).body.username, 'carol')
    const dup = await api.req('POST', '/api/v1/users', { token: api.adminToken, body: { username: 'carol', password: 'another-password', role: 'viewer' } })
    assertError(t, dup, 409, 'CONFLICT', 'duplicate username:')
    const upper = await api.req('POST', '/api/v1/users', { token: api.adminToken, body: { username: 'CAROL', password: 'another-password', role: 'viewer' } })
    assertError(t, upper, 409, 'CONFLICT', 'same username in other case:')
    const weak = await api.req('POST', '/api/v1/users', { token: api.adminToken, body: { username: 'dave', password: 'short', role: 'viewer' } })
    assertError(t, weak, 400, 'VALIDATION_ERROR', 'short password:')
    t.ok(weak.body.details.password)
    const badRole = await api.req('POST', '/api/v1/users', { token: api.adminToken, body: { username: 'dave', password: 'long-enough-1', role: 'root' } })
    assertError(t, badRole, 400, 'VALIDATION_ERROR', 'unknown role:')

    const carol = await api.login('carol', 'carol-password-1')
    const renamed = await api.req('PUT', `/api/v1/users/${created.body.id}`, { token: api.adminToken, body: { role: 'editor', display_name: 'Carol C.' } })
    t.equal(renamed.status, 200)
    t.match(renamed.body, { role: 'editor', display_name: 'Carol C.' })
    const me = await api.req('GET', '/api/v1/auth/me', { token: carol.token })
    t.equal(me.body.role, 'editor', 'the new role applies to a token issued before the change')

    const reset = await api.req('PUT', `/api/v1/users/${created.body.id}`, { token: api.adminToken, body: { password: 'carol-new-password' } })
    t.equal(reset.status, 200)
    assertError(t, await api.req('GET', '/api/v1/auth/me', { token: carol.token }), 401, 'UNAUTHORIZED', 'a reset password ends the sessions:')
    assertError(t, await api.req('POST', '/api/v1/auth/refresh', { body: { refresh_token: carol.refresh_token } }), 401, 'UNAUTHORIZED', 'refresh too:')
    const again = await api.login('carol', 'carol-new-password')

    const del = await api.req('DELETE', `/api/v1/users/${created.body.id}`, { token: api.adminToken })
    t.equal(del.status, 204)
    assertError(t, await api.req('GET', '/api/v1/auth/me', { token: again.token }), 401, 'UNAUTHORIZED', 'a deleted user is logged out:')
    assertError(t, await api.req('GET', `/api/v1/users/${created.body.id}`, { token: api.adminToken }), 404, 'NOT_FOUND')
    assertError(t, await api.req('DELETE', `/api/v1/users/${created.body.id}`, { token: api.adminToken }), 404, 'NOT_FOUND')
    assertError(t, await api.req('GET', '/api/v1/users/not-a-uuid', { token: api.adminToken }), 404, 'NOT_FOUND')
  })

  t.test('editors and viewers may not manage users (403), but see and edit their own profile', async (t) => {
    const editor = await api.user('editor')
    const viewer = await api.user('viewer')
    for (const who of [editor, viewer]) {
      assertError(t, await api.req('GET', '/api/v1/users', { token: who.token }), 403, 'FORBIDDEN')
      assertError(t, await api.req('POST', '/api/v1/users', { token: who.token, body: { username: unique('x'), password: 'long-enough-1', role: 'admin' } }), 403, 'FORBIDDEN')
      assertError(t, await api.req('PUT', `/api/v1/users/${who.id}`, { token: who.token, body: { role: 'admin' } }), 403, 'FORBIDDEN', 'self-promotion:')
      assertError(t, await api.req('DELETE', `/api/v1/users/${admin.id}`, { token: who.token }), 403, 'FORBIDDEN')
      const me = await api.req('GET', '/api/v1/users/me', { token: who.token })
      t.equal(me.body.id, who.id)
      const put = await api.req('PUT', '/api/v1/users/me', { token: who.token, body: { display_name: `Name of ${who.username}`, email: null } })
      t.equal(put.status, 200)
      t.equal(put.body.display_name, `Name of ${who.username}`)
      assertError(t, await api.req('PUT', '/api/v1/users/me', { token: who.token, body: { role: 'admin' } }), 400, 'VALIDATION_ERROR', 'no role in the profile:')
    }
    const roles = await api.store.db.selectFrom('users').select('role').where('id', 'in', [editor.id, viewer.id]).orderBy('role').execute()
    t.same(roles.map((r) => r.role), ['editor', 'viewer'], 'nobody promoted themselves')
  })

  t.test('password change: current password required; other sessions end, this one stays', async (t) => {
    const u = await api.user('viewer')
    const other = await api.login(u.username, u.password)
    const wrong = await api.req('POST', '/api/v1/users/me/password', { token: u.token, body: { current_password: 'nope', new_password: 'brand-new-password' } })
    assertError(t, wrong, 400, 'VALIDATION_ERROR', 'wrong current password:')
    t.ok(wrong.body.details.current_password)
    t.equal((await api.req('GET', '/api/v1/auth/me', { token: other.token })).status, 200, 'a failed change ends nothing')
    const ok = await api.req('POST', '/api/v1/users/me/password', { token: u.token, body: { current_password: u.password, new_password: 'brand-new-password' } })
    t.equal(ok.status, 204)
    t.equal((await api.req('GET', '/api/v1/auth/me', { token: u.token })).status, 200, 'the session that changed it goes on')
    assertError(t, await api.req('GET', '/api/v1/auth/me', { token: other.token }), 401, 'UNAUTHORIZED', 'the other session ended:')
    assertError(t, await api.req('POST', '/api/v1/auth/refresh', { body: { refresh_token: other.refresh_token } }), 401, 'UNAUTHORIZED', "and its refresh token:")
    assertError(t, await api.req('POST', '/api/v1/auth/login', { body: { username: u.username, password: u.password } }), 401, 'UNAUTHORIZED', 'old password:')
    t.equal((await api.req('POST', '/api/v1/auth/login', { body: { username: u.username, password: 'brand-new-password' } })).status, 200)
  })

  t.test('the last admin can be neither demoted nor deleted (409); with a second admin both work', async (t) => {
    assertError(t, await api.req('PUT', `/api/v1/users/${admin.id}`, { token: api.adminToken, body: { role: 'editor' } }), 409, 'CONFLICT', 'demote last admin:')
    assertError(t, await api.req('DELETE', `/api/v1/users/${admin.id}`, { token: api.adminToken }), 409, 'CONFLICT', 'delete last admin:')
    t.equal((await api.req('GET', '/api/v1/auth/me', { token: api.adminToken })).body.role, 'admin')
    const second = await api.user('admin')
    const demote = await api.req('PUT', `/api/v1/users/${second.id}`, { token: api.adminToken, body: { role: 'viewer' } })
    t.equal(demote.status, 200)
    assertError(t, await api.req('GET', '/api/v1/users', { token: second.token }), 403, 'FORBIDDEN', 'a demoted admin loses admin routes at once:')
    t.equal((await api.req('DELETE', `/api/v1/users/${second.id}`, { token: api.adminToken })).status, 204)
  })

  t.test('organizations: built-in admins create them with a first admin; foreign ids are 404; others get 403', async (t) => {
    const name = unique('Acme')
    const res = await api.req('POST', '/api/v1/organizations', { token: api.adminToken, body: { name, admin: { username: unique('acme-admin'), password: 'acme-password-1' } } })
    t.equal(res.status, 201)
    t.match(res.body, { name, admin: { role: 'admin' } })
    t.notOk(/password/.test(res.text))
    const dup = await api.req('POST', '/api/v1/organizations', { token: api.adminToken, body: { name, admin: { username: unique('x'), password: 'acme-password-1' } } })
    assertError(t, dup, 409, 'CONFLICT', 'duplicate name:')
    const acme = await api.login(res.body.admin.username, 'acme-password-1')
    const mine = await api.req('GET', '/api/v1/organizations', { token: acme.token })
    t.same(mine.body.organizations.map((o: { name: string }) => o.name), [name], 'an admin of another organization sees only their own')
    const all = await api.req('GET', '/api/v1/organizations', { token: api.adminToken })
    t.ok(all.body.organizations.some((o: { name: string }) => o.name === name) && all.body.organizations.some((o: { name: string }) => o.name === 'default'))
    assertError(t, await api.req('POST', '/api/v1/organizations', { token: acme.token, body: { name: unique('Evil'), admin: { username: unique('e'), password: 'evil-password-1' } } }), 403, 'FORBIDDEN')
    const editor = await api.user('editor')
    assertError(t, await api.req('GET', '/api/v1/organizations', { token: editor.token }), 403, 'FORBIDDEN')
    // Users of one organization are invisible to the other.
    const acmeUsers = await api.req('GET', '/api/v1/users', { token: acme.token })
    t.same(acmeUsers.body.users.map((u: { username: string }) => u.username), [res.body.admin.username])
    assertError(t, await api.req('GET', `/api/v1/users/${admin.id}`, { token: acme.token }), 404, 'NOT_FOUND', 'foreign user read:')
    assertError(t, await api.req('PUT', `/api/v1/users/${admin.id}`, { token: acme.token, body: { role: 'viewer', password: 'hijacked-password' } }), 404, 'NOT_FOUND', 'foreign user update:')
    assertError(t, await api.req('DELETE', `/api/v1/users/${admin.id}`, { token: acme.token }), 404, 'NOT_FOUND', 'foreign user delete:')
    t.equal((await api.req('POST', '/api/v1/auth/login', { body: ADMIN })).status, 200, 'the built-in admin still logs in with the same password')
    assertError(t, await api.req('PUT', `/api/v1/users/${res.body.admin.id}`, { token: acme.token, body: { role: 'viewer' } }), 409, 'CONFLICT', "the new organization's only admin:")
  })

  t.test('audit log: admins only, own organization, paged, and never a secret', async (t) => {
    const fail = await api.req('POST', '/api/v1/auth/login', { body: { username: ADMIN.username, password: 'guess-Secret-123' } })
    t.equal(fail.status, 401)
    const first = await api.req('GET', '/api/v1/audit?limit=5', { token: api.adminToken })
    t.equal(first.status, 200)
    t.equal(first.body.entries.length, 5)
    t.type(first.body.next_before, 'number')
    const second = await api.req('GET', `/api/v1/audit?limit=5&before=${first.body.next_before}`, { token: api.adminToken })
    t.ok(second.body.entries.every((e: { id: number }) => e.id < first.body.next_before), 'the next page is older')
    for (const before of ['9223372036854775808', '1e21', '99999999999999999999', '0', 'x']) {
      assertError(t, await api.req('GET', `/api/v1/audit?before=${before}`, { token: api.adminToken }), 400, 'VALIDATION_ERROR', `before=${before}:`)
    }
    const all = await api.req('GET', '/api/v1/audit?limit=1000', { token: api.adminToken })
    const actions = new Set(all.body.entries.map((e: { action: string }) => e.action))
    for (const a of ['auth.login', 'auth.login_failed', 'user.create', 'user.role_change', 'user.password_reset', 'user.password_change', 'user.delete', 'organization.create']) {
      t.ok(actions.has(a), `${a} is logged`)
    }
    const failed = all.body.entries.find((e: { action: string; target_id: string }) => e.action === 'auth.login_failed' && e.target_id === admin.id)
    t.match(failed, { actor_name: ADMIN.username, ip: '127.0.0.1' })
    const text = JSON.stringify((await api.store.db.selectFrom('audit_log').selectAll().execute()))
    for (const secret of ['guess-Secret-123', ADMIN.password, 'carol-password-1', 'carol-new-password', 'brand-new-password', 'acme-password-1', 'scrypt$']) {
      t.notOk(text.includes(secret), `no "${secret}" in the audit table`)
    }
    const filtered = await api.req('GET', '/api/v1/audit?action=user.delete', { token: api.adminToken })
    t.ok(filtered.body.entries.length > 0 && filtered.body.entries.every((e: { action: string }) => e.action === 'user.delete'))
    const editor = await api.user('editor')
    assertError(t, await api.req('GET', '/api/v1/audit', { token: editor.token }), 403, 'FORBIDDEN')
    const orgs = await api.req('GET', '/api/v1/organizations', { token: api.adminToken })
    const acme = orgs.body.organizations.find((o: { name: string }) => o.name !== 'default')
    const acmeAdmin = await api.store.db.selectFrom('users').select('username').where('org_id', '=', acme.id).executeTakeFirstOrThrow()
    const acmeToken = (await api.login(acmeAdmin.username, 'acme-password-1')).token
    const acmeLog = await api.req('GET', '/api/v1/audit?limit=1000', { token: acmeToken })
    t.ok(acmeLog.body.entries.length > 0)
    t.notOk(acmeLog.text.includes(admin.id) || acmeLog.text.includes(`"${ADMIN.username}"`), "another organization's log names nothing of the built-in one")
  })
})
