// Container reads (services/query/container-reads.ts) on containers ingested through POST /api/v1/ingest
// into the real embedded store: the registry's ids and newest values, series equal to the means of the
// samples sent (raw rows and the hourly aggregate alike), totals, scoping by agent and organization,
// agent deletion, the migration's backfill, and ids that survive reopening the store.
import t, { type Test } from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { ContainerItem, IngestBatch } from '../../contract/ingest-batch.ts'
import { containerAggregate, containerSeries, findContainer, listContainers } from '../../services/query/container-reads.ts'
import { resolutionForRange } from '../../services/query/resolution-for-range.ts'
import { SQL_DIR } from '../../services/store/migrations.ts'
import { openStore, type Store } from '../../services/store/open-store.ts'
import { prepareStore } from '../../services/store/prepare-store.ts'
import { clientOn, createOrgWithAdmin, listenApp, RETENTION, startClient } from '../test-client.ts'

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const MIB = 1024 * 1024
/** time_bucket's origin for sub-month widths (Monday 2000-01-03 UTC). */
const ORIGIN = Date.UTC(2000, 0, 3)
const NOW = Math.floor(Date.now() / MIN) * MIN

// Runtime ids: WEB and SIDECAR share their first 12 characters (Docker's short id), so 12 are ambiguous there.
const WEB = 'a1b2c3d4e5f6' + '0'.repeat(52)
const SIDECAR = 'a1b2c3d4e5f6' + 'f'.repeat(52)
const DB = 'b0' + '1'.repeat(62)
const JOB = 'c0' + '2'.repeat(62)

interface Sample { owner: string; container: string; time: number; cpu: number; memory: number; memPct: number; rx: number; tx: number; state: string; name: string; image: string }
const sent: Sample[] = []

/** `owner`'s sample of a container at `ms`: values derived from the time, so every mean is known. */
function sample(container: string, ms: number, name: string, image: string, state = 'running', idle = false, owner = 'docker-host'): ContainerItem {
  const k = ms / MIN
  const seed = container.charCodeAt(0) + container.charCodeAt(63)
  const cpu = idle ? 0 : ((k * 7 + seed) % 97) + 0.25
  const memory = 50 * MIB + ((k * 131 + seed) % 1000) * 4096
  const memPct = ((k * 3 + seed) % 50) + 0.5
  const rx = Math.round(ms / 1000) * 10 + seed
  const tx = Math.round(ms / 1000) * 3 + seed
  sent.push({ owner, container, time: ms, cpu, memory, memPct, rx, tx, state, name, image })
  return { id: container, name, image, state, cpu_percent: cpu, memory_bytes: memory, memory_limit_bytes: 512 * MIB, memory_percent: memPct, rx_bytes: rx, tx_bytes: tx }
}

function batchAt(ms: number, containers: ContainerItem[]): IngestBatch {
  return { batch_id: randomUUID(), time: new Date(ms).toISOString(), containers }
}

/** The last hour, one batch a minute: WEB, DB and JOB throughout (JOB exited 20 minutes ago), SIDECAR for the first 10 minutes only. */
function recentBatch(k: number): IngestBatch {
  const ms = NOW - k * MIN
  return batchAt(ms, [
    sample(WEB, ms, 'nginx-proxy', 'nginx:latest'),
    sample(DB, ms, 'postgres', 'postgres:16'),
    k > 20 ? sample(JOB, ms, 'nightly-job', 'busybox:1') : sample(JOB, ms, 'nightly-job', 'busybox:1', 'exited', true),
    ...(k > 50 ? [sample(SIDECAR, ms, 'sidecar', 'envoy:1')] : []),
  ])
}

const bucketOf = (ms: number, step: number) => ORIGIN + Math.floor((ms - ORIGIN) / (step * 1000)) * step * 1000
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length

/** Per bucket of `step` seconds over [bucket(start), end): each container's mean of `pick`, as time_bucket groups. */
function expectedBuckets(containers: string[], start: number, end: number, step: number, pick: (s: Sample) => number): Map<number, Map<string, number>> {
  const from = bucketOf(start, step)
  const groups = new Map<number, Map<string, number[]>>()
  for (const s of sent) {
    if (s.owner !== 'docker-host' || !containers.includes(s.container) || s.time < from || s.time >= end) continue
    const b = bucketOf(s.time, step)
    if (!groups.has(b)) groups.set(b, new Map())
    const g = groups.get(b)!
    if (!g.has(s.container)) g.set(s.container, [])
    g.get(s.container)!.push(pick(s))
  }
  return new Map([...groups].sort((a, b) => a[0] - b[0]).map(([b, g]) => [b, new Map([...g].map(([c, xs]) => [c, mean(xs)]))]))
}

