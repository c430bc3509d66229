// Enrollment tokens and agent self-registration (seed 003's flow). A token belongs to one organization,
// may expire and may be limited to a number of uses; only its sha256 is stored. A registration either
// creates the agent at once (auto-approve) or waits for an admin or editor. An approved agent's API key
// is generated when the agent collects it, once, so no plaintext key ever waits in the database.
import { randomBytes } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import type { AgentStatus, Database, EnrollmentTokensTable } from '../store/database.ts'
import { AGENT_COLUMNS } from '../agents/agents-repository.ts'
import { newApiKey, sha256 } from './secrets.ts'

export type EnrollmentToken = Selectable<EnrollmentTokensTable>

export const TOKEN_COLUMNS = ['id', 'description', 'auto_approve', 'labels', 'max_uses', 'uses', 'expires_at', 'created_by', 'created_at', 'revoked_at'] as const

export function newEnrollmentToken(): string {
  return `hpe_${randomBytes(32).toString('base64url')}`
}

/** Why a token cannot enroll now, or undefined when it can. */
export function tokenUnusableReason(t: Pick<EnrollmentToken, 'revoked_at' | 'expires_at' | 'max_uses' | 'uses'>, now = new Date()): string | undefined {
  if (t.revoked_at) return 'the enrollment token was revoked'
  if (t.expires_at && new Date(t.expires_at) <= now) return 'the enrollment token has expired'
  if (t.max_uses !== null && t.uses >= t.max_uses) return 'the enrollment token has been used up'
  return undefined
}

export async function findTokenBySecret(db: Kysely<Database>, secret: string) {
  return db.selectFrom('enrollment_tokens').select(['id', 'org_id', 'revoked_at', 'expires_at', 'max_uses', 'uses', 'auto_approve', 'labels'])
    .where('token_hash', '=', sha256(secret)).executeTakeFirst()
}

/** Takes one use of the token atomically; undefined when it is revoked, expired or used up by now. */
export async function consumeToken(db: Kysely<Database>, tokenId: string) {
  return db.updateTable('enrollment_tokens').set((eb) => ({ uses: eb('uses', '+', 1) }))
    .where('id', '=', tokenId).where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', new Date())]))
    .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
    .returning(['id', 'org_id', 'auto_approve', 'labels']).executeTakeFirst()
}

/** An agent name from a hostname: the pattern POST /api/v1/agents accepts. */
export function agentNameFor(hostname: string): string {
  return hostname.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 100) || 'agent'
}

export interface HostFacts {
  hostname: string; ip_address?: string; os?: string; os_version?: string; agent_version?: string; inventory: Record<string, unknown>
}

/**
 * Creates an agent for an enrolled host under a free name (hostname, then hostname-2, …). With `withKey`
 * it also gets a key, returned here once; without, the key is made when the agent collects it.
 */
export async function createEnrolledAgent(db: Kysely<Database>, orgId: string, host: HostFacts, labels: Record<string, string>, withKey: boolean,
  status: AgentStatus = 'active') {
  const base = agentNameFor(host.hostname)
  const apiKey = withKey ? newApiKey() : undefined
  for (let i = 1; i <= 50; i++) {
    const name = i === 1 ? base : i < 50 ? `${base}-${i}` : `${base}-${randomBytes(4).toString('hex')}`
    const agent = await db.insertInto('agents').values({
      org_id: orgId, name, hostname: host.hostname, ip_address: host.ip_address ?? null, os: host.os ?? null,
      os_version: host.os_version ?? null, agent_version: host.agent_version ?? null, labels: JSON.stringify(labels),
      api_key_hash: apiKey ? sha256(apiKey) : null, inventory: JSON.stringify(host.inventory), status,
    }).onConflict((oc) => oc.columns(['org_id', 'name']).doNothing()).returning(AGENT_COLUMNS).executeTakeFirst()
    if (agent) return { agent, apiKey }
  }
  throw new Error(`no free agent name for host "${host.hostname}"`)
}
