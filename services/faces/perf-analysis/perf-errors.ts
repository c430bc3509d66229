// Seed 004's error format: {"error": CODE, "message", "details": {…}} on every failure, `details` always
// present. Its codes are the native ones, but a validation failure is 422 (native: 400), and each field's
// problems read as sentences ("This field is required", "Must be one of: html, pdf").
import { Type } from 'typebox'
import type { ErrorBody } from '../../http/errors.ts'

export const PerfError = Type.Object({
  error: Type.String({ description: 'BAD_REQUEST, UNAUTHORIZED, INVALID_CREDENTIALS, FORBIDDEN, NOT_FOUND, CONFLICT, VALIDATION_ERROR, RATE_LIMITED, INTERNAL_ERROR' }),
  message: Type.String(),
  details: Type.Object({}, { additionalProperties: true }),
})

export const PERF_ERRORS = { 400: PerfError, 401: PerfError, 404: PerfError, 422: PerfError, 429: PerfError }
export const PERF_WRITE_ERRORS = { ...PERF_ERRORS, 403: PerfError, 409: PerfError }

/** "is required" → "This field is required"; "must be one of: a, b" → "Must be one of: a, b". */
export function perfFieldMessage(problem: string): string {
  if (problem === 'is required') return 'This field is required'
  return /^(is|has|was)\b/.test(problem) ? `This field ${problem}` : problem.charAt(0).toUpperCase() + problem.slice(1)
}

export function perfErrorBody(body: ErrorBody): { error: string; message: string; details: Record<string, unknown> } {
  const details: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(body.details ?? {})) {
    details[key === '(body)' ? 'non_field_errors' : key] = Array.isArray(value) ? value.map((p) => perfFieldMessage(String(p))) : value
  }
  return { error: body.error, message: body.message, details }
}

export function perfStatus(body: ErrorBody): number {
  return body.error === 'VALIDATION_ERROR' ? 422 : body.code
}
