// The store every service uses: one Kysely<Database>, backed by a TimescaleDB server (DATABASE_URL)
// or by the embedded TimescaleDB in a worker thread (HOSTPULSE_DATA_DIR).
import { resolve } from 'node:path'
import pg from 'pg'
import { Kysely, PostgresDialect, sql } from 'kysely'
import type { Database } from './database.ts'
import { PgliteWorker, PgliteWorkerDialect } from './embedded/worker-dialect.ts'
import { pgTypeParser } from './type-parsers.ts'
import { checkChannel, NotificationListener, type NotificationHandler } from './notification-listener.ts'
import { LateDataRefresh, type LateDataOptions } from './late-data-refresh.ts'
import { cancelWhenClientGone, connectionConfig, DEFAULT_QUERY_TIMEOUT_MS, endOnce, kyselyPool } from './server-connections.ts'

export type StoreBackend = 'embedded' | 'server'

/** Database connections now: at most `max`, `open` of them, `idle` among those, and callers `waiting` for one. */
export interface ConnectionStats { max: number; open: number; idle: number; waiting: number }

export interface Store {
  /** On a server every statement has DATABASE_QUERY_TIMEOUT to answer, or fails as `unavailable`. */
  readonly db: Kysely<Database>
  /**
   * The same database for statements that may rightly run for minutes: migrations, aggregate refreshes,
   * bulk rewrites. No deadline kills them; a server that vanished under them is noticed by TCP (keepalive or
   * retransmission, about a quarter of an hour). On the embedded engine it is `db`.
   */
  readonly maintenanceDb: Kysely<Database>
  readonly backend: StoreBackend
  /** Where the data lives: the data directory, or the server URL without its password. */
  readonly location: string
  ping(): Promise<void>
  /**
   * LISTEN on a channel: `onPayload` gets the payload of every NOTIFY on it, from any process using this
   * database, once the notifying transaction committed. Returns the unlisten function. On a server this
   * opens one dedicated connection at the first call (never before: see PLATFORM.md on the wire bridge).
   * `onReconnect` is told when that connection was lost and is back: NOTIFYs sent meanwhile were missed;
   * `onLost` when it is lost. The embedded engine runs in process and never loses them.
   */
  listen(channel: string, onPayload: NotificationHandler, onReconnect?: () => void, onLost?: () => void): Promise<() => Promise<void>>
  /** For /metrics: the pool on a server; the one session of the embedded engine. */
  connections(): ConnectionStats
  /** Ingest tells it what it wrote; rows older than an aggregate's watermark get their buckets refreshed. */
  readonly lateData: LateDataRefresh
  close(): Promise<void>
}

export type StoreOptions = (
  | { backend: 'embedded'; dataDir: string }
  | { backend: 'server'; databaseUrl: string; poolSize?: number; queryTimeoutMs?: number; connectTimeoutMs?: number }
) & { lateData?: LateDataOptions }

export function storeOptionsFromConfig(cfg: {
  DATABASE_URL?: string; HOSTPULSE_DATA_DIR: string; DATABASE_POOL_SIZE?: number; lateDataRefreshMs?: number
  databaseQueryTimeoutMs?: number; databaseConnectTimeoutMs?: number
}): StoreOptions {
  const lateData = { intervalMs: cfg.lateDataRefreshMs }
  return cfg.DATABASE_URL
    ? {
        backend: 'server', databaseUrl: cfg.DATABASE_URL, poolSize: cfg.DATABASE_POOL_SIZE, lateData,
        queryTimeoutMs: cfg.databaseQueryTimeoutMs, connectTimeoutMs: cfg.databaseConnectTimeoutMs,
      }
    : { backend: 'embedded', dataDir: resolve(cfg.HOSTPULSE_DATA_DIR, 'pg'), lateData }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return 'postgres://(unparseable url)'
  }
}

export async function openStore(options: StoreOptions): Promise<Store> {
  if (options.backend === 'embedded') {
    const worker = new PgliteWorker(options.dataDir)
    await worker.ready
    const db = new Kysely<Database>({ dialect: new PgliteWorkerDialect(worker) })
    const lateData = new LateDataRefresh(db, options.lateData)
    // In process, no network to lose: nothing to put a deadline on.
    return {
      db, maintenanceDb: db, backend: 'embedded', location: options.dataDir, lateData,
      ping: async () => { await sql`select 1`.execute(db) },
      listen: async (channel, onPayload) => {
        checkChannel(channel)
        return worker.listen(channel, onPayload)
      },
      connections: () => ({ max: 1, open: 1, idle: worker.session.held ? 0 : 1, waiting: worker.session.waiting }),
      // Kysely skips the driver's destroy when no query ever ran: stop the thread ourselves too.
      close: async () => { await lateData.close(); await db.destroy(); await worker.close() },
    }
  }
  const types = { getTypeParser: pgTypeParser(pg.types.getTypeParser as never) }
  const pool = new pg.Pool({ ...connectionConfig(options.databaseUrl, options.connectTimeoutMs), max: options.poolSize ?? 10, types: types as never })
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => {})
  cancelWhenClientGone(pool)
  const end = endOnce(pool)
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: kyselyPool(pool, options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS, end) }) })
  const maintenanceDb = new Kysely<Database>({ dialect: new PostgresDialect({ pool: kyselyPool(pool, undefined, end) }) })
  const location = redactUrl(options.databaseUrl)
  let listener: NotificationListener | undefined
  // A refresh of late buckets after a fleet's replay may rightly take minutes.
  const lateData = new LateDataRefresh(maintenanceDb, options.lateData)
  const store: Store = {
    db, maintenanceDb, backend: 'server', location, lateData,
    connections: () => ({ max: options.poolSize ?? 10, open: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    ping: async () => { await sql`select 1`.execute(db) },
    listen: (channel, onPayload, onReconnect, onLost) => {
      listener ??= new NotificationListener({ connectionString: options.databaseUrl, connectTimeoutMs: options.connectTimeoutMs })
      return listener.listen(channel, onPayload, onReconnect, onLost).catch((err: Error) => {
        throw new Error(`cannot LISTEN on ${location}: ${err.message}`, { cause: err })
      })
    },
    close: async () => {
      await lateData.close()
      await listener?.close()
      await maintenanceDb.destroy()
      await db.destroy()
    },
  }
  await store.ping().catch((err: Error) => {
    void end()
    throw new Error(`cannot reach the database at ${store.location}: ${err.message}. Check DATABASE_URL and that TimescaleDB is running.`, { cause: err })
  })
  // Same as the embedded open: the extension must be loaded before anything reads hypertables.
  await sql`create extension if not exists timescaledb`.execute(db)
  return store
}
