// What a service says when it cannot do what was asked, in terms no face owns: each API face (the native
// API, the compatibility faces) maps these kinds to its own status codes and error format, once.

export const DOMAIN_ERROR_KINDS = [
  /** The input breaks a rule; `details` names each field (`metrics[3].value`) and what is wrong with it. */
  'invalid',
  /** The input cannot be read at all (not JSON, not line protocol, a broken gzip stream). */
  'malformed',
  /** No credentials, or credentials nobody issued (an unknown key, an expired session). */
  'unauthenticated',
  /** Known caller, not allowed (a viewer writing, a disabled agent). */
  'forbidden',
  'not_found',
  /** The request contradicts what is stored (a duplicate name, the last admin). */
  'conflict',
  'too_large',
  'unsupported_media_type',
  /** Too many requests or failures; `retryAfterSeconds` says when to come back. */
  'rate_limited',
  /** A dependency is down or busy (the database, a notification target). */
  'unavailable',
] as const

export type DomainErrorKind = (typeof DOMAIN_ERROR_KINDS)[number]

export interface DomainErrorOptions {
  details?: Record<string, unknown>
  retryAfterSeconds?: number
  cause?: unknown
}

export class DomainError extends Error {
  readonly details?: Record<string, unknown>
  readonly retryAfterSeconds?: number

  constructor(readonly kind: DomainErrorKind, message: string, options: DomainErrorOptions = {}) {
    super(message, { cause: options.cause })
    this.name = 'DomainError'
    this.details = options.details
    this.retryAfterSeconds = options.retryAfterSeconds
  }
}

/** An `invalid` error for one field: the message reads "<field> <problem>" and details carry the same. */
export function invalidField(field: string, problem: string, message = `Invalid request: ${field} ${problem}`): DomainError {
  return new DomainError('invalid', message, { details: { [field]: [problem] } })
}
