// Who a seed 003 agent request comes from: its agent key (X-API-Key), checked before the body is read by the
// ingest plugin's hook, which refuses and counts unknown, inactive and unapproved agents on every face.
// The seed's own "agent authentication via hostname" is insecure (anyone can name any host): it is honoured
// only with AGENT_HOSTNAME_AUTH on, only without a key, and only for one approved, active agent.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DomainError } from '../../errors/domain-error.ts'
import { agentKeyFromHeaders, refusalReason, usableAgent } from '../../agents/agent-key-auth.ts'
import { agentsWithHostname, type AgentRow } from '../../agents/agents-repository.ts'

const NO_KEY = 'Missing X-API-Key header: send the agent key (shown once when the agent was created or its registration approved)'

/**
 * The agent a hostname names across organizations, if it may send: 401 when no agent or several have it,
 * 403 when it is inactive or not approved. `count`: an upload's refusals are counted like every face's.
 */
export async function agentByHostname(app: FastifyInstance, hostname: unknown, count: boolean): Promise<AgentRow> {
  try {
    if (typeof hostname !== 'string' || hostname.length === 0 || hostname.length > 255) {
      throw new DomainError('unauthenticated', `${NO_KEY}, or a hostname naming an approved agent`)
    }
    const found = await agentsWithHostname(app.store.db, hostname, 2)
    if (found.length === 0) throw new DomainError('unauthenticated', `No agent has hostname "${hostname}": register it (POST /api/agent/register/) or send its X-API-Key`)
    if (found.length > 1) throw new DomainError('unauthenticated', `Several agents have hostname "${hostname}": send the agent's X-API-Key`)
    return usableAgent(found[0])
  } catch (err) {
    const reason = count ? refusalReason(err) : undefined
    if (reason) app.observability.recordIngestRefused(reason)
    throw err
  }
}

/** True when the request should be attributed by the hostname it states (hostname authentication on, no key sent). */
export function byHostname(hostnameAuth: boolean, request: FastifyRequest): boolean {
  return hostnameAuth && agentKeyFromHeaders(request.headers) === undefined
}

/**
 * The hooks of an upload route: the key before the body is read; with hostname authentication and no key,
 * the body's `hostname` once it is parsed and before it is validated (so a stranger learns nothing about
 * the body's rules). Either way `request.ingestingAgent` is the sender afterwards.
 */
export function uploadHooks(app: FastifyInstance, hostnameAuth: boolean) {
  return {
    onRequest: async (request: FastifyRequest) => {
      if (!byHostname(hostnameAuth, request)) await app.authenticateAgentKey(request)
    },
    preValidation: async (request: FastifyRequest) => {
      if (request.ingestingAgent) return
      const body = request.body as { hostname?: unknown } | null
      request.ingestingAgent = await agentByHostname(app, typeof body === 'object' && body !== null ? body.hostname : undefined, true)
    },
  }
}
