// The agent key of an InfluxDB client, wherever the client puts its credentials. The user name of Basic
// auth, of ?u= and of InfluxDB 1.8's `Token <user>:<password>` is never checked: the key alone names the agent
// (agent keys hold no ":"). Checked before the body is read, like every ingest route.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DomainError } from '../errors/domain-error.ts'
import { clientAgentKey, refusalReason, usableAgent } from '../agents/agent-key-auth.ts'
import { findAgentByApiKey } from '../agents/agents-repository.ts'
import { ENROLLMENT_TOKEN_PREFIX, writerEnrollment } from '../agents/writer-hosts.ts'

export const ACCEPTED_CREDENTIALS = 'X-API-Key: <key>, Authorization: Token <key>, Authorization: Bearer <key>, '
  + 'Authorization: Basic base64(<any user>:<key>), or the query parameters ?u=<any user>&p=<key>'

export interface WriterAuthenticationOptions {
  /**
   * The route maps each series to its host (remote write's `instance`, OTLP's `host.name`), so an enrollment
   * token may write too: each host becomes an agent of the token's organization (agents/writer-hosts.ts).
   */
  enrollment?: boolean
}

/**
 * onRequest hook of the writers' routes: the agent, or with `enrollment` an enrollment token; else 401 naming
 * every way to send the key (403 for an agent that may not upload).
 */
export function influxClientAuthentication(app: FastifyInstance, options: WriterAuthenticationOptions = {}) {
  return async function authenticateInfluxClient(request: FastifyRequest): Promise<void> {
    try {
      const key = clientAgentKey(request)
      if (!key) throw new DomainError('unauthenticated', `No agent key: send the key of an agent (created with POST /api/v1/agents) as ${ACCEPTED_CREDENTIALS}`)
      if (key.startsWith(ENROLLMENT_TOKEN_PREFIX)) {
        if (!options.enrollment) {
          throw new DomainError('unauthenticated', `An enrollment token cannot write here: this route stores everything under one agent, so send that agent's key as ${ACCEPTED_CREDENTIALS}`)
        }
        request.writerEnrollment = (await writerEnrollment(app.store.db, key))!
        return
      }
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
