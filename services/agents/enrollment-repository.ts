// Enrollment tokens and agent registrations of one organization (seed 003's flow): an editor makes a
// token, an agent registers with it (auto-approved, or pending until an editor decides), and an approved
// agent collects its API key (made again only for a later attempt whose earlier answer was lost:
// redeliverKey). Only hashes of tokens and keys are stored.
import type { Kysely, Selectable } from 'kysely'
import { DomainError } from '../errors/domain-error.ts'
import type { AgentRegistrationsTable, Database, RegistrationStatus } from '../store/database.ts'
import { newApiKey, sha256 } from '../auth/secrets.ts'
import {
  TOKEN_COLUMNS, consumeToken, createEnrolledAgent, findTokenBySecret, newEnrollmentToken, tokenUnusableReason, type EnrollmentToken, type HostFacts,
} from '../auth/enrollment.ts'
import { parseDuration } from '../time/duration.ts'
import { AGENT_COLUMNS, findAgentByHostname, type AgentRow } from './agents-repository.ts'
import { isUuid } from '../store/uuid.ts'


export type TokenRow = Pick<EnrollmentToken, (typeof TOKEN_COLUMNS)[number]>

export const REGISTRATION_COLUMNS = ['id', 'hostname', 'ip_address', 'os', 'os_version', 'agent_version', 'inventory', 'remote_address', 'status',
  'reason', 'agent_id', 'token_id', 'requested_at', 'decided_at', 'decided_by', 'key_delivered_at'] as const
export type RegistrationRow = Pick<Selectable<AgentRegistrationsTable>, (typeof REGISTRATION_COLUMNS)[number]>

// ---- Enrollment tokens ---------------------------------------------------------------------------

export interface NewTokenOptions {
  description?: string
  auto_approve?: boolean
  /** A duration (`30m`, `7d`) from now. */
  expires_in?: string
  max_uses?: number
  labels?: Record<string, string>
}

/** Makes a token of the organization; the token itself is returned here once, only its hash is kept. */
export async function createEnrollmentToken(db: Kysely<Database>, orgId: string, createdBy: string, o: NewTokenOptions): Promise<{ row: TokenRow; token: string }> {
  const token = newEnrollmentToken()
  const row = await db.insertInto('enrollment_tokens').values({
    org_id: orgId, token_hash: sha256(token), description: o.description ?? '', auto_approve: o.auto_approve ?? false,
    labels: JSON.stringify(o.labels ?? {}), max_uses: o.max_uses ?? null,
    expires_at: o.expires_in ? new Date(Date.now() + parseDuration(o.expires_in)) : null, created_by: createdBy,
  }).returning(TOKEN_COLUMNS).executeTakeFirstOrThrow()
  return { row, token }
}

/** The organization's tokens, newest first. */
export async function listEnrollmentTokens(db: Kysely<Database>, orgId: string): Promise<TokenRow[]> {
  return db.selectFrom('enrollment_tokens').select(TOKEN_COLUMNS).where('org_id', '=', orgId)
    .orderBy('created_at', 'desc').limit(1000).execute()
}

/** Revokes a token of the organization (revoking it again is no error); not_found when it has none of that id. */
export async function revokeEnrollmentToken(db: Kysely<Database>, orgId: string, id: string): Promise<void> {
  const row = isUuid(id)
    ? await db.updateTable('enrollment_tokens').set({ revoked_at: new Date() }).where('id', '=', id).where('org_id', '=', orgId)
      .where('revoked_at', 'is', null).returning('id').executeTakeFirst()
      ?? await db.selectFrom('enrollment_tokens').select('id').where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst()
    : undefined
  if (!row) throw new DomainError('not_found', `Enrollment token "${id}" not found`)
}

// ---- Registration (the agent's side) -------------------------------------------------------------

export type Registration =
  | { status: 'approved'; orgId: string; tokenId: string; registrationId: string; agent: AgentRow; apiKey: string; repeated?: true }
  | { status: 'pending'; orgId: string; tokenId: string; registrationId: string; repeated?: true }

/**
 * How long after a key was answered a later attempt (the answer was lost) may have it made again. Only while
 * the agent has never uploaded with it either.
 */
export const KEY_REDELIVERY_WINDOW_MS = 24 * 3600_000

/**
 * One attempt of a registration by the agent: its Idempotency-Key, and the attempt's number (Idempotency-Attempt:
 * the agent counts its attempts, POSTs and polls, on disk), which orders them wherever one was held up.
 */
