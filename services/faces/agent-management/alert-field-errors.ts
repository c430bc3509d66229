// Native write errors under the face's field names: a native service names the fields of its own body
// (`severity`, `channels[0]`, `type`); a DRF client sent `level`, `notification_channels`, `channel_type`.
// A taken name is a conflict natively and a 400 on `name` in DRF (its unique validator).
import type { FastifyRequest } from 'fastify'
import { DomainError } from '../../errors/domain-error.ts'

/** Runs a native write; its field errors come back named as the face's body names them. */
export async function withFaceFields<T>(names: Record<string, string>, write: () => Promise<T>): Promise<T> {
  try {
    return await write()
  } catch (err) {
    throw renamed(err, names)
  }
}

function renamed(err: unknown, names: Record<string, string>): unknown {
  if (!(err instanceof DomainError) || !err.details) return err
  if (err.kind === 'conflict' && Array.isArray(err.details.name)) {
    return new DomainError('invalid', err.message, { details: { name: [err.message] }, cause: err })
  }
  if (err.kind !== 'invalid') return err
  const details: Record<string, unknown[]> = {}
  for (const [field, problems] of Object.entries(err.details)) {
    // `channels[2]` is the face's list field as a whole; `config.url` stays a path inside `config`.
    const face = names[field] ?? names[field.replace(/\[\d+\]$/, '')] ?? field
    details[face] = [...(details[face] ?? []), ...(Array.isArray(problems) ? problems : [problems])]
  }
  return new DomainError('invalid', err.message, { details, cause: err })
}

/**
 * A preValidation hook refusing null for fields that do not take it, in DRF's words. Checked before the
 * schema: its type coercion would read null as 0, false or "" (a threshold of 0, a channel switched off).
 */
export function refuseNulls(fields: readonly string[]) {
  return async function refuseNull(request: FastifyRequest): Promise<void> {
    const body = request.body
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return
    const nulls = fields.filter((f) => (body as Record<string, unknown>)[f] === null)
    if (nulls.length === 0) return
    throw new DomainError('invalid', `Invalid request: ${nulls[0]} may not be null`, { details: Object.fromEntries(nulls.map((f) => [f, ['This field may not be null.']])) })
  }
}
