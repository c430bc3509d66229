// Organizations called directly, no HTTP: the built-in organization's admins create and see them all,
// any other organization sees only itself and may create none; names and admin usernames are unique.
import t from 'tap'
import { bootstrapAdmin } from '../../services/auth/bootstrap-admin.ts'
import { createOrganization, listOrganizations } from '../../services/organizations/organizations-repository.ts'
import { DomainError } from '../../services/errors/domain-error.ts'
import { ADMIN, openTestStore } from '../test-client.ts'

const kindOf = async (p: Promise<unknown>) => p.then(() => 'ok', (err) => (err instanceof DomainError ? err.kind : String(err)))

t.test('create, list, refuse', async (t) => {
  const store = await openTestStore(t)
  const { orgId: builtin } = await bootstrapAdmin(store.db, ADMIN.username, ADMIN.password)
  const acme = await createOrganization(store.db, builtin, 'acme', { username: 'acme-admin', password: 'acme-password-1' })
  t.equal(acme.admin.role, 'admin')
  t.equal(acme.org.name, 'acme')
  t.same((await listOrganizations(store.db, builtin)).map((o) => o.name).sort(), ['acme', 'default'].sort(), 'the built-in organization sees all')
  t.same((await listOrganizations(store.db, acme.org.id)).map((o) => o.name), ['acme'], 'another sees itself')
  t.equal(await kindOf(createOrganization(store.db, acme.org.id, 'beta', { username: 'b', password: 'beta-password-1' })), 'forbidden')
  t.equal(await kindOf(createOrganization(store.db, builtin, 'acme', { username: 'other', password: 'other-password-1' })), 'conflict', 'name taken')
  t.equal(await kindOf(createOrganization(store.db, builtin, 'gamma', { username: 'acme-admin', password: 'gamma-password-1' })), 'conflict', 'username taken')
  t.same((await listOrganizations(store.db, builtin)).map((o) => o.name).sort(), ['acme', 'default'].sort(), 'a refused create changed nothing')
})
