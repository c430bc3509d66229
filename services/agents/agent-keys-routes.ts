// Agent credentials: rotate and revoke an agent's API key, enrollment tokens, and the self-registration
// an agent uses with a token (seed 003: pending until an admin or editor approves, or auto-approved).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { HostInfo } from '../../contract/ingest-batch.ts'
import { ApiError } from '../http/errors.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { newApiKey, sha256 } from '../auth/secrets.ts'
import {
  TOKEN_COLUMNS, consumeToken, createEnrolledAgent, findTokenBySecret, newEnrollmentToken, tokenUnusableReason, type HostFacts,
} from '../auth/enrollment.ts'
import { userActor, writeAudit } from '../audit/audit-log.ts'
import { parseDuration } from '../time/duration.ts'
import { findAgent } from './agents-repository.ts'

const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const AgentParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) })
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })
/** The agent's header; `X-Enroll-Token` is what agents up to now send. */
const TOKEN_HEADERS = ['x-enrollment-token', 'x-enroll-token'] as const
const HOST_COLUMNS = ['hostname', 'ip_address', 'os', 'os_version', 'agent_version'] as const
const SMALL_BODY = 16 * 1024

type TokenRow = { id: string; description: string; auto_approve: boolean; labels: Record<string, string>; max_uses: number | null; uses: number
  expires_at: Date | string | null; created_by: string | null; created_at: Date; revoked_at: Date | null }
const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString())
const tokenView = (t: TokenRow) => ({
  ...t, expires_at: iso(t.expires_at), created_at: iso(t.created_at), revoked_at: iso(t.revoked_at),
  usable: tokenUnusableReason(t) === undefined,
})

type RegistrationRow = { id: string; hostname: string; ip_address: string | null; os: string | null; os_version: string | null
  agent_version: string | null; inventory: Record<string, unknown>; remote_address: string | null; status: string; reason: string | null
  agent_id: string | null; token_id: string; requested_at: Date; decided_at: Date | null; decided_by: string | null; key_delivered_at: Date | null }
const REGISTRATION_COLUMNS = ['id', 'hostname', 'ip_address', 'os', 'os_version', 'agent_version', 'inventory', 'remote_address', 'status',
  'reason', 'agent_id', 'token_id', 'requested_at', 'decided_at', 'decided_by', 'key_delivered_at'] as const
const registrationView = (r: RegistrationRow) => ({
  ...r, requested_at: iso(r.requested_at), decided_at: iso(r.decided_at), key_delivered_at: iso(r.key_delivered_at),
})

function enrollmentSecretOf(request: FastifyRequest): string {
  for (const name of TOKEN_HEADERS) {
    const v = request.headers[name]
    if (typeof v === 'string' && v.length > 0) return v
  }
  throw new ApiError('UNAUTHORIZED', 'Missing X-Enrollment-Token header: send the enrollment token this registration was made with')
}

