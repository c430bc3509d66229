// PostgreSQL text cannot hold U+0000: a NUL anywhere in a request would surface as a database error (5xx).
// Refuse it up front as a 400 naming the field.
import type { FastifyRequest } from 'fastify'
import { ApiError, fieldPath } from './errors.ts'

function findNul(value: unknown, pointer: string, depth = 0): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? pointer : undefined
  // Binary bodies (protobuf, snappy, gzip) are bytes, not text: their routes check the strings they decode.
  if (depth > 32 || value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return undefined
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\u0000')) return `${pointer}/${k}`
    const hit = findNul(v, `${pointer}/${k}`, depth + 1)
    if (hit) return hit
  }
  return undefined
}

export async function rejectNulCharacters(request: FastifyRequest): Promise<void> {
  for (const part of ['params', 'query', 'body'] as const) {
    const hit = findNul(request[part], '')
    if (hit !== undefined) {
      const field = fieldPath(hit)
      throw new ApiError('VALIDATION_ERROR', `Invalid request: ${field} contains a NUL character`, { [field]: ['must not contain NUL (\\u0000) characters'] })
    }
  }
}
