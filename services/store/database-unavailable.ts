// Which failures mean "the database cannot be reached right now" (the server is down, restarting, out of
// connections, or the network to it is cut), as opposed to a failure of the statement itself. Every face
// answers the first kind with 503 and Retry-After, so agents buffer and come back; never with a 500.
import { DomainError } from '../errors/domain-error.ts'

/** Seconds a client is asked to wait before retrying while the database is unreachable. */
export const DATABASE_RETRY_AFTER_SECONDS = 5

/** Socket errors of a connection that could not be made or was lost. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'])

/**
 * SQLSTATEs of a server that cannot serve now: class 08 (connection exception), 57P01–57P03 (shutting
 * down, crashed, starting up), 53300 (too many connections).
 */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300)$/

/** What `pg` throws when a connection dies under a query or cannot be had from the pool in time. */
const PG_CONNECTION_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable)/

export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 4) return false
  if (err instanceof DomainError) return err.kind === 'unavailable'
  const code = (err as NodeJS.ErrnoException).code
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return true
  if (PG_CONNECTION_MESSAGES.test(err.message)) return true
  // Node reports a refused connection to several addresses as an AggregateError of them.
  if (err instanceof AggregateError && err.errors.some((e) => isDatabaseUnavailable(e, depth + 1))) return true
  return isDatabaseUnavailable(err.cause, depth + 1)
}

/** The domain error every face turns into 503 with Retry-After. */
export function databaseUnavailable(cause: unknown): DomainError {
  return new DomainError('unavailable', `The database is unreachable; retry in ${DATABASE_RETRY_AFTER_SECONDS} s`, {
    details: { retry_after: DATABASE_RETRY_AFTER_SECONDS }, retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS, cause,
  })
}