export interface RegistrationAttempt { key: string; number?: number }

/** A twin attempt of the same registration may have committed first: this attempt's transaction rolls back. */
class TwinAttempt extends Error {}
const usedUpJustNow = () => new DomainError('unauthenticated', 'Cannot register: the enrollment token was used up, expired or revoked just now')

/**
 * A host registers with an enrollment token (one use of it): unauthenticated for a token that is unknown,
 * revoked, expired or used up. An auto-approving token creates the agent and its key at once. The use, the
 * registration and the agent are one transaction.
 * With an `attempt` (the agent's Idempotency-Key) an attempt that repeats an earlier one of the same token
 * spends nothing: it is answered with that registration (see repeatRegistration).
 */
export async function registerHost(db: Kysely<Database>, secret: string, host: HostFacts, remoteAddress: string | null,
  attempt?: RegistrationAttempt): Promise<Registration> {
  const found = await findTokenBySecret(db, secret)
  if (!found) throw new DomainError('unauthenticated', 'Invalid enrollment token')
  if (attempt) {
    const repeated = await repeatRegistration(db, found, attempt)
    if (repeated) return repeated
  }
  const unusable = tokenUnusableReason(found)
  if (unusable) throw new DomainError('unauthenticated', `Cannot register: ${unusable}`)
  try {
    return await db.transaction().execute(async (trx): Promise<Registration> => {
      const token = await consumeToken(trx, found.id)
      // Used up, perhaps by a twin attempt of this very registration (its use was the last): that one's answer.
      if (!token) throw attempt ? new TwinAttempt() : usedUpJustNow()
      // Claims the request key (a twin attempt beside this one has waited on the token's row lock above, and finds
      // it taken or, when the token is used up by now, finds the registration after the rollback).
      const reg = await trx.insertInto('agent_registrations').values({
        org_id: token.org_id, token_id: token.id, hostname: host.hostname, ip_address: host.ip_address ?? null, os: host.os ?? null,
        os_version: host.os_version ?? null, agent_version: host.agent_version ?? null, inventory: JSON.stringify(host.inventory),
        remote_address: remoteAddress, request_key: attempt?.key ?? null,
      }).onConflict((oc) => oc.columns(['token_id', 'request_key']).doNothing()).returning('id').executeTakeFirst()
      if (!reg) throw new TwinAttempt()
      const made = { orgId: token.org_id, tokenId: token.id, registrationId: reg.id }
      if (!token.auto_approve) return { status: 'pending', ...made }
      const { agent, apiKey } = await createEnrolledAgent(trx, token.org_id, host, token.labels, true)
      const now = new Date()
      await trx.updateTable('agent_registrations')
        .set({ status: 'approved', agent_id: agent.id, decided_at: now, key_delivered_at: now, key_attempt: attempt?.number ?? null })
        .where('id', '=', reg.id).execute()
      return { status: 'approved', ...made, agent, apiKey: apiKey! }
    })
  } catch (err) {
    if (!(err instanceof TwinAttempt)) throw err
    const repeated = await repeatRegistration(db, found, attempt!)
    if (!repeated) throw usedUpJustNow()
    return repeated
  }
}

/**
 * An attempt with the request key of an earlier registration of the same token: the registration it made,
 * spending no use of the token (it may be used up by that very registration, or expired since):
 * - waiting, decided by an editor, or rejected: `pending` with its id, as the first answer said; the agent's
 *   poll then learns the decision and collects the key;
 * - auto-approved: the same agent with its key made again (redeliverKey's rules), or an error that says why not.
 * undefined when the token made no registration with that key. A revoked token still registers nothing.
 */
async function repeatRegistration(db: Kysely<Database>, token: { id: string; revoked_at: Date | null }, attempt: RegistrationAttempt): Promise<Registration | undefined> {
  const reg = await db.selectFrom('agent_registrations').select(['id', 'org_id', 'status', 'decided_by', 'key_delivered_at'])
    .where('token_id', '=', token.id).where('request_key', '=', attempt.key).executeTakeFirst()
  if (!reg) return undefined
  if (token.revoked_at) throw new DomainError('unauthenticated', 'Cannot register: the enrollment token was revoked')
  const made = { orgId: reg.org_id, tokenId: token.id, registrationId: reg.id, repeated: true as const }
  // Auto-approved registrations got their key in the answer; one an editor approved (its decider may have been
  // deleted since) and whose key was never collected is collected by polling.
  if (reg.status !== 'approved' || reg.decided_by !== null || reg.key_delivered_at === null) return { status: 'pending', ...made }
  const again = await db.transaction().execute((trx) => redeliverKey(trx, reg.id, attempt.number))
  return { status: 'approved', ...made, agent: again.agent, apiKey: again.apiKey }
}

