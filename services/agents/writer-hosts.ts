// Writers that speak for many hosts (a Prometheus server remote-writing every target it scrapes, an
// OpenTelemetry Collector gateway) authenticate with an enrollment token instead of one agent's key. Each
// host they name (remote write's `instance`, OTLP's `host.name`) is an agent of the token's organization:
// an agent already there (by hostname, then by name) takes its data; a new host is registered under the
// token's rules, exactly as an agent registering itself: an auto-approving token creates the agent on first
// sight, any other token files a registration that an admin or editor approves, and until then (or for an
// inactive agent, or once the token can register no more) that host's samples are refused with the reason.
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import { DomainError } from '../errors/domain-error.ts'
import { findTokenBySecret, tokenUnusableReason, agentNameFor } from '../auth/enrollment.ts'
import { findAgent, findAgentByHostname, type AgentRow } from './agents-repository.ts'
import { registerHost } from './enrollment-repository.ts'

/** An enrollment token's secret and organization, as a writer presented it. */
export interface WriterEnrollment { secret: string; orgId: string; tokenId: string }

/** Enrollment tokens start with this; agent keys never do. */
export const ENROLLMENT_TOKEN_PREFIX = 'hpe_'

/** New hosts one request may register: a flood of made-up instance labels stops here. */
export const MAX_NEW_HOSTS_PER_REQUEST = 50

/**
 * The enrollment a credential names, for the writers' authentication: undefined for anything that is not an
 * enrollment token; 401 for a token that is unknown, revoked or expired (a used-up one still writes for the
 * hosts it registered: only new hosts need a use).
 */
export async function writerEnrollment(db: Kysely<Database>, credential: string): Promise<WriterEnrollment | undefined> {
  if (!credential.startsWith(ENROLLMENT_TOKEN_PREFIX)) return undefined
  const token = await findTokenBySecret(db, credential)
  if (!token) throw new DomainError('unauthenticated', 'Unknown enrollment token: create one with POST /api/v1/enrollment-tokens, or send an agent key')
  const unusable = tokenUnusableReason({ ...token, max_uses: null })
  if (unusable) throw new DomainError('unauthenticated', `Cannot write with this enrollment token: ${unusable}`)
  return { secret: credential, orgId: token.org_id, tokenId: token.id }
}

export interface HostAgents {
  /** Host name → the agent that takes its data. */
  agents: Map<string, AgentRow>
  /** Host name → why its data is refused. */
  refused: Map<string, string>
}

/** Why an existing agent cannot take data now, or undefined when it can. */
function unusableAgentReason(agent: AgentRow): string | undefined {
  if (agent.status === 'inactive') return `agent "${agent.name}" is inactive: reactivate it to accept its data`
  if (agent.status === 'pending') return `agent "${agent.name}" is not approved yet: approve it to accept its data`
  return undefined
}

/** The agent of each host a writer names, registering new hosts under the token's rules. */
export async function agentsForHosts(db: Kysely<Database>, enrollment: WriterEnrollment, hosts: Iterable<string>, source: string,
  remoteAddress: string | null): Promise<HostAgents> {
  const out: HostAgents = { agents: new Map(), refused: new Map() }
  let registered = 0
  for (const host of new Set(hosts)) {
    const agent = await findAgentByHostname(db, enrollment.orgId, host) ?? await findAgent(db, enrollment.orgId, agentNameFor(host))
    if (agent) {
      const reason = unusableAgentReason(agent)
      if (reason) out.refused.set(host, reason)
      else out.agents.set(host, agent)
      continue
    }
    const filed = await db.selectFrom('agent_registrations').select(['number', 'status']).where('org_id', '=', enrollment.orgId)
      .where('hostname', '=', host).where('status', 'in', ['pending', 'rejected']).orderBy('requested_at', 'desc').limit(1).executeTakeFirst()
    if (filed) {
      out.refused.set(host, filed.status === 'pending'
        ? `host "${host}" is registered (registration ${filed.number}) and waits for an admin or editor to approve it`
        : `host "${host}" was rejected (registration ${filed.number}): its data is refused`)
      continue
    }
    if (++registered > MAX_NEW_HOSTS_PER_REQUEST) {
      out.refused.set(host, `more than ${MAX_NEW_HOSTS_PER_REQUEST} new hosts in one request: the others are registered first, send again`)
      continue
    }
    try {
      const made = await registerHost(db, enrollment.secret, { hostname: host, inventory: { source } }, remoteAddress)
      if (made.status === 'approved') out.agents.set(host, made.agent)
      else out.refused.set(host, `host "${host}" is registered and waits for an admin or editor to approve it (the enrollment token does not auto-approve)`)
    } catch (err) {
      if (!(err instanceof DomainError)) throw err
      out.refused.set(host, `host "${host}" cannot be registered: ${err.message}`)
    }
  }
  return out
}
