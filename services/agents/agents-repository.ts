// Agent rows as the API shows them, always looked up inside one organization.
import { sql, type Kysely, type Selectable } from 'kysely'
import type { AgentStatus, AgentsTable, Database } from '../store/database.ts'
import { DomainError } from '../errors/domain-error.ts'
import { newApiKey, sha256 } from '../auth/secrets.ts'
import { isUuid } from '../store/uuid.ts'
import { agentKeyCacheOf, forgetAgentKeys } from './agent-key-cache.ts'


export const AGENT_COLUMNS = ['id', 'org_id', 'name', 'hostname', 'ip_address', 'os', 'os_version', 'agent_version', 'labels',
  'status', 'created_at', 'updated_at', 'last_seen_at', 'last_metrics_at', 'number'] as const
export type AgentRow = Pick<Selectable<AgentsTable>, (typeof AGENT_COLUMNS)[number]>

/** The organization's agent that `:agent_id` in a path names: its uuid or its name. A query to select from or read inside another. */
export function agentNamed(db: Kysely<Database>, orgId: string, idOrName: string) {
  const q = db.selectFrom('agents').where('org_id', '=', orgId)
  return isUuid(idOrName) ? q.where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)])) : q.where('name', '=', idOrName)
}

/** `:agent_id` in a path is the agent's uuid or its name. */
export async function findAgent(db: Kysely<Database>, orgId: string, idOrName: string): Promise<AgentRow | undefined> {
  return agentNamed(db, orgId, idOrName).select(AGENT_COLUMNS).executeTakeFirst()
}

/** The not_found error for an agent named as the caller did. */
export function agentNotFound(idOrName: string): DomainError {
  return new DomainError('not_found', `Agent "${idOrName}" not found`)
}

/** An agent of the organization by uuid or name, or not_found (naming it as the caller did). */
export async function getAgent(db: Kysely<Database>, orgId: string, idOrName: string): Promise<AgentRow> {
  const agent = await findAgent(db, orgId, idOrName)
  if (!agent) throw agentNotFound(idOrName)
  return agent
}

/**
 * The organization's agent for a hostname the way the compatibility faces name hosts: the agent whose
 * reported hostname it is (the newest one if several report it), else the agent of that name.
 */
export async function findAgentByHostname(db: Kysely<Database>, orgId: string, hostname: string): Promise<AgentRow | undefined> {
  return db.selectFrom('agents').select(AGENT_COLUMNS).where('org_id', '=', orgId)
    .where((eb) => eb.or([eb('hostname', '=', hostname), eb('name', '=', hostname)]))
    .orderBy(sql`hostname = ${hostname}`, 'desc').orderBy('created_at', 'desc').limit(1).executeTakeFirst()
}

/** The organization's agent by its integer number (the id seeds 000, 003 and 004 show). */
export async function findAgentByNumber(db: Kysely<Database>, orgId: string, number: number): Promise<AgentRow | undefined> {
  if (!Number.isSafeInteger(number) || number < 1 || number > 2147483647) return undefined
  return db.selectFrom('agents').select(AGENT_COLUMNS).where('org_id', '=', orgId).where('number', '=', number).executeTakeFirst()
}

/** A page of the organization's agents by name (optionally of one status), and how many there are. */
export async function listAgents(db: Kysely<Database>, orgId: string,
  filter: { status?: AgentStatus; limit: number; offset: number }): Promise<{ agents: AgentRow[]; total: number }> {
  let q = db.selectFrom('agents').where('org_id', '=', orgId)
  if (filter.status) q = q.where('status', '=', filter.status)
  const [{ total }] = await q.select((eb) => eb.fn.countAll<number>().as('total')).execute()
  const agents = await q.select(AGENT_COLUMNS).orderBy('name').limit(filter.limit).offset(filter.offset).execute()
  return { agents, total: Number(total) }
}

export interface AgentCounts { total: number; active: number; inactive: number; pending: number; online: number }

/** The organization's agents counted by status, and those that sent metrics within the online window. */
export async function agentCounts(db: Kysely<Database>, orgId: string, onlineWindowSeconds: number): Promise<AgentCounts> {
  const { rows: [counts] } = await sql<AgentCounts>`
    select count(*) as total,
           count(*) filter (where status = 'active') as active,
           count(*) filter (where status = 'inactive') as inactive,
           count(*) filter (where status = 'pending') as pending,
           count(*) filter (where last_metrics_at > now() - make_interval(secs => ${onlineWindowSeconds})) as online
    from agents where org_id = ${orgId}`.execute(db)
  return counts
}

/**
 * The agent a key belongs to. While the API runs, keys are remembered until a change could concern them
 * (agent-key-cache.ts: a rotated, revoked or deactivated key is refused from the next upload on). Lookups
 * that arrive while one is being read are read together in the next query (one statement for a fleet's
 * burst of uploads instead of one each).
 */
export function findAgentByApiKey(db: Kysely<Database>, apiKey: string): Promise<AgentRow | undefined> {
  let batcher = keyLookups.get(db)
  if (!batcher) keyLookups.set(db, batcher = keyLookupBatcher(db))
  const cache = agentKeyCacheOf(db)
  return cache ? cache.find(sha256(apiKey), batcher) : batcher(sha256(apiKey))
}

const keyLookups = new WeakMap<Kysely<Database>, (hash: string) => Promise<AgentRow | undefined>>()
/** Key hashes read in one query at most. */
const MAX_KEYS_PER_LOOKUP = 500

