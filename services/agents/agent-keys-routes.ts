// Agent credentials: rotate and revoke an agent's API key, enrollment tokens, and the self-registration
// an agent uses with a token (seed 003: pending until an admin or editor approves, or auto-approved).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { HostInfo } from '../../contract/ingest-batch.ts'
import { ApiError } from '../http/errors.ts'
import { ERRORS, ErrorBody, NoContent, Nullable, Time, WRITE_ERRORS } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { tokenUnusableReason, type HostFacts } from '../auth/enrollment.ts'
import { userActor, writeAudit } from '../audit/audit-log.ts'
import { getAgent, revokeAgentKey, rotateAgentKey } from './agents-repository.ts'
import {
  collectRegistration, createEnrollmentToken, decideRegistration, listEnrollmentTokens, listRegistrations, registerHost, revokeEnrollmentToken,
  type RegistrationRow, type TokenRow,
} from './enrollment-repository.ts'
import { IdParam } from '../http/params.ts'

/** The agent's header; `X-Enroll-Token` is what agents up to now send. */
const TOKEN_HEADERS = ['x-enrollment-token', 'x-enroll-token'] as const
const HOST_COLUMNS = ['hostname', 'ip_address', 'os', 'os_version', 'agent_version'] as const
const SMALL_BODY = 16 * 1024

const Text = Nullable(Type.String())
const Uuid = Type.String({ format: 'uuid' })
const TokenOut = Type.Object({
  id: Uuid, description: Type.String(), auto_approve: Type.Boolean(), labels: Type.Record(Type.String(), Type.String()),
  max_uses: Nullable(Type.Integer()), uses: Type.Integer(), expires_at: Nullable(Time), created_by: Nullable(Uuid), created_at: Time,
  revoked_at: Nullable(Time), usable: Type.Boolean({ description: 'neither revoked, expired nor used up' }),
})
const RegistrationOut = Type.Object({
  id: Uuid, hostname: Type.String(), ip_address: Text, os: Text, os_version: Text, agent_version: Text,
  inventory: Type.Object({}, { additionalProperties: true, description: 'the host facts the agent sent beyond the columns' }),
  remote_address: Text, status: Type.String({ description: 'pending, approved or rejected' }), reason: Text, agent_id: Nullable(Uuid),
  token_id: Uuid, requested_at: Time, decided_at: Nullable(Time), decided_by: Nullable(Uuid), key_delivered_at: Nullable(Time),
})
const RegistrationsOut = Type.Object({ registrations: Type.Array(RegistrationOut) })
/** Reads that still need the editor role also answer 403. */
const EDITOR_READ_ERRORS = { ...ERRORS, 403: ErrorBody }

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString())
const tokenView = (t: TokenRow) => ({
  ...t, expires_at: iso(t.expires_at), created_at: t.created_at.toISOString(), revoked_at: iso(t.revoked_at),
  usable: tokenUnusableReason(t) === undefined,
})
const registrationView = (r: RegistrationRow) => ({
  ...r, requested_at: r.requested_at.toISOString(), decided_at: iso(r.decided_at), key_delivered_at: iso(r.key_delivered_at),
})

/**
 * The registration's Idempotency-Key (the agent sends the same with every attempt of one registration), or
 * undefined when the request has none; a 400 when it is not 1–128 visible ASCII characters.
 */
function requestKeyOf(request: FastifyRequest): string | undefined {
  const v = request.headers['idempotency-key']
  if (v === undefined) return undefined
  if (typeof v !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(v)) {
    throw new ApiError('VALIDATION_ERROR', 'Invalid Idempotency-Key header: send one value of 1 to 128 visible ASCII characters (the agent sends a UUID)',
      { 'idempotency-key': ['1 to 128 visible ASCII characters'] })
  }
  return v
}

