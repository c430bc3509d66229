// The on-disk buffer on its own: durability across reopen, segment rolling, the size bound, torn lines.
import t from 'tap'
import { appendFile, readdir } from 'node:fs/promises'
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
  const lost = lines.filter(l => l.startsWith('warn buffer full')).map(l => Number(/(\d+) batch\(es\) lost/.exec(l)![1]))
  t.equal(lost.reduce((a, b) => a + b, 0), 40 - kept.length, 'the log accounts for every dropped batch')
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