export const agentKeysRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const db = app.store.db
  const editors = app.requireRole('admin', 'editor')

  // ---- API keys of existing agents -------------------------------------------------------------

  app.post('/api/v1/agents/:id/rotate-key', { onRequest: editors, schema: { params: AgentParams } }, async (request) => {
    const p = principalOf(request)
    const agent = await findAgent(db, p.orgId, request.params.id)
    if (!agent) throw new ApiError('NOT_FOUND', `Agent "${request.params.id}" not found`)
    const apiKey = newApiKey()
    await db.updateTable('agents').set({ api_key_hash: sha256(apiKey), updated_at: new Date() })
      .where('id', '=', agent.id).where('org_id', '=', p.orgId).execute()
    await writeAudit(db, { orgId: p.orgId, action: 'agent.key_rotate', actor: userActor(request), target: { type: 'agent', id: agent.id }, ip: request.ip, details: { name: agent.name } })
    return { id: agent.id, name: agent.name, api_key: apiKey }
  })

  app.post('/api/v1/agents/:id/revoke-key', { onRequest: editors, schema: { params: AgentParams } }, async (request, reply) => {
    const p = principalOf(request)
    const agent = await findAgent(db, p.orgId, request.params.id)
    if (!agent) throw new ApiError('NOT_FOUND', `Agent "${request.params.id}" not found`)
    await db.updateTable('agents').set({ api_key_hash: null, updated_at: new Date() }).where('id', '=', agent.id).where('org_id', '=', p.orgId).execute()
    await writeAudit(db, { orgId: p.orgId, action: 'agent.key_revoke', actor: userActor(request), target: { type: 'agent', id: agent.id }, ip: request.ip, details: { name: agent.name } })
    return reply.status(204).send()
  })

  // ---- Enrollment tokens -----------------------------------------------------------------------

  app.post('/api/v1/enrollment-tokens', {
    onRequest: editors, bodyLimit: SMALL_BODY,
    schema: {
      body: Type.Object({
        description: Type.Optional(Type.String({ maxLength: 256 })),
        auto_approve: Type.Optional(Type.Boolean()),
        /** A duration (`30m`, `7d`) from now. */
        expires_in: Type.Optional(Type.String({ pattern: '^\\d{1,6}(m|h|d|w)$' })),
        max_uses: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
        labels: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 256 }), { maxProperties: 64 })),
      }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const b = request.body
    const token = newEnrollmentToken()
    const row = await db.insertInto('enrollment_tokens').values({
      org_id: p.orgId, token_hash: sha256(token), description: b.description ?? '', auto_approve: b.auto_approve ?? false,
      labels: JSON.stringify(b.labels ?? {}), max_uses: b.max_uses ?? null,
      expires_at: b.expires_in ? new Date(Date.now() + parseDuration(b.expires_in)) : null, created_by: p.userId,
    }).returning(TOKEN_COLUMNS).executeTakeFirstOrThrow()
    await writeAudit(db, {
      orgId: p.orgId, action: 'enrollment_token.create', actor: userActor(request), target: { type: 'enrollment_token', id: row.id }, ip: request.ip,
      details: { auto_approve: row.auto_approve, max_uses: row.max_uses, expires_at: iso(row.expires_at) },
    })
    return reply.status(201).send({ ...tokenView(row), token })
  })

  app.get('/api/v1/enrollment-tokens', { onRequest: editors }, async (request) => {
    const rows = await db.selectFrom('enrollment_tokens').select(TOKEN_COLUMNS).where('org_id', '=', principalOf(request).orgId)
      .orderBy('created_at', 'desc').limit(1000).execute()
    return { tokens: rows.map(tokenView) }
  })

  app.delete('/api/v1/enrollment-tokens/:id', { onRequest: editors, schema: { params: IdParams } }, async (request, reply) => {
    const p = principalOf(request)
    const { id } = request.params
    const row = UUID.test(id)
      ? await db.updateTable('enrollment_tokens').set({ revoked_at: new Date() }).where('id', '=', id).where('org_id', '=', p.orgId)
        .where('revoked_at', 'is', null).returning('id').executeTakeFirst()
        ?? await db.selectFrom('enrollment_tokens').select('id').where('id', '=', id).where('org_id', '=', p.orgId).executeTakeFirst()
      : undefined
    if (!row) throw new ApiError('NOT_FOUND', `Enrollment token "${id}" not found`)
    await writeAudit(db, { orgId: p.orgId, action: 'enrollment_token.revoke', actor: userActor(request), target: { type: 'enrollment_token', id }, ip: request.ip })
    return reply.status(204).send()
  })

  // ---- Self-registration (the agent's side) ----------------------------------------------------

  app.post('/api/v1/agents/register', {
    bodyLimit: 64 * 1024, config: { rateBudget: 'auth' },
    schema: {
      // The host facts of the ingest contract; unknown fields from newer agents are ignored.
      body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 256 }), ...HostInfo.properties }, { additionalProperties: true }),
    },
  }, async (request, reply) => {
    const { token: secret, ...fields } = request.body
    const found = await findTokenBySecret(db, secret)
    if (!found) throw new ApiError('UNAUTHORIZED', 'Invalid enrollment token')
    const unusable = tokenUnusableReason(found)
    if (unusable) throw new ApiError('UNAUTHORIZED', `Cannot register: ${unusable}`)
    const token = await consumeToken(db, found.id)
    if (!token) throw new ApiError('UNAUTHORIZED', 'Cannot register: the enrollment token was used up, expired or revoked just now')
    const known = new Set(Object.keys(HostInfo.properties))
    const host: HostFacts = {
      hostname: fields.hostname, ip_address: fields.ip_address, os: fields.os, os_version: fields.os_version, agent_version: fields.agent_version,
      inventory: Object.fromEntries(Object.entries(fields).filter(([k]) => known.has(k) && !(HOST_COLUMNS as readonly string[]).includes(k))),
    }
    const registration = {
      org_id: token.org_id, token_id: token.id, hostname: host.hostname, ip_address: host.ip_address ?? null, os: host.os ?? null,
      os_version: host.os_version ?? null, agent_version: host.agent_version ?? null, inventory: JSON.stringify(host.inventory),
      remote_address: request.ip,
    }
    const actor = { type: 'anonymous' as const, name: host.hostname }
    if (token.auto_approve) {
      const { agent, apiKey } = await createEnrolledAgent(db, token.org_id, host, token.labels, true)
      const reg = await db.insertInto('agent_registrations').values({
        ...registration, status: 'approved', agent_id: agent.id, decided_at: new Date(), key_delivered_at: new Date(),
      }).returning('id').executeTakeFirstOrThrow()
      await writeAudit(db, { orgId: token.org_id, action: 'registration.auto_approve', actor, target: { type: 'agent', id: agent.id }, ip: request.ip, details: { registration_id: reg.id, hostname: host.hostname, agent_name: agent.name, token_id: token.id } })
      return reply.status(201).send({ status: 'approved', agent_id: agent.id, agent_name: agent.name, api_key: apiKey! })
    }
    const reg = await db.insertInto('agent_registrations').values(registration).returning('id').executeTakeFirstOrThrow()
    await writeAudit(db, { orgId: token.org_id, action: 'registration.request', actor, target: { type: 'registration', id: reg.id }, ip: request.ip, details: { hostname: host.hostname, token_id: token.id } })
    return reply.status(202).send({ status: 'pending', registration_id: reg.id })
  })

  app.get('/api/v1/agents/register/:registration_id', {
    schema: { params: Type.Object({ registration_id: Type.String({ pattern: UUID_PATTERN }) }) },
  }, async (request) => {
    const secret = enrollmentSecretOf(request)
    const token = await findTokenBySecret(db, secret)
    if (!token) throw new ApiError('UNAUTHORIZED', 'Invalid enrollment token')
    if (token.revoked_at) throw new ApiError('UNAUTHORIZED', 'The enrollment token was revoked')
    const id = request.params.registration_id
    // Unknown, or made with another token: the same 404 (the agent then registers again).
    const gone = () => new ApiError('NOT_FOUND', `Registration "${id}" not found`)
    const outcome = await db.transaction().execute(async (trx) => {
      const reg = await trx.selectFrom('agent_registrations').select(['id', 'org_id', 'status', 'reason', 'agent_id', 'key_delivered_at'])
        .where('id', '=', id).where('token_id', '=', token.id).forUpdate().executeTakeFirst()
      if (!reg) return undefined
      if (reg.status !== 'approved') return { reg }
      if (!reg.agent_id) return undefined
      if (reg.key_delivered_at) return { reg, delivered: true }
      const apiKey = newApiKey()
      const updated = await trx.updateTable('agents').set({ api_key_hash: sha256(apiKey), updated_at: new Date() })
        .where('id', '=', reg.agent_id).where('org_id', '=', reg.org_id).returning('id').executeTakeFirst()
      if (!updated) return undefined
      await trx.updateTable('agent_registrations').set({ key_delivered_at: new Date() }).where('id', '=', reg.id).execute()
      return { reg, apiKey }
    })
    if (!outcome) throw gone()
    const { reg } = outcome
    if (reg.status === 'pending') return { status: 'pending' }
    if (reg.status === 'rejected') return { status: 'rejected', ...(reg.reason ? { reason: reg.reason } : {}) }
    if ('delivered' in outcome) {
      throw new ApiError('CONFLICT', 'The API key of this registration was already delivered; if the agent lost it, rotate the agent\'s key on the server and set it as HOSTPULSE_API_KEY')
    }
    await writeAudit(db, { orgId: reg.org_id, action: 'registration.key_delivered', actor: { type: 'agent', id: reg.agent_id }, target: { type: 'registration', id: reg.id }, ip: request.ip })
    return { status: 'approved', agent_id: reg.agent_id, api_key: outcome.apiKey }
  })

  // ---- Registrations (the admin's side) --------------------------------------------------------

  const listRegistrations = async (orgId: string, status: string | undefined) => {
    let q = db.selectFrom('agent_registrations').select(REGISTRATION_COLUMNS).where('org_id', '=', orgId).orderBy('requested_at', 'desc').limit(1000)
    if (status && status !== 'all') q = q.where('status', '=', status as 'pending')
    return { registrations: (await q.execute()).map(registrationView) }
  }

  app.get('/api/v1/registrations', {
    onRequest: editors,
    schema: { querystring: Type.Object({ status: Type.Optional(Type.Union(['pending', 'approved', 'rejected', 'all'].map((s) => Type.Literal(s)))) }) },
  }, async (request) => listRegistrations(principalOf(request).orgId, request.query.status))

  app.get('/api/v1/registrations/pending', { onRequest: editors }, async (request) => listRegistrations(principalOf(request).orgId, 'pending'))

  /** Claims a pending registration of the caller's organization for a decision; 404 if foreign, 409 if decided. */
  const decide = async (request: FastifyRequest, id: string, status: 'approved' | 'rejected', reason: string | null) => {
    const p = principalOf(request)
    if (!UUID.test(id)) throw new ApiError('NOT_FOUND', `Registration "${id}" not found`)
    return db.transaction().execute(async (trx) => {
      const reg = await trx.selectFrom('agent_registrations').selectAll().where('id', '=', id).where('org_id', '=', p.orgId).forUpdate().executeTakeFirst()
      if (!reg) throw new ApiError('NOT_FOUND', `Registration "${id}" not found`)
      if (reg.status !== 'pending') throw new ApiError('CONFLICT', `Registration "${id}" was already ${reg.status}`, { status: [reg.status] })
      let agentId: string | null = null
      let agentName: string | null = null
      if (status === 'approved') {
        const token = await trx.selectFrom('enrollment_tokens').select('labels').where('id', '=', reg.token_id).executeTakeFirst()
        const { agent } = await createEnrolledAgent(trx, p.orgId, {
          hostname: reg.hostname, ip_address: reg.ip_address ?? undefined, os: reg.os ?? undefined, os_version: reg.os_version ?? undefined,
          agent_version: reg.agent_version ?? undefined, inventory: reg.inventory,
        }, token?.labels ?? {}, false)
        agentId = agent.id
        agentName = agent.name
      }
      const updated = await trx.updateTable('agent_registrations')
        .set({ status, reason, agent_id: agentId, decided_at: new Date(), decided_by: p.userId })
        .where('id', '=', id).returning(REGISTRATION_COLUMNS).executeTakeFirstOrThrow()
      return { registration: registrationView(updated), agentName }
    })
  }

  app.post('/api/v1/registrations/:id/approve', { onRequest: editors, schema: { params: IdParams } }, async (request) => {
    const { registration, agentName } = await decide(request, request.params.id, 'approved', null)
    await writeAudit(db, {
      orgId: principalOf(request).orgId, action: 'registration.approve', actor: userActor(request), target: { type: 'registration', id: registration.id },
      ip: request.ip, details: { hostname: registration.hostname, agent_id: registration.agent_id, agent_name: agentName },
    })
    return { ...registration, agent_name: agentName }
  })

  app.post('/api/v1/registrations/:id/reject', {
    onRequest: editors, bodyLimit: SMALL_BODY,
    // The reason is optional, and so is the body.
    preValidation: async (request) => { request.body ??= {} },
    schema: { params: IdParams, body: Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }) },
  }, async (request) => {
    const { registration } = await decide(request, request.params.id, 'rejected', request.body.reason ?? null)
    await writeAudit(db, {
      orgId: principalOf(request).orgId, action: 'registration.reject', actor: userActor(request), target: { type: 'registration', id: registration.id },
      ip: request.ip, details: { hostname: registration.hostname },
    })
    return registration
  })
}
