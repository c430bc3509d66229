// npx tsx bench/traffic.ts — traffic totals (issue 17 part 5) on the embedded backend: how long the job takes
// to materialize a day of an agent's counters, and p95 over HTTP of one agent's billing cycle (30 days of
// 10-second samples on 3 interfaces behind it), of the fleet's cycle totals for 100 agents, and the time of
// one quota rule's evaluation over those 100 agents. Reference: the 100 ms read target of the other reads.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { openStore } from '../services/store/open-store.ts'
import { prepareStore } from '../services/store/prepare-store.ts'
import { bootstrapAdmin } from '../services/auth/bootstrap-admin.ts'
import { observeRule } from '../services/alerting/rule-query.ts'
import { benchApi, fmt, percentile, progress, say, seedFleet, timed, timeGets } from './fleet-data.ts'

const DAYS = 30
const AGENTS = 100
const INTERFACES = ['eth0', 'eth1', 'lo']
const RUNS = 40
const TARGET_MS = 100
const PASSWORD = 'bench-password'
const QUARTER = 15 * 60_000

const dir = await mkdtemp(join(tmpdir(), 'hostpulse-bench-traffic-'))
try {
  say(`hostpulse traffic bench — ${AGENTS} agents, ${DAYS} days; agent bench-0 with raw 10 s samples on ${INTERFACES.length} interfaces, embedded TimescaleDB`)
  const store = await openStore({ backend: 'embedded', dataDir: join(dir, 'pg') })
  await prepareStore(store, { retention: { raw: '30d', minute: '90d', hour: '90d', day: '365d' } })
  const { orgId } = await bootstrapAdmin(store.db, 'admin', PASSWORD)
  const agents = await seedFleet(store, AGENTS, orgId)
  const now = Date.now()
  const end = new Date(Math.floor((now - 2 * 60_000) / QUARTER) * QUARTER)
  const start = new Date(end.getTime() - DAYS * 86_400_000)
  // Every cycle starts on tomorrow's day of the month: the cycle under way is nearly a whole month long.
  const cycleDay = new Date(now + 86_400_000).getUTCDate()
  await store.db.updateTable('agents').set({ traffic_cycle_day: cycleDay, traffic_quota_bytes: 5e12 }).execute()

  const tick = progress('raw samples of bench-0 (a day per step)', DAYS)
  const [, loadMs] = await timed(async () => {
    for (let d = 0; d < DAYS; d++) {
      await sql`insert into network_metrics (time, org_id, agent_id, interface, bytes_sent, bytes_recv, packets_sent, packets_recv,
          bytes_sent_per_sec, bytes_recv_per_sec)
        select ${start}::timestamptz + s * interval '10 seconds', ${agents[0].org_id}::uuid, ${agents[0].id}::uuid, i,
               s::int8 * 125000 * (1 + k), s::int8 * 250000 * (1 + k), s::int8 * 100, s::int8 * 200, 12500 * (1 + k), 25000 * (1 + k)
        from generate_series(${d * 8640}::int, ${(d + 1) * 8640 - 1}::int) s, unnest(${INTERFACES}::text[]) with ordinality as x(i, k)`.execute(store.db)
      tick(d + 1)
    }
  })
  const rawRows = DAYS * 8640 * INTERFACES.length
  say(`  wrote ${fmt(rawRows)} raw network rows in ${(loadMs / 1000).toFixed(1)} s`)

  // The job's work, a day at a time, as a first run after the upgrade would do it.
  const perDay: number[] = []
  for (let d = 0; d < DAYS; d++) {
    const from = new Date(start.getTime() + d * 86_400_000)
    const [, ms] = await timed(() => sql`select hostpulse_refresh_traffic(${from}::timestamptz, ${new Date(from.getTime() + 86_400_000)}::timestamptz, true)`.execute(store.db))
    perDay.push(ms)
  }
  say(`  materialized 30 days of bench-0: ${fmt(perDay.reduce((a, b) => a + b, 0))} ms, p50 ${percentile(perDay, 0.5).toFixed(0)} ms per agent-day `
    + `(${fmt(8640 * INTERFACES.length / (percentile(perDay, 0.5) / 1000))} raw rows/s)`)

  // The other 99 agents: their 15-minute and daily buckets as the job would have left them, and the last 10 minutes raw.
  const [, otherMs] = await timed(async () => {
    await sql`insert into network_traffic (bucket, org_id, agent_id, interface, received_bytes, sent_bytes)
      select ${start}::timestamptz + q * interval '15 minutes', a.org_id, a.id, i, 22500000::int8 * k, 11250000::int8 * k
      from agents a, generate_series(0, ${DAYS * 96 - 1}) q, unnest(${INTERFACES}::text[]) with ordinality as x(i, k)
      where a.name <> 'bench-0'`.execute(store.db)
    await sql`insert into network_traffic_daily (day, org_id, agent_id, interface, received_bytes, sent_bytes)
      select time_bucket('1 day', t.bucket), t.org_id, t.agent_id, t.interface, sum(t.received_bytes), sum(t.sent_bytes)
      from network_traffic t join agents a on a.id = t.agent_id where a.name <> 'bench-0' group by 1, 2, 3, 4`.execute(store.db)
    await sql`insert into network_metrics (time, org_id, agent_id, interface, bytes_sent, bytes_recv, packets_sent, packets_recv)
      select ${end}::timestamptz + s * interval '10 seconds', a.org_id, a.id, i, 1000000000000 + s::int8 * 125000 * k, 1000000000000 + s::int8 * 250000 * k, 0, 0
      from agents a, generate_series(0, 59) s, unnest(${INTERFACES}::text[]) with ordinality as x(i, k)
      where a.name <> 'bench-0' and ${end}::timestamptz + s * interval '10 seconds' < now()`.execute(store.db)
    await sql`analyze`.execute(store.db)
  })
  const { rows: [counts] } = await sql<{ buckets: number }>`select count(*)::int8 as buckets from network_traffic`.execute(store.db)
  say(`  network_traffic: ${fmt(Number(counts.buckets))} buckets (${AGENTS} agents × ${DAYS} days × 96 × ${INTERFACES.length}); others loaded in ${(otherMs / 1000).toFixed(1)} s`)

  const { app, base, token } = await benchApi(store, 'admin', PASSWORD)

  const cases: Array<{ name: string; path: string; size: (b: any) => string }> = [
    { name: 'one agent, this cycle', path: '/api/v1/agents/bench-0/traffic', size: (b) => `${b.days.length} days, ${b.interfaces.length} interfaces, ${b.quota?.used_percent} % of quota` },
    { name: 'one agent, previous cycle', path: '/api/v1/agents/bench-0/traffic?cycle=previous', size: (b) => `${b.days.length} days` },
    { name: `fleet, ${AGENTS} agents`, path: '/api/v1/traffic', size: (b) => `${b.agents.length} agents` },
  ]
  say(`\n  ${RUNS} requests each (after 3 warm-up), p50 / p95 over HTTP, reference: p95 ≤ ${TARGET_MS} ms:`)
  const summary: string[] = []
  for (const c of cases) {
    const { times, last } = await timeGets(base, token, c.path, RUNS)
    const p95 = percentile(times, 0.95)
    say(`  ${c.name.padEnd(28)} p50 ${percentile(times, 0.5).toFixed(1).padStart(6)} ms  p95 ${p95.toFixed(1).padStart(6)} ms  `
      + `(${(p95 / TARGET_MS).toFixed(2)}× reference)  [${c.size(last)}]`)
    summary.push(`${c.name} p95 ${p95.toFixed(1)} ms`)
  }
  const rule = { org_id: orgId, kind: 'traffic_quota' as const, metric: 'traffic.quota_used_percent', aggregation: 'avg' as const, window_seconds: 60, agents: [], labels: {}, tags: {} }
  const evals: number[] = []
  for (let i = 0; i < 13; i++) {
    const [observed, ms] = await timed(() => observeRule(store.db, rule, new Date()))
    if (i >= 3) evals.push(ms)
    if (i === 0) say(`  quota rule: ${observed.series.length} agents judged`)
  }
  say(`  quota rule over ${AGENTS} agents (one evaluation's query) p50 ${percentile(evals, 0.5).toFixed(1)} ms, max ${Math.max(...evals).toFixed(1)} ms`)
  summary.push(`quota rule over ${AGENTS} agents p50 ${percentile(evals, 0.5).toFixed(1)} ms`)
  say(`\nsummary: ${summary.join('; ')}`)
  await app.close()
  await store.close()
} finally {
  await rm(dir, { recursive: true, force: true })
}