/**
 * The attempt's number (Idempotency-Attempt: the agent counts its attempts of a registration on disk; what orders
 * them for enrollment-repository.ts's redeliverKey), or undefined; a 400 when it is not a positive integer.
 */
function attemptOf(request: FastifyRequest): number | undefined {
  const v = request.headers['idempotency-attempt']
  if (v === undefined) return undefined
  const n = typeof v === 'string' && /^[1-9]\d{0,14}$/.test(v) ? Number(v) : NaN
  if (!Number.isSafeInteger(n)) {
    throw new ApiError('VALIDATION_ERROR', 'Invalid Idempotency-Attempt header: send the attempt\'s number, a positive integer', { 'idempotency-attempt': ['a positive integer'] })
  }
  return n
}

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

  app.post('/api/v1/agents/:id/rotate-key', {
    onRequest: editors,
    schema: {
      summary: 'Replace an agent\'s API key; the answer holds the new one, shown this once', tags: ['agents'], params: IdParam,
      response: { 200: Type.Object({ id: Uuid, name: Type.String(), api_key: Type.String({ description: 'shown this once' }) }), ...WRITE_ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    const agent = await getAgent(db, p.orgId, request.params.id)
    const apiKey = await rotateAgentKey(db, agent.id, p.orgId)
    await writeAudit(db, { orgId: p.orgId, action: 'agent.key_rotate', actor: userActor(request), target: { type: 'agent', id: agent.id }, ip: request.ip, details: { name: agent.name } })
    return { id: agent.id, name: agent.name, api_key: apiKey }
  })

  app.post('/api/v1/agents/:id/revoke-key', {
    onRequest: editors,
    schema: { summary: 'Remove an agent\'s API key (it sends nothing more)', tags: ['agents'], params: IdParam, response: { 204: NoContent, ...WRITE_ERRORS } },
  }, async (request, reply) => {
    const p = principalOf(request)
    const agent = await getAgent(db, p.orgId, request.params.id)
    await revokeAgentKey(db, p.orgId, agent.id)
    await writeAudit(db, { orgId: p.orgId, action: 'agent.key_revoke', actor: userActor(request), target: { type: 'agent', id: agent.id }, ip: request.ip, details: { name: agent.name } })
    return reply.status(204).send(null)
  })

  // ---- Enrollment tokens -----------------------------------------------------------------------

  app.post('/api/v1/enrollment-tokens', {
    onRequest: editors, bodyLimit: SMALL_BODY,
    schema: {
      summary: 'Make an enrollment token; the answer holds it, shown this once', tags: ['agents'],
      body: Type.Object({
        description: Type.Optional(Type.String({ maxLength: 256 })),
        auto_approve: Type.Optional(Type.Boolean()),
        /** A duration (`30m`, `7d`) from now. */
        expires_in: Type.Optional(Type.String({ pattern: '^\\d{1,6}(m|h|d|w)$' })),
        max_uses: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
        labels: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 256 }), { maxProperties: 64 })),
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ ...TokenOut.properties, token: Type.String({ description: 'shown this once' }) }), ...WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const { row, token } = await createEnrollmentToken(db, p.orgId, p.userId, request.body)
    await writeAudit(db, {
      orgId: p.orgId, action: 'enrollment_token.create', actor: userActor(request), target: { type: 'enrollment_token', id: row.id }, ip: request.ip,
      details: { auto_approve: row.auto_approve, max_uses: row.max_uses, expires_at: iso(row.expires_at) },
    })
    return reply.status(201).send({ ...tokenView(row), token })
  })

  app.get('/api/v1/enrollment-tokens', {
    onRequest: editors,
    schema: { summary: 'Enrollment tokens, newest first (never the tokens themselves)', tags: ['agents'], response: { 200: Type.Object({ tokens: Type.Array(TokenOut) }), ...EDITOR_READ_ERRORS } },
  }, async (request) => ({ tokens: (await listEnrollmentTokens(db, principalOf(request).orgId)).map(tokenView) }))

  app.delete('/api/v1/enrollment-tokens/:id', {
    onRequest: editors,
    schema: { summary: 'Revoke an enrollment token', tags: ['agents'], params: IdParam, response: { 204: NoContent, ...WRITE_ERRORS } },
  }, async (request, reply) => {
    const p = principalOf(request)
    const { id } = request.params
    await revokeEnrollmentToken(db, p.orgId, id)
    await writeAudit(db, { orgId: p.orgId, action: 'enrollment_token.revoke', actor: userActor(request), target: { type: 'enrollment_token', id }, ip: request.ip })
    return reply.status(204).send(null)
  })

  // ---- Self-registration (the agent's side) ----------------------------------------------------

  app.post('/api/v1/agents/register', {
    bodyLimit: 64 * 1024, config: { rateBudget: 'auth' },
    schema: {
      summary: 'Register this host with an enrollment token (no other credential); send the same Idempotency-Key with every attempt of one registration', tags: ['agents'],
      // The host facts of the ingest contract; unknown fields from newer agents are ignored.
      body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 256 }), ...HostInfo.properties }, { additionalProperties: true }),
      response: {
        201: Type.Object({ status: Type.Literal('approved'), agent_id: Uuid, agent_name: Type.String(), api_key: Type.String({ description: 'shown once; a later attempt whose answer was lost gets a new one' }) },
          { description: 'Auto-approved: the agent exists and this is its key' }),
        202: Type.Object({ status: Type.Literal('pending'), registration_id: Uuid }, { description: 'Waiting for an admin or editor: poll the registration' }),
        ...ERRORS, 409: ErrorBody, 503: ErrorBody,
      },
    },
  }, async (request, reply) => {
    const { token: secret, ...fields } = request.body
    const known = new Set(Object.keys(HostInfo.properties))
    const host: HostFacts = {
      hostname: fields.hostname, ip_address: fields.ip_address, os: fields.os, os_version: fields.os_version, agent_version: fields.agent_version,
      inventory: Object.fromEntries(Object.entries(fields).filter(([k]) => known.has(k) && !(HOST_COLUMNS as readonly string[]).includes(k))),
    }
    const key = requestKeyOf(request)
    const registration = await registerHost(db, secret, host, request.ip, key === undefined ? undefined : { key, number: attemptOf(request) })
    const actor = { type: 'anonymous' as const, name: host.hostname }
    if (registration.repeated) {
      // An attempt whose earlier answer was lost: the same registration; auto-approved, a new key for its agent.
      await writeAudit(db, { orgId: registration.orgId, action: 'registration.repeat', actor, target: { type: 'registration', id: registration.registrationId }, ip: request.ip, details: { hostname: host.hostname, token_id: registration.tokenId, new_key: registration.status === 'approved' } })
    } else if (registration.status === 'approved') {
      await writeAudit(db, { orgId: registration.orgId, action: 'registration.auto_approve', actor, target: { type: 'agent', id: registration.agent.id }, ip: request.ip, details: { registration_id: registration.registrationId, hostname: host.hostname, agent_name: registration.agent.name, token_id: registration.tokenId } })
    } else {
      await writeAudit(db, { orgId: registration.orgId, action: 'registration.request', actor, target: { type: 'registration', id: registration.registrationId }, ip: request.ip, details: { hostname: host.hostname, token_id: registration.tokenId } })
    }
    if (registration.status === 'approved') {
      const { agent } = registration
      return reply.status(201).send({ status: 'approved', agent_id: agent.id, agent_name: agent.name, api_key: registration.apiKey })
    }
    return reply.status(202).send({ status: 'pending', registration_id: registration.registrationId })
  })

  app.get('/api/v1/agents/register/:registration_id', {
    schema: {
      summary: 'Poll a registration (X-Enrollment-Token); once approved, the answer holds the API key (made again only for a later attempt, Idempotency-Attempt, whose answer was lost)', tags: ['agents'],
      params: Type.Object({ registration_id: Type.String({ minLength: 1, maxLength: 128 }) }),
      response: {
        200: Type.Object({
          status: Type.String({ description: 'pending, rejected or approved' }), reason: Type.Optional(Type.String()),
          agent_id: Type.Optional(Uuid), api_key: Type.Optional(Type.String({ description: 'shown once; see the summary' })),
        }),
        ...ERRORS, 409: ErrorBody, 503: ErrorBody,
      },
    },
  }, async (request) => {
    const outcome = await collectRegistration(db, enrollmentSecretOf(request), request.params.registration_id, attemptOf(request))
    if (outcome.status === 'pending') return { status: 'pending' }
    if (outcome.status === 'rejected') return { status: 'rejected', ...(outcome.reason ? { reason: outcome.reason } : {}) }
    await writeAudit(db, { orgId: outcome.orgId, action: outcome.redelivered ? 'registration.key_redelivered' : 'registration.key_delivered', actor: { type: 'agent', id: outcome.agentId }, target: { type: 'registration', id: outcome.registrationId }, ip: request.ip })
    return { status: 'approved', agent_id: outcome.agentId, api_key: outcome.apiKey }
  })

  // ---- Registrations (the admin's side) --------------------------------------------------------

  app.get('/api/v1/registrations', {
    onRequest: editors,
    schema: {
      summary: 'Registrations, newest first', tags: ['agents'],
      querystring: Type.Object({ status: Type.Optional(Type.Union(['pending', 'approved', 'rejected', 'all'].map((s) => Type.Literal(s)))) }),
      response: { 200: RegistrationsOut, ...EDITOR_READ_ERRORS },
    },
  }, async (request) => ({
    registrations: (await listRegistrations(db, principalOf(request).orgId, request.query.status as 'pending' | 'approved' | 'rejected' | 'all' | undefined)).map(registrationView),
  }))

  app.get('/api/v1/registrations/pending', {
    onRequest: editors,
    schema: { summary: 'Registrations waiting for a decision, newest first', tags: ['agents'], response: { 200: RegistrationsOut, ...EDITOR_READ_ERRORS } },
  }, async (request) => ({ registrations: (await listRegistrations(db, principalOf(request).orgId, 'pending')).map(registrationView) }))

  app.post('/api/v1/registrations/:id/approve', {
    onRequest: editors,
    schema: {
      summary: 'Approve a pending registration: its agent is created (the agent collects its key)', tags: ['agents'], params: IdParam,
      response: { 200: Type.Object({ ...RegistrationOut.properties, agent_name: Nullable(Type.String()) }), ...WRITE_ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    const decided = await decideRegistration(db, p.orgId, p.userId, request.params.id, 'approved', null)
    const registration = registrationView(decided.registration)
    await writeAudit(db, {
      orgId: p.orgId, action: 'registration.approve', actor: userActor(request), target: { type: 'registration', id: registration.id },
      ip: request.ip, details: { hostname: registration.hostname, agent_id: registration.agent_id, agent_name: decided.agentName },
    })
    return { ...registration, agent_name: decided.agentName }
  })

  app.post('/api/v1/registrations/:id/reject', {
    onRequest: editors, bodyLimit: SMALL_BODY,
    // The reason is optional, and so is the body.
    preValidation: async (request) => { request.body ??= {} },
    schema: {
      summary: 'Reject a pending registration', tags: ['agents'],
      params: IdParam, body: Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
      response: { 200: RegistrationOut, ...WRITE_ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    const { registration } = await decideRegistration(db, p.orgId, p.userId, request.params.id, 'rejected', request.body.reason ?? null)
    await writeAudit(db, {
      orgId: p.orgId, action: 'registration.reject', actor: userActor(request), target: { type: 'registration', id: registration.id },
      ip: request.ip, details: { hostname: registration.hostname },
    })
    return registrationView(registration)
  })
}
