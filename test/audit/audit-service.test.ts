// The audit log called directly, no HTTP: entries written are read back newest first, paged by id, filtered
// by action; an organization sees only its own, the built-in one also the events of no organization.
import t from 'tap'
import { bootstrapAdmin } from '../../services/auth/bootstrap-admin.ts'
import { writeAudit } from '../../services/audit/audit-log.ts'
import { listAuditEntries } from '../../services/audit/audit-repository.ts'
import { ADMIN, openTestStore } from '../test-client.ts'

t.test('write, page, filter, keep organizations apart', async (t) => {
  const store = await openTestStore(t)
  const { orgId: builtin } = await bootstrapAdmin(store.db, ADMIN.username, ADMIN.password)
  const other = (await store.db.insertInto('organizations').values({ name: 'other' }).returning('id').executeTakeFirstOrThrow()).id
  for (let i = 0; i < 5; i++) await writeAudit(store.db, { orgId: builtin, action: i % 2 ? 'auth.login' : 'user.create', actor: { type: 'user', name: `u${i}` }, details: { i } })
  await writeAudit(store.db, { orgId: null, action: 'auth.login_failed', actor: { type: 'anonymous', name: 'nobody' } })
  await writeAudit(store.db, { orgId: other, action: 'auth.login', actor: { type: 'user', name: 'x' } })

  const first = await listAuditEntries(store.db, builtin, { limit: 4 })
  t.same(first.entries.map((e) => e.action), ['auth.login_failed', 'user.create', 'auth.login', 'user.create'], 'newest first, with the events of no organization')
  t.ok(first.nextBefore !== null, 'more to read')
  const second = await listAuditEntries(store.db, builtin, { limit: 4, before: first.nextBefore! })
  t.same(second.entries.map((e) => e.details), [{ i: 1 }, { i: 0 }], 'the rest')
  t.equal(second.nextBefore, null, 'last page')
  t.same((await listAuditEntries(store.db, builtin, { limit: 10, action: 'auth.login' })).entries.map((e) => e.details), [{ i: 3 }, { i: 1 }], 'by action')
  t.same((await listAuditEntries(store.db, other, { limit: 10 })).entries.map((e) => e.actor_name), ['x'], 'another organization sees only its own')
})
