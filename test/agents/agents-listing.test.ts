// Agents management (seed 001, 0.3.0): list with status/limit/offset, read by uuid or name, PUT/PATCH,
// DELETE with every sample the agent sent, and fleet statistics with online = a recent sample.
import t from 'tap'
import { sql } from 'kysely'
import { assertError, makeBatch, minutesAgo, rowCounts, startClient, RAW_TABLES } from '../test-client.ts'
import type { CreatedAgent } from '../test-client.ts'
import { listenAppWith } from '../query/query-helpers.ts'

const LIST_KEYS = ['agents', 'limit', 'offset', 'total']

t.test('agents management', async (t) => {
  const api = await startClient(t)
  // Twelve agents: alpha-00 … alpha-11; four set inactive below.
  const agents: CreatedAgent[] = []
  for (let i = 0; i < 12; i++) agents.push(await api.createAgent(`alpha-${String(i).padStart(2, '0')}`, api.adminToken, { hostname: `h${i}.example.com` }))
  for (const i of [1, 4, 7, 10]) {
    const res = await api.request('PATCH', `/api/v1/agents/${agents[i].id}`, { token: api.adminToken, body: { status: 'inactive' } })
    t.equal(res.status, 200, `alpha-${i} set inactive`)
  }
  const names = agents.map((a) => a.name)
  const inactive = [1, 4, 7, 10].map((i) => names[i])
  const active = names.filter((n) => !inactive.includes(n))

  t.test('list: {agents, total, limit, offset}, every agent once, ordered by name', async (t) => {
    const res = await api.get('/api/v1/agents')
    t.equal(res.status, 200)
    t.same(Object.keys(res.body).sort(), LIST_KEYS)
    t.equal(res.body.total, 12)
    t.equal(res.body.limit, 100, 'default limit 100')
    t.equal(res.body.offset, 0, 'default offset 0')
    t.same(res.body.agents.map((a: any) => a.name), names)
    const a = res.body.agents[0]
    for (const k of ['id', 'name', 'hostname', 'ip_address', 'os', 'os_version', 'agent_version', 'status', 'last_seen_at', 'last_metrics_at', 'created_at', 'updated_at', 'labels']) {
      t.ok(k in a, `an agent has ${k}`)
    }
    t.notOk('api_key' in a || 'api_key_hash' in a || 'org_id' in a, 'no key, hash or org id')
    t.match(a.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'times are UTC ISO 8601')
  })

  t.test('list: status filter', async (t) => {
    const act = await api.get('/api/v1/agents?status=active')
    t.equal(act.body.total, 8)
    t.same(act.body.agents.map((a: any) => a.name), active)
    t.ok(act.body.agents.every((a: any) => a.status === 'active'))
    const ina = await api.get('/api/v1/agents?status=inactive&limit=50&offset=0')
    t.equal(ina.body.total, 4)
    t.same(ina.body.agents.map((a: any) => a.name), inactive)
    t.equal(ina.body.limit, 50)
  })

  t.test('list: limit/offset pages are disjoint, cover every agent, total independent of limit', async (t) => {
    const seen: string[] = []
    for (let offset = 0; offset < 14; offset += 5) {
      const res = await api.get(`/api/v1/agents?limit=5&offset=${offset}`)
      t.equal(res.status, 200)
      t.equal(res.body.total, 12, `total at offset ${offset}`)
      t.equal(res.body.limit, 5)
      t.equal(res.body.offset, offset)
      t.equal(res.body.agents.length, Math.min(5, Math.max(0, 12 - offset)), `page size at offset ${offset}`)
      seen.push(...res.body.agents.map((a: any) => a.name))
    }
    t.same(seen, names, 'every agent exactly once, in order')
    const past = await api.get('/api/v1/agents?limit=5&offset=100')
    t.same(past.body.agents, [])
    t.equal(past.body.total, 12)
    const filtered = await api.get('/api/v1/agents?status=active&limit=3&offset=6')
    t.same(filtered.body.agents.map((a: any) => a.name), active.slice(6, 9))
    t.equal(filtered.body.total, 8)
  })

  t.test('list: bad limit, offset or status → 400 naming it', async (t) => {
    for (const [q, field] of [['limit=0', 'limit'], ['limit=-1', 'limit'], ['limit=abc', 'limit'], ['limit=1001', 'limit'], ['limit=1.5', 'limit'],
      ['offset=-1', 'offset'], ['offset=x', 'offset'], ['status=deleted', 'status'], ['status=', 'status']] as const) {
      const res = await api.get(`/api/v1/agents?${q}`)
      assertError(t, res, 400, 'VALIDATION_ERROR', q)
      t.ok(res.body?.details && field in res.body.details, `${q}: details name ${field} (${JSON.stringify(res.body?.details)})`)
      t.match(res.body?.message, field, `${q}: message names ${field}`)
    }
  })

  t.test('GET by uuid and by name; unknown → 404', async (t) => {
    const byId = await api.get(`/api/v1/agents/${agents[3].id}`)
    t.equal(byId.status, 200)
    t.equal(byId.body.name, 'alpha-03')
    t.equal(byId.body.hostname, 'h3.example.com')
    const byName = await api.get('/api/v1/agents/alpha-03')
    t.same(byName.body, byId.body, 'same agent by name')
    assertError(t, await api.get('/api/v1/agents/no-such-agent'), 404, 'NOT_FOUND')
    assertError(t, await api.get('/api/v1/agents/00000000-0000-4000-8000-000000000000'), 404, 'NOT_FOUND', 'unknown uuid')
  })

  t.test('PUT and PATCH update; conflict 409; unknown field 400; empty body 400', async (t) => {
    const put = await api.request('PUT', '/api/v1/agents/alpha-05', { token: api.adminToken, body: { name: 'alpha-05-renamed', status: 'inactive', labels: { env: 'prod' } } })
    t.equal(put.status, 200)
    t.equal(put.body.name, 'alpha-05-renamed')
    t.equal(put.body.status, 'inactive')
    t.same(put.body.labels, { env: 'prod' })
    t.equal(put.body.hostname, 'h5.example.com', 'fields not sent are kept')
    t.ok(Date.parse(put.body.updated_at) >= Date.parse(put.body.created_at))
    const read = await api.get(`/api/v1/agents/${agents[5].id}`)
    t.equal(read.body.name, 'alpha-05-renamed', 'the rename is stored')
    assertError(t, await api.get('/api/v1/agents/alpha-05'), 404, 'NOT_FOUND', 'old name')

    const patch = await api.request('PATCH', '/api/v1/agents/alpha-05-renamed', { token: api.adminToken, body: { name: 'alpha-05', status: 'active', os: 'Debian' } })
    t.equal(patch.status, 200)
    t.same([patch.body.name, patch.body.status, patch.body.os, patch.body.labels], ['alpha-05', 'active', 'Debian', { env: 'prod' }])

    for (const method of ['PUT', 'PATCH']) {
      const conflict = await api.request(method, '/api/v1/agents/alpha-05', { token: api.adminToken, body: { name: 'alpha-06' } })
      assertError(t, conflict, 409, 'CONFLICT', `${method} name conflict`)
      t.ok(conflict.body.details?.name, `${method}: conflict names name`)
      const unknown = await api.request(method, '/api/v1/agents/alpha-05', { token: api.adminToken, body: { colour: 'blue' } })
      assertError(t, unknown, 400, 'VALIDATION_ERROR', `${method} unknown field`)
      t.ok(unknown.body.details?.colour, `${method}: unknown field named`)
      assertError(t, await api.request(method, '/api/v1/agents/alpha-05', { token: api.adminToken, body: {} }), 400, 'VALIDATION_ERROR', `${method} empty body`)
      assertError(t, await api.request(method, '/api/v1/agents/alpha-05', { token: api.adminToken, body: { status: 'gone' } }), 400, 'VALIDATION_ERROR', `${method} bad status`)
      assertError(t, await api.request(method, '/api/v1/agents/nobody', { token: api.adminToken, body: { os: 'x' } }), 404, 'NOT_FOUND', `${method} unknown agent`)
    }
    t.equal((await api.get('/api/v1/agents/alpha-06')).body.id, agents[6].id, 'the conflicting agent is untouched')
  })

  t.test('DELETE → 204, then 404, and every row it sent is gone', async (t) => {
    const victim = await api.createAgent('victim')
    const keeper = await api.createAgent('keeper')
    for (const a of [victim, keeper]) {
      const res = await api.ingest(a.api_key, [makeBatch({ time: minutesAgo(2) }), makeBatch({ time: minutesAgo(1) })])
      t.equal(res.status, 202)
    }
    const before = await rowCounts(api.store)
    const del = await api.request('DELETE', '/api/v1/agents/victim', { token: api.adminToken })
    t.equal(del.status, 204)
    t.equal(del.text, '')
    assertError(t, await api.get(`/api/v1/agents/${victim.id}`), 404, 'NOT_FOUND', 'deleted agent')
    assertError(t, await api.get('/api/v1/metrics/latest/victim'), 404, 'NOT_FOUND', 'deleted agent metrics')
    assertError(t, await api.request('DELETE', '/api/v1/agents/victim', { token: api.adminToken }), 404, 'NOT_FOUND', 'second delete')
    for (const table of RAW_TABLES) {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)} where agent_id = ${victim.id}`.execute(api.store.db)
      t.equal(rows[0].n, 0, `no ${table} rows of the deleted agent`)
      const kept = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)} where agent_id = ${keeper.id}`.execute(api.store.db)
      t.equal(kept.rows[0].n * 2, before[table], `${table}: the other agent's rows stay`)
    }
    t.equal((await api.get('/api/v1/metrics/latest/keeper')).body.count, 3)
    const del2 = await api.request('DELETE', '/api/v1/agents/keeper', { token: api.adminToken })
    t.equal(del2.status, 204)
  })

  t.test('stats: one agent sent data just now (online), one 10 minutes ago (offline)', async (t) => {
    const fresh = await api.createAgent('stats-fresh')
    const stale = await api.createAgent('stats-stale')
    t.equal((await api.ingest(fresh.api_key, makeBatch({ time: minutesAgo(0) }))).status, 202)
    t.equal((await api.ingest(stale.api_key, makeBatch({ time: minutesAgo(10) }))).status, 202)
    // 12 alpha agents (4 inactive) + the two above; only stats-fresh has a recent sample.
    const expected = { total: 14, active: 10, inactive: 4, online: 1, offline: 13 }
    const res = await api.get('/api/v1/agents/stats')
    t.equal(res.status, 200)
    for (const [k, v] of Object.entries(expected)) t.equal(res.body[k], v, `default window: ${k}`)
    t.equal(res.body.online_window_seconds, 20)
    t.equal((await api.get('/api/v1/agents/stats-fresh')).body.online, true, 'the fresh agent is online')
    t.equal((await api.get('/api/v1/agents/stats-stale')).body.online, false, 'the stale agent is offline')

    // A 15-minute window: both are online.
    const wide = await listenAppWith(t, api, { onlineWindowSeconds: 900 })
    const w = await wide.get('/api/v1/agents/stats')
    t.same({ total: w.body.total, active: w.body.active, inactive: w.body.inactive, online: w.body.online, offline: w.body.offline },
      { total: 14, active: 10, inactive: 4, online: 2, offline: 12 })
    t.equal((await wide.get('/api/v1/agents/stats-stale')).body.online, true)
    // A 5-minute window: only the fresh one.
    const narrow = await listenAppWith(t, api, { onlineWindowSeconds: 300 })
    const n = await narrow.get('/api/v1/agents/stats')
    t.same([n.body.online, n.body.offline], [1, 13])
    t.equal((await narrow.get('/api/v1/agents/stats-stale')).body.online, false)
  })

  t.test('stats is a number for every field, not a string', async (t) => {
    const res = await api.get('/api/v1/agents/stats')
    for (const k of ['total', 'active', 'inactive', 'online', 'offline']) t.type(res.body[k], 'number', k)
  })
})
