// Request budgets (seed 004 §8): separate windows for auth, reads, writes and agent ingest, counted by
// @fastify/rate-limit's store. Every limited answer carries X-RateLimit-Limit / -Remaining / -Reset
// (Reset as a unix time in seconds, as seed 004 shows it); a refused one is a 429 in the error format
// with details.retry_after and a Retry-After header.
import fp from 'fastify-plugin'
import { accessClaims } from '../auth/auth-plugin.ts'
import { clientAgentKey } from '../agents/agent-key-auth.ts'
import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sha256 } from '../auth/secrets.ts'
import { DomainError } from '../errors/domain-error.ts'

/** `perf_*`: seed 004's routes, with that document's own budgets. */
export type RateBudget = 'auth' | 'read' | 'write' | 'ingest' | 'perf_auth' | 'perf_read' | 'perf_write'
const BUDGETS: readonly RateBudget[] = ['auth', 'read', 'write', 'ingest', 'perf_auth', 'perf_read', 'perf_write']

export interface RateLimitBudgets { windowMs: number; auth: number; read: number; write: number; ingest: number; perf_auth: number; perf_read: number; perf_write: number }

/**
 * Per window of one minute: auth is per address (logins, refreshes, agent registration); reads and
 * writes per user (per address before login); ingest per agent key — an agent sends one batch per
 * interval (6/min at 10 s) and replays its buffer in requests of up to 500 batches. Seed 004's routes
 * keep that document's budgets (auth 5, read 100, write 20), counted apart from the native ones.
 */
export const DEFAULT_RATE_LIMITS: RateLimitBudgets = {
  windowMs: 60_000, auth: 10, read: 300, write: 60, ingest: 600, perf_auth: 5, perf_read: 100, perf_write: 20,
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which budget a route draws on; default: by method and credentials. `false`: not limited. */
    rateBudget?: RateBudget | false
  }
}

/** Routes that must answer whatever the load: probes of load balancers and orchestrators. */
const UNLIMITED = new Set(['/health', '/ready'])

function budgetOf(request: FastifyRequest): RateBudget | false {
  const configured = request.routeOptions.config?.rateBudget
  if (configured !== undefined) return configured
  if (request.routeOptions.url && UNLIMITED.has(request.routeOptions.url)) return false
  if (typeof request.headers['x-api-key'] === 'string' && !request.headers.authorization) return 'ingest'
  return request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS' ? 'read' : 'write'
}

export const rateLimitPlugin = fp(async (app, opts: { budgets: RateLimitBudgets }) => {
  const budgets = opts.budgets
  await app.register(fastifyRateLimit, { global: false, cache: 50_000 })

  /** Whose budget: the agent key, else the verified user, else the client address. */
  const keyOf = (budget: RateBudget) => (request: FastifyRequest): string => {
    if (budget === 'ingest') {
      const key = clientAgentKey(request)
      return key ? `key:${sha256(key)}` : `ip:${request.ip}`
    }
    if (budget !== 'auth' && budget !== 'perf_auth') {
      // Not a valid token: counted by address, and refused by authentication.
      const claims = accessClaims(app, request)
      if (claims) return `user:${claims.sub}`
    }
    return `ip:${request.ip}`
  }

  const limiters = Object.fromEntries(BUDGETS.map((b) => [b,
    app.createRateLimit({ max: budgets[b], timeWindow: budgets.windowMs, keyGenerator: keyOf(b) })])) as Record<RateBudget, ReturnType<typeof app.createRateLimit>>

  // A global hook runs before every route's own hooks: unauthenticated floods are counted too.
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const budget = budgetOf(request)
    if (budget === false) return
    const result = await limiters[budget](request)
    if (result.isAllowed) return
    const resetAt = Math.ceil((Date.now() + result.ttl) / 1000)
    void reply.header('x-ratelimit-limit', result.max)
    void reply.header('x-ratelimit-remaining', result.remaining)
    void reply.header('x-ratelimit-reset', resetAt)
    if (result.isExceeded) {
      const retryAfter = Math.max(1, result.ttlInSeconds)
      throw new DomainError('rate_limited', `Rate limit exceeded. Please retry after ${retryAfter} seconds.`, { details: { retry_after: retryAfter, budget }, retryAfterSeconds: retryAfter })
    }
  })
}, { name: 'hostpulse-rate-limit', dependencies: ['hostpulse-auth'] })