/**
 * The key of an approved registration made again for an attempt whose earlier answer (carrying the key) was
 * lost: the old key stops working. Refused, with the reason, unless
 * - the attempt's number is higher than that of the attempt whose answer carries the current key (an older
 *   attempt held up on its way is answered 503: its client has moved on, and the newer answer's key may be in
 *   use; a request without a number is a 409);
 * - that key went to a numbered attempt at all (not handed to an editor), less than KEY_REDELIVERY_WINDOW_MS ago;
 * - the agent exists and has never uploaded.
 * In the caller's transaction, the registration locked.
 */
async function redeliverKey(trx: Kysely<Database>, registrationId: string, attempt: number | undefined): Promise<{ agent: AgentRow; apiKey: string }> {
  const reg = await trx.selectFrom('agent_registrations').select(['id', 'org_id', 'agent_id', 'key_delivered_at', 'key_attempt'])
    .where('id', '=', registrationId).forUpdate().executeTakeFirstOrThrow()
  const fix = 'if the agent lost its key, rotate it on the server and set it as HOSTPULSE_API_KEY'
  const deleted = () => new DomainError('conflict', `The agent of registration ${reg.id} has been deleted; ask for a new enrollment token and start the agent with it`)
  if (reg.key_attempt === null) throw new DomainError('conflict', `The API key of registration ${reg.id} was already handed out; ${fix}`)
  if (attempt === undefined) throw new DomainError('conflict', `The API key of registration ${reg.id} was already delivered, and this request carries no Idempotency-Attempt to tell it is a later attempt; ${fix}`)
  if (attempt <= reg.key_attempt) {
    throw new DomainError('unavailable', `A later attempt of registration ${reg.id} was already answered with its key; this one is older (try again if you are still waiting)`)
  }
  if (reg.key_delivered_at && Date.now() - new Date(reg.key_delivered_at).getTime() > KEY_REDELIVERY_WINDOW_MS) {
    throw new DomainError('conflict', `The API key of registration ${reg.id} was delivered more than ${KEY_REDELIVERY_WINDOW_MS / 3600_000} h ago; ${fix}`)
  }
  const agent = reg.agent_id === null ? undefined
    : await trx.selectFrom('agents').select(AGENT_COLUMNS).where('id', '=', reg.agent_id).where('org_id', '=', reg.org_id).forUpdate().executeTakeFirst()
  if (!agent) throw deleted()
  if (agent.last_seen_at !== null) throw new DomainError('conflict', `The API key of registration ${reg.id} was delivered and its agent has uploaded with it since; ${fix}`)
  const apiKey = await deliverKey(trx, { ...reg, agent_id: agent.id }, attempt)
  if (apiKey === undefined) throw deleted()
  return { agent, apiKey }
}

export type Collection =
  | { status: 'pending' }
  | { status: 'rejected'; reason: string | null }
  | { status: 'approved'; orgId: string; registrationId: string; agentId: string; apiKey: string; redelivered?: true }

/**
 * An agent polls its registration with the token it registered with. Once approved, its API key is made
 * now and answered; a poll after that has it made again only under redeliverKey's rules (the answer that held
 * it was lost), and otherwise answers why not. not_found for a registration of another token.
 */
export async function collectRegistration(db: Kysely<Database>, secret: string, id: string, attempt: number | undefined): Promise<Collection> {
  const token = await findTokenBySecret(db, secret)
  if (!token) throw new DomainError('unauthenticated', 'Invalid enrollment token')
  if (token.revoked_at) throw new DomainError('unauthenticated', 'The enrollment token was revoked')
  type Claimed = { reg: Pick<RegistrationRow, 'id' | 'status' | 'reason' | 'agent_id'> & { org_id: string }; apiKey?: string; redelivered?: true }
  const outcome = !isUuid(id) ? undefined : await db.transaction().execute(async (trx): Promise<Claimed | undefined> => {
    const reg = await trx.selectFrom('agent_registrations').select(['id', 'org_id', 'status', 'reason', 'agent_id', 'key_delivered_at'])
      .where('id', '=', id).where('token_id', '=', token.id).forUpdate().executeTakeFirst()
    if (!reg) return undefined
    if (reg.status !== 'approved') return { reg }
    if (!reg.agent_id) return undefined
    if (reg.key_delivered_at) return { reg, apiKey: (await redeliverKey(trx, reg.id, attempt)).apiKey, redelivered: true }
    const apiKey = await deliverKey(trx, { ...reg, agent_id: reg.agent_id }, attempt ?? null)
    return apiKey === undefined ? undefined : { reg, apiKey }
  })
  // Unknown, or made with another token: the same 404 (the agent then registers again).
  if (!outcome) throw new DomainError('not_found', `Registration "${id}" not found`)
  const { reg } = outcome
  if (reg.status === 'pending') return { status: 'pending' }
  if (reg.status === 'rejected') return { status: 'rejected', reason: reg.reason }
  return { status: 'approved', orgId: reg.org_id, registrationId: reg.id, agentId: reg.agent_id!, apiKey: outcome.apiKey!, ...outcome.redelivered ? { redelivered: true as const } : {} }
}

