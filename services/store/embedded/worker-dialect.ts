// A Kysely dialect whose one connection is the PGlite worker thread: one session, so transactions are
// serialized by a mutex (PLATFORM.md: PGlite has no pool).
import { Worker } from 'node:worker_threads'
import {
  CompiledQuery, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler,
  type DatabaseConnection, type Dialect, type Driver, type Kysely, type QueryResult, type TransactionSettings,
} from 'kysely'
import type { WorkerCall, WorkerError, WorkerNotification, WorkerReady, WorkerResponse, WorkerRows } from './worker-protocol.ts'

export class DatabaseError extends Error {
  readonly code?: string
  readonly detail?: string
  readonly constraint?: string
  constructor(e: WorkerError) {
    super(e.message)
    this.name = 'DatabaseError'
    Object.assign(this, e)
  }
}

/**
 * Run from TypeScript sources (tsx), a worker thread does not inherit the loader on Node 20:
 * it registers tsx itself before importing the .ts entry. Compiled, the .js entry loads directly.
 */
function spawnWorker(compiledEntry: URL, workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(compiledEntry, { workerData })
  const entry = compiledEntry.href.replace(/\.js$/, '.ts')
  const tsxApi = import.meta.resolve('tsx/esm/api')
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}) })`
  return new Worker(boot, { eval: true, workerData })
}

class ConnectionMutex {
  private tail: Promise<void> = Promise.resolve()
  private release?: () => void
  /** Callers waiting for the session (what a pool calls its waiting clients). */
  waiting = 0

  get held(): boolean { return this.release !== undefined }

  async lock(): Promise<void> {
    const previous = this.tail
    let release!: () => void
    this.tail = new Promise((resolve) => { release = resolve })
    this.waiting++
    try { await previous } finally { this.waiting-- }
    this.release = release
  }

  unlock(): void {
    const release = this.release
    this.release = undefined
    release?.()
  }
}

/** Owns the worker thread and matches each reply to its request. */
export class PgliteWorker {
  private readonly worker: Worker
  private readonly pending = new Map<number, { resolve: (r: WorkerRows) => void; reject: (e: Error) => void }>()
  private nextId = 1
  private exited = false
  private readonly listeners = new Map<string, Set<(payload: string) => void>>()
  /** The one session: a transaction and a LISTEN must never interleave on it. */
  readonly session = new ConnectionMutex()
  readonly ready: Promise<void>

  constructor(dataDir: string) {
    this.worker = spawnWorker(new URL('./pglite-worker.js', import.meta.url), { dataDir })
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('message', (msg: WorkerReady) => {
        if (msg.ready) resolve()
        else reject(new DatabaseError({ ...msg.error, message: `embedded database failed to open ${dataDir}: ${msg.error.message}` }))
        this.worker.on('message', (res: WorkerResponse | WorkerNotification) => {
          if ('notification' in res) this.notify(res.notification.channel, res.notification.payload)
          else this.settle(res)
        })
      })
      this.worker.once('error', reject)
    })
    this.worker.on('error', (err) => this.failAll(err))
    this.worker.on('exit', (code) => {
      this.exited = true
      this.failAll(new Error(`embedded database thread exited (code ${code})`))
    })
  }

  request(req: WorkerCall): Promise<WorkerRows> {
    if (this.exited) return Promise.reject(new Error('embedded database is closed'))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.worker.postMessage({ ...req, id })
    })
  }

  /**
   * LISTEN on `channel`: `onPayload` gets each NOTIFY payload once its transaction committed, whoever sent
   * it on this database. Returns the unlisten function.
   */
  async listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>> {
    let handlers = this.listeners.get(channel)
    if (!handlers) {
      handlers = new Set()
      this.listeners.set(channel, handlers)
      await this.exclusive({ kind: 'listen', channel })
    }
    handlers.add(onPayload)
    return async () => {
      const current = this.listeners.get(channel)
      if (!current?.delete(onPayload) || current.size > 0) return
      this.listeners.delete(channel)
      if (!this.exited) await this.exclusive({ kind: 'unlisten', channel }).catch(() => undefined)
    }
  }

  /** A request that must not land inside another caller's transaction. */
  private async exclusive(req: WorkerCall): Promise<WorkerRows> {
    await this.session.lock()
    try {
      return await this.request(req)
    } finally {
      this.session.unlock()
    }
  }

  private notify(channel: string, payload: string): void {
    for (const handler of this.listeners.get(channel) ?? []) {
      try {
        handler(payload)
      } catch { /* one listener's failure must not starve the others */ }
    }
  }

  async close(): Promise<void> {
    this.listeners.clear()
    if (this.exited) return
    await this.request({ kind: 'close' }).catch(() => undefined)
    await this.worker.terminate()
  }

  private settle(res: WorkerResponse): void {
    const waiter = this.pending.get(res.id)
    if (!waiter) return
    this.pending.delete(res.id)
    if (res.ok) waiter.resolve(res.result)
    else waiter.reject(new DatabaseError(res.error))
  }

  private failAll(err: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(err)
    this.pending.clear()
  }
}

class WorkerConnection implements DatabaseConnection {
  constructor(private readonly worker: PgliteWorker) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const res = query.parameters.length === 0
      ? await this.worker.request({ kind: 'exec', sql: query.sql })
      : await this.worker.request({ kind: 'query', sql: query.sql, params: query.parameters })
    const numAffectedRows = res.affectedRows === undefined ? undefined : BigInt(res.affectedRows)
    return { rows: res.rows as R[], numAffectedRows }
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported by the embedded database')
  }
}

class WorkerDriver implements Driver {
  private readonly connection: WorkerConnection

  constructor(private readonly worker: PgliteWorker) {
    this.connection = new WorkerConnection(worker)
  }

  async init(): Promise<void> { await this.worker.ready }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.worker.session.lock()
    return this.connection
  }

  async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const isolation = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : ''
    await conn.executeQuery(CompiledQuery.raw(`begin${isolation}`))
  }

  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('commit'))
  }

  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('rollback'))
  }

  async releaseConnection(): Promise<void> { this.worker.session.unlock() }

  async destroy(): Promise<void> { await this.worker.close() }
}

export class PgliteWorkerDialect implements Dialect {
  constructor(private readonly worker: PgliteWorker) {}
  createAdapter() { return new PostgresAdapter() }
  createDriver() { return new WorkerDriver(this.worker) }
  createQueryCompiler() { return new PostgresQueryCompiler() }
  createIntrospector(db: Kysely<any>) { return new PostgresIntrospector(db) }
}
