// Seed 004's shapes: collectors (= agents, by their integer number), users, the `hours` range and the
// time format its examples use ("2026-01-11T21:00:00Z": whole seconds).
import { Type, type Static } from 'typebox'
import { DomainError, invalidField } from '../../errors/domain-error.ts'
import { Nullable } from '../../http/response-schemas.ts'
import { findAgentByNumber, isOnline, type AgentRow } from '../../agents/agents-repository.ts'
import type { Database } from '../../store/database.ts'
import type { Kysely } from 'kysely'

/** RFC3339 in whole seconds, as the document writes times; null stays null. */
export function seconds(t: Date): string
export function seconds(t: Date | null): string | null
export function seconds(t: Date | null): string | null {
  return t === null ? null : t.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export const Time = Type.String({ format: 'date-time' })

export const CollectorOut = Type.Object({
  id: Type.Integer({ description: 'the collector\'s number: small, stable for its life' }),
  name: Type.String(), hostname: Type.String(), ip_address: Nullable(Type.String()),
  status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
  last_seen: Nullable(Time), os_info: Nullable(Type.String()), cpu_model: Nullable(Type.String()), cpu_count: Nullable(Type.Integer()),
  memory_total_gb: Nullable(Type.Number()), cloud_provider: Nullable(Type.String()), region: Nullable(Type.String()),
  instance_type: Nullable(Type.String()), created_at: Time, updated_at: Time,
})

const GIB = 1024 ** 3
const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null)
const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null)

/** A collector: the agent's columns and what its inventory knows (null where the agent never said). */
export function collectorJson(a: AgentRow, inventory: Record<string, unknown>, onlineWindowSeconds: number): Static<typeof CollectorOut> {
  const memory = count(inventory.memory_total_bytes)
  return {
    id: a.number, name: a.name, hostname: a.hostname ?? a.name, ip_address: a.ip_address,
    status: isOnline(a, onlineWindowSeconds) ? 'online' : 'offline',
    last_seen: seconds(a.last_seen_at), os_info: [a.os, a.os_version].filter(Boolean).join(' ') || null,
    cpu_model: text(inventory.cpu_model), cpu_count: count(inventory.cpu_cores),
    memory_total_gb: memory === null ? null : Math.round((memory / GIB) * 100) / 100,
    cloud_provider: text(inventory.cloud_provider), region: text(inventory.region), instance_type: text(inventory.instance_type),
    created_at: seconds(a.created_at), updated_at: seconds(a.updated_at),
  }
}

export const CollectorParam = Type.Object({ id: Type.String({ maxLength: 64 }) })

/** The organization's collector `{id}` names: a positive integer (an agent's uuid is not one), else 404. */
export async function collectorFor(db: Kysely<Database>, orgId: string, id: string): Promise<AgentRow> {
  const agent = /^\d{1,10}$/.test(id) ? await findAgentByNumber(db, orgId, Number(id)) : undefined
  if (!agent) throw new DomainError('not_found', `Collector ${JSON.stringify(id)} not found (collector ids are the integers GET /dashboard/api/collectors/ lists)`)
  return agent
}

export const UserOut = Type.Object({
  id: Type.Integer(), username: Type.String(), email: Type.String(), first_name: Type.String(), last_name: Type.String(),
})

/** Django's user: first and last name (hostpulse keeps one display name: its first word, then the rest); blanks are "". */
export function userJson(u: { number: number; username: string; email: string | null; display_name: string | null }): Static<typeof UserOut> {
  const [first = '', ...rest] = (u.display_name ?? '').trim().split(/\s+/)
  return { id: u.number, username: u.username, email: u.email ?? '', first_name: first, last_name: rest.join(' ') }
}

/** The appendix's time ranges; `hours` takes these or the hours they stand for. */
export const TIME_RANGES: Record<string, number | null> = { '1h': 1, '6h': 6, '24h': 24, '7d': 168, '30d': 720, all: null }
const HOURS = ['1', '6', '24', '168', '720']

export const HoursQuery = Type.Object({
  hours: Type.Optional(Type.String({ maxLength: 16, description: '1, 6, 24, 168 or 720 (or 1h, 6h, 24h, 7d, 30d, all); default 24' })),
})

export interface HoursRange { start: Date; end: Date; hours: number | null }

/** `hours` → [start, end): the last N hours, or `all` from the collector's first day (its creation). */
export function rangeOfHours(text: string | undefined, since: Date, now = new Date()): HoursRange {
  const value = text ?? '24'
  const hours = HOURS.includes(value) ? Number(value) : Object.hasOwn(TIME_RANGES, value) ? TIME_RANGES[value] : undefined
  if (hours === undefined) throw invalidField('hours', `must be one of: ${[...HOURS, ...Object.keys(TIME_RANGES)].join(', ')}`)
  const start = hours === null ? new Date(Math.min(since.getTime(), now.getTime() - 3_600_000)) : new Date(now.getTime() - hours * 3_600_000)
  return { start, end: now, hours }
}
