// The server backend's connections: how they are opened, and the pool as Kysely sees it. A lost, refused or
// silent connection becomes the `unavailable` domain error (503 and Retry-After on every face) where it
// happens. A database that vanishes without resetting its connections (a silent partition: packets dropped,
// no RST) would leave a query waiting on TCP for a quarter of an hour, so statements have a deadline, and a
// connection whose statement missed it is closed, never pooled again: where its protocol stands is unknown.
import pg from 'pg'
import type { PostgresPool, PostgresPoolClient } from 'kysely'
import { databaseUnavailable, isDatabaseUnavailable } from './database-unavailable.ts'

/**
 * DATABASE_QUERY_TIMEOUT. Far above any statement a request or an alert evaluation runs on a healthy server
 * (the slowest reads in BENCHMARKS.md take about a second, on the embedded engine), and with the connect
 * timeout still well below HTTP_REQUEST_TIMEOUT's 120 s.
 */
export const DEFAULT_QUERY_TIMEOUT_MS = 30_000
/** DATABASE_CONNECT_TIMEOUT: waiting for a pooled connection, or for a new one to be opened. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000
/**
 * Idle time before TCP probes a connection that no deadline watches (LISTEN, maintenance statements); Linux
 * then probes every 75 s and gives up after 9 unanswered probes (about 11 minutes). Without it the OS waits 2 hours.
 */
export const KEEPALIVE_IDLE_MS = 10_000

/**
 * How often the server checks, during a statement, that its client is still there. A statement whose client
 * gave up (the deadline above closes the connection) is then cancelled within this time, instead of running
 * on for as long as it would have: a slow read repeated by retrying clients must not pile up on the server.
 */
export const CLIENT_GONE_CHECK_MS = 2_000

/**
 * Each new pooled connection asks the server to watch for its client going away (PostgreSQL 14 and later, on
 * Linux; where the server cannot, the setting is refused and the connection is used as it is).
 */
export function cancelWhenClientGone(pool: pg.Pool): void {
  pool.on('connect', (client) => {
    // Queued ahead of the first statement the pool hands this connection to.
    client.query(`set client_connection_check_interval = ${CLIENT_GONE_CHECK_MS}`).catch(() => {})
  })
}

/** What every connection to the server is opened with, pooled or not. */
export function connectionConfig(connectionString: string, connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): pg.ClientConfig {
  return { connectionString, connectionTimeoutMillis: connectTimeoutMs, keepAlive: true, keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS }
}

/** The statement got no answer in time: the database is unreachable (or too overloaded to serve) right now. */
function noAnswerWithin(deadlineMs: number): Error {
  // ETIMEDOUT, as the OS says of a connection that stopped answering: isDatabaseUnavailable knows it.
  return Object.assign(new Error(`no answer from the database within ${deadlineMs} ms (DATABASE_QUERY_TIMEOUT)`), { code: 'ETIMEDOUT' })
}

const asUnavailable = (err: unknown): never => { throw isDatabaseUnavailable(err) ? databaseUnavailable(err) : err }

/**
 * The pool as one Kysely instance sees it: every statement answered within `deadlineMs`, or none when
 * undefined (for statements that may rightly run for minutes; TCP keepalive still notices a vanished server).
 * Several views of one pool may exist: ending any ends the pool, once.
 */
export function kyselyPool(pool: pg.Pool, deadlineMs: number | undefined, end: () => Promise<void>): PostgresPool {
  return {
    connect: async () => {
      const client = await pool.connect().catch(asUnavailable)
      // A connection lost between two statements (inside a transaction) is reported by the next query; with
      // no listener while checked out, its 'error' event would end the process. A broken client is then
      // released with its error, so the pool discards it.
      let broken: Error | undefined
      const onError = (err: Error) => { broken ??= err }
      client.on('error', onError)
      const query = ((text: string, parameters: ReadonlyArray<unknown>) => {
        // A cursor (Kysely's streaming; nothing here streams) is returned as is: its reads fail on their own.
        if (typeof text !== 'string') return (client.query as (q: unknown) => unknown)(text)
        // After a missed deadline the transaction's ROLLBACK must not wait out a second one.
        if (broken) return Promise.reject(databaseUnavailable(broken))
        const answer = client.query(text, parameters as unknown[]).catch(asUnavailable)
        if (deadlineMs === undefined) return answer
        let timer: NodeJS.Timeout | undefined
        const missed = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            broken = noAnswerWithin(deadlineMs)
            // pg closes the socket outright when a query is under way; the statement's own promise then
            // fails as well, already answered by this one.
            client.end().catch(() => {})
            reject(databaseUnavailable(broken))
          }, deadlineMs)
        })
        return Promise.race([answer, missed]).finally(() => clearTimeout(timer))
      }) as PostgresPoolClient['query']
      return { query, release: () => { client.off('error', onError); client.release(broken) } }
    },
    end,
  }
}

/** `pool.end()` for several views of one pool: pg refuses a second call. */
export function endOnce(pool: pg.Pool): () => Promise<void> {
  let ending: Promise<void> | undefined
  return () => (ending ??= pool.end())
}
