// Seed 003's AgentRegistrationViewSet over the native enrollment (services/agents/enrollment-repository.ts):
// one workflow, two faces. A host registers with an enrollment token, as natively — the seed's register is
// open to anyone, hostpulse's is not: the token comes as the X-Enrollment-Token header or a `token` (or
// `enrollment_token`) body field, and without one the answer is a 401 saying how to get one. Hostnames are
// unique per organization as the seed wants. Approving creates the native agent at once and issues its key
// in the answer, once (the native poll then answers 409: a key handed to an editor is never made again).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { AgentManagementOptions } from './face-options.ts'
import { PageOf, PageQuery, pageOf, pageWindow } from './drf.ts'
import { DRF_ERRORS, DRF_WRITE_ERRORS, DrfError, NumberParam, RegistrationOut, numberFrom, registrationJson } from './seed-shapes.ts'
import { HostInfo } from '../../../contract/ingest-batch.ts'
import { principalOf } from '../../auth/auth-plugin.ts'
import type { HostFacts } from '../../auth/enrollment.ts'
import { userActor, writeAudit } from '../../audit/audit-log.ts'
import { DomainError } from '../../errors/domain-error.ts'
import {
  decideRegistration, findRegistrationById, findRegistrationByNumber, issueRegistrationKey, listRegistrationsPage, registerNewHost, type NumberedRegistration,
} from '../../agents/enrollment-repository.ts'
import type { RegistrationStatus } from '../../store/database.ts'

/** The native header, and what agents up to now send. */
const TOKEN_HEADERS = ['x-enrollment-token', 'x-enroll-token'] as const
const HOST_COLUMNS = ['hostname', 'ip_address', 'os', 'os_version', 'agent_version'] as const
const NO_TOKEN = 'An enrollment token is required to register: an admin or editor creates one (POST /api/v1/enrollment-tokens) '
  + 'and the agent sends it as the X-Enrollment-Token header or a "token" field.'

const Secret = Type.String({ minLength: 1, maxLength: 256 })
const RegisterBody = Type.Object({
  ...HostInfo.properties,
  token: Type.Optional(Secret), enrollment_token: Type.Optional(Secret),
  version: Type.Optional(Type.String({ maxLength: 64, description: 'the agent version, as the seed names it (agent_version)' })),
}, { additionalProperties: true })
const Registered = Type.Object({
  ...RegistrationOut.properties,
  api_key: Type.Optional(Type.String({ description: 'auto-approving token: the new agent\'s key, shown this once' })),
})
const Approved = Type.Object({ ...RegistrationOut.properties, api_key: Type.String({ description: 'the new agent\'s key, shown this once' }) })
const RejectBody = Type.Object({
  notes: Type.Optional(Type.String({ maxLength: 500 })), reason: Type.Optional(Type.String({ maxLength: 500, description: 'the native name of notes' })),
}, { additionalProperties: true })
const StatusQuery = Type.Optional(Type.Union(['pending', 'approved', 'rejected'].map((s) => Type.Literal(s))))

function enrollmentSecret(request: FastifyRequest): string | undefined {
  for (const name of TOKEN_HEADERS) {
    const v = request.headers[name]
    if (typeof v === 'string' && v.length > 0) return v
  }
  const body = request.body as { token?: unknown; enrollment_token?: unknown } | null
  const fromBody = typeof body === 'object' && body !== null ? body.token ?? body.enrollment_token : undefined
  return typeof fromBody === 'string' && fromBody.length > 0 ? fromBody : undefined
}

