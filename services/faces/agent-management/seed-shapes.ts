// Seed 003's JSON for agents, registrations and agent configuration, built from the native rows, and the
// few rules of the seed's shape that have no native twin (its two booleans over the one native status).
import { createHash } from 'node:crypto'
import { Type } from 'typebox'
import { METRIC_FAMILIES, type AgentRemoteConfig } from '../../../contract/agent-config.ts'
import { DomainError } from '../../errors/domain-error.ts'
import type { AgentStatus } from '../../store/database.ts'
import { isOnline, type AgentRow } from '../../agents/agents-repository.ts'
import type { NumberedRegistration } from '../../agents/enrollment-repository.ts'
import type { SessionSpan } from '../../query/session-reads.ts'
import { Nullable, Time } from '../../http/response-schemas.ts'
import { MAX_FUTURE_MS } from '../../ingest/ingest-limits.ts'

/** A DRF error: `{"detail": "…"}`, or `{"<field>": ["…"]}` for a 400. */
export const DrfError = Type.Object({}, { additionalProperties: true, description: '{"detail": "…"} or, for a 400, {"<field>": ["…"]}' })
export const DRF_ERRORS = { 400: DrfError, 401: DrfError, 404: DrfError, 429: DrfError }
export const DRF_WRITE_ERRORS = { ...DRF_ERRORS, 403: DrfError, 409: DrfError }

/** `{id}` in a path: the integer number the seed shows (anything else finds nothing, like a number nobody has). */
export const NumberParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, description: 'the integer id' }) })

export function numberFrom(id: string, what: string): number {
  const n = /^\d{1,10}$/.test(id) ? Number(id) : NaN
  if (!(n >= 1 && n <= 2147483647)) throw new DomainError('not_found', `${what} ${JSON.stringify(id)} not found.`)
  return n
}

/** `?agent_id=`: an agent's integer id. */
export const AgentNumberQuery = Type.Integer({ minimum: 1, maximum: 2147483647, description: "the agent's integer id" })

/** `?hours=`: how far back, from now; 24 by default, 30 days at most. */
export const HoursQuery = Type.Integer({ minimum: 1, maximum: 720, default: 24, description: 'hours back from now (default 24, at most 720)' })

/** The last `hours` hours, up to the clock skew ingest tolerates (an agent's clock may run a little ahead). */
export function hoursWindow(hours: number | undefined, now = Date.now()): { start: Date; end: Date } {
  return { start: new Date(now - (hours ?? 24) * 3_600_000), end: new Date(now + MAX_FUTURE_MS) }
}

const Text = Nullable(Type.String())
const iso = (d: Date | null) => (d ? d.toISOString() : null)

export const AgentOut = Type.Object({
  id: Type.Integer({ description: 'the agent number; the native API names it by `uuid` or `name`' }),
  uuid: Type.String({ format: 'uuid' }), name: Type.String(), hostname: Text, ip_address: Text, os: Text, os_version: Text, agent_version: Text,
  labels: Type.Record(Type.String(), Type.String()),
  status: Type.String({ description: 'the native status: active, inactive or pending' }),
  is_active: Type.Boolean({ description: 'accepts data (status active)' }), is_approved: Type.Boolean({ description: 'status is not pending' }),
  is_online: Type.Boolean({ description: 'sent metrics within the online window' }),
  last_seen: Nullable(Time), last_metrics_at: Nullable(Time), created_at: Time, updated_at: Time,
})

export function agentJson(a: AgentRow, onlineWindowSeconds: number, now = Date.now()) {
  return {
    id: a.number, uuid: a.id, name: a.name, hostname: a.hostname, ip_address: a.ip_address, os: a.os, os_version: a.os_version,
    agent_version: a.agent_version, labels: a.labels, status: a.status, is_active: a.status === 'active', is_approved: a.status !== 'pending',
    is_online: isOnline(a, onlineWindowSeconds, now),
    last_seen: iso(a.last_seen_at), last_metrics_at: iso(a.last_metrics_at), created_at: a.created_at.toISOString(), updated_at: a.updated_at.toISOString(),
  }
}

/**
 * The native status after a change of the seed's booleans. An unapproved agent (pending) is never active;
 * making it active without approving it is a conflict, approving it makes it active unless told otherwise.
 */
export function statusFor(current: AgentStatus, change: { is_active?: boolean; is_approved?: boolean }): AgentStatus {
  const approved = change.is_approved ?? current !== 'pending'
  if (!approved) {
    if (change.is_active === true) throw new DomainError('conflict', 'The agent is not approved yet: approve it first (POST /api/agents/{id}/approve/)')
    return 'pending'
  }
  const active = change.is_active ?? (current === 'pending' || current === 'active')
  return active ? 'active' : 'inactive'
}

