// Silences and maintenance windows as the API takes and shows them: the body schema, the checks a
// schema cannot make (a matcher is given, the window is sane), and the JSON of a stored silence.
import { Type, type Static } from 'typebox'
import type { Selectable } from 'kysely'
import { invalidField, type DomainError } from '../errors/domain-error.ts'
import { Nullable, Time } from '../http/response-schemas.ts'
import { parseRfc3339 } from '../query/time-range.ts'
import { parseDuration } from '../time/duration.ts'
import type { SilenceMatchers, SilencesTable } from '../store/database.ts'
import { SEVERITIES } from './event-views.ts'

/** The longest window one silence may cover, and how far ahead one may be scheduled. */
export const MAX_SILENCE_MS = 366 * 86_400_000
export const SILENCE_KINDS = ['silence', 'maintenance'] as const
export type SilenceStatus = 'pending' | 'active' | 'expired'

export const Matchers = Type.Object({
  rule_id: Type.Optional(Type.String({ format: 'uuid', description: 'a rule of your organization' })),
  rule: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'rule name' })),
  agent: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'agent name or uuid' })),
  severity: Type.Optional(Type.Union(SEVERITIES.map((s) => Type.Literal(s)))),
  labels: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 64 }), Type.String({ maxLength: 256 }), {
    maxProperties: 32, description: 'agent labels; every pair must match',
  })),
}, { additionalProperties: false, description: 'every matcher given must match; at least one is required' })

export const SilenceBody = Type.Object({
  kind: Type.Optional(Type.Union(SILENCE_KINDS.map((k) => Type.Literal(k)), { description: 'silence (default) or maintenance' })),
  matchers: Matchers,
  starts_at: Type.Optional(Type.String({ maxLength: 64, description: 'RFC3339; default now (PUT: unchanged)' })),
  ends_at: Type.Optional(Type.String({ maxLength: 64, description: 'RFC3339; or give duration' })),
  duration: Type.Optional(Type.String({ maxLength: 32, description: 'length from starts_at, e.g. 2h or 1d; or give ends_at' })),
  comment: Type.Optional(Type.String({ maxLength: 2000 })),
}, { additionalProperties: false })
export type SilenceBody = Static<typeof SilenceBody>

export const SilenceOut = Type.Object({
  id: Type.String(), kind: Type.String(),
  status: Type.String({ description: 'pending (starts later), active, or expired' }),
  matchers: Type.Object({
    rule_id: Type.Optional(Type.String()), rule: Type.Optional(Type.String()), agent: Type.Optional(Type.String()),
    severity: Type.Optional(Type.String()), labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  }),
  starts_at: Time, ends_at: Time, comment: Type.String(),
  created_by: Nullable(Type.String()), created_by_name: Nullable(Type.String()), created_at: Time,
})

export function bad(field: string, message: string): DomainError {
  return invalidField(field, message)
}

/** The matchers as stored: empty ones dropped; at least one left, or a 400. */
export function checkedMatchers(m: Static<typeof Matchers>): SilenceMatchers {
  const out: SilenceMatchers = {}
  if (m.rule_id !== undefined) out.rule_id = m.rule_id.toLowerCase()
  if (m.rule !== undefined) out.rule = m.rule
  if (m.agent !== undefined) out.agent = m.agent
  if (m.severity !== undefined) out.severity = m.severity
  if (m.labels !== undefined) {
    for (const key of Object.keys(m.labels)) {
      if (key.length === 0 || key.length > 64) throw bad(`matchers.labels`, 'keys must be 1 to 64 characters')
    }
    if (Object.keys(m.labels).length > 0) out.labels = m.labels
  }
  if (Object.keys(out).length === 0) {
    throw bad('matchers', 'must have at least one of rule_id, rule, agent, severity or labels (a silence of everything is refused)')
  }
  return out
}

/** starts_at/ends_at from the body: `duration` counts from starts_at; the window must end in the future. */
export function silenceWindow(body: SilenceBody, now: Date, currentStart?: Date): { starts: Date; ends: Date } {
  const starts = body.starts_at !== undefined ? parseRfc3339('starts_at', body.starts_at) : currentStart ?? now
  if (starts.getTime() - now.getTime() > MAX_SILENCE_MS) throw bad('starts_at', 'must be at most 366 days from now')
  if (body.ends_at !== undefined && body.duration !== undefined) throw bad('duration', 'cannot be given with ends_at: choose one')
  let ends: Date
  let field = 'ends_at'
  if (body.ends_at !== undefined) {
    ends = parseRfc3339('ends_at', body.ends_at)
  } else if (body.duration !== undefined) {
    field = 'duration'
    let ms: number
    try { ms = parseDuration(body.duration) } catch { throw bad('duration', `must be a duration such as 30m, 2h or 7d (got "${body.duration}")`) }
    if (ms <= 0) throw bad('duration', 'must be longer than 0')
    if (ms > MAX_SILENCE_MS) throw bad('duration', 'must be at most 366 days')
    ends = new Date(starts.getTime() + ms)
  } else {
    throw bad('ends_at', 'is required (or give duration, e.g. 2h)')
  }
  if (ends <= starts) throw bad(field, 'must end after starts_at')
  if (ends <= now) throw bad(field, 'must end in the future (a window that is over would mute nothing)')
  if (ends.getTime() - starts.getTime() > MAX_SILENCE_MS) throw bad(field, 'must end at most 366 days after starts_at')
  return { starts, ends }
}

export function silenceStatus(s: { starts_at: Date; ends_at: Date }, now = new Date()): SilenceStatus {
  return now < s.starts_at ? 'pending' : now < s.ends_at ? 'active' : 'expired'
}

export const SILENCE_COLUMNS = ['id', 'org_id', 'kind', 'matchers', 'starts_at', 'ends_at', 'comment', 'created_by', 'created_by_name', 'created_at'] as const
export type SilenceRow = Pick<Selectable<SilencesTable>, (typeof SILENCE_COLUMNS)[number]>

export function silenceView(s: SilenceRow, now = new Date()) {
  return {
    id: s.id, kind: s.kind, status: silenceStatus(s, now), matchers: s.matchers,
    starts_at: s.starts_at.toISOString(), ends_at: s.ends_at.toISOString(), comment: s.comment,
    created_by: s.created_by, created_by_name: s.created_by_name, created_at: s.created_at.toISOString(),
  }
}
