// Agent rows as the API shows them, always looked up inside one organization.
import type { Kysely, Selectable } from 'kysely'
import type { AgentsTable, Database } from '../store/database.ts'
import { newApiKey, sha256 } from '../auth/secrets.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const AGENT_COLUMNS = ['id', 'org_id', 'name', 'hostname', 'ip_address', 'os', 'os_version', 'agent_version', 'labels',
  'status', 'created_at', 'updated_at', 'last_seen_at', 'last_metrics_at'] as const
export type AgentRow = Pick<Selectable<AgentsTable>, (typeof AGENT_COLUMNS)[number]>

/** `:agent_id` in a path is the agent's uuid or its name. */
export async function findAgent(db: Kysely<Database>, orgId: string, idOrName: string): Promise<AgentRow | undefined> {
  let q = db.selectFrom('agents').select(AGENT_COLUMNS).where('org_id', '=', orgId)
  q = UUID.test(idOrName) ? q.where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)])) : q.where('name', '=', idOrName)
  return q.executeTakeFirst()
}

export async function findAgentByApiKey(db: Kysely<Database>, apiKey: string): Promise<AgentRow | undefined> {
  return db.selectFrom('agents').select(AGENT_COLUMNS).where('api_key_hash', '=', sha256(apiKey)).executeTakeFirst()
}

export interface NewAgentFields {
  name: string; hostname?: string; ip_address?: string; os?: string; os_version?: string; agent_version?: string
  labels?: Record<string, string>
}

/**
 * Creates an agent with a fresh API key; the key is returned here once and only its hash is kept.
 * Undefined when the organization already has an agent of that name.
 */
export async function createAgent(db: Kysely<Database>, orgId: string, fields: NewAgentFields): Promise<{ agent: AgentRow; apiKey: string } | undefined> {
  const apiKey = newApiKey()
  const agent = await db.insertInto('agents').values({
    org_id: orgId, name: fields.name, hostname: fields.hostname ?? null, ip_address: fields.ip_address ?? null,
    os: fields.os ?? null, os_version: fields.os_version ?? null, agent_version: fields.agent_version ?? null,
    labels: JSON.stringify(fields.labels ?? {}), api_key_hash: sha256(apiKey),
  }).onConflict((oc) => oc.columns(['org_id', 'name']).doNothing()).returning(AGENT_COLUMNS).executeTakeFirst()
  return agent && { agent, apiKey }
}

/** Replaces an agent's key: the old one stops working at once. */
export async function rotateAgentKey(db: Kysely<Database>, agentId: string): Promise<string> {
  const apiKey = newApiKey()
  await db.updateTable('agents').set({ api_key_hash: sha256(apiKey), updated_at: new Date() }).where('id', '=', agentId).execute()
  return apiKey
}

/** The agent as the API shows it (seed 001): no org id, no key hash. */
export function agentView(a: AgentRow) {
  const { org_id: _org, ...rest } = a
  return rest
}
