// Batches the server refused for good (a 4xx other than 401/403/408/429): kept for a person to look at, never resent.
import { mkdir, open, readFile, readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { IngestBatch } from '../../contract/ingest-batch.ts'

/** Enough to diagnose a schema mismatch; a server that rejects everything must not fill the disk. */
export const DEFAULT_REJECTED_KEEP = 50

export interface RejectedRecord { rejected_at: string; status: number; message: string; batch: IngestBatch }

export class RejectedBatches {
  private ready: Promise<unknown> | undefined

  constructor(readonly dir: string, private readonly keep = DEFAULT_REJECTED_KEEP) {}

  /** Writes `<dir>/<time>-<batch_id>.json`, then deletes the oldest files beyond `keep`. */
  async add(batch: IngestBatch, status: number, message: string): Promise<string> {
    this.ready ??= mkdir(this.dir, { recursive: true })
    await this.ready
    const at = new Date()
    const file = join(this.dir, `${at.toISOString().replace(/[:.]/g, '-')}-${batch.batch_id}.json`)
    const record: RejectedRecord = { rejected_at: at.toISOString(), status, message, batch }
    const fh = await open(file, 'w', 0o600)
    try {
      await fh.write(JSON.stringify(record) + '\n')
    } finally {
      await fh.close()
    }
    const names = (await readdir(this.dir)).filter(n => n.endsWith('.json')).sort()
    for (const old of names.slice(0, Math.max(0, names.length - this.keep))) await unlink(join(this.dir, old)).catch(() => {})
    return file
  }

  async list(): Promise<RejectedRecord[]> {
    const names = (await readdir(this.dir).catch(() => [] as string[])).filter(n => n.endsWith('.json')).sort()
    return Promise.all(names.map(async n => JSON.parse(await readFile(join(this.dir, n), 'utf8')) as RejectedRecord))
  }
}
