// Authentication for every route but /health, /ready and login: a JWT whose session is still live.
import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Role } from '../store/database.ts'
import { DomainError } from '../errors/domain-error.ts'
import { sessionLookup } from './session-cache.ts'

export interface AccessClaims { sub: string; org: string; role: Role; sid: string; typ: 'access' }
export interface RefreshClaims { sid: string; typ: 'refresh'; nonce: string }

/** Role and organization come from the users row on every request, so a demotion or deletion takes effect at once. */
export interface Principal { userId: string; username: string; orgId: string; role: Role; sessionId: string }

declare module '@fastify/jwt' {
  interface FastifyJWT { payload: AccessClaims | RefreshClaims; user: AccessClaims }
}

declare module 'fastify' {
  interface FastifyRequest { principal?: Principal }
  interface FastifyInstance {
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    requireRole: (...roles: Role[]) => (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

export const authPlugin = fp(async (app, opts: { secret: string }) => {
  // HS256 only: a token naming another algorithm ("none", RS256 with the secret as a public key) is refused.
  await app.register(fastifyJwt, { secret: opts.secret, sign: { algorithm: 'HS256' }, verify: { algorithms: ['HS256'] } })
  const sessions = await sessionLookup(app.store)
  app.addHook('onClose', () => sessions.close())

  app.decorate('authenticate', async (request: FastifyRequest) => {
    if (!request.headers.authorization?.startsWith('Bearer ')) {
      throw new DomainError('unauthenticated', 'Missing bearer token: log in at POST /api/v1/auth/login and send Authorization: Bearer <token>')
    }
    const claims = accessClaims(app, request)
    if (!claims) throw new DomainError('unauthenticated', 'Invalid or expired token')
    // A logged-out session stops working at once, whatever the token's expiry says.
    const live = await sessions.live(claims.sid, claims.sub)
    if (!live) throw new DomainError('unauthenticated', 'Session has ended: log in again')
    request.principal = { userId: live.user_id, username: live.username, orgId: live.org_id, role: live.role, sessionId: claims.sid }
  })

  app.decorate('requireRole', (...roles: Role[]) => async (request: FastifyRequest, reply: FastifyReply) => {
    await app.authenticate(request, reply)
    if (!roles.includes(request.principal!.role)) {
      throw new DomainError('forbidden', `This action needs the ${roles.join(' or ')} role`)
    }
  })
}, { name: 'hostpulse-auth', dependencies: ['hostpulse-store'] })

const verifiedClaims = new WeakMap<FastifyRequest, AccessClaims | null>()

/**
 * The request's access-token claims, verified once per request (the rate limiter and authentication both
 * ask); null without a valid access token. Whether its session is live is authentication's question.
 */
export function accessClaims(app: FastifyInstance, request: FastifyRequest): AccessClaims | null {
  const known = verifiedClaims.get(request)
  if (known !== undefined) return known
  let claims: AccessClaims | null = null
  const header = request.headers.authorization
  if (header?.startsWith('Bearer ')) {
    try {
      const c = app.jwt.verify<AccessClaims>(header.slice(7))
      if (c.typ === 'access') claims = c
    } catch { /* expired, tampered or wrongly signed: no claims */ }
  }
  verifiedClaims.set(request, claims)
  return claims
}

/** The principal of an authenticated request (routes behind `authenticate` always have one). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new DomainError('unauthenticated', 'Not authenticated')
  return request.principal
}
