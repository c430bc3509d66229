// The agent key of an InfluxDB client, wherever the client puts its credentials. The user name of Basic
// auth, of ?u= and of InfluxDB 1.8's `Token <user>:<password>` is never checked: the key alone names the agent
// (agent keys hold no ":"). Checked before the body is read, like every ingest route.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DomainError } from '../errors/domain-error.ts'
import { agentKeyFromHeaders, refusalReason, usableAgent } from '../agents/agent-key-auth.ts'
import { findAgentByApiKey } from '../agents/agents-repository.ts'

export const ACCEPTED_CREDENTIALS = 'X-API-Key: <key>, Authorization: Token <key>, Authorization: Bearer <key>, '
  + 'Authorization: Basic base64(<any user>:<key>), or the query parameters ?u=<any user>&p=<key>'

/** `Token <key>` (InfluxDB 2, Telegraf), `Token <user>:<key>` (InfluxDB 1.8), `Bearer <key>` (InfluxDB 3 clients). */
function tokenOf(authorization: string | undefined): string | undefined {
  const [scheme = '', value = ''] = (authorization ?? '').trim().split(/\s+/, 2)
  return /^(token|bearer)$/i.test(scheme) ? value.slice(value.lastIndexOf(':') + 1) : undefined
}

/**
 * X-API-Key first (hostpulse's own header), then the Authorization header (Token, Bearer, Basic with the key
 * as password), then InfluxDB 1.x's `?p=`.
 */
export function influxAgentKey(request: FastifyRequest): string | undefined {
  const fromHeaders = typeof request.headers['x-api-key'] === 'string' ? request.headers['x-api-key'] : tokenOf(request.headers.authorization) ?? agentKeyFromHeaders(request.headers)
  if (fromHeaders) return fromHeaders
  const p = (request.query as Record<string, unknown> | undefined)?.p
  return typeof p === 'string' && p.length > 0 ? p : undefined
}

/** onRequest hook of the InfluxDB routes: the agent, or 401 naming every way to send the key (403 for an agent that may not upload). */
export function influxClientAuthentication(app: FastifyInstance) {
  return async function authenticateInfluxClient(request: FastifyRequest): Promise<void> {
    try {
      const key = influxAgentKey(request)
      if (!key) throw new DomainError('unauthenticated', `No agent key: send the key of an agent (created with POST /api/v1/agents) as ${ACCEPTED_CREDENTIALS}`)
      const agent = await findAgentByApiKey(app.store.db, key)
      if (!agent) throw new DomainError('unauthenticated', `Unknown or revoked agent key: send the key of an agent as ${ACCEPTED_CREDENTIALS}`)
      request.ingestingAgent = usableAgent(agent)
    } catch (err) {
      const reason = refusalReason(err)
      if (reason) app.observability.recordIngestRefused(reason)
      throw err
    }
  }
}
