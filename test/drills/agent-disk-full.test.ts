// Disk-full drill (issue 15 part 3): the agent's data directory is a real, tiny filesystem (a 192 KiB tmpfs)
// and the server is unreachable, so the buffer fills the disk. The agent keeps collecting, drops its oldest
// batches to make room, says so in its log, and once the server answers again it delivers what it kept with
// the number it dropped (counter agent.buffer_dropped_batches_total) in its next batch: kept + dropped = collected.
// Mounting needs root (CI runs as root); elsewhere the drill is skipped with that reason.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { startAgent } from '../../agent/run-agent.ts'
import { startClient } from '../test-client.ts'
import { TcpProxy } from '../../bench/tcp-proxy.ts'

const DISK_BYTES = 192 * 1024
const COLLECTIONS = 25

async function tinyDisk(): Promise<{ dir: string; unmount: () => Promise<void> } | string> {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-drill-disk-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES}`, 'tmpfs', dir], { stdio: 'pipe' })
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    return `cannot mount a tmpfs here (needs root): ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`
  }
  return { dir, unmount: async () => { execFileSync('umount', [dir]); await rm(dir, { recursive: true, force: true }) } }
}

const disk = await tinyDisk()

t.test('the agent\'s buffer disk full: collecting goes on, the oldest go, the count is reported', { skip: typeof disk === 'string' ? disk : false }, async (t) => {
  if (typeof disk === 'string') return
  t.teardown(disk.unmount)
  const api = await startClient(t)
  const made = await api.createAgent('disk-full')
  const proxy = new TcpProxy('127.0.0.1', Number(new URL(api.url).port))
  await proxy.start()
  t.teardown(() => proxy.close())
  await proxy.cut()

  const lines: string[] = []
  const agent = await startAgent({
    serverUrl: `http://127.0.0.1:${proxy.port}`, apiKey: made.api_key, dataDir: disk.dir, intervalMs: 3_600_000,
    // Segments of about two batches, so the disk holds several and a drop takes the oldest few.
    segmentMaxBytes: 64 * 1024, backoff: { baseMs: 50, capMs: 200 }, stopGraceMs: 300, log: (level, msg) => { lines.push(`${level} ${msg}`) },
  })
  t.teardown(() => agent.stop())
  for (let i = 0; i < COLLECTIONS; i++) await agent.collectNow()
  const collectedIds = () => lines.map((l) => /collected batch ([0-9a-f-]{36})/.exec(l)?.[1]).filter(Boolean)
  t.equal(collectedIds().length, COLLECTIONS, 'every collection ran with the disk full')
  const drops = lines.filter((l) => /^warn buffer full: dropped the \d+ oldest batch\(es\), the disk holding .* is full/.test(l))
  t.ok(drops.length > 0, `the log says the disk is full and how many went (${drops[0]?.slice(0, 160)})`)
  t.notOk(lines.some((l) => /it is lost/.test(l)), 'no batch was lost to a failed write: only the counted oldest ones')
  const files = await readdir(join(disk.dir, 'buffer'))
  const used = (await Promise.all(files.map((f) => stat(join(disk.dir, 'buffer', f))))).reduce((n, s) => n + s.size, 0)
  t.ok(used <= DISK_BYTES, `the buffer fits the disk (${used} of ${DISK_BYTES} bytes)`)
  const droppedInAll = Number(/\((\d+) dropped since start\)/.exec(drops.at(-1)!)![1])

  await proxy.restore()
  await new Promise((resolve) => setTimeout(resolve, 400)) // past the backoff
  await agent.collectNow() // the next batch: sent after the replay, with the drop count
  await agent.stop()
  t.same(await readdir(join(disk.dir, 'buffer')).then((f) => f.filter((n) => n.endsWith('.jsonl'))), [], 'everything kept was delivered')

  const agentId = made.id
  const { rows: [{ stored }] } = await sql<{ stored: number }>`select count(*)::int as stored from ingest_batches where agent_id = ${agentId}`.execute(api.store.db)
  // A counter since the agent started, in every batch once anything was dropped: the newest says it all.
  const { rows: [{ reported }] } = await sql<{ reported: number }>`select coalesce(max(value), 0)::int as reported from metrics
    where agent_id = ${agentId} and metric_type = 'agent' and metric_name = 'buffer_dropped_batches_total'`.execute(api.store.db)
  t.equal(reported, droppedInAll, `the server got the drop count (${reported}) in a batch`)
  t.equal(stored + reported, collectedIds().length, `kept + dropped = collected (${stored} + ${reported} = ${collectedIds().length})`)
  t.ok(stored > 1, 'the newest batches were kept')
})
