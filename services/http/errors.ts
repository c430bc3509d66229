// The native API's error format for every failure: {"error": CODE, "message", "code": status, "details"}.
// Services throw DomainError; this is the one place the native face turns its kinds into statuses.
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { DomainError, type DomainErrorKind } from '../errors/domain-error.ts'
import { invalidInput, type ValidationIssue } from '../errors/validation-issues.ts'

export const ERROR_CODES = {
  BAD_REQUEST: 400,
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  REQUEST_TIMEOUT: 408,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
} as const

export type ErrorCode = keyof typeof ERROR_CODES
export type ErrorDetails = Record<string, unknown>

/** Each domain error kind in the native format. */
export const NATIVE_ERROR_CODES: Record<DomainErrorKind, ErrorCode> = {
  invalid: 'VALIDATION_ERROR',
  malformed: 'BAD_REQUEST',
  unauthenticated: 'UNAUTHORIZED',
  forbidden: 'FORBIDDEN',
  not_found: 'NOT_FOUND',
  conflict: 'CONFLICT',
  too_large: 'PAYLOAD_TOO_LARGE',
  unsupported_media_type: 'UNSUPPORTED_MEDIA_TYPE',
  rate_limited: 'RATE_LIMITED',
  unavailable: 'SERVICE_UNAVAILABLE',
}

export class ApiError extends Error {
  readonly status: number
  constructor(readonly code: ErrorCode, message: string, readonly details?: ErrorDetails, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ApiError'
    this.status = ERROR_CODES[code]
  }
}

export interface ErrorBody { error: ErrorCode; message: string; code: number; details?: ErrorDetails }

export { fieldPath, validationDetails } from '../errors/validation-issues.ts'
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_BAD_URL: 'BAD_REQUEST',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
}

/** Maps anything thrown to the error format: 4xx messages are shown, 5xx ones hidden and logged. */
export function toErrorBody(err: FastifyError | ApiError | DomainError | Error): ErrorBody {
  if (err instanceof ApiError) return { error: err.code, message: err.message, code: err.status, details: err.details }
  const fe = err as FastifyError
  const domain = err instanceof DomainError ? err : fe.validation ? invalidInput(fe.validation as ValidationIssue[]) : undefined
  if (domain) {
    const code = NATIVE_ERROR_CODES[domain.kind]
    return { error: code, message: domain.message, code: ERROR_CODES[code], details: domain.details }
  }
  // A unique constraint the route did not foresee (a race between two writers) is a conflict, not a crash.
  if (fe.code === '23505') return { error: 'CONFLICT', message: 'The request conflicts with an existing resource', code: 409 }
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined
  if (mapped) return { error: mapped, message: fe.message, code: ERROR_CODES[mapped] }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code = (Object.keys(ERROR_CODES) as ErrorCode[]).find((c) => ERROR_CODES[c] === fe.statusCode) ?? 'BAD_REQUEST'
    return { error: code, message: fe.message, code: fe.statusCode }
  }
  return { error: 'INTERNAL_ERROR', message: 'Internal server error', code: 500 }
}

type ErrorFormat = (body: ErrorBody) => unknown

/** Error formats of path families whose face is not the native API, in the order they were claimed. */
const pathFormats = new Map<string, { paths: RegExp; format: ErrorFormat }>()

/**
 * A face claims its paths for the answers given before any route runs (a malformed URL, an unknown path),
 * so those come in its own error format too. Claimed once per face name; the first claim matching wins.
 */
export function claimErrorFormat(face: string, paths: RegExp, format: ErrorFormat): void {
  if (!pathFormats.has(face)) pathFormats.set(face, { paths, format })
}

function formatOfPath(url: string): ErrorFormat {
  const path = url.split('?')[0]
  for (const { paths, format } of pathFormats.values()) if (paths.test(path)) return format
  return (body) => body
}

/** Errors the router raises before any route runs (a malformed URL, an over-long path parameter). */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const body = toErrorBody(err)
  // The router's message repeats the whole path: name the problem instead.
  if (body.error === 'URI_TOO_LONG') body.message = `A path segment is longer than ${MAX_PARAM_LENGTH} characters`
  if (body.error === 'BAD_REQUEST' && err.code === 'FST_ERR_BAD_URL') body.message = 'The URL is not validly percent-encoded'
  void reply.status(body.code).send(formatOfPath(request.url)(body))
}

/** Longest path parameter the router accepts (agent names are at most 128 characters). */
export const MAX_PARAM_LENGTH = 512

/**
 * The error handler of a face: the native statuses, logging and Retry-After, with the body in the face's
 * own format (a compatibility face registers one for its routes; the native API keeps the native body);
 * `statusOf` where a face's document gives a kind another status (seed 004: validation is 422).
 */
export function errorHandlerFor(format: (body: ErrorBody) => unknown, statusOf: (body: ErrorBody) => number = (body) => body.code) {
  return function handleError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
    const body = toErrorBody(err)
    // A dependency being down (503) is the operator's news, not a bug: one line, no stack per request.
    if (body.code === 503) request.log.warn({ code: body.error, cause: (err.cause as Error | undefined)?.message }, body.message)
    else if (body.code >= 500) request.log.error({ err }, 'request failed')
    else request.log.info({ code: body.error, status: body.code }, body.message)
    if ((body.code === 429 || body.code === 503) && body.details?.retry_after) void reply.header('retry-after', String(body.details.retry_after))
    void reply.status(statusOf(body)).send(format(body))
  }
}

const nativeErrors = errorHandlerFor((body) => body)

/**
 * The native API's error handler. A request that matched no route can still fail before its 404 (a body the
 * 404 route cannot parse, such as `Content-Type: json`): it answers in its path's format, as its 404 would
 * (found by the fuzzer on a seed 003 path).
 */
export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (request.is404) errorHandlerFor(formatOfPath(request.url))(err, request, reply)
  else nativeErrors(err, request, reply)
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const body: ErrorBody = { error: 'NOT_FOUND', message: `No route ${request.method} ${request.url.split('?')[0]}`, code: 404 }
  void reply.status(404).send(formatOfPath(request.url)(body))
}

/**
 * Node's HTTP parser gives up on a connection before there is a request to route: one that sent nothing (or
 * not its headers) within the headers timeout, headers too large, bytes that are not HTTP. It is answered in
 * the native error format (no path is known yet to pick a face's) and closed.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [code, message]: [ErrorCode, string] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? ['REQUEST_TIMEOUT', 'No complete request arrived within the request timeout; the connection is closed']
    : err.code === 'HPE_HEADER_OVERFLOW'
      ? ['HEADERS_TOO_LARGE', 'The request headers are larger than the server accepts (16 KiB)']
      : ['BAD_REQUEST', 'The request is not valid HTTP']
  const status = ERROR_CODES[code]
  const body = JSON.stringify({ error: code, message, code: status } satisfies ErrorBody)
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}
