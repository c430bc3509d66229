// The embedded engine runs on its own thread: a long query must not stall the event loop that serves
// HTTP and WebSocket traffic.
import t from 'tap'
import { sql } from 'kysely'
import { embeddedBackend } from './backends.ts'

const backend = await embeddedBackend()
t.teardown(() => backend.dispose())

t.test('the event loop keeps ticking during a long query', async (t) => {
  const store = await backend.open()
  t.teardown(() => store.close())
  await store.ping()
  let worstLagMs = 0
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    worstLagMs = Math.max(worstLagMs, now - last - 10)
    last = now
  }, 10)
  const started = performance.now()
  // A CPU-bound query: PGlite computes it on its thread.
  const { rows: [{ n }] } = await sql<{ n: number }>`select count(*) as n from generate_series(1, 3000000) g where g % 7 = 0`.execute(store.db)
  const queryMs = performance.now() - started
  // The span since the last tick counts too: a loop blocked for the whole query never ticks during it, and the
  // code after the await runs before any timer could.
  worstLagMs = Math.max(worstLagMs, performance.now() - last - 10)
  clearInterval(timer)
  t.equal(n, 428571)
  t.ok(queryMs > 300, `the query took long enough to matter (${queryMs.toFixed(0)} ms)`)
  // On the calling thread the loop would stall for the whole query (a lag of about queryMs). A loaded machine
  // adds lag of its own, and slows the query with it: half the query's own time tells the two apart.
  t.ok(worstLagMs < queryMs / 2, `worst timer lag ${worstLagMs.toFixed(1)} ms while the ${queryMs.toFixed(0)} ms query ran (blocked would be about the whole query)`)
})

t.test('queries from many callers are serialized on the one session, none lost', async (t) => {
  const store = await backend.open()
  t.teardown(() => store.close())
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    store.db.transaction().execute(async (trx) => (await sql<{ v: number }>`select ${i}::int as v`.execute(trx)).rows[0].v)))
  t.same(results, Array.from({ length: 50 }, (_, i) => i))
})
