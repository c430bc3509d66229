// The on-disk buffer on its own: durability across reopen, segment rolling, the size bound, torn lines.
import t from 'tap'
import { appendFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MAX_BATCHES_PER_SEGMENT, SegmentBuffer } from '../../agent/buffer/segment-buffer.ts'
import { bufferedIds, fakeBatch, logRecorder, tempDir } from './ingest-server.ts'

t.test('batches survive a reopen and come back oldest first', async t => {
  const dir = await tempDir(t)
  const a = await SegmentBuffer.open(dir)
  const batches = [fakeBatch(1), fakeBatch(2), fakeBatch(3)]
  for (const b of batches) await a.append(b)
  const { lines, log } = logRecorder()
  const b = await SegmentBuffer.open(dir, { log })
  t.match(lines.join('\n'), /left from an earlier run/)
  await b.append(fakeBatch(4))
  t.equal(b.segmentCount, 2, 'a reopened buffer appends to a new segment after the old ones')
  const first = await b.oldest()
  t.same(first!.batches.map(x => x.batch_id), batches.map(x => x.batch_id))
  await b.remove(first!.name)
  const second = await b.oldest()
  t.same(second!.batches.map(x => x.metrics![0].value), [4])
  await b.remove(second!.name)
  t.ok(b.isEmpty)
  t.same((await readdir(dir)).filter(n => n.endsWith('.jsonl')), [], 'files deleted')
})

t.test(`a segment holds at most ${MAX_BATCHES_PER_SEGMENT} batches (one replay request)`, async t => {
  const dir = await tempDir(t)
  const buf = await SegmentBuffer.open(dir)
  for (let i = 0; i < MAX_BATCHES_PER_SEGMENT + 1; i++) await buf.append(fakeBatch(i))
  t.equal(buf.segmentCount, 2)
  t.equal((await buf.oldest())!.batches.length, MAX_BATCHES_PER_SEGMENT)
})

t.test('a failed replay leaves the segment open for appends; removing it starts a new one', async t => {
  const dir = await tempDir(t)
  const buf = await SegmentBuffer.open(dir)
  await buf.append(fakeBatch(1))
  await buf.oldest() // a replay that failed: nothing removed
  await buf.append(fakeBatch(2))
  t.equal(buf.segmentCount, 1, 'long outages do not turn into one file per retry')
  const seg = await buf.oldest()
  t.same(seg!.batches.map(b => b.metrics![0].value), [1, 2])
  await buf.remove(seg!.name)
  await buf.append(fakeBatch(3))
  t.equal(buf.segmentCount, 1)
  t.same((await buf.oldest())!.batches.map(b => b.metrics![0].value), [3], 'the removed segment took only its own batches')
})

t.test('the size bound drops the oldest segments and says how many batches were lost', async t => {
  const dir = await tempDir(t)
  const { lines, log } = logRecorder()
  const buf = await SegmentBuffer.open(dir, { maxBytes: 8 * 1024, segmentMaxBytes: 2 * 1024, log })
  const all = []
  for (let i = 0; i < 40; i++) {
    const b = fakeBatch(i, 300)
    all.push(b.batch_id)
    await buf.append(b)
  }
  t.ok(buf.bytes <= 8 * 1024, `buffer holds ${buf.bytes} bytes, within the bound`)
  const kept = await bufferedIds(dir)
  t.ok(kept.length > 0 && kept.length < 40)
  t.same(kept, all.slice(40 - kept.length), 'what is kept is the newest, contiguous and in order')
  const lost = lines.filter(l => l.startsWith('warn buffer full')).map(l => Number(/dropped the (\d+) oldest batch\(es\), over the size limit/.exec(l)![1]))
  t.equal(lost.reduce((a, b) => a + b, 0), 40 - kept.length, 'the log accounts for every dropped batch')
  t.equal(buf.dropped, 40 - kept.length, 'and so does the counter')
})

t.test('a torn last line (crash mid-write) is skipped, the rest replayed', async t => {
  const dir = await tempDir(t)
  const buf = await SegmentBuffer.open(dir)
  await buf.append(fakeBatch(1))
  const [name] = (await readdir(dir)).filter(n => n.endsWith('.jsonl'))
  await appendFile(join(dir, name), '{"batch_id":"trunc')
  const { lines, log } = logRecorder()
  const reopened = await SegmentBuffer.open(dir, { log })
  const seg = await reopened.oldest()
  t.equal(seg!.batches.length, 1)
  t.match(lines.join('\n'), /skipped an unreadable line/)
})

t.test('a rewrite cut short by a crash leaves its segment whole; the half-written copy is removed at the next start', async t => {
  const dir = await tempDir(t)
  const buf = await SegmentBuffer.open(dir)
  await buf.append(fakeBatch(1))
  await buf.append(fakeBatch(2))
  const [name] = (await readdir(dir)).filter(n => n.endsWith('.jsonl'))
  // What a crash between writing the copy and renaming it over the segment leaves behind.
  await writeFile(join(dir, `${name}.tmp`), JSON.stringify(fakeBatch(2)) + '\n{"batch_id":"half')
  await writeFile(join(dir, 'notes.tmp'), 'not the buffer\'s')
  const { lines, log } = logRecorder()
  const reopened = await SegmentBuffer.open(dir, { log })
  t.same((await readdir(dir)).sort(), [name, 'notes.tmp'].sort(), "the copy is gone; a file that is not the buffer's stays")
  t.match(lines.join('\n'), /removed 1 unfinished rewrite/)
  const seg = await reopened.oldest()
  t.same(seg!.batches.map(b => b.metrics![0].value), [1, 2], 'the segment is replayed whole')
})

t.test('the age bound drops batches older than maxAge, oldest first, and counts them', async t => {
  const dir = await tempDir(t)
  const { lines, log } = logRecorder()
  let now = Date.parse('2030-01-10T00:00:00Z')
  const day = 86_400_000
  const buf = await SegmentBuffer.open(dir, { maxAgeMs: 2 * day, segmentMaxBytes: 1024, log, now: () => now })
  const at = (daysAgo: number, n: number) => fakeBatch(n, 300, new Date(now - daysAgo * day))
  const old = [at(3, 1), at(3, 2)] // each fills its own 1 KiB segment
  const recent = [at(1, 3), at(0.5, 4)]
  for (const b of [...old, ...recent]) await buf.append(b)
  t.same(await bufferedIds(dir), recent.map(b => b.batch_id), 'whole expired segments are deleted on append')
  t.equal(buf.dropped, 2)
  const counted = lines.map(l => /^warn buffer full: dropped the (\d+) oldest batch\(es\), older than 2d/.exec(l)).filter(Boolean).map(m => Number(m![1]))
  t.equal(counted.reduce((a, b) => a + b, 0), 2, 'the log says how many, and why')

  now += 1.2 * day // batch 3 is now 2.2 days old, batch 4 1.7 days
  const seg = await buf.oldest()
  t.same(seg!.batches.map(b => b.metrics![0].value), [4], 'expired batches are not replayed')
  t.equal(buf.dropped, 3, 'counted once more')
  await buf.oldest()
  t.equal(buf.dropped, 3, 'a second read does not count them again')

  // Reopened after the agent was down a long time: the segments' mtime says how old they are.
  const reopened = await SegmentBuffer.open(dir, { maxAgeMs: 2 * day, log, now: () => Date.now() + 3 * day })
  t.ok(reopened.isEmpty, 'everything past the bound is gone at open')
})