function keyLookupBatcher(db: Kysely<Database>): (hash: string) => Promise<AgentRow | undefined> {
  const waiting = new Map<string, Array<{ resolve: (row: AgentRow | undefined) => void; reject: (err: unknown) => void }>>()
  let reading = false
  async function drain(): Promise<void> {
    reading = true
    try {
      while (waiting.size > 0) {
        const hashes = [...waiting.keys()].slice(0, MAX_KEYS_PER_LOOKUP)
        const callers = hashes.map((h) => { const c = waiting.get(h)!; waiting.delete(h); return c })
        try {
          const rows = await db.selectFrom('agents').select([...AGENT_COLUMNS, 'api_key_hash']).where('api_key_hash', 'in', hashes).execute()
          const byHash = new Map(rows.map(({ api_key_hash, ...agent }) => [api_key_hash!, agent as AgentRow]))
          hashes.forEach((h, i) => { for (const c of callers[i]) c.resolve(byHash.get(h)) })
        } catch (err) {
          for (const list of callers) for (const c of list) c.reject(err)
        }
      }
    } finally {
      reading = false
    }
  }
  return (hash) => new Promise((resolve, reject) => {
    const list = waiting.get(hash)
    if (list) list.push({ resolve, reject })
    else waiting.set(hash, [{ resolve, reject }])
    if (!reading) void drain()
  })
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

export interface AgentChanges extends Partial<NewAgentFields> { status?: AgentStatus }

/** Changes an agent of the organization (fields not given are kept); conflict when the new name is taken. */
export async function updateAgent(db: Kysely<Database>, orgId: string, agentId: string, changes: AgentChanges): Promise<AgentRow> {
  const { labels, ...fields } = changes
  try {
    const agent = await db.updateTable('agents')
      .set({ ...fields, ...(labels ? { labels: JSON.stringify(labels) } : {}), updated_at: new Date() })
      .where('id', '=', agentId).where('org_id', '=', orgId).returning(AGENT_COLUMNS).executeTakeFirstOrThrow()
    forgetAgentKeys(db)
    return agent
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw new DomainError('conflict', `An agent named "${fields.name}" already exists`, { details: { name: ['already exists'] } })
    throw err
  }
}

/** Replaces an agent's key (within `orgId` when given): the old one stops working at once. */
export async function rotateAgentKey(db: Kysely<Database>, agentId: string, orgId?: string): Promise<string> {
  const apiKey = newApiKey()
  let q = db.updateTable('agents').set({ api_key_hash: sha256(apiKey), updated_at: new Date() }).where('id', '=', agentId)
  if (orgId !== undefined) q = q.where('org_id', '=', orgId)
  await q.execute()
  forgetAgentKeys(db)
  return apiKey
}

/** Removes an agent's key: it sends nothing more until a new one is made. */
export async function revokeAgentKey(db: Kysely<Database>, orgId: string, agentId: string): Promise<void> {
  await db.updateTable('agents').set({ api_key_hash: null, updated_at: new Date() }).where('id', '=', agentId).where('org_id', '=', orgId).execute()
  forgetAgentKeys(db)
}

/** An agent's collection settings as the server holds them ({} when the agent's own flags rule). */
export async function agentConfig(db: Kysely<Database>, orgId: string, agentId: string): Promise<Record<string, unknown>> {
  const row = await db.selectFrom('agents').select('config').where('id', '=', agentId).where('org_id', '=', orgId).executeTakeFirstOrThrow()
  return row.config
}

/** Replaces an agent's collection settings. */
export async function setAgentConfig(db: Kysely<Database>, orgId: string, agentId: string, config: Record<string, unknown>): Promise<void> {
  await db.updateTable('agents').set({ config: JSON.stringify(config), updated_at: new Date() })
    .where('id', '=', agentId).where('org_id', '=', orgId).execute()
}

/** Online while its newest sample is at most `windowSeconds` old (one rule for every face). */
export function isOnline(a: Pick<AgentRow, 'last_metrics_at'>, windowSeconds: number, now = Date.now()): boolean {
  return a.last_metrics_at !== null && now - a.last_metrics_at.getTime() <= windowSeconds * 1000
}

/** The host facts each agent last sent beyond the columns (hardware, cloud, link speeds), by agent id. */
export async function agentInventories(db: Kysely<Database>, orgId: string, ids: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
  const wanted = [...new Set(ids)].filter(isUuid)
  if (wanted.length === 0) return new Map()
  const rows = await db.selectFrom('agents').select(['id', 'inventory']).where('org_id', '=', orgId).where('id', 'in', wanted).execute()
  return new Map(rows.map((r) => [r.id, (r.inventory ?? {}) as Record<string, unknown>]))
}

/** The agent as the API shows it (seed 001): no org id, no key hash. */
export function agentView(a: AgentRow) {
  const { org_id: _org, ...rest } = a
  return rest
}

/**
 * Agents of any organization whose reported hostname is exactly `hostname`, at most `limit` (seed 003's
 * opt-in hostname authentication: a caller that must find exactly one asks for two).
 */
export async function agentsWithHostname(db: Kysely<Database>, hostname: string, limit = 2): Promise<AgentRow[]> {
  return db.selectFrom('agents').select(AGENT_COLUMNS).where('hostname', '=', hostname).orderBy('created_at').limit(limit).execute()
}

/** The organization's agents among `ids` (a page of rows naming agents by uuid, shown with their numbers). */
export async function agentsByIds(db: Kysely<Database>, orgId: string, ids: readonly string[]): Promise<AgentRow[]> {
  const wanted = [...new Set(ids)].filter(isUuid)
  if (wanted.length === 0) return []
  return db.selectFrom('agents').select(AGENT_COLUMNS).where('org_id', '=', orgId).where('id', 'in', wanted).execute()
}
