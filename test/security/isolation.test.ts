// Two organizations, each with agents, data, users, enrollment tokens and registrations. Every route
// with a path parameter, tried by one organization with the other's ids (uuids and names), finds nothing
// (404, never 403: existence is not revealed) and changes nothing; every list answers with none of the
// other organization's identifiers.
import t from 'tap'
import { sql } from 'kysely'
import { makeBatch, metric } from '../api/helpers.ts'
import { startSecureApi, unique } from './security-helpers.ts'

const PUBLIC = new Set(['GET /health', 'GET /ready', 'POST /api/v1/auth/login', 'POST /api/v1/auth/refresh', 'POST /api/v1/ingest',
  'POST /api/v1/agents/register', 'GET /api/v1/agents/register/:registration_id'])
/** Bodies that pass validation, so the handler itself must find nothing. */
const BODIES: Record<string, unknown> = {
  'PUT /api/v1/users/:id': { role: 'viewer', password: 'hijacked-password-1', display_name: 'pwned' },
  'POST /api/v1/registrations/:id/reject': { reason: 'cross-org' },
}

t.test('organization isolation', async (t) => {
  const api = await startSecureApi(t)
  const orgB = await api.req('POST', '/api/v1/organizations', { token: api.adminToken, body: { name: unique('OrgB'), admin: { username: unique('b-admin'), password: 'b-admin-password' } } })
  t.equal(orgB.status, 201)
  const bAdmin = (await api.login(orgB.body.admin.username, 'b-admin-password')).token

  async function populate(token: string, tag: string) {
    const agent = (await api.req('POST', '/api/v1/agents', { token, body: { name: `${tag}-web-01`, hostname: `${tag}.example` } })).body
    const ingest = await api.req('POST', '/api/v1/ingest', { apiKey: agent.api_key, body: makeBatch({ metrics: [metric('cpu', 'usage_percent', 42)] }) })
    if (ingest.status !== 202) throw new Error(ingest.text)
    const user = (await api.req('POST', '/api/v1/users', { token, body: { username: unique(`${tag}-viewer`), password: 'viewer-password-1', role: 'viewer' } })).body
    const enroll = (await api.req('POST', '/api/v1/enrollment-tokens', { token, body: { description: `${tag} token` } })).body
    const reg = (await api.req('POST', '/api/v1/agents/register', { body: { token: enroll.token, hostname: `${tag}-pending-host` } })).body
    return { agent, user, enroll, reg }
  }
  const a = await populate(api.adminToken, 'orga')
  const b = await populate(bAdmin, 'orgb')

  const snapshotOf = async (orgId: string) => JSON.stringify({
    agents: await api.store.db.selectFrom('agents').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
    users: await api.store.db.selectFrom('users').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
    tokens: await api.store.db.selectFrom('enrollment_tokens').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
    registrations: await api.store.db.selectFrom('agent_registrations').selectAll().where('org_id', '=', orgId).orderBy('id').execute(),
    sessions: await api.store.db.selectFrom('auth_sessions').select(['id', 'revoked_at']).where('org_id', '=', orgId).orderBy('id').execute(),
    metrics: (await sql<{ n: number }>`select count(*)::int as n from metrics where org_id = ${orgId}`.execute(api.store.db)).rows[0].n,
  })

  for (const [attacker, token, victim] of [['B', bAdmin, a], ['A', api.adminToken, b]] as const) {
    t.test(`organization ${attacker} with the other's ids: 404 everywhere, nothing changed`, async (t) => {
      const victimOrg = victim === a ? api.orgId : orgB.body.id
      const before = await snapshotOf(victimOrg)
      const foreignIds = [victim.agent.id, victim.agent.name, victim.user.id, victim.enroll.id, victim.reg.registration_id]
      const routes = api.app.registeredRoutes.filter((r) => r.method !== 'OPTIONS' && r.method !== 'HEAD' && /:/.test(r.url))
      let tried = 0
      for (const r of routes) {
        const key = `${r.method} ${r.url}`
        if (PUBLIC.has(key)) continue
        for (const id of foreignIds) {
          const path = r.url.replace(/:[A-Za-z_]+/g, encodeURIComponent(id))
          const res = await api.req(r.method, path, { token, body: r.method === 'GET' || r.method === 'DELETE' ? undefined : (BODIES[key] ?? {}) })
          tried++
          if (res.status !== 400) t.equal(res.status, 404, `${key} with ${id}: ${res.status} ${res.text.slice(0, 120)}`)
          t.notOk(res.text.includes(victim.agent.hostname ?? '\u0000') || res.text.includes(victim.user.username), `${key} with ${id} reveals nothing`)
        }
      }
      t.ok(tried >= 40, `${tried} cross-organization requests`)
      t.equal(await snapshotOf(victimOrg), before, "the other organization's rows are unchanged")
    })
  }

  t.test('lists show only the own organization', async (t) => {
    const lists = api.app.registeredRoutes.filter((r) => r.method === 'GET' && !/:/.test(r.url) && !PUBLIC.has(`GET ${r.url}`))
    t.ok(lists.length >= 6, `${lists.length} list routes`)
    const aMarkers = [a.agent.id, a.agent.name, a.user.id, a.user.username, a.enroll.id, a.reg.registration_id, 'orga-pending-host', api.orgId]
    for (const r of lists) {
      const res = await api.req('GET', r.url, { token: bAdmin })
      t.ok(res.status < 500, `GET ${r.url} → ${res.status}`)
      for (const marker of aMarkers) t.notOk(res.text.includes(marker), `GET ${r.url} shows nothing of organization A (${marker})`)
    }
    const own = await api.req('GET', '/api/v1/registrations', { token: bAdmin })
    t.ok(own.text.includes(b.reg.registration_id), "control: B's own registration is listed")
  })

  t.test("an enrollment token registers hosts only into its own organization; data of one org's agent never shows in the other", async (t) => {
    const agentOrg = await api.store.db.selectFrom('agents').select('org_id').where('id', '=', b.agent.id).executeTakeFirstOrThrow()
    t.equal(agentOrg.org_id, orgB.body.id)
    const latestA = await api.req('GET', `/api/v1/metrics/latest/${encodeURIComponent(b.agent.name)}`, { token: api.adminToken })
    t.equal(latestA.status, 404)
    const latestB = await api.req('GET', `/api/v1/metrics/latest/${encodeURIComponent(b.agent.name)}`, { token: bAdmin })
    t.equal(latestB.status, 200, 'control: the owner reads it')
    // Same agent name in both organizations: each sees only its own.
    await api.req('POST', '/api/v1/agents', { token: bAdmin, body: { name: a.agent.name } })
    const same = await api.req('GET', `/api/v1/agents/${a.agent.name}`, { token: bAdmin })
    t.not(same.body.id, a.agent.id)
  })
})
