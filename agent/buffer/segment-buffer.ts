// On-disk buffer for batches that could not be sent: append-only JSON-lines segment files, oldest first.
import { mkdir, open, readFile, readdir, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { IngestBatch } from '../../contract/ingest-batch.ts'
import type { AgentLog } from '../logger.ts'

/** The server accepts at most 500 batches per request, and one segment is replayed as one request. */
export const MAX_BATCHES_PER_SEGMENT = 500
export const DEFAULT_BUFFER_MAX_BYTES = 100 * 1024 * 1024
/** Keeps one replay request small enough for the server's body limit. */
export const DEFAULT_SEGMENT_MAX_BYTES = 4 * 1024 * 1024

export interface SegmentBufferOptions {
  maxBytes?: number
  segmentMaxBytes?: number
  log?: AgentLog
}

interface Segment { name: string; bytes: number; batches: number | undefined }

export interface StoredSegment { name: string; batches: IngestBatch[] }

const SEGMENT_FILE = /^(\d{12})\.jsonl$/
const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`

/**
 * Not safe for concurrent callers: the delivery queue serializes every call, so no append happens while
 * a segment is being replayed.
 * A segment is deleted only after the server took it; a crash before that means a resend, which the
 * server dedupes by batch_id.
 */
export class SegmentBuffer {
  private segments: Segment[] = []
  /** The segment new batches go to; a new one starts when it is full, deleted, or after a reopen. */
  private active: Segment | undefined
  private nextSeq = 1
  private readonly maxBytes: number
  private readonly segmentMaxBytes: number
  private readonly log: AgentLog

  private constructor(readonly dir: string, opts: SegmentBufferOptions) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_BUFFER_MAX_BYTES
    this.segmentMaxBytes = opts.segmentMaxBytes ?? DEFAULT_SEGMENT_MAX_BYTES
    this.log = opts.log ?? (() => {})
  }

  static async open(dir: string, opts: SegmentBufferOptions = {}): Promise<SegmentBuffer> {
    const buffer = new SegmentBuffer(dir, opts)
    await mkdir(dir, { recursive: true })
    const names = (await readdir(dir)).filter(n => SEGMENT_FILE.test(n)).sort()
    for (const name of names) {
      const { size } = await stat(join(dir, name))
      buffer.segments.push({ name, bytes: size, batches: undefined })
    }
    const last = names.at(-1)
    if (last) buffer.nextSeq = Number(SEGMENT_FILE.exec(last)![1]) + 1
    if (names.length > 0) buffer.log('info', `buffer: ${names.length} segment(s), ${MiB(buffer.bytes)} left from an earlier run in ${dir}; will replay them`)
    return buffer
  }

  get isEmpty(): boolean { return this.segments.length === 0 }
  get bytes(): number { return this.segments.reduce((n, s) => n + s.bytes, 0) }
  get segmentCount(): number { return this.segments.length }

  /** Appends one batch durably (fsync) before returning. */
  async append(batch: IngestBatch): Promise<void> {
    const line = Buffer.from(JSON.stringify(batch) + '\n')
    let seg = this.active
    if (seg && (seg.batches === undefined || seg.batches >= MAX_BATCHES_PER_SEGMENT || seg.bytes + line.length > this.segmentMaxBytes)) seg = undefined
    const isNew = !seg
    if (!seg) {
      seg = { name: `${String(this.nextSeq++).padStart(12, '0')}.jsonl`, bytes: 0, batches: 0 }
      this.segments.push(seg)
      this.active = seg
    }
    const fh = await open(join(this.dir, seg.name), 'a')
    try {
      await fh.write(line)
      await fh.sync()
    } catch (err) {
      // A half-written line must not be glued to the next batch: continue in a fresh segment.
      this.active = undefined
      throw err
    } finally {
      await fh.close()
    }
    if (isNew) await this.syncDir()
    seg.bytes += line.length
    seg.batches = (seg.batches ?? 0) + 1
    await this.enforceBound()
  }

  /**
   * The oldest segment's batches, to send as one request. The caller must not append between this and
   * remove(): the segment may be the active one, and a failed replay should not start a new file each time.
   */
  async oldest(): Promise<StoredSegment | undefined> {
    const seg = this.segments[0]
    if (!seg) return undefined
    const text = await readFile(join(this.dir, seg.name), 'utf8')
    const batches: IngestBatch[] = []
    for (const line of text.split('\n')) {
      if (!line) continue
      try {
        batches.push(JSON.parse(line) as IngestBatch)
      } catch {
        // A torn last line from a crash mid-write: that batch never finished being buffered.
        this.log('warn', `buffer: skipped an unreadable line in ${seg.name}`)
      }
    }
    return { name: seg.name, batches }
  }

  /** Deletes a segment once the server has answered 2xx (or rejected it for good). */
  async remove(name: string): Promise<void> {
    await unlink(join(this.dir, name)).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
    this.segments = this.segments.filter(s => s.name !== name)
    if (this.active?.name === name) this.active = undefined
  }

  /** Drops whole oldest segments until the buffer fits, saying how many batches were lost. */
  private async enforceBound(): Promise<void> {
    let droppedBatches = 0
    let droppedSegments = 0
    while (this.bytes > this.maxBytes && this.segments.length > 1) {
      const seg = this.segments[0]
      droppedBatches += seg.batches ?? (await this.countLines(seg.name))
      droppedSegments++
      await this.remove(seg.name)
    }
    if (droppedSegments > 0) {
      this.log('warn', `buffer full (limit ${MiB(this.maxBytes)}): dropped the ${droppedSegments} oldest segment(s), ${droppedBatches} batch(es) lost`)
    }
  }

  private async countLines(name: string): Promise<number> {
    const text = await readFile(join(this.dir, name), 'utf8').catch(() => '')
    return text.split('\n').filter(Boolean).length
  }

  /** A new file's directory entry is durable only once the directory itself is synced. */
  private async syncDir(): Promise<void> {
    const dh = await open(this.dir, 'r').catch(() => undefined)
    if (!dh) return
    await dh.sync().catch(() => {})
    await dh.close()
  }
}