export const RegistrationOut = Type.Object({
  id: Type.Integer({ description: 'the registration number' }), uuid: Type.String({ format: 'uuid' }),
  hostname: Type.String(), ip_address: Text, os: Text, os_version: Text, agent_version: Text,
  status: Type.String({ description: 'pending, approved or rejected' }), requested_at: Time, reviewed_at: Nullable(Time),
  notes: Text, agent: Nullable(Type.Integer({ description: "the approved agent's id" })), agent_uuid: Nullable(Type.String({ format: 'uuid' })),
})

export function registrationJson(r: NumberedRegistration) {
  return {
    id: r.number, uuid: r.id, hostname: r.hostname, ip_address: r.ip_address, os: r.os, os_version: r.os_version, agent_version: r.agent_version,
    status: r.status, requested_at: r.requested_at.toISOString(), reviewed_at: iso(r.decided_at), notes: r.reason,
    agent: r.agent_number, agent_uuid: r.agent_id,
  }
}

export const AgentConfigOut = Type.Object({
  agent_id: Type.Integer(), hostname: Text,
  monitoring_scope: Type.Array(Type.String(), { description: 'the metric families the server does not switch off' }),
  interval: Nullable(Type.Number({ description: 'seconds between collections; null: the agent keeps its own setting' })),
  max_processes: Nullable(Type.Integer()),
  version: Type.String({ description: 'changes whenever the configuration changes' }),
  agent_version: Text,
  config: Type.Object({}, { additionalProperties: true, description: 'the native configuration, as the hostpulse agent fetches it' }),
})

/** The configuration the hostpulse agent fetches (GET /api/v1/agents/self/config), in the seed's words. */
export function agentConfigJson(a: AgentRow, config: AgentRemoteConfig) {
  return {
    agent_id: a.number, hostname: a.hostname,
    monitoring_scope: METRIC_FAMILIES.filter((f) => config.collect?.[f] !== false),
    interval: config.interval_seconds ?? null, max_processes: config.max_processes ?? null,
    version: createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 12),
    agent_version: a.agent_version, config,
  }
}

// ---- Sessions: a stable id for what the native store keeps as repeated rows ----------------------

/** What tells apart the sessions one agent had logged in at one instant. */
const sessionKey = (s: Pick<SessionSpan, 'username' | 'terminal' | 'host' | 'pid'>) =>
  createHash('sha256').update(JSON.stringify([s.username, s.terminal, s.host, s.pid])).digest('hex').slice(0, 12)

/**
 * A session's id: `<agent id>-<login time in ms>-<12 hex of sha256(user, terminal, host, pid)>`. Derived
 * from what the session is, so it never changes and needs no table; the path gives back agent and login.
 */
export function sessionId(agentNumber: number, s: SessionSpan): string {
  return `${agentNumber}-${s.login_time.getTime()}-${sessionKey(s)}`
}

const LAST_MS_OF_9999 = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

export function parseSessionId(id: string): { agentNumber: number; loginTime: Date; key: string } | undefined {
  const m = /^(\d{1,10})-(\d{1,15})-([0-9a-f]{12})$/.exec(id)
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 2147483647) return undefined
  // Past the year 9999 no login was stored (and no time a query can be given in RFC 3339).
  if (Number(m[2]) > LAST_MS_OF_9999) return undefined
  return { agentNumber: Number(m[1]), loginTime: new Date(Number(m[2])), key: m[3] }
}

export const sessionMatches = (s: SessionSpan, key: string) => sessionKey(s) === key

export const SessionOut = Type.Object({
  id: Type.String({ description: '<agent id>-<login time, ms>-<hash of user, terminal, host, pid>: stable' }),
  agent: Type.Integer(), hostname: Text, username: Type.String(), terminal: Text, host: Text, pid: Nullable(Type.Integer()),
  login_time: Time, first_seen: Time, last_seen: Time,
  is_active: Type.Boolean({ description: "in the agent's newest session report" }),
  logout_time: Nullable(Type.String({ format: 'date-time', description: 'null while logged in; else the last report that showed it (it ended after that)' })),
})

export function sessionJson(agent: Pick<AgentRow, 'number' | 'hostname'>, s: SessionSpan) {
  const active = s.last_seen.getTime() >= s.reported_at.getTime()
  return {
    id: sessionId(agent.number, s), agent: agent.number, hostname: agent.hostname, username: s.username, terminal: s.terminal, host: s.host, pid: s.pid,
    login_time: s.login_time.toISOString(), first_seen: s.first_seen.toISOString(), last_seen: s.last_seen.toISOString(),
    is_active: active, logout_time: active ? null : s.last_seen.toISOString(),
  }
}