/**
 * Makes the approved registration's agent a key and marks it delivered (in the caller's transaction), to the
 * attempt numbered `attempt` (null: handed to an editor, or a request without a number); undefined if the agent is gone.
 */
async function deliverKey(trx: Kysely<Database>, reg: { id: string; org_id: string; agent_id: string }, attempt: number | null): Promise<string | undefined> {
  const apiKey = newApiKey()
  const updated = await trx.updateTable('agents').set({ api_key_hash: sha256(apiKey), updated_at: new Date() })
    .where('id', '=', reg.agent_id).where('org_id', '=', reg.org_id).returning('id').executeTakeFirst()
  if (!updated) return undefined
  await trx.updateTable('agent_registrations').set({ key_delivered_at: new Date(), key_attempt: attempt }).where('id', '=', reg.id).execute()
  return apiKey
}

// ---- Registrations (the editor's side) -----------------------------------------------------------

/** The organization's registrations, newest first, of one status or all. */
export async function listRegistrations(db: Kysely<Database>, orgId: string, status: RegistrationStatus | 'all' | undefined): Promise<RegistrationRow[]> {
  let q = db.selectFrom('agent_registrations').select(REGISTRATION_COLUMNS).where('org_id', '=', orgId).orderBy('requested_at', 'desc').limit(1000)
  if (status && status !== 'all') q = q.where('status', '=', status)
  return q.execute()
}

/**
 * Decides a pending registration of the organization: approving creates its agent (with the token's
 * labels; its key is made when the agent collects it). not_found if foreign, conflict if already decided.
 */
export async function decideRegistration(db: Kysely<Database>, orgId: string, deciderId: string, id: string,
  status: 'approved' | 'rejected', reason: string | null): Promise<{ registration: RegistrationRow; agentName: string | null }> {
  if (!isUuid(id)) throw new DomainError('not_found', `Registration "${id}" not found`)
  return db.transaction().execute(async (trx) => {
    const reg = await trx.selectFrom('agent_registrations').selectAll().where('id', '=', id).where('org_id', '=', orgId).forUpdate().executeTakeFirst()
    if (!reg) throw new DomainError('not_found', `Registration "${id}" not found`)
    if (reg.status !== 'pending') throw new DomainError('conflict', `Registration "${id}" was already ${reg.status}`, { details: { status: [reg.status] } })
    let agentId: string | null = null
    let agentName: string | null = null
    if (status === 'approved') {
      const token = await trx.selectFrom('enrollment_tokens').select('labels').where('id', '=', reg.token_id).executeTakeFirst()
      const { agent } = await createEnrolledAgent(trx, orgId, {
        hostname: reg.hostname, ip_address: reg.ip_address ?? undefined, os: reg.os ?? undefined, os_version: reg.os_version ?? undefined,
        agent_version: reg.agent_version ?? undefined, inventory: reg.inventory,
      }, token?.labels ?? {}, false)
      agentId = agent.id
      agentName = agent.name
    }
    const registration = await trx.updateTable('agent_registrations')
      .set({ status, reason, agent_id: agentId, decided_at: new Date(), decided_by: deciderId })
      .where('id', '=', id).returning(REGISTRATION_COLUMNS).executeTakeFirstOrThrow()
    return { registration, agentName }
  })
}

// ---- Registrations by number (seed 003's face names them by an integer) ----------------------------

/** A registration with its integer number and its agent's (null until approved, or after the agent is deleted). */
export type NumberedRegistration = RegistrationRow & { number: number; agent_number: number | null }

