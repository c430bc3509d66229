// Group commit: concurrent ingest requests are written together. The first request of a quiet moment is
// written at once; every request that arrives while a write is running waits for it, and the next write
// takes them all (up to MAX_GROUP_ROWS rows and MAX_GROUP_REQUESTS requests) in one transaction with one
// statement per table (write-batches.ts). Each request is answered only after its group committed. Should a
// group fail, its requests are written again one by one, so one request's problem (an agent deleted
// meanwhile, a row the database refuses) fails only that request and never half-stores another's.
// On the embedded engine one write runs at a time (one session); on a server a few run side by side.
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import { isDatabaseUnavailable } from '../store/database-unavailable.ts'
import { writeBatchGroup, writeBatches, type StoredBatches, type WriteRequest } from './write-batches.ts'

/** Rows one group takes at most (a request larger than this is a group of its own). */
export const MAX_GROUP_ROWS = 20_000
/** Requests one group takes at most. */
export const MAX_GROUP_REQUESTS = 256
/**
 * Under load (the last group held several requests) and with fewer waiting now, the next write waits this
 * long for the requests still being authenticated: a few larger groups cost less than many small ones. A
 * request arriving at a quiet moment is written at once.
 */
export const GROUP_LINGER_MS = 2
/** A group that ended less than this long ago means the ingest is under load. */
const BUSY_WINDOW_MS = 20

export interface GroupCommitter {
  write(request: WriteRequest): Promise<StoredBatches>
}

interface Waiting { request: WriteRequest; rows: number; resolve: (stored: StoredBatches) => void; reject: (err: unknown) => void }

const rowsOf = (r: WriteRequest) => r.batches.reduce((n, b) => n + (b.metrics?.length ?? 0) + (b.disks?.length ?? 0) + (b.networks?.length ?? 0)
  + (b.processes?.length ?? 0) + (b.sessions?.length ?? 0) + (b.containers?.length ?? 0) + (b.logs?.length ?? 0), 0)

/** `writers`: groups written at the same time (1 on the embedded engine). */
export function groupCommitter(db: Kysely<Database>, writers: number): GroupCommitter {
  const queue: Waiting[] = []
  let running = 0

  function nextGroup(): Waiting[] {
    const group: Waiting[] = [queue.shift()!]
    let rows = group[0].rows
    while (queue.length > 0 && group.length < MAX_GROUP_REQUESTS && rows + queue[0].rows <= MAX_GROUP_ROWS) {
      const next = queue.shift()!
      rows += next.rows
      group.push(next)
    }
    return group
  }

  async function writeGroup(group: Waiting[]): Promise<void> {
    try {
      const stored = await writeBatchGroup(db, group.map((w) => w.request))
      group.forEach((w, i) => w.resolve(stored[i]))
    } catch (err) {
      // The database being unreachable is no request's fault: the whole group is answered 503 at once
      // rather than each request waiting out its own connection attempt.
      if (group.length === 1 || isDatabaseUnavailable(err)) { group.forEach((w) => w.reject(err)); return }
      // The group rolled back as a whole: each request again on its own, answered by its own outcome.
      for (const w of group) {
        try {
          w.resolve(await writeBatches(db, w.request.agent, w.request.batches, w.request.options))
        } catch (own) {
          w.reject(own)
        }
      }
    }
  }

  let lastGroupEnd = -Infinity
  let lastGroupSize = 0
  async function drain(): Promise<void> {
    running++
    try {
      while (queue.length > 0) {
        // Under load (a group ended moments ago) and with fewer requests waiting than the last group held,
        // the stragglers still being authenticated are worth a short wait.
        if (performance.now() - lastGroupEnd < BUSY_WINDOW_MS && queue.length < Math.max(2, lastGroupSize)) {
          await new Promise((resolve) => setTimeout(resolve, GROUP_LINGER_MS))
          // Another writer (on a server) may have taken them meanwhile.
          if (queue.length === 0) break
        }
        const group = nextGroup()
        lastGroupSize = group.length
        await writeGroup(group)
        lastGroupEnd = performance.now()
      }
    } finally {
      running--
    }
  }

  return {
    write(request) {
      return new Promise<StoredBatches>((resolve, reject) => {
        queue.push({ request, rows: rowsOf(request), resolve, reject })
        if (running < writers) void drain()
      })
    },
  }
}
