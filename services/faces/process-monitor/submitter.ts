// Who a seed 000/002 submission writes as. An agent's own key writes to that agent, whatever hostname the
// body states, unless that hostname is another agent's (403). The seeds' one shared key (PROCMON_API_KEY,
// only when the operator sets it) names the host by the body's hostname and creates it on first sight.
import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { sha256 } from '../../auth/secrets.ts'
import { DomainError } from '../../errors/domain-error.ts'
import { agentKeyFromHeaders, refusalReason, usableAgent } from '../../agents/agent-key-auth.ts'
import { findAgentByHostname, type AgentRow } from '../../agents/agents-repository.ts'
import { createEnrolledAgent } from '../../auth/enrollment.ts'

export interface SharedKey {
  /** sha256 of PROCMON_API_KEY: compared in constant time, never kept in clear. */
  hash: Buffer
  orgId: string
  newHosts: 'pending' | 'active'
}

/** True when the request carries the shared key (and the operator set one). */
export function carriesSharedKey(shared: SharedKey | undefined, request: FastifyRequest): boolean {
  const key = agentKeyFromHeaders(request.headers)
  if (!shared || !key) return false
  return timingSafeEqual(Buffer.from(sha256(key), 'hex'), shared.hash)
}

/** Hosts being created right now, so two first submissions of one host make one agent. */
const creating = new Map<string, Promise<AgentRow>>()

async function hostForSharedKey(app: FastifyInstance, shared: SharedKey, facts: { hostname: string; ip_address?: string | null; os_info?: string | null }): Promise<AgentRow> {
  const db = app.store.db
  const found = await findAgentByHostname(db, shared.orgId, facts.hostname)
  if (found) return found
  const key = `${shared.orgId}\0${facts.hostname}`
  let pending = creating.get(key)
  if (!pending) {
    pending = (async () => {
      const again = await findAgentByHostname(db, shared.orgId, facts.hostname)
      if (again) return again
      const { agent } = await createEnrolledAgent(db, shared.orgId, {
        hostname: facts.hostname, ip_address: facts.ip_address ?? undefined, os: facts.os_info ?? undefined, inventory: {},
      }, { source: 'procmon' }, false, shared.newHosts)
      app.log.warn({ agent: agent.name, status: agent.status }, `host "${facts.hostname}" first seen through PROCMON_API_KEY: agent "${agent.name}" created (${agent.status})`)
      return agent
    })().finally(() => creating.delete(key))
    creating.set(key, pending)
  }
  return pending
}

/**
 * The agent a submission is stored as. The request's own agent (authenticated by its key before the body
 * was read) or, with the shared key, the host the body names; refusals are counted like every face's.
 */
export async function submittingAgent(app: FastifyInstance, request: FastifyRequest, shared: SharedKey | undefined,
  facts: { hostname: string; ip_address?: string | null; os_info?: string | null }): Promise<AgentRow> {
  if (!carriesSharedKey(shared, request)) {
    const own = request.ingestingAgent!
    const named = await findAgentByHostname(app.store.db, own.org_id, facts.hostname)
    if (named && named.id !== own.id) {
      throw new DomainError('forbidden', `This key belongs to agent "${own.name}"; hostname "${facts.hostname}" is agent "${named.name}": send each host's data with its own key`)
    }
    return own
  }
  const host = await hostForSharedKey(app, shared!, facts)
  try {
    return usableAgent(host)
  } catch (err) {
    const reason = refusalReason(err)
    if (reason) app.observability.recordIngestRefused(reason)
    throw err
  }
}