export const registrationsRoutes: FastifyPluginAsyncTypebox<AgentManagementOptions> = async (app) => {
  const db = app.store.db
  const editors = app.requireRole('admin', 'editor')

  async function registrationOf(request: FastifyRequest, id: string): Promise<NumberedRegistration> {
    const reg = await findRegistrationByNumber(db, principalOf(request).orgId, numberFrom(id, 'Registration'))
    if (!reg) throw new DomainError('not_found', `Registration ${id} not found.`)
    return reg
  }
  const reread = async (orgId: string, id: string) => (await findRegistrationById(db, orgId, id))!

  app.post('/api/agent/register/', {
    bodyLimit: 64 * 1024, config: { rateBudget: 'auth' },
    // No token, no registration: said before anything about the body.
    preValidation: async (request) => {
      if (!enrollmentSecret(request)) throw new DomainError('unauthenticated', NO_TOKEN)
    },
    schema: {
      summary: 'Seed 003: register this host (pending until approved) with an enrollment token: X-Enrollment-Token header or a token field',
      tags: ['seed-003'], security: [{ enrollmentToken: [] }],
      body: RegisterBody, response: { 201: Registered, ...DRF_ERRORS },
    },
  }, async (request, reply) => {
    const { token: _t, enrollment_token: _e, version, ...fields } = request.body
    const known = new Set(Object.keys(HostInfo.properties))
    const host: HostFacts = {
      hostname: fields.hostname, ip_address: fields.ip_address, os: fields.os, os_version: fields.os_version, agent_version: fields.agent_version ?? version,
      inventory: Object.fromEntries(Object.entries(fields).filter(([k]) => known.has(k) && !(HOST_COLUMNS as readonly string[]).includes(k))),
    }
    const registration = await registerNewHost(db, enrollmentSecret(request)!, host, request.ip)
    const actor = { type: 'anonymous' as const, name: host.hostname }
    const reg = await reread(registration.orgId, registration.registrationId)
    if (registration.status === 'approved') {
      const { agent } = registration
      await writeAudit(db, { orgId: registration.orgId, action: 'registration.auto_approve', actor, target: { type: 'agent', id: agent.id }, ip: request.ip, details: { registration_id: registration.registrationId, hostname: host.hostname, agent_name: agent.name, token_id: registration.tokenId } })
      return reply.status(201).send({ ...registrationJson(reg), api_key: registration.apiKey })
    }
    await writeAudit(db, { orgId: registration.orgId, action: 'registration.request', actor, target: { type: 'registration', id: registration.registrationId }, ip: request.ip, details: { hostname: host.hostname, token_id: registration.tokenId } })
    return reply.status(201).send(registrationJson(reg))
  })

  async function list(request: FastifyRequest, query: PageQuery, status: RegistrationStatus | undefined) {
    const { limit, offset } = pageWindow(query)
    const { registrations, total } = await listRegistrationsPage(db, principalOf(request).orgId, { status, limit, offset })
    return pageOf(request, query, total, registrations.map(registrationJson))
  }

  app.get('/api/registrations/', {
    onRequest: editors,
    schema: {
      summary: 'Seed 003: registrations, newest first', tags: ['seed-003'],
      querystring: Type.Object({ ...PageQuery, status: StatusQuery }), response: { 200: PageOf(RegistrationOut), ...DRF_ERRORS, 403: DrfError },
    },
  }, async (request) => list(request, request.query, request.query.status as RegistrationStatus | undefined))

  app.get('/api/registrations/pending/', {
    onRequest: editors,
    schema: {
      summary: 'Seed 003: registrations waiting for a decision, newest first', tags: ['seed-003'],
      querystring: Type.Object(PageQuery), response: { 200: PageOf(RegistrationOut), ...DRF_ERRORS, 403: DrfError },
    },
  }, async (request) => list(request, request.query, 'pending'))

  app.get('/api/registrations/:id/', {
    onRequest: editors,
    schema: { summary: 'Seed 003: one registration', tags: ['seed-003'], params: NumberParam, response: { 200: RegistrationOut, ...DRF_ERRORS, 403: DrfError } },
  }, async (request) => registrationJson(await registrationOf(request, request.params.id)))

  app.post('/api/registrations/:id/approve/', {
    onRequest: editors,
    schema: {
      summary: 'Seed 003: approve a registration: its agent is created, active at once, and its key is in this answer, once', tags: ['seed-003'],
      params: NumberParam, response: { 200: Approved, ...DRF_WRITE_ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    const reg = await registrationOf(request, request.params.id)
    const decided = await decideRegistration(db, p.orgId, p.userId, reg.id, 'approved', null)
    const apiKey = await issueRegistrationKey(db, p.orgId, reg.id)
    if (!apiKey) throw new DomainError('conflict', `Registration ${reg.number}'s agent is gone or its key was delivered: rotate the agent's key (POST /api/v1/agents/{uuid}/rotate-key)`)
    await writeAudit(db, {
      orgId: p.orgId, action: 'registration.approve', actor: userActor(request), target: { type: 'registration', id: reg.id },
      ip: request.ip, details: { hostname: reg.hostname, agent_id: decided.registration.agent_id, agent_name: decided.agentName },
    })
    await writeAudit(db, { orgId: p.orgId, action: 'registration.key_delivered', actor: userActor(request), target: { type: 'registration', id: reg.id }, ip: request.ip })
    return { ...registrationJson(await reread(p.orgId, reg.id)), api_key: apiKey }
  })

  app.post('/api/registrations/:id/reject/', {
    onRequest: editors, bodyLimit: 16 * 1024,
    // The notes are optional, and so is the body.
    preValidation: async (request) => { request.body ??= {} },
    schema: {
      summary: 'Seed 003: reject a registration, with notes', tags: ['seed-003'],
      params: NumberParam, body: RejectBody, response: { 200: RegistrationOut, ...DRF_WRITE_ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    const reg = await registrationOf(request, request.params.id)
    const notes = request.body.notes ?? request.body.reason ?? null
    await decideRegistration(db, p.orgId, p.userId, reg.id, 'rejected', notes)
    await writeAudit(db, {
      orgId: p.orgId, action: 'registration.reject', actor: userActor(request), target: { type: 'registration', id: reg.id },
      ip: request.ip, details: { hostname: reg.hostname },
    })
    return registrationJson(await reread(p.orgId, reg.id))
  })
}
