// Outage drill (issue 15 part 3), server mode (bench/outage-drill.ts): the database unreachable for 20 s
// while 5 simulated agents write, once with its connections reset and once gone silent (nothing answers,
// nothing closes). Meanwhile every probe (ingest, a read, /ready) answers 503 with Retry-After
// in the error format, never a 500 and never a hang; the agents buffer; no alert resolves or opens again on
// the missing data, and agent.offline waits for the agents' replay once the database is back. At the end
// every batch generated is stored exactly once. Needs TEST_DATABASE_URL (a TimescaleDB server): CI has none,
// so there it is skipped with that reason; test/store/database-unavailable.test.ts covers the connection
// losses in CI, and BENCHMARKS.md has the local runs of this drill and of its 60-second version.
import t from 'tap'
import { runOutageDrill, type Probe } from '../../bench/outage-drill.ts'

const SERVER = process.env.TEST_DATABASE_URL
const AGENTS = 5

/** The silent drill's statement deadline and connect timeout: small, so 20 s hold many probes (the defaults are 30 s and 10 s). */
const SILENT_DEADLINE_MS = 1000

for (const partition of ['reset', 'silent'] as const) {
  const name = partition === 'reset' ? 'the database unreachable under load' : 'the database gone silent (no reset) under load'
  t.test(name, { skip: SERVER ? false : 'TEST_DATABASE_URL is not set: this drill needs a TimescaleDB server (none in CI)' }, async (t) => {
    const silent = partition === 'silent'
    const r = await runOutageDrill({
      serverUrl: SERVER!, agents: AGENTS, intervalMs: 1000, outageMs: 20_000, graceMs: 10_000, progress: (line) => t.comment(line),
      partition, ...silent ? { queryTimeoutMs: SILENT_DEADLINE_MS, connectTimeoutMs: SILENT_DEADLINE_MS } : {},
    })
    // Reset: a refused connection answers at once, a pool slot is waited for at most the 10 s connect timeout.
    // Silent: a pool slot or a new connection (1 s), then a statement that never answers (1 s).
    const boundMs = silent ? 2 * SILENT_DEADLINE_MS + 2000 : 12_000
    t.same(r.firingBefore, { firing: AGENTS }, 'before the outage: the threshold rule fires for every agent')
    t.same(r.faults, [], 'every 503 carries Retry-After and the error format')
    for (const name of Object.keys(r.statuses) as Probe[]) {
      const codes = r.statuses[name].slice(2) // the pool notices the cut on its first tries
      t.ok(codes.length > 5 && codes.every((c) => c === 503), `${name}: 503 throughout the outage (${[...new Set(r.statuses[name])].join(', ')}; ${r.statuses[name].length} probes)`)
      t.notOk(r.statuses[name].includes(500), `${name}: never a 500`)
      t.ok(r.slowestMs[name] < boundMs, `${name}: answered within ${boundMs} ms, never hung (slowest ${Math.round(r.slowestMs[name])} ms)`)
    }
    t.ok(r.maxBuffering > 0, `the agents buffered (at most ${r.maxBuffering} of ${AGENTS} at once)`)
    t.same(r.firingAtReturn, { firing: AGENTS }, 'nothing resolved on the missing data')
    t.ok(r.readyAfterMs >= 0, `/ready is 200 again (${(r.readyAfterMs / 1000).toFixed(1)} s after the database came back)`)
    t.ok(r.drained, `the agents delivered what they buffered (${(r.caughtUpAfterMs / 1000).toFixed(1)} s after the return)`)
    t.same(r.firingAfter, { firing: AGENTS }, 'after the outage: the same alerts fire, none resolved and none opened twice')
    t.same(r.offlineEvents, [], 'agent.offline never fired: absence is judged only after the agents replayed')
    t.equal(r.setAside, 0, 'no batch refused')
    t.equal(r.leftBuffered, 0, 'nothing left in the agents\' buffers at the end')
    t.equal(r.account.lost, 0, `no batch lost (${r.account.stored} of ${r.account.generated} stored)`)
    t.equal(r.account.duplicatedRows, 0, `no row stored twice (${r.account.metricRows} metric rows)`)
  })
}
