// Security tests: the real API (embedded store, HTTP on 127.0.0.1) with chosen limits and options,
// plus helpers to make organizations, users, agents and data through the API itself.
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp, type AppOptions } from '../../services/api/app.ts'
import { bootstrapAdmin } from '../../services/auth/bootstrap-admin.ts'
import type { Store } from '../../services/store/open-store.ts'
import { ACCESS_TTL, ADMIN, GENEROUS_LIMITS, JWT_SECRET, REFRESH_TTL, openTestStore, request, type Reply, type RequestOptions } from '../api/helpers.ts'

export interface SecureApi {
  app: FastifyInstance
  store: Store
  url: string
  orgId: string
  adminToken: string
  req<T = any>(method: string, path: string, opts?: RequestOptions): Promise<Reply<T>>
  login(username: string, password: string): Promise<{ token: string; refresh_token: string; expires_in: number }>
  /** A user of the caller's organization, created through the API; returns its id and a token. */
  user(role: 'admin' | 'editor' | 'viewer', token?: string, username?: string): Promise<{ id: string; username: string; password: string; token: string }>
}

let counter = 0
export const unique = (prefix: string) => `${prefix}-${process.pid}-${++counter}`

export async function listenWith(t: Test, store: Store, overrides: Partial<AppOptions> = {}): Promise<{ app: FastifyInstance; url: string }> {
  const app = await buildApp({ store, jwtSecret: JWT_SECRET, accessTtlSeconds: ACCESS_TTL, refreshTtlSeconds: REFRESH_TTL, ...GENEROUS_LIMITS, ...overrides })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return { app, url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` }
}

export function apiOn(app: FastifyInstance, store: Store, url: string, orgId: string): Omit<SecureApi, 'adminToken'> & { adminToken: string } {
  const req = <T = any>(method: string, path: string, opts?: RequestOptions) => request<T>(url, method, path, opts)
  const login = async (username: string, password: string) => {
    const res = await req('POST', '/api/v1/auth/login', { body: { username, password } })
    if (res.status !== 200) throw new Error(`login as ${username} failed: ${res.status} ${res.text}`)
    return res.body
  }
  const api: SecureApi = {
    app, store, url, orgId, adminToken: '', req, login,
    user: async (role, token = api.adminToken, username = unique(role)) => {
      const password = `pw-${username}-secret`
      const res = await req('POST', '/api/v1/users', { token, body: { username, password, role } })
      if (res.status !== 201) throw new Error(`creating user ${username} failed: ${res.status} ${res.text}`)
      return { id: res.body.id, username, password, token: (await login(username, password)).token }
    },
  }
  return api
}

/** Store, first admin, app with `overrides`, and an admin token. One per test file: the store takes seconds to open. */
export async function startSecureApi(t: Test, overrides: Partial<AppOptions> = {}, store?: Store): Promise<SecureApi> {
  store ??= await openTestStore(t)
  const { orgId } = await bootstrapAdmin(store.db, ADMIN.username, ADMIN.password)
  const { app, url } = await listenWith(t, store, overrides)
  const api = apiOn(app, store, url, orgId)
  api.adminToken = (await api.login(ADMIN.username, ADMIN.password)).token
  return api
}
