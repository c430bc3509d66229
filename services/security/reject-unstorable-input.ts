// Input that no column can hold is refused as a 400 naming the field, before it can surface as a
// database error (5xx): lone UTF-16 surrogates (no UTF-8 form) in any string, and numbers that are not
// finite — JSON.parse turns 1e309 into Infinity, and ajv's coercion turns "1e309" into Infinity that
// passes `integer` and `maximum`.
import type { FastifyRequest } from 'fastify'
import { invalidField } from '../errors/domain-error.ts'
import { fieldPath } from '../errors/validation-issues.ts'

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

function find(value: unknown, pointer: string, bad: (v: unknown) => boolean, depth = 0): string | undefined {
  if (bad(value)) return pointer
  // Binary bodies (protobuf, snappy, gzip) are bytes, not text: their routes check the strings they decode.
  if (depth > 32 || value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return undefined
  for (const [k, v] of Object.entries(value)) {
    if (bad(k)) return `${pointer}/${k.replace(LONE_SURROGATE, '?')}`
    const hit = find(v, `${pointer}/${k}`, bad, depth + 1)
    if (hit !== undefined) return hit
  }
  return undefined
}

function check(request: FastifyRequest, bad: (v: unknown) => boolean, problem: string): void {
  for (const part of ['params', 'query', 'body'] as const) {
    const hit = find(request[part], '', bad)
    if (hit !== undefined) {
      const field = fieldPath(hit)
      throw invalidField(field, problem)
    }
  }
}

/** preValidation: strings as they arrived. */
export async function rejectLoneSurrogates(request: FastifyRequest): Promise<void> {
  check(request, (v) => typeof v === 'string' && LONE_SURROGATE.test(v), 'contains an unpaired UTF-16 surrogate (not valid Unicode text)')
}

/** preHandler: numbers after validation and coercion. */
export async function rejectNonFiniteNumbers(request: FastifyRequest): Promise<void> {
  check(request, (v) => typeof v === 'number' && !Number.isFinite(v), 'must be a finite number')
}
