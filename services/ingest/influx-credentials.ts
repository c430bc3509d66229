// The agent key of an InfluxDB client, wherever the client puts its credentials. The user name of Basic
// auth, of ?u= and of InfluxDB 1.8's `Token <user>:<password>` is never checked: the key alone names the agent
// (agent keys hold no ":"). Checked before the body is read, like every ingest route.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DomainError } from '../errors/domain-error.ts'
import { clientAgentKey, refusalReason, usableAgent } from '../agents/agent-key-auth.ts'
import { findAgentByApiKey } from '../agents/agents-repository.ts'

export const ACCEPTED_CREDENTIALS = 'X-API-Key: <key>, Authorization: Token <key>, Authorization: Bearer <key>, '
  + 'Authorization: Basic base64(<any user>:<key>), or the query parameters ?u=<any user>&p=<key>'

/** onRequest hook of the InfluxDB routes: the agent, or 401 naming every way to send the key (403 for an agent that may not upload). */
export function influxClientAuthentication(app: FastifyInstance) {
  return async function authenticateInfluxClient(request: FastifyRequest): Promise<void> {
    try {
      const key = clientAgentKey(request)
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
