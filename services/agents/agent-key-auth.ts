// The agent behind an X-API-Key header: 401 for a missing, unknown or revoked key, 403 when inactive or
// not approved yet. Every face's uploads pass here, so none stores data of an agent this refuses.
import type { FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import { DomainError } from '../errors/domain-error.ts'
import { findAgentByApiKey, type AgentRow } from './agents-repository.ts'

/**
 * The agent key a request carries: `X-API-Key`, or `Authorization: Token <key>` (InfluxDB 2 clients,
 * Telegraf's outputs.influxdb_v2), or `Authorization: Basic` with the key as password (InfluxDB 1.x).
 */
export function agentKeyFromHeaders(headers: FastifyRequest['headers']): string | undefined {
  const direct = headers['x-api-key']
  if (typeof direct === 'string') return direct
  const [scheme, value = ''] = (headers.authorization ?? '').split(/\s+/, 2)
  if (/^token$/i.test(scheme)) return value
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(value, 'base64').toString()
    return decoded.slice(decoded.indexOf(':') + 1)
  }
  return undefined
}

/**
 * The agent key wherever an InfluxDB client puts its credentials: X-API-Key, `Token <key>` (InfluxDB 2,
 * Telegraf), `Token <user>:<key>` (InfluxDB 1.8), `Bearer <key>` (InfluxDB 3 clients), Basic with the key as
 * password, then 1.x's `?p=`. The user name is never checked: the key alone names the agent (keys hold no ":").
 */
export function clientAgentKey(request: FastifyRequest): string | undefined {
  const direct = request.headers['x-api-key']
  if (typeof direct === 'string') return direct
  const [scheme = '', value = ''] = (request.headers.authorization ?? '').trim().split(/\s+/, 2)
  if (/^(token|bearer)$/i.test(scheme)) return value.slice(value.lastIndexOf(':') + 1)
  const fromHeaders = agentKeyFromHeaders(request.headers)
  if (fromHeaders) return fromHeaders
  const p = (request.query as Record<string, unknown> | undefined)?.p
  return typeof p === 'string' && p.length > 0 ? p : undefined
}

export async function agentFromApiKey(db: Kysely<Database>, request: FastifyRequest): Promise<AgentRow> {
  const key = agentKeyFromHeaders(request.headers)
  if (typeof key !== 'string' || key.length === 0) throw new DomainError('unauthenticated', 'Missing X-API-Key header: send the agent key created with POST /api/v1/agents')
  return usableAgent(await findAgentByApiKey(db, key))
}

/** An agent that may upload: 401 when there is none, 403 (with what to do) when inactive or unapproved. */
export function usableAgent(agent: AgentRow | undefined): AgentRow {
  if (!agent) throw new DomainError('unauthenticated', 'Unknown or revoked agent API key')
  if (agent.status === 'inactive') throw new DomainError('forbidden', `Agent "${agent.name}" is inactive: reactivate it to accept its data`)
  if (agent.status === 'pending') throw new DomainError('forbidden', `Agent "${agent.name}" is not approved yet: approve it to accept its data`)
  return agent
}

/** Why an upload was refused, for the refusal counter; undefined for an error that is not a refusal. */
export function refusalReason(err: unknown): 'unknown_key' | 'inactive' | 'unapproved' | undefined {
  if (!(err instanceof DomainError)) return undefined
  if (err.kind === 'unauthenticated') return 'unknown_key'
  if (err.kind === 'forbidden') return /not approved/.test(err.message) ? 'unapproved' : 'inactive'
  return undefined
}
