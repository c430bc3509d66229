// The server backend when its database cannot be reached (runs in CI: `pg` over the wire bridge to an
// in-process PGlite, through a proxy the test cuts): a refused connection and a connection lost inside a
// transaction both surface as the `unavailable` domain error (503 with Retry-After on every face), the
// process survives a connection dying between two statements, and the store works again once the database
// is back. The whole drill against a real TimescaleDB server is test/drills/database-outage.test.ts.
import t from 'tap'
import { sql } from 'kysely'
import { DomainError } from '../../services/errors/domain-error.ts'
import { openStore } from '../../services/store/open-store.ts'
import { isDatabaseUnavailable } from '../../services/store/database-unavailable.ts'
import { toErrorBody } from '../../services/http/errors.ts'
import { TcpProxy } from '../../bench/tcp-proxy.ts'
import { bridgedServerBackend } from './backends.ts'

t.test('a lost or refused database connection is "unavailable", never a crash', async (t) => {
  const bridge = await bridgedServerBackend()
  t.teardown(() => bridge.dispose())
  // The bridge's own URL, and a proxy in front of it.
  const probe = await bridge.open()
  const bridgeUrl = new URL((probe as unknown as { location: string }).location)
  await probe.close()
  const proxy = new TcpProxy('127.0.0.1', Number(bridgeUrl.port))
  await proxy.start()
  t.teardown(() => proxy.close())
  const url = new URL(bridgeUrl)
  url.port = String(proxy.port)
  const store = await openStore({ backend: 'server', databaseUrl: url.toString(), poolSize: 1 })
  t.teardown(() => store.close().catch(() => {}))
  t.same((await sql<{ n: number }>`select 1::int as n`.execute(store.db)).rows, [{ n: 1 }], 'reachable through the proxy')

  // Cut between two statements of a transaction: the next statement fails; the process lives on.
  const inTransaction = store.db.transaction().execute(async (trx) => {
    await sql`select 1`.execute(trx)
    await proxy.cut()
    await new Promise((resolve) => setTimeout(resolve, 200))
    await sql`select 2`.execute(trx)
  })
  const lost = await inTransaction.then(() => undefined, (err: unknown) => err)
  t.ok(lost instanceof DomainError && lost.kind === 'unavailable', `a connection lost inside a transaction is unavailable (${(lost as Error)?.message})`)

  // Refused while the proxy is down.
  const refused = await sql`select 1`.execute(store.db).then(() => undefined, (err: unknown) => err)
  t.ok(refused instanceof DomainError && refused.kind === 'unavailable', `a refused connection is unavailable (${(refused as Error)?.message})`)
  t.ok(isDatabaseUnavailable(refused), 'and is recognised as such')
  const body = toErrorBody(refused as Error)
  t.match(body, { error: 'SERVICE_UNAVAILABLE', code: 503, details: { retry_after: Number } }, 'the native face answers 503 with retry_after')
  const pingError = await store.ping().then(() => undefined, (err: unknown) => err)
  t.ok(isDatabaseUnavailable(pingError), '/ready\'s ping fails as unavailable')

  // A statement that fails on its own is not "unavailable".
  await proxy.restore()
  let back = false
  for (let i = 0; i < 20 && !back; i++) {
    back = await sql`select 1`.execute(store.db).then(() => true, () => false)
    if (!back) await new Promise((resolve) => setTimeout(resolve, 250))
  }
  t.ok(back, 'the store works again once the database is back')
  const bad = await sql`select * from no_such_table`.execute(store.db).then(() => undefined, (err: unknown) => err)
  t.notOk(isDatabaseUnavailable(bad), `a statement's own error stays what it is (${(bad as Error)?.message})`)
  t.equal(toErrorBody(bad as Error).code, 500, 'and is not dressed up as 503')
})
