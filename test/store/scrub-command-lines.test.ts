// The one-time migration 015 scrubs command lines stored before scrubbing existed: a database migrated up
// to 014 gets raw process rows holding credentials (some in compressed chunks), then migrates to the latest.
import t from 'tap'
import { sql } from 'kysely'
import { migrateToLatest } from '../../services/store/migrations.ts'
import type { Store } from '../../services/store/open-store.ts'
import { SCRUB_CASES } from '../contract/command-line-cases.ts'
import { allBackends } from './backends.ts'
import { migrateUpTo } from './partial-migrations.ts'

const DAY = 86_400_000
const SCRUB_MIGRATION = '015_scrub_command_lines'
const withSecrets = SCRUB_CASES.filter(([line, scrubbed]) => line !== scrubbed)

async function storeRawProcesses(store: Store, ageDays: number[]): Promise<{ agentId: string }> {
  const org = await store.db.insertInto('organizations').values({ name: `org-${crypto.randomUUID().slice(0, 8)}` }).returning('id').executeTakeFirstOrThrow()
  const agent = await store.db.insertInto('agents').values({ org_id: org.id, name: `scrub-${crypto.randomUUID().slice(0, 8)}`, labels: '{}' })
    .returning('id').executeTakeFirstOrThrow()
  const now = Date.now()
  const rows = ageDays.flatMap((age, snapshot) => SCRUB_CASES.map(([line], pid) => ({
    time: new Date(now - age * DAY), org_id: org.id, agent_id: agent.id, snapshot_id: snapshot + 1, pid: pid + 1,
    name: 'proc', cmdline: line, cpu_percent: 1, memory_bytes: 1024, memory_percent: 0.1,
  })))
  await store.db.insertInto('process_metrics').values(rows).execute()
  return { agentId: agent.id }
}

for (const backend of await allBackends()) {
  t.test(`${backend.name}: migration 015 scrubs stored command lines, compressed chunks included`, { skip: backend.skip }, async (t) => {
    t.teardown(() => backend.dispose())
    const store = await backend.open()
    t.teardown(() => store.close())
    const { skip } = await migrateUpTo(store, SCRUB_MIGRATION)
    if (skip) { t.comment(`skipped: ${skip}`); return }
    const { agentId } = await storeRawProcesses(store, [10, 9, 0])
    const { rows: compressed } = await sql<{ c: string }>`select compress_chunk(c, if_not_compressed => true)::text as c
      from show_chunks('process_metrics', older_than => interval '7 days') c`.execute(store.db)
    t.ok(compressed.length >= 1, `${compressed.length} process chunks compressed`)

    const report = await migrateToLatest(store.db)
    t.ok(report.applied.includes(SCRUB_MIGRATION), 'the scrub ran as a migration')

    const stored = await store.db.selectFrom('process_metrics').select(['pid', 'cmdline', 'time'])
      .where('agent_id', '=', agentId).orderBy('time').orderBy('pid').execute()
    t.equal(stored.length, SCRUB_CASES.length * 3, 'no row lost or added')
    for (const row of stored) t.equal(row.cmdline, SCRUB_CASES[row.pid - 1][1], `${row.time.toISOString().slice(0, 10)} pid ${row.pid}`)
    const { rows: [old] } = await sql<{ n: number }>`select count(*)::int as n from process_metrics
      where agent_id = ${agentId} and time < now() - interval '7 days'`.execute(store.db)
    t.equal(old.n, SCRUB_CASES.length * 2, 'the rows in compressed chunks are still there')
    const leaked = stored.filter((r) => /hunter2|hp_AbCd|Secret@|abc123|eyJabc/.test(r.cmdline))
    t.same(leaked, [], `none of ${withSecrets.length} secrets is left`)
  })
}
