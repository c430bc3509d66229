// A statement whose client gave up is stopped on the server too. The store's deadline (DATABASE_QUERY_TIMEOUT)
// answers the caller 503 and closes the connection; the server, told to check for a vanished client, then
// cancels the statement within CLIENT_GONE_CHECK_MS instead of running it to its end. Needs a real server
// (TEST_DATABASE_URL): the embedded engine has no connections, and the wire bridge cannot watch its clients.
import t from 'tap'
import { sql } from 'kysely'
import { DomainError } from '../../services/errors/domain-error.ts'
import { openStore } from '../../services/store/open-store.ts'
import { CLIENT_GONE_CHECK_MS } from '../../services/store/server-connections.ts'

const url = process.env.TEST_DATABASE_URL
const skip = url ? false : 'TEST_DATABASE_URL is not set: no real TimescaleDB server to test against'

t.test('a statement past the deadline is cancelled on the server', { skip }, async (t) => {
  const store = await openStore({ backend: 'server', databaseUrl: url!, poolSize: 2, queryTimeoutMs: 500 })
  t.teardown(() => store.close())
  const watcher = await openStore({ backend: 'server', databaseUrl: url!, poolSize: 1 })
  t.teardown(() => watcher.close())
  const marker = `client-gone-${crypto.randomUUID()}`
  const running = async () => (await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
    where query like ${`%${marker}%`} and pid <> pg_backend_pid()`.execute(watcher.db)).rows[0].n

  const err = await sql.raw(`select pg_sleep(60) /* ${marker} */`).execute(store.db).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof DomainError && err.kind === 'unavailable', `the caller is answered "unavailable" at the deadline (${(err as Error)?.message})`)
  const deadline = Date.now() + CLIENT_GONE_CHECK_MS * 3 + 2000
  let left = await running()
  while (left > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    left = await running()
  }
  t.equal(left, 0, `the server stopped the statement within ${CLIENT_GONE_CHECK_MS * 3 + 2000} ms of the deadline`)
  t.same((await sql<{ n: number }>`select 1::int as n`.execute(store.db)).rows, [{ n: 1 }], 'the store works on')
})
