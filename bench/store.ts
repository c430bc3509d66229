// npm run bench:store — the embedded store's write path against its own ceiling, and a 30-day range query
// through the resolution function against the same answer computed from raw rows.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { openStore, type Store } from '../services/store/open-store.ts'
import { prepareStore } from '../services/store/prepare-store.ts'
import { writeBatches } from '../services/ingest/write-batches.ts'
import { resolutionForRange } from '../services/query/resolution-for-range.ts'
import { readSeries } from '../services/query/read-series.ts'
import { parseSeriesTarget } from '../services/query/series-catalog.ts'
import type { IngestBatch } from '../contract/ingest-batch.ts'
import { fmt, loadMinuteData, say, seedFleet, timed } from './fleet-data.ts'
import { buildApp } from '../services/api/app.ts'
import { createAgent } from '../services/agents/agents-repository.ts'

const AGENTS = 20
const DAYS = 30
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Requests as agents send them: batches of 60 scalar metrics each, 100 batches per request. */
function makeRequests(count: number, startMs: number): IngestBatch[][] {
  const requests: IngestBatch[][] = []
  let ts = startMs
  for (let r = 0; r < count; r++) {
    const batches: IngestBatch[] = []
    for (let b = 0; b < 100; b++) {
      ts += 10_000
      batches.push({
        batch_id: crypto.randomUUID(), time: new Date(ts).toISOString(),
        metrics: Array.from({ length: 60 }, (_, i) => ({
          metric_type: i < 20 ? 'cpu' : 'memory', metric_name: `m${i}`, value: Math.random() * 100,
          tags: (i % 10 === 0 ? { core: String(i / 10) } : {}) as Record<string, string>,
        })),
      })
    }
    requests.push(batches)
  }
  return requests
}

async function benchIngest(store: Store, agent: { id: string; org_id: string }) {
  say('\n[1/2] ingest write path vs INSERT … SELECT generate_series (the engine\'s ceiling)')
  await writeBatches(store.db, agent, makeRequests(1, Date.now() - 3 * 86_400_000)[0]) // warm-up: chunks, plan caches
  // Alternating rounds, medians: one noisy second on a shared 2-core machine must not decide the figure.
  const ROUNDS = 5
  const PER_ROUND = 10
  const rows = PER_ROUND * 100 * 60
  const ingestRates: number[] = []
  const ceilingRates: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const requests = makeRequests(PER_ROUND, Date.now() - (2 + round / 10) * 86_400_000)
    const [, ingestMs] = await timed(async () => { for (const r of requests) await writeBatches(store.db, agent, r) })
    ingestRates.push(rows / (ingestMs / 1000))
    const [, ceilingMs] = await timed(() => sql`insert into metrics (time, org_id, agent_id, metric_type, metric_name, value, tags)
      select now() - interval '36 hours' + g * interval '10 ms', ${agent.org_id}::uuid, ${agent.id}::uuid, 'cpu', 'm' || (g % 60), random() * 100, '{}'::jsonb
      from generate_series(1, ${rows}) g`.execute(store.db))
    ceilingRates.push(rows / (ceilingMs / 1000))
    say(`  round ${round + 1}/${ROUNDS}: ingest ${fmt(ingestRates.at(-1)!)} rows/s, ceiling ${fmt(ceilingRates.at(-1)!)} rows/s`)
  }
  const ingestRate = median(ingestRates)
  const ceilingRate = median(ceilingRates)
  say(`  ingest path: median ${fmt(ingestRate)} rows/s (writeBatches: batch-id claim, unnest insert, agent update; one transaction per 6,000-row request)`)
  say(`  ceiling:     median ${fmt(ceilingRate)} rows/s (INSERT … SELECT generate_series, same row shape)`)
  const ratio = ingestRate / ceilingRate
  say(`  ratio: ${(ratio * 100).toFixed(1)} % of the ceiling (target ≥ 50 %) → ${ratio >= 0.5 ? 'MET' : 'MISSED'}`)

  // The same requests end to end: HTTP, JSON parsing, key lookup, schema validation, then the write path.
  const app = await buildApp({ store, jwtSecret: 'x'.repeat(32), accessTtlSeconds: 60, refreshTtlSeconds: 60 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { apiKey } = (await createAgent(store.db, agent.org_id, { name: 'bench-http' }))!
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/api/v1/ingest`
  const bodies = makeRequests(11, Date.now() - 86_400_000).map((r) => JSON.stringify(r))
  const post = (body: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': apiKey }, body })
  await post(bodies.shift()!)
  const [, httpMs] = await timed(async () => {
    for (const body of bodies) {
      const res = await post(body)
      if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${await res.text()}`)
    }
  })
  await app.close()
  const httpRate = (bodies.length * 100 * 60) / (httpMs / 1000)
  say(`  through HTTP (POST /api/v1/ingest, ${(bodies[0].length / 1024).toFixed(0)} KiB JSON per request): ${fmt(httpRate)} rows/s = ${(httpRate / ceilingRate * 100).toFixed(1)} % of the ceiling`)
  return { ingestRate, ceilingRate, ratio, httpRate }
}

