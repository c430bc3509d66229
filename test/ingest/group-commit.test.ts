// Group commit (services/ingest/group-commit.ts, write-batches.ts's writeBatchGroup), on the embedded engine
// and on a real TimescaleDB server when TEST_DATABASE_URL is set: requests that arrive while a write runs are
// written together, each answered with what it stored; a batch id sent twice in one group (a retry racing
// its original) is stored once; a group whose write fails is written again request by request, so only the
// request at fault fails and nothing of it is stored; last write wins, container registry, process snapshots
// and each agent's newest sample come out as if every request had been written alone.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { IngestBatch } from '../../contract/ingest-batch.ts'
import { groupCommitter } from '../../services/ingest/group-commit.ts'
import { writeBatchGroup } from '../../services/ingest/write-batches.ts'
import type { Store } from '../../services/store/open-store.ts'
import { disk, metric, network, proc } from '../test-client.ts'
import { onEachBackend, seedAgent } from '../store/backends.ts'

const at = (ms: number) => new Date(ms).toISOString()

async function metricRows(store: Store, agentId: string) {
  const { rows } = await sql<{ time: Date; name: string; value: number }>`select time, metric_name as name, value from metrics
    where agent_id = ${agentId}::uuid order by time, metric_name`.execute(store.db)
  return rows.map((r) => `${r.time.toISOString()} ${r.name}=${r.value}`)
}

