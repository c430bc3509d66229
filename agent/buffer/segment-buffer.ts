// On-disk buffer for batches that could not be sent: append-only JSON-lines segment files, oldest first.
import { mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { IngestBatch } from '../../contract/ingest-batch.ts'
import type { AgentLog } from '../logger.ts'

/** The server accepts at most 500 batches per request, and one segment is replayed as one request (in smaller ones on a slow link). */
export const MAX_BATCHES_PER_SEGMENT = 500
export const DEFAULT_BUFFER_MAX_BYTES = 100 * 1024 * 1024
/** Keeps one replay request small enough for the server's body limit. */
export const DEFAULT_SEGMENT_MAX_BYTES = 4 * 1024 * 1024
/** Older data is of little use on a dashboard and would land in already compressed chunks. */
export const DEFAULT_BUFFER_MAX_AGE_MS = 7 * 24 * 3600 * 1000

export interface SegmentBufferOptions {
  /** Size bound of all segments together; the oldest batches go first. */
  maxBytes?: number
  /** Age bound by each batch's collection time; older batches are dropped. */
  maxAgeMs?: number
  segmentMaxBytes?: number
  log?: AgentLog
  /** Clock (ms since the epoch), for tests. */
  now?: () => number
}

interface Segment {
  name: string; bytes: number; batches: number | undefined
  /** Collection time of the newest batch in it (ms since the epoch); the file's mtime after a reopen. */
  newest: number
}

export interface StoredSegment { name: string; batches: IngestBatch[] }

/** Write errors of a full disk or an exhausted quota. */
const DISK_FULL = new Set(['ENOSPC', 'EDQUOT'])
const SEGMENT_FILE = /^(\d{12})\.jsonl$/
const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`
const formatAge = (ms: number) => (ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : `${Math.round(ms / 1000)}s`)

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
  private readonly maxAgeMs: number
  private readonly segmentMaxBytes: number
  private readonly log: AgentLog
  private readonly now: () => number
  /** Batches dropped by the bounds (or a full disk) since this buffer was opened. */
  dropped = 0

  private constructor(readonly dir: string, opts: SegmentBufferOptions) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_BUFFER_MAX_BYTES
    this.maxAgeMs = opts.maxAgeMs ?? DEFAULT_BUFFER_MAX_AGE_MS
    // Whole segments are dropped at the size bound: keep them at most a quarter of it, so the bound holds.
    this.segmentMaxBytes = Math.max(1, Math.min(opts.segmentMaxBytes ?? DEFAULT_SEGMENT_MAX_BYTES, Math.floor(this.maxBytes / 4)))
    this.log = opts.log ?? (() => {})
    this.now = opts.now ?? Date.now
  }

  static async open(dir: string, opts: SegmentBufferOptions = {}): Promise<SegmentBuffer> {
    const buffer = new SegmentBuffer(dir, opts)
    await mkdir(dir, { recursive: true })
    const files = await readdir(dir)
    // A rewrite's copy that a crash left before its rename: the segment it copies is still whole.
    let removed = 0
    for (const name of files.filter(n => n.endsWith('.tmp') && SEGMENT_FILE.test(n.slice(0, -'.tmp'.length)))) {
      if (await unlink(join(dir, name)).then(() => true, () => false)) removed++
    }
    if (removed > 0) buffer.log('info', `buffer: removed ${removed} unfinished rewrite(s) of a segment left by an earlier run in ${dir}`)
    const names = files.filter(n => SEGMENT_FILE.test(n)).sort()
    for (const name of names) {
      const { size, mtimeMs } = await stat(join(dir, name))
      buffer.segments.push({ name, bytes: size, batches: undefined, newest: mtimeMs })
    }
    const last = names.at(-1)
    if (last) buffer.nextSeq = Number(SEGMENT_FILE.exec(last)![1]) + 1
    if (names.length > 0) buffer.log('info', `buffer: ${names.length} segment(s), ${MiB(buffer.bytes)} left from an earlier run in ${dir}; will replay them`)
    await buffer.enforceBounds()
    return buffer
  }

  get isEmpty(): boolean { return this.segments.length === 0 }
  get bytes(): number { return this.segments.reduce((n, s) => n + s.bytes, 0) }
  get segmentCount(): number { return this.segments.length }

  /** Batches on disk now (segments left from an earlier run are counted by reading them). */
  async batchCount(): Promise<number> {
    let n = 0
    for (const seg of this.segments) n += seg.batches ?? (await this.countLines(seg.name))
    return n
  }

  /**
   * Appends one batch durably (fsync) before returning. When the disk is full, the oldest segments are
   * dropped to make room (counted and logged as any drop); when even an empty buffer has no room, this
   * batch is the one dropped. Collection goes on either way.
   */
  async append(batch: IngestBatch): Promise<void> {
    const line = Buffer.from(JSON.stringify(batch) + '\n')
    for (;;) {
      try {
        await this.appendLine(line, batch)
        break
      } catch (err) {
        if (!DISK_FULL.has((err as NodeJS.ErrnoException).code ?? '')) throw err
        // The next try starts a segment of its own, so what is dropped is the oldest data, not what it joins.
        const full = this.active
        this.active = undefined
        const oldest = this.segments.find((seg) => seg !== full) ?? this.segments[0]
        if (!oldest) {
          this.reportDropped(1, `the disk holding ${this.dir} is full, even with nothing else buffered: this newest batch`)
          return
        }
        const count = oldest.batches ?? (await this.countLines(oldest.name))
        await this.remove(oldest.name)
        if (count > 0) this.reportDropped(count, `the disk holding ${this.dir} is full`)
      }
    }
    await this.enforceBounds()
  }

  private async appendLine(line: Buffer, batch: IngestBatch): Promise<void> {
    let seg = this.active
    if (seg && (seg.batches === undefined || seg.batches >= MAX_BATCHES_PER_SEGMENT || seg.bytes + line.length > this.segmentMaxBytes)) seg = undefined
    const isNew = !seg
    if (!seg) seg = { name: `${String(this.nextSeq++).padStart(12, '0')}.jsonl`, bytes: 0, batches: 0, newest: 0 }
    // A segment is counted only once its file exists: a file that cannot be made (no inodes left) leaves no
    // empty segment behind for the disk-full loop to "drop" over and over.
    const fh = await open(join(this.dir, seg.name), 'a')
    if (isNew) {
      this.segments.push(seg)
      this.active = seg
    }
    let failure: unknown
    try {
      // A write may take only part of the line (a filling disk): the rest is written, or fails with the cause.
      for (let at = 0; at < line.length;) {
        const { bytesWritten } = await fh.write(line, at)
        if (bytesWritten === 0) throw Object.assign(new Error(`no space to write ${seg.name}`), { code: 'ENOSPC' })
        at += bytesWritten
      }
      await fh.sync()
    } catch (err) {
      failure = err
      // A half-written line must not be glued to the next batch: cut it off, or else continue in a fresh segment.
      if (!(await fh.truncate(seg.bytes).then(() => true, () => false))) this.active = undefined
    } finally {
      await fh.close().catch(() => {})
    }
    if (failure !== undefined) {
      // A segment this very append created holds nothing: it goes, rather than linger as an empty file.
      if (isNew && seg.bytes === 0) await this.remove(seg.name).catch(() => {})
      throw failure
    }
    if (isNew) await this.syncDir()
    seg.bytes += line.length
    seg.batches = (seg.batches ?? 0) + 1
    seg.newest = Math.max(seg.newest, Date.parse(batch.time) || this.now())
  }

  /**
   * The oldest segment's batches, to send as one request. The caller must not append between this and
   * remove(): the segment may be the active one, and a failed replay should not start a new file each time.
   */
  async oldest(): Promise<StoredSegment | undefined> {
    await this.enforceBounds()
    for (;;) {
      const seg = this.segments[0]
      if (!seg) return undefined
      const text = await readFile(join(this.dir, seg.name), 'utf8')
      const lines = text.split('\n').filter(Boolean)
      const batches: IngestBatch[] = []
      for (const line of lines) {
        try {
          batches.push(JSON.parse(line) as IngestBatch)
        } catch {
          // A torn last line from a crash mid-write: that batch never finished being buffered.
          this.log('warn', `buffer: skipped an unreadable line in ${seg.name}`)
        }
      }
      const cutoff = this.now() - this.maxAgeMs
      const fresh = batches.filter(b => !(Date.parse(b.time) < cutoff))
      if (fresh.length === batches.length) return { name: seg.name, batches }
      if (fresh.length === 0) {
        this.reportDropped(batches.length, `older than ${formatAge(this.maxAgeMs)}`)
        // Forgotten even if the file cannot be deleted (a read-only filesystem): the replay goes on.
        await this.remove(seg.name).catch((err: Error) => this.log('warn', `buffer: could not delete ${seg.name} (${err.message})`))
        continue
      }
      // Rewrite without the expired lines, so a failed replay does not count them again. A file that cannot
      // be rewritten is replayed without them, and counted when it can be.
      try {
        await this.rewrite(seg, fresh)
      } catch (err) {
        this.log('warn', `buffer: could not rewrite ${seg.name} without its expired batches (${(err as Error).message}); replaying the rest`)
        return { name: seg.name, batches: fresh }
      }
      this.reportDropped(batches.length - fresh.length, `older than ${formatAge(this.maxAgeMs)}`)
      return { name: seg.name, batches: fresh }
    }
  }

  /**
   * Deletes a segment once the server has answered 2xx (or rejected it for good). The segment leaves the
   * buffer even when its file cannot be deleted (a filesystem gone read-only): the error is thrown for the
   * caller to report, and a later run replays the file, whose batches the server takes once only.
   */
  async remove(name: string): Promise<void> {
    this.segments = this.segments.filter(s => s.name !== name)
    if (this.active?.name === name) this.active = undefined
    await unlink(join(this.dir, name)).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
  }

  /** Counts batches lost outside the bounds (one that could not be written at all), for the next batch's report. */
  countLost(count: number): void {
    this.dropped += count
  }

  /**
   * Drops the oldest segments while the buffer is over its size bound, and every segment whose newest
   * batch is past the age bound; says how many batches went. A segment only partly expired is trimmed
   * when it is next read for replay.
   */
  private async enforceBounds(): Promise<void> {
    const cutoff = this.now() - this.maxAgeMs
    let expired = 0
    while (this.segments.length > 0 && this.segments[0].newest < cutoff) {
      const seg = this.segments[0]
      expired += seg.batches ?? (await this.countLines(seg.name))
      await this.remove(seg.name)
    }
    if (expired > 0) this.reportDropped(expired, `older than ${formatAge(this.maxAgeMs)}`)
    let overflow = 0
    while (this.bytes > this.maxBytes && this.segments.length > 1) {
      const seg = this.segments[0]
      overflow += seg.batches ?? (await this.countLines(seg.name))
      await this.remove(seg.name)
    }
    if (overflow > 0) this.reportDropped(overflow, `over the size limit of ${MiB(this.maxBytes)}`)
  }

  private reportDropped(count: number, why: string): void {
    this.dropped += count
    this.log('warn', `buffer full: dropped the ${count} oldest batch(es), ${why} (${this.dropped} dropped since start); ` +
      'raise --buffer-max-size / --buffer-max-age to keep more through an outage')
  }

  private async rewrite(seg: Segment, batches: IngestBatch[]): Promise<void> {
    const body = Buffer.from(batches.map(b => JSON.stringify(b) + '\n').join(''))
    const tmp = join(this.dir, `${seg.name}.tmp`)
    try {
      const fh = await open(tmp, 'w')
      try {
        await fh.write(body)
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(tmp, join(this.dir, seg.name))
    } catch (err) {
      // A full or read-only disk: the segment stays as it was, and so does no half-written copy of it.
      await unlink(tmp).catch(() => {})
      throw err
    }
    await this.syncDir()
    seg.bytes = body.length
    seg.batches = batches.length
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