function close(t: Test, actual: Array<number | null>, expected: number[], what: string) {
  t.equal(actual.length, expected.length, `${what}: ${expected.length} points`)
  const bad = expected.findIndex((e, i) => actual[i] === null || Math.abs((actual[i] as number) - e) > 1e-9 * Math.max(1, Math.abs(e)))
  t.equal(bad, -1, bad === -1 ? `${what}: every point equals the mean of its samples` : `${what}: point ${bad} is ${actual[bad]}, expected ${expected[bad]}`)
}

const FIELDS: Array<[keyof Awaited<ReturnType<typeof containerSeries>>, (s: Sample) => number]> = [
  ['cpu_percent', (s) => s.cpu], ['memory_percent', (s) => s.memPct], ['memory_usage_mb', (s) => s.memory / MIB],
  ['network_rx_bytes', (s) => s.rx], ['network_tx_bytes', (s) => s.tx],
]

t.test('container reads', async (t) => {
  const api = await startClient(t)
  const db = api.store.db
  const agent = await api.createAgent('docker-host')
  const other = await api.createAgent('other-host')

  // The first batch alone, then the rest of the hour, then two days a week ago replayed (older names).
  await api.ingestOk(agent.api_key, recentBatch(60))
  const first = await listContainers(db, api.orgId, agent.id)
  await api.ingestOk(agent.api_key, Array.from({ length: 59 }, (_, i) => recentBatch(59 - i)))
  const old: IngestBatch[] = []
  for (let ms = NOW - 9 * DAY; ms < NOW - 7 * DAY; ms += 10 * MIN) {
    old.push(batchAt(ms, [sample(WEB, ms, 'nginx-old', 'nginx:1.25'), sample(DB, ms, 'postgres', 'postgres:15')]))
  }
  await api.ingestOk(agent.api_key, old)
  await api.ingestOk(other.api_key, batchAt(NOW - 5 * MIN, [sample(WEB, NOW - 5 * MIN, 'other-web', 'httpd:2', 'running', false, 'other-host')]))

  t.test('the registry: one stable id per container, newest name, image, state and sample', async (t) => {
    t.equal(first.length, 4, 'four containers registered by the first batch')
    const list = await listContainers(db, api.orgId, agent.id)
    t.same(list.map((c) => [c.id, c.container_id]), first.map((c) => [c.id, c.container_id]), 'the same ids after 347 more batches')
    t.equal(new Set(list.map((c) => c.id)).size, 4, 'distinct ids')
    const web = list.find((c) => c.container_id === WEB)!
    const newest = sent.find((s) => s.owner === 'docker-host' && s.container === WEB && s.time === NOW - MIN)!
    t.match(web, {
      name: 'nginx-proxy', image: 'nginx:latest', status: 'running',
      cpu_percent: newest.cpu, memory_percent: newest.memPct, memory_usage_mb: newest.memory / MIB,
      network_rx_bytes: newest.rx, network_tx_bytes: newest.tx,
    }, 'a replayed older batch changes neither name nor image')
    t.equal(web.created_at.getTime(), NOW - 9 * DAY, 'created_at: the first sample, from the replay')
    t.equal(web.updated_at.getTime(), NOW - MIN, 'updated_at: the newest sample')
    t.equal(list.find((c) => c.container_id === JOB)!.status, 'exited')
    t.equal(list.find((c) => c.container_id === SIDECAR)!.updated_at.getTime(), NOW - 51 * MIN)

    const theirs = await listContainers(db, api.orgId, other.id)
    t.equal(theirs.length, 1, 'the other agent has its own registry row for the same runtime id')
    t.not(theirs[0].id, web.id)

    // A new container takes the next id: updating known containers on every batch drew no identity values.
    const { rows: [{ max }] } = await sql<{ max: number }>`select max(id)::int as max from containers`.execute(db)
    await api.ingestOk(agent.api_key, batchAt(NOW - 30 * 1000, [sample(WEB, NOW - 30 * 1000, 'nginx-proxy', 'nginx:latest'), sample('d0' + '3'.repeat(62), NOW - 30 * 1000, 'cache', 'redis:7')]))
    const added = (await listContainers(db, api.orgId, agent.id)).find((c) => c.name === 'cache')!
    t.equal(added.id, max + 1, 'no gaps in the ids')
    // Leave the sample list as the store has it for the series below.
  })

  t.test('findContainer: integer id, runtime id or a unique prefix, this agent only', async (t) => {
    const list = await listContainers(db, api.orgId, agent.id)
    const web = list.find((c) => c.container_id === WEB)!
    t.equal((await findContainer(db, api.orgId, agent.id, String(web.id)))?.container_id, WEB, 'by integer id')
    t.equal((await findContainer(db, api.orgId, agent.id, WEB))?.id, web.id, 'by runtime id')
    t.equal((await findContainer(db, api.orgId, agent.id, DB.slice(0, 12)))?.name, 'postgres', 'by a 12-character prefix')
    t.equal(await findContainer(db, api.orgId, agent.id, WEB.slice(0, 12)), undefined, 'an ambiguous prefix finds nothing')
    t.equal((await findContainer(db, api.orgId, agent.id, WEB.slice(0, 16)))?.id, web.id, 'a longer prefix is unique')
    t.equal(await findContainer(db, api.orgId, agent.id, DB.slice(0, 8)), undefined, 'prefixes shorter than 12 are not ids')
    t.equal(await findContainer(db, api.orgId, agent.id, '999999'), undefined)
    t.equal(await findContainer(db, api.orgId, agent.id, 'nope'), undefined)

    const theirs = (await listContainers(db, api.orgId, other.id))[0]
    t.equal(await findContainer(db, api.orgId, agent.id, String(theirs.id)), undefined, "another agent's container is not this agent's")
    t.equal((await findContainer(db, api.orgId, other.id, WEB))?.id, theirs.id, 'the same runtime id names the other agent its own')

    const org2 = await createOrgWithAdmin(api.store, 'second-org', 'admin2', 'admin2-password-1')
    const token2 = (await api.login('admin2', 'admin2-password-1')).token
    const foreign = await api.createAgent('foreign-host', token2)
    await api.ingestOk(foreign.api_key, batchAt(NOW - 2 * MIN, [sample(WEB, NOW - 2 * MIN, 'foreign-web', 'nginx:latest', 'running', false, 'foreign-host')]))
    const [theirsToo] = await listContainers(db, org2, foreign.id)
    t.equal(theirsToo?.name, 'foreign-web')
    t.equal(await findContainer(db, api.orgId, agent.id, String(theirsToo.id)), undefined, "another organization's container is not found")
    t.equal(await findContainer(db, api.orgId, foreign.id, WEB), undefined, "nor through another organization's agent")
    t.same(await listContainers(db, api.orgId, foreign.id), [], 'nor listed')
  })

  t.test('series: bucket averages of the samples, every array as long as timestamps', async (t) => {
    for (const [what, span] of [['the last hour (raw rows)', HOUR], ['the last day (raw rows, 2-minute buckets)', DAY]] as const) {
      const start = new Date(NOW - span)
      const end = new Date(NOW)
      const resolution = resolutionForRange({ family: 'container', start, end, maxPoints: 1000 })
      t.equal(resolution.label, 'raw', `${what}: read raw`)
      const s = await containerSeries(db, { orgId: api.orgId, agentId: agent.id, containerId: WEB, start, end })
      t.ok(s.timestamps.length > 0 && s.timestamps.length <= 1000, `${what}: ${s.timestamps.length} points`)
      for (const [field, pick] of FIELDS) {
        const expected = expectedBuckets([WEB], start.getTime(), end.getTime(), resolution.bucketSeconds, pick)
        t.same(s.timestamps.map((d) => (d as Date).getTime()), [...expected.keys()], `${what}: ${field} timestamps`)
        close(t, s[field] as number[], [...expected.values()].map((g) => g.get(WEB)!), `${what}: ${field}`)
      }
    }
  })

  t.test('the hourly aggregate gives the same averages', async (t) => {
    await sql`call refresh_continuous_aggregate('container_metrics_1h', null, null)`.execute(db)
    const { rows: [{ n }] } = await sql<{ n: number }>`select count(*)::int as n from container_metrics_1h where agent_id = ${agent.id}`.execute(db)
    t.ok(n >= 48, `${n} hourly rows`)
    // 8.5 days: the hourly aggregate as it is; 60 days: its hours regrouped into 2-hour buckets.
    for (const [what, span, label, step] of [['8.5 days', 8.5 * DAY, 'container_metrics_1h', 3600], ['60 days', 60 * DAY, 'container_metrics_1h', 7200]] as const) {
      const start = new Date(NOW - span)
      const end = new Date(NOW)
      const resolution = resolutionForRange({ family: 'container', start, end, maxPoints: 1000 })
      t.same([resolution.label, resolution.bucketSeconds], [label, step], `${what}: ${label} in ${step} s buckets`)
      const s = await containerSeries(db, { orgId: api.orgId, agentId: agent.id, containerId: DB, start, end })
      t.ok(s.timestamps.length <= 1000)
      for (const [field, pick] of FIELDS) {
        const expected = expectedBuckets([DB], start.getTime(), end.getTime(), step, pick)
        t.same(s.timestamps.map((d) => (d as Date).getTime()), [...expected.keys()], `${what}: ${field} timestamps`)
        close(t, s[field] as number[], [...expected.values()].map((g) => g.get(DB)!), `${what}: ${field}`)
      }
    }
  })

  t.test('aggregate: containers counted, totals summed over each container\'s bucket average', async (t) => {
    const all = [WEB, SIDECAR, DB, JOB, 'd0' + '3'.repeat(62)]
    for (const [what, span] of [['the last day', DAY], ['8.5 days', 8.5 * DAY]] as const) {
      const start = new Date(NOW - span)
      const end = new Date(NOW)
      const agg = await containerAggregate(db, { orgId: api.orgId, agentId: agent.id, start, end })
      t.equal(agg.total_containers, 5, `${what}: five containers reported in the range`)
      t.equal(agg.running_containers, 3, `${what}: running now: web, db and cache (the job exited, the sidecar is gone)`)
      const resolution = resolutionForRange({ family: 'container', start, end, maxPoints: 1000, rowsPerSample: 5 })
      const cpu = expectedBuckets(all, start.getTime(), end.getTime(), resolution.bucketSeconds, (s) => s.cpu)
      const memory = expectedBuckets(all, start.getTime(), end.getTime(), resolution.bucketSeconds, (s) => s.memory / MIB)
      t.same(agg.timestamps.map((d) => d.getTime()), [...cpu.keys()], `${what}: timestamps (${resolution.label})`)
      close(t, agg.total_cpu_percent, [...cpu.values()].map((g) => [...g.values()].reduce((a, b) => a + b, 0)), `${what}: total cpu`)
      close(t, agg.total_memory_mb, [...memory.values()].map((g) => [...g.values()].reduce((a, b) => a + b, 0)), `${what}: total memory`)
    }
    const past = await containerAggregate(db, { orgId: api.orgId, agentId: agent.id, start: new Date(NOW - 8 * DAY), end: new Date(NOW - 7.5 * DAY) })
    t.equal(past.total_containers, 2, 'a week ago: the two containers reported then')
    const none = await containerAggregate(db, { orgId: api.orgId, agentId: randomUUID(), start: new Date(NOW - HOUR), end: new Date(NOW) })
    t.same(none, { total_containers: 0, running_containers: 0, timestamps: [], total_cpu_percent: [], total_memory_mb: [] }, 'an agent without containers')
  })

  t.test("the migration's backfill registers stored samples", async (t) => {
    const lone = await api.createAgent('backfilled-host')
    const gone = randomUUID()
    const row = (agentId: string, containerId: string, ms: number, name: string, state: string) => ({
      time: new Date(ms), org_id: api.orgId, agent_id: agentId, container_id: containerId, name, image: `${name}:1`, state,
      cpu_percent: 1, memory_bytes: MIB, memory_limit_bytes: null, memory_percent: 1, rx_bytes: 1, tx_bytes: 1,
    })
    await db.insertInto('container_metrics').values([
      row(lone.id, 'e0' + '4'.repeat(62), NOW - 3 * HOUR, 'queue', 'running'),
      row(lone.id, 'e0' + '4'.repeat(62), NOW - 2 * HOUR, 'queue-renamed', 'paused'),
      row(lone.id, 'f0' + '5'.repeat(62), NOW - 4 * HOUR, 'worker', 'exited'),
      // An older sample of a registered container moves its first_seen back and nothing else.
      row(agent.id, DB, NOW - 20 * DAY, 'postgres-ancient', 'created'),
      // Samples of an agent that no longer exists have nothing to belong to.
      row(gone, 'ff' + '6'.repeat(62), NOW - HOUR, 'orphan', 'running'),
    ]).execute()
    const before = await listContainers(db, api.orgId, agent.id)
    await sql.raw(await readFile(join(SQL_DIR, '018_containers.sql'), 'utf8')).execute(db)

    const backfilled = await listContainers(db, api.orgId, lone.id)
    t.same(backfilled.map((c) => [c.name, c.image, c.status, c.created_at.getTime(), c.updated_at.getTime()]), [
      ['worker', 'worker:1', 'exited', NOW - 4 * HOUR, NOW - 4 * HOUR],
      ['queue-renamed', 'queue-renamed:1', 'paused', NOW - 3 * HOUR, NOW - 2 * HOUR],
    ], 'first and last time per container, newest name, image and state; ids in first-seen order')
    t.match(backfilled[1], { cpu_percent: 1, memory_usage_mb: 1, network_rx_bytes: 1 }, 'with its newest sample')
    const after = await listContainers(db, api.orgId, agent.id)
    t.same(after.map((c) => c.id), before.map((c) => c.id), 'registered containers keep their ids')
    const dbRow = after.find((c) => c.container_id === DB)!
    t.equal(dbRow.created_at.getTime(), NOW - 20 * DAY, 'first_seen moved back')
    t.same([dbRow.name, dbRow.status, dbRow.updated_at.getTime()], ['postgres', 'running', before.find((c) => c.container_id === DB)!.updated_at.getTime()])
    const { rows: [{ n }] } = await sql<{ n: number }>`select count(*)::int as n from containers where agent_id = ${gone}`.execute(db)
    t.equal(n, 0, 'no row for a deleted agent')
  })

  t.test("deleting an agent removes its containers", async (t) => {
    const res = await api.request('DELETE', `/api/v1/agents/${other.id}`, { token: api.adminToken })
    t.equal(res.status, 204, res.text)
    const { rows: [{ n }] } = await sql<{ n: number }>`select count(*)::int as n from containers where agent_id = ${other.id}`.execute(db)
    t.equal(n, 0)
    t.equal((await listContainers(db, api.orgId, agent.id)).length, 5, "the other agent's containers stay")
  })
})