async function benchRangeQuery(store: Store, agents: Array<{ id: string; org_id: string }>) {
  say(`\n[2/2] 30-day range query for one agent, ${AGENTS} agents × ${DAYS} days of one-minute data`)
  const end = new Date(Math.floor(Date.now() / 60_000) * 60_000)
  const start = new Date(end.getTime() - DAYS * 86_400_000)
  await loadMinuteData(store, agents, start, end)

  const agent = agents[0]
  const req = { orgId: agent.org_id, agentId: agent.id, target: parseSeriesTarget('cpu.usage_percent', {}), start, end }
  const chosen = resolutionForRange({ family: 'metrics', start, end })
  const raw = { ...chosen, source: 'metrics', nativeSeconds: 0, label: 'raw' }
  say(`  resolution chosen: ${chosen.label}, ${chosen.bucketSeconds} s buckets`)
  const RUNS = 15
  const viaResolution: number[] = []
  const viaRaw: number[] = []
  let a, b
  for (let i = 0; i < RUNS; i++) {
    let ms
    ;[a, ms] = await timed(() => readSeries(store.db, req, chosen)); viaResolution.push(ms)
    ;[b, ms] = await timed(() => readSeries(store.db, req, raw)); viaRaw.push(ms)
  }
  const sameAnswer = a!.timestamps.length === b!.timestamps.length
    && a!.timestamps.every((ts, i) => ts === b!.timestamps[i])
    && a!.values.every((v, i) => Math.abs(v - b!.values[i]) < 1e-9 * Math.max(1, Math.abs(v)))
  if (!sameAnswer) say(`  answers differ: ${a!.timestamps.length} vs ${b!.timestamps.length} buckets`)
  const rawRowsMs: number[] = []
  let rowsFetched = 0
  for (let i = 0; i < 5; i++) {
    const [n, ms] = await timed(async () => (await store.db.selectFrom('metrics').select(['time', 'value'])
      .where('agent_id', '=', agent.id).where('time', '>=', start).where('time', '<', end).execute()).length)
    rowsFetched = n
    rawRowsMs.push(ms)
  }
  const speedup = median(rawRowsMs) / median(viaResolution)
  const strictSpeedup = median(viaRaw) / median(viaResolution)
  say(`  through resolution (${chosen.label}):       median ${median(viaResolution).toFixed(1)} ms for ${a!.timestamps.length} points`)
  say(`  straight from raw rows (${fmt(rowsFetched)} rows): median ${median(rawRowsMs).toFixed(1)} ms`)
  say(`  speed-up vs raw rows: ${speedup.toFixed(1)}× (target ≥ 20×) → ${speedup >= 20 ? 'MET' : 'MISSED'}`)
  say(`  stricter reference, the same ${b!.timestamps.length} buckets computed in SQL over raw rows: median ${median(viaRaw).toFixed(1)} ms`
    + ` (identical answer: ${sameAnswer ? 'yes' : 'NO'}) → ${strictSpeedup.toFixed(1)}× (target ≥ 20×) → ${strictSpeedup >= 20 ? 'MET' : 'MISSED'}`)
  return { resolutionMs: median(viaResolution), rawRowsMs: median(rawRowsMs), rawSqlMs: median(viaRaw), speedup, strictSpeedup, sameAnswer }
}

const dir = await mkdtemp(join(tmpdir(), 'hostpulse-bench-'))
try {
  say(`hostpulse bench:store — embedded TimescaleDB (PGlite in a worker thread), data in ${dir}`)
  const store = await openStore({ backend: 'embedded', dataDir: join(dir, 'pg') })
  await prepareStore(store, { retention: { raw: '30d', minute: '90d', hour: '90d', day: '365d' } })
  const agents = await seedFleet(store, AGENTS)
  const ingest = await benchIngest(store, agents[AGENTS - 1])
  if (process.argv.includes('--ingest-only')) { await store.close(); process.exit(0) }
  const query = await benchRangeQuery(store, agents)
  await store.close()
  say(`\nsummary: ingest ${fmt(ingest.ingestRate)} rows/s = ${(ingest.ratio * 100).toFixed(1)} % of ceiling ${fmt(ingest.ceilingRate)} rows/s `
    + `(${fmt(ingest.httpRate)} rows/s through HTTP); `
    + `30-day query ${query.resolutionMs.toFixed(1)} ms vs ${query.rawRowsMs.toFixed(1)} ms raw rows = ${query.speedup.toFixed(1)}× `
    + `(vs ${query.rawSqlMs.toFixed(1)} ms for the same buckets in SQL over raw = ${query.strictSpeedup.toFixed(1)}×)`)
} finally {
  await rm(dir, { recursive: true, force: true })
}