async function groupCommit(t: Test, store: Store): Promise<void> {
  const base = Math.floor(Date.now() / 1000) * 1000 - 600_000
  const a = await seedAgent(store, 'group-a')
  const b = await seedAgent(store, 'group-b')
  const batch = (ms: number, value: number, extra: Partial<IngestBatch> = {}): IngestBatch =>
    ({ batch_id: randomUUID(), time: at(ms), metrics: [metric('cpu', 'usage_percent', value)], ...extra })

  await t.test('one group: several agents and requests, each answered with its own counts', async (t) => {
    const first = batch(base, 1)
    const results = await writeBatchGroup(store.db, [
      { agent: a, batches: [first, batch(base + 1000, 2)] },
      { agent: b, batches: [batch(base, 10, { processes: [proc(1, 'init'), proc(2, 'sshd')] })] },
      // The same batch id again in the same group: acknowledged, stored once.
      { agent: a, batches: [{ ...first, batch_id: first.batch_id.toUpperCase() }, batch(base + 2000, 3)] },
      { agent: b, batches: [batch(base + 1000, 11, { containers: [{ id: 'c1', name: 'web', cpu_percent: 1 }] })] },
    ])
    t.same(results.map((r) => [r.accepted_batches, r.duplicate_batches, r.rows.metrics]), [[2, 0, 2], [1, 0, 1], [1, 1, 1], [1, 0, 1]])
    t.equal(results[1].rows.processes, 2)
    t.equal(results[1].snapshots.size, 1, 'the process list became a snapshot of its own request')
    t.equal(results[3].rows.containers, 1)
    t.same(results[0].written.map((w) => w.table), ['metrics'])
    t.same(await metricRows(store, a.id), [`${at(base)} usage_percent=1`, `${at(base + 1000)} usage_percent=2`, `${at(base + 2000)} usage_percent=3`])
    t.same(await metricRows(store, b.id), [`${at(base)} usage_percent=10`, `${at(base + 1000)} usage_percent=11`])
    const agents = await store.db.selectFrom('agents').select(['id', 'last_metrics_at']).where('id', 'in', [a.id, b.id]).execute()
    t.same(Object.fromEntries(agents.map((r) => [r.id, r.last_metrics_at?.toISOString()])), { [a.id]: at(base + 2000), [b.id]: at(base + 1000) }, 'each agent\'s newest sample')
    const latest = await store.db.selectFrom('metrics_latest').select(['agent_id', 'value']).where('agent_id', 'in', [a.id, b.id]).execute()
    t.same(Object.fromEntries(latest.map((r) => [r.agent_id, r.value])), { [a.id]: 3, [b.id]: 11 }, 'each series\' newest value')
    const containers = await store.db.selectFrom('containers').select(['agent_id', 'container_id']).where('agent_id', 'in', [a.id, b.id]).execute()
    t.same(containers.map((c) => [c.agent_id, c.container_id]), [[b.id, 'c1']], 'the container registered for its agent')
  })

  await t.test('a stored batch sent again in a group stores nothing of any kind; a fresh one beside it stores everything', async (t) => {
    const c = await seedAgent(store, 'group-c')
    const everything = (ms: number, containerName: string, extra: Partial<IngestBatch> = {}): IngestBatch => batch(ms, 1, {
      disks: [disk('/')], networks: [network('eth0')], processes: [proc(1, 'init'), proc(2, 'sshd')],
      sessions: [{ user: 'ops', terminal: 'pts/0', login_time: at(ms - 60_000) }],
      containers: [{ id: 'c9', name: containerName, image: 'nginx:1', state: 'running', cpu_percent: 1 }],
      logs: [{ source: 'syslog', level: 'info', message: 'hello' }], ...extra,
    })
    const stored = everything(base, 'web')
    await writeBatchGroup(store.db, [{ agent: c, batches: [stored] }])
    // The same batch again, its values changed and dated after the fresh one: were any of it taken, the counts
    // below would double and the container registry would name it "replayed".
    const results = await writeBatchGroup(store.db, [
      { agent: c, batches: [{ ...everything(base + 5000, 'replayed'), batch_id: stored.batch_id }] },
      { agent: c, batches: [everything(base + 1000, 'web-2')] },
      // An older sighting arriving after the newer one: the registry keeps the newest name, the earliest time.
      { agent: c, batches: [everything(base + 500, 'web-old')] },
    ])
    t.same(results.map((r) => [r.accepted_batches, r.duplicate_batches]), [[0, 1], [1, 0], [1, 0]])
    t.same(results[0].rows, { metrics: 0, disks: 0, networks: 0, processes: 0, sessions: 0, containers: 0, logs: 0 }, 'the replay stored no row')
    t.same(results[0].snapshots.size, 0, 'nor a process snapshot')
    t.same(results[1].rows, { metrics: 1, disks: 1, networks: 1, processes: 2, sessions: 1, containers: 1, logs: 1 }, 'the fresh batch stored each kind')
    t.equal(results[1].snapshots.size, 1)
    const counts: Record<string, number> = {}
    for (const table of ['metrics', 'disk_metrics', 'network_metrics', 'process_metrics', 'process_snapshots', 'user_sessions', 'container_metrics', 'logs']) {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)} where agent_id = ${c.id}::uuid`.execute(store.db)
      counts[table] = rows[0].n
    }
    t.same(counts, { metrics: 3, disk_metrics: 3, network_metrics: 3, process_metrics: 6, process_snapshots: 3, user_sessions: 3, container_metrics: 3, logs: 3 },
      'each table holds the first batch and the fresh ones, nothing of the replay')
    const snapshotIds = await sql<{ n: number }>`select count(distinct snapshot_id)::int as n from process_metrics where agent_id = ${c.id}::uuid`.execute(store.db)
    t.equal(snapshotIds.rows[0].n, 3, 'each stored process list under its own snapshot')
    const registry = await store.db.selectFrom('containers').select(['name', 'first_seen', 'last_seen']).where('agent_id', '=', c.id).execute()
    t.same(registry.map((r) => [r.name, r.first_seen.toISOString(), r.last_seen.toISOString()]), [['web-2', at(base), at(base + 1000)]],
      'the registry names the container as its newest fresh sample does, not as the replay does')
    const latest = await store.db.selectFrom('agents').select('last_metrics_at').where('id', '=', c.id).executeTakeFirstOrThrow()
    t.equal(latest.last_metrics_at?.toISOString(), at(base + 1000), 'the agent\'s newest sample is the fresh batch\'s')
  })

  await t.test('last write wins across the requests of a group, only for the requests that ask for it', async (t) => {
    const ms = base + 100_000
    const results = await writeBatchGroup(store.db, [
      { agent: a, batches: [batch(ms, 5)], options: { lastWriteWins: true } },
      { agent: a, batches: [batch(ms, 6)], options: { lastWriteWins: true } },
      { agent: b, batches: [batch(ms, 7)] },
      { agent: b, batches: [batch(ms, 8)] },
    ])
    t.same(results.map((r) => r.rows.metrics), [0, 1, 1, 1], 'the later request\'s point replaces the earlier one')
    t.same((await metricRows(store, a.id)).filter((r) => r.startsWith(at(ms))), [`${at(ms)} usage_percent=6`])
    t.same((await metricRows(store, b.id)).filter((r) => r.startsWith(at(ms))).sort(), [`${at(ms)} usage_percent=7`, `${at(ms)} usage_percent=8`], 'without it, both rows are kept')
    await writeBatchGroup(store.db, [{ agent: a, batches: [batch(ms, 9)], options: { lastWriteWins: true } }])
    t.same((await metricRows(store, a.id)).filter((r) => r.startsWith(at(ms))), [`${at(ms)} usage_percent=9`], 'and a later group replaces the stored one')
  })

  await t.test('the committer: concurrent requests share groups; a failed group is retried request by request', async (t) => {
    const committer = groupCommitter(store.db, 1)
    const ms = base + 200_000
    // The first request is written at once; the others queue behind it and make one group, in which one
    // the database refuses (a NUL in a text column, which the HTTP faces refuse earlier) fails the group's
    // transaction. The failing request has a second, good batch: it must not be stored either.
    const poisoned = batch(ms, 22, { metrics: [metric('cpu', 'bad\u0000name', 22)] })
    const alsoPoisoned = batch(ms + 5000, 24)
    const outcomes = await Promise.allSettled([
      committer.write({ agent: a, batches: [batch(ms, 20)] }),
      committer.write({ agent: b, batches: [batch(ms, 21)] }),
      committer.write({ agent: b, batches: [alsoPoisoned, poisoned] }),
      committer.write({ agent: a, batches: [batch(ms + 1000, 23)] }),
    ])
    t.same(outcomes.map((o) => o.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'], 'only the request at fault fails')
    t.same(outcomes.map((o) => (o.status === 'fulfilled' ? o.value.accepted_batches : -1)), [1, 1, -1, 1])
    // received_at is the transaction's start (now()): the first request had one of its own, the last two were
    // written again alone after their group failed, so three transactions in all.
    const received = await sql<{ at: Date }>`select received_at as at from ingest_batches where batch_id = any(${outcomes.flatMap((o) => (o.status === 'fulfilled' ? o.value.batch_ids : []))}::uuid[])`.execute(store.db)
    t.equal(new Set(received.rows.map((r) => r.at.getTime())).size, 3, 'the first alone, then each of the failed group\'s good requests alone')
    t.same((await metricRows(store, a.id)).filter((r) => r.startsWith(at(ms)) || r.startsWith(at(ms + 1000))), [`${at(ms)} usage_percent=20`, `${at(ms + 1000)} usage_percent=23`])
    t.same((await metricRows(store, b.id)).filter((r) => r.startsWith(at(ms))), [`${at(ms)} usage_percent=21`], 'the others stored once each')
    const failed = await store.db.selectFrom('ingest_batches').select('batch_id').where('batch_id', 'in', [poisoned.batch_id, alsoPoisoned.batch_id]).execute()
    t.same(failed, [], 'nothing of the failed request, not even its good batch')

    // Many at once, a retry racing its original among them: every answer after its commit, nothing twice.
    const many = Array.from({ length: 40 }, (_, i) => ({ agent: i % 2 ? a : b, batches: [batch(ms + 10_000 + i * 1000, 100 + i)] }))
    const racing = { agent: a, batches: [structuredClone(many[1].batches[0])] }
    const answers = await Promise.all([...many, racing].map((r) => committer.write(r)))
    t.equal(answers.reduce((n, r) => n + r.accepted_batches, 0), 40, 'each batch accepted once')
    t.equal(answers.reduce((n, r) => n + r.duplicate_batches, 0), 1, 'the racing retry acknowledged as a duplicate')
    const stored = await sql<{ n: string }>`select count(*) as n from metrics where agent_id in (${a.id}::uuid, ${b.id}::uuid) and time >= ${at(ms + 10_000)}::timestamptz`.execute(store.db)
    t.equal(Number(stored.rows[0].n), 40, 'forty rows, no duplicate')
    const transactions = await sql<{ n: string }>`select count(distinct received_at) as n from ingest_batches where batch_id = any(${answers.flatMap((r) => r.batch_ids)}::uuid[])`.execute(store.db)
    t.ok(Number(transactions.rows[0].n) <= 2, `41 requests at once were written in ${transactions.rows[0].n} transactions (the first alone, the rest together)`)
  })

  await t.test('several writers (as on a server): waves of requests, none lost, none written twice, no writer left on an empty queue', async (t) => {
    const committer = groupCommitter(store.db, 3)
    const ms = base + 400_000
    let sent = 0
    for (let wave = 0; wave < 6; wave++) {
      const wavePromises = Array.from({ length: 4 + wave * 3 }, () => {
        const i = sent++
        return committer.write({ agent: i % 2 ? a : b, batches: [batch(ms + i * 1000, i)] })
      })
      const answers = await Promise.all(wavePromises)
      t.ok(answers.every((r) => r.accepted_batches === 1), `wave ${wave + 1}: every request stored`)
      // A short pause: the writers are inside their linger when the next wave arrives, or just past it.
      await new Promise((resolve) => setTimeout(resolve, wave % 2 ? 1 : 3))
    }
    const stored = await sql<{ n: string }>`select count(*) as n from metrics where agent_id in (${a.id}::uuid, ${b.id}::uuid) and time >= ${at(ms)}::timestamptz`.execute(store.db)
    t.equal(Number(stored.rows[0].n), sent, `${sent} requests, ${sent} rows`)
  })
}

await onEachBackend(t, groupCommit)