t.test('registry ids survive closing and reopening the store', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-containers-'))
  const open = async () => {
    const store = await openStore({ backend: 'embedded', dataDir: join(dir, 'pg') })
    await store.ping()
    await prepareStore(store, { retention: RETENTION })
    return store
  }
  let store: Store = await open()
  t.teardown(async () => {
    await store.close().catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
  })
  let orgId = ''
  let apiKey = ''
  let agentId = ''
  let ids: Array<[number, string]> = []
  await t.test('first run', async (t) => {
    const api = await startClient(t, {}, store)
    const agent = await api.createAgent('restart-host')
    ;[orgId, apiKey, agentId] = [api.orgId, agent.api_key, agent.id]
    await api.ingestOk(apiKey, [batchAt(NOW - 3 * MIN, [sample(WEB, NOW - 3 * MIN, 'web', 'nginx:1'), sample(DB, NOW - 3 * MIN, 'db', 'pg:1')])])
    ids = (await listContainers(store.db, orgId, agentId)).map((c) => [c.id, c.container_id])
    t.equal(ids.length, 2)
  })
  await store.close()
  store = await open()
  const { app, url } = await listenApp(t, store)
  const api = clientOn(app, store, url, orgId)
  await api.ingestOk(apiKey, batchAt(NOW - 2 * MIN, [sample(DB, NOW - 2 * MIN, 'db', 'pg:1'), sample(JOB, NOW - 2 * MIN, 'job', 'busybox:1'), sample(WEB, NOW - 2 * MIN, 'web', 'nginx:1')]))
  const after = await listContainers(store.db, orgId, agentId)
  t.same(after.slice(0, 2).map((c) => [c.id, c.container_id]), ids, 'the same ids after reopening')
  t.equal(after[2]?.container_id, JOB)
  t.equal(after[2]?.id, Math.max(...ids.map(([id]) => id)) + 1, 'a new container takes the next id')
})
