// Disk-full drill (issue 15 part 3): the agent's data directory is a real, tiny filesystem (a 192 KiB tmpfs)
// and the server is unreachable, so the buffer fills the disk. The agent keeps collecting, drops its oldest
// batches to make room, says so in its log, and once the server answers again it delivers what it kept with
// the number it dropped (counter agent.buffer_dropped_batches_total) in its next batch: kept + dropped = collected.
// Mounting needs root (CI runs as root); elsewhere the drill is skipped with that reason.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { startAgent } from '../../agent/run-agent.ts'
import { startClient } from '../test-client.ts'
import { TcpProxy } from '../../bench/tcp-proxy.ts'
import { SegmentBuffer } from '../../agent/buffer/segment-buffer.ts'
import type { IngestBatch } from '../../contract/ingest-batch.ts'
import { bufferedIds, fakeBatch, IngestServer, logRecorder, waitFor } from '../agent/ingest-server.ts'

const DISK_BYTES = 192 * 1024
const COLLECTIONS = 25

async function tinyDisk(options = `size=${DISK_BYTES}`): Promise<{ dir: string; unmount: () => Promise<void> } | string> {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-drill-disk-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'pipe' })
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

const inodeDisk = await tinyDisk('size=1m,nr_inodes=8')
t.test('no inode left for a new segment: the append gives up on this batch, counted, instead of looping', { skip: typeof inodeDisk === 'string' ? inodeDisk : false }, async (t) => {
  const small = inodeDisk
  if (typeof small === 'string') return
  t.teardown(small.unmount)
  const { lines, log } = logRecorder()
  const buffer = await SegmentBuffer.open(join(small.dir, 'buffer'), { log })
  const fillers: string[] = []
  for (let i = 0; ; i++) {
    const file = join(small.dir, `filler-${i}`)
    try { await writeFile(file, '') } catch { break }
    fillers.push(file)
  }
  const outcome = await Promise.race([
    buffer.append(fakeBatch(1)).then(() => 'returned'),
    new Promise((resolve) => setTimeout(resolve, 10_000, 'still running after 10 s')),
  ])
  t.equal(outcome, 'returned', 'the append returned')
  t.equal(buffer.dropped, 1, 'the batch is counted as dropped')
  t.match(lines.join('\n'), /the disk holding .* is full, even with nothing else buffered: this newest batch/, 'and the log says why')
  t.ok(buffer.isEmpty, 'no empty segment was left behind')
  await rm(fillers[0])
  await buffer.append(fakeBatch(2))
  t.equal(await buffer.batchCount(), 1, 'with an inode free again, the next batch is kept')
})

const readOnlyDisk = await tinyDisk('size=1m')
t.test('the buffer\'s filesystem turned read-only: what was buffered is delivered once, new batches are sent, a lost one is counted', { skip: typeof readOnlyDisk === 'string' ? readOnlyDisk : false }, async (t) => {
  const disk = readOnlyDisk
  if (typeof disk === 'string') return
  t.teardown(disk.unmount)
  const port = await IngestServer.freePort()
  const { lines, log } = logRecorder()
  const agent = await startAgent({
    serverUrl: `http://127.0.0.1:${port}`, apiKey: 'drill-key', dataDir: disk.dir, intervalMs: 3_600_000,
    backoff: { baseMs: 50, capMs: 200 }, stopGraceMs: 300, log,
  })
  t.teardown(() => agent.stop())
  await agent.collectNow()
  await agent.collectNow()
  const buffered = await bufferedIds(join(disk.dir, 'buffer'))
  t.equal(buffered.length, 2, 'two batches buffered while the server was down')
  execFileSync('mount', ['-o', 'remount,ro', disk.dir])
  t.teardown(() => execFileSync('mount', ['-o', 'remount,rw', disk.dir]))

  const server = await new IngestServer(port).start()
  t.teardown(() => server.stop())
  await waitFor(() => server.accepted.length >= 2, 'the replay')
  t.same(server.accepted, buffered, 'the buffered batches are delivered')
  // The server counts a batch accepted as it answers; the agent's delete (and its log line) come after.
  await waitFor(() => lines.some((l) => /could not delete \d+\.jsonl after the server took its 2 batch\(es\)/.test(l)), 'the log line about the file it could not delete')
  await agent.collectNow()
  t.equal(server.accepted.length, 3, 'a new batch is sent though the buffer cannot be written')
  await new Promise((resolve) => setTimeout(resolve, 600)) // past the backoff cap: a re-send would have come
  t.equal(server.requests.filter((r) => r.batchIds.includes(buffered[0])).length, 1, 'the replayed segment was sent once')

  // The server fails a send, and the batch cannot go to disk: lost, and said so in the next batch.
  let failures = 1
  const received: IngestBatch[] = []
  server.respond = (batches) => {
    if (failures-- > 0) return { status: 503, body: { message: 'busy' } }
    received.push(...batches)
    return { status: 202 }
  }
  await agent.collectNow()
  t.match(lines.join('\n'), /batch [0-9a-f-]+ is lost \(1 batch\(es\) dropped since start\)/, 'the lost batch is logged and counted')
  await new Promise((resolve) => setTimeout(resolve, 400)) // past the backoff
  await agent.collectNow()
  t.equal(received.length, 1, 'the next batch arrived')
  const dropped = received[0]?.metrics?.find((m) => m.metric_type === 'agent' && m.metric_name === 'buffer_dropped_batches_total')
  t.equal(dropped?.value, 1, 'carrying the count of the lost one')
})
