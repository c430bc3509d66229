// POST /api/v1/agents (key shown once, stored hashed) and GET /api/v1/agents/:id, inside one organization.
import t from 'tap'
import { createHash } from 'node:crypto'
import { assertError, createOrgWithAdmin, makeBatch, startClient } from '../test-client.ts'
import { hashPassword } from '../../services/auth/secrets.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

t.test('agents', async (t) => {
  const api = await startClient(t)
  const fields = { hostname: 'prod01.example.com', ip_address: '192.168.1.10', os: 'Ubuntu', os_version: '22.04', agent_version: '0.3.0', labels: { env: 'prod' } }
  const created = await api.post('/api/v1/agents', { name: 'server-prod-01', ...fields }, { token: api.adminToken })

  t.test('POST /api/v1/agents as admin: 201, the agent and its key once', async (t) => {
    t.equal(created.status, 201)
    const b = created.body
    t.match(b.id, UUID)
    t.equal(b.name, 'server-prod-01')
    t.equal(b.hostname, 'prod01.example.com')
    t.equal(b.ip_address, '192.168.1.10')
    t.equal(b.os, 'Ubuntu')
    t.equal(b.os_version, '22.04')
    t.equal(b.agent_version, '0.3.0')
    t.same(b.labels, { env: 'prod' })
    t.equal(b.status, 'active')
    t.equal(b.last_seen_at, null)
    t.equal(b.last_metrics_at, null)
    t.ok(Math.abs(Date.parse(b.created_at) - Date.now()) < 60_000, 'created_at is now')
    t.match(b.api_key, /^hp_[A-Za-z0-9_-]{40,}$/, 'api_key starts with hp_ and is long')
    t.notOk('org_id' in b, 'no org_id in the response')
    t.notOk('api_key_hash' in b, 'no key hash in the response')
  })

  t.test('the database keeps only a hash of the key', async (t) => {
    const key: string = created.body.api_key
    const row = await api.store.db.selectFrom('agents').selectAll().where('id', '=', created.body.id).executeTakeFirstOrThrow()
    t.ok(row.api_key_hash, 'a hash is stored')
    t.not(row.api_key_hash, key)
    t.equal(row.api_key_hash, createHash('sha256').update(key).digest('hex'), 'sha256 of the key')
    const dump = JSON.stringify(row)
    t.notOk(dump.includes(key), 'the key is nowhere in the agents row')
    t.notOk(dump.includes(key.slice(3)), 'nor its random part')
    t.equal(row.org_id, api.orgId)
  })

  t.test('GET /api/v1/agents/:id by uuid and by name; the key is never shown again', async (t) => {
    for (const ref of [created.body.id, 'server-prod-01']) {
      const res = await api.get(`/api/v1/agents/${ref}`)
      t.equal(res.status, 200, `by ${ref}`)
      t.equal(res.body.id, created.body.id)
      t.equal(res.body.name, 'server-prod-01')
      t.equal(res.body.hostname, 'prod01.example.com')
      t.notOk('api_key' in res.body, 'no api_key')
      t.notOk('api_key_hash' in res.body, 'no api_key_hash')
      t.notOk('org_id' in res.body, 'no org_id')
    }
    const missing = await api.get('/api/v1/agents/no-such-agent')
    assertError(t, missing, 404, 'NOT_FOUND')
    assertError(t, await api.get('/api/v1/agents/00000000-0000-4000-8000-000000000000'), 404, 'NOT_FOUND', 'unknown uuid:')
  })

  t.test('duplicate name: 409 CONFLICT naming name; nothing created', async (t) => {
    const res = await api.post('/api/v1/agents', { name: 'server-prod-01' }, { token: api.adminToken })
    assertError(t, res, 409, 'CONFLICT')
    t.ok(res.body.details?.name, 'details.name')
    const n = await api.store.db.selectFrom('agents').select(({ fn }) => fn.countAll<number>().as('n')).where('name', '=', 'server-prod-01').executeTakeFirstOrThrow()
    t.equal(Number(n.n), 1)
  })

  t.test('two concurrent creations of one name: one 201 and one 409, never a 500', async (t) => {
    const [a, b] = await Promise.all([
      api.post('/api/v1/agents', { name: 'race-agent' }, { token: api.adminToken }),
      api.post('/api/v1/agents', { name: 'race-agent' }, { token: api.adminToken }),
    ])
    t.same([a.status, b.status].sort(), [201, 409], `statuses ${a.status}, ${b.status} (${a.text} / ${b.text})`)
  })

  t.test('bad bodies: 400 naming the field', async (t) => {
    for (const name of ['bad name!', '-leading-dash', '', 'x'.repeat(129), 'a/b']) {
      const res = await api.post('/api/v1/agents', { name }, { token: api.adminToken })
      assertError(t, res, 400, 'VALIDATION_ERROR', JSON.stringify(name.slice(0, 20)))
      t.ok(res.body.details?.name, `details.name for ${JSON.stringify(name.slice(0, 20))}`)
      t.match(res.body.message, /name/)
    }
    const missing = await api.post('/api/v1/agents', { hostname: 'h' }, { token: api.adminToken })
    assertError(t, missing, 400, 'VALIDATION_ERROR', 'missing name:')
    t.ok(missing.body.details?.name, 'missing name is named')
    const extra = await api.post('/api/v1/agents', { name: 'ok-name', api_key_hash: 'x' }, { token: api.adminToken })
    assertError(t, extra, 400, 'VALIDATION_ERROR', 'unknown property:')
    t.ok(extra.body.details?.api_key_hash, 'the unknown property is named')
    const none = await api.store.db.selectFrom('agents').select('id').where('name', 'in', ['ok-name', 'a']).execute()
    t.same(none, [], 'nothing created')
  })

  t.test('a viewer cannot create agents (403) but can read them', async (t) => {
    await api.store.db.insertInto('users').values({ org_id: api.orgId, username: 'viewer1', role: 'viewer', password_hash: await hashPassword('viewer-pass-1') }).execute()
    const { token } = await api.login('viewer1', 'viewer-pass-1')
    assertError(t, await api.post('/api/v1/agents', { name: 'viewer-made' }, { token }), 403, 'FORBIDDEN')
    t.equal((await api.get('/api/v1/agents/server-prod-01', token)).status, 200)
  })

  t.test('another organization sees none of this one\'s agents or metrics', async (t) => {
    const ingest = await api.ingest(created.body.api_key, makeBatch())
    t.equal(ingest.status, 202, 'org 1 agent has metrics')
    await createOrgWithAdmin(api.store, 'other-org', 'other-admin', 'other-password-1')
    const { token } = await api.login('other-admin', 'other-password-1')
    for (const ref of [created.body.id, 'server-prod-01']) {
      assertError(t, await api.get(`/api/v1/agents/${ref}`, token), 404, 'NOT_FOUND', `agent ${ref}:`)
      assertError(t, await api.get(`/api/v1/metrics/latest/${ref}`, token), 404, 'NOT_FOUND', `latest ${ref}:`)
      assertError(t, await api.get(`/api/v1/metrics/range/${ref}`, token), 404, 'NOT_FOUND', `range ${ref}:`)
    }
    // Names are unique per organization: org 2 may have its own server-prod-01.
    const mine = await api.post('/api/v1/agents', { name: 'server-prod-01' }, { token })
    t.equal(mine.status, 201, 'same name in another org is allowed')
    t.not(mine.body.id, created.body.id)
    const own = await api.get('/api/v1/agents/server-prod-01', token)
    t.equal(own.body.id, mine.body.id, 'by name, org 2 gets its own agent')
    const latest = await api.get('/api/v1/metrics/latest/server-prod-01', token)
    t.equal(latest.status, 200)
    t.equal(latest.body.count, 0, 'org 2 agent of the same name has no metrics (org 1 rows do not leak)')
    t.same(latest.body.metrics, [])
    const range = await api.get('/api/v1/metrics/range/server-prod-01', token)
    t.equal(range.body.count, 0)
    const back = await api.get('/api/v1/agents/server-prod-01')
    t.equal(back.body.id, created.body.id, 'org 1 still gets its own agent by name')
  })
})