function numberedRegistrations(db: Kysely<Database>, orgId: string) {
  return db.selectFrom('agent_registrations as r').leftJoin('agents as a', (j) => j.onRef('a.id', '=', 'r.agent_id').on('a.org_id', '=', orgId))
    .select([...REGISTRATION_COLUMNS.map((c) => `r.${c}` as const), 'r.number', 'a.number as agent_number'])
    .where('r.org_id', '=', orgId)
}

/** The organization's registration of that number, if any. */
export async function findRegistrationByNumber(db: Kysely<Database>, orgId: string, number: number): Promise<NumberedRegistration | undefined> {
  if (!Number.isSafeInteger(number) || number < 1 || number > 2147483647) return undefined
  return numberedRegistrations(db, orgId).where('r.number', '=', number).executeTakeFirst()
}

/** The organization's registration of that uuid, numbered, if any. */
export async function findRegistrationById(db: Kysely<Database>, orgId: string, id: string): Promise<NumberedRegistration | undefined> {
  if (!isUuid(id)) return undefined
  return numberedRegistrations(db, orgId).where('r.id', '=', id).executeTakeFirst()
}

/** A page of the organization's registrations (of one status or all), newest first, and how many there are. */
export async function listRegistrationsPage(db: Kysely<Database>, orgId: string,
  filter: { status?: RegistrationStatus; limit: number; offset: number }): Promise<{ registrations: NumberedRegistration[]; total: number }> {
  let count = db.selectFrom('agent_registrations').where('org_id', '=', orgId)
  let rows = numberedRegistrations(db, orgId)
  if (filter.status) {
    count = count.where('status', '=', filter.status)
    rows = rows.where('r.status', '=', filter.status)
  }
  const [{ total }] = await count.select((eb) => eb.fn.countAll<number>().as('total')).execute()
  const registrations = await rows.orderBy('r.requested_at', 'desc').orderBy('r.number', 'desc').limit(filter.limit).offset(filter.offset).execute()
  return { registrations, total: Number(total) }
}

/** True when a registration of this hostname would name a host the organization already has: an agent, or a pending registration. */
export async function hostnameTaken(db: Kysely<Database>, orgId: string, hostname: string): Promise<boolean> {
  if (await findAgentByHostname(db, orgId, hostname)) return true
  const pending = await db.selectFrom('agent_registrations').select('id').where('org_id', '=', orgId)
    .where('hostname', '=', hostname).where('status', '=', 'pending').limit(1).executeTakeFirst()
  return pending !== undefined
}

/**
 * registerHost for a hostname not yet known to the token's organization (seed 003 keeps hostnames unique):
 * `invalid` on the hostname when it is taken. The token is checked first, so only a holder of a usable
 * token learns whether a hostname exists.
 */
export async function registerNewHost(db: Kysely<Database>, secret: string, host: HostFacts, remoteAddress: string | null): Promise<Registration> {
  const token = await findTokenBySecret(db, secret)
  if (token && !tokenUnusableReason(token) && await hostnameTaken(db, token.org_id, host.hostname)) {
    throw new DomainError('invalid', `Invalid request: hostname "${host.hostname}" already has an agent or a pending registration`,
      { details: { hostname: ['an agent or a pending registration with this hostname already exists'] } })
  }
  return registerHost(db, secret, host, remoteAddress)
}

/**
 * Issues the key of an approved registration's agent now, once (an editor hands it to the agent), instead
 * of when the agent polls: undefined when it was delivered already or the registration is not approved.
 */
export async function issueRegistrationKey(db: Kysely<Database>, orgId: string, registrationId: string): Promise<string | undefined> {
  return db.transaction().execute(async (trx) => {
    const reg = await trx.selectFrom('agent_registrations').select(['id', 'org_id', 'agent_id'])
      .where('id', '=', registrationId).where('org_id', '=', orgId).where('status', '=', 'approved')
      .where('key_delivered_at', 'is', null).where('agent_id', 'is not', null).forUpdate().executeTakeFirst()
    return reg ? deliverKey(trx, { ...reg, agent_id: reg.agent_id! }, null) : undefined
  })
}

/** How many registrations of the organization wait for a decision. */
export async function countPendingRegistrations(db: Kysely<Database>, orgId: string): Promise<number> {
  const [{ total }] = await db.selectFrom('agent_registrations').where('org_id', '=', orgId).where('status', '=', 'pending')
    .select((eb) => eb.fn.countAll<number>().as('total')).execute()
  return Number(total)
}
