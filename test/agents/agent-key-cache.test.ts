// Agent keys remembered between uploads (services/agents/agent-key-cache.ts), on the embedded engine and on a
// real TimescaleDB server when TEST_DATABASE_URL is set: an upload's key is remembered and the uploads that
// follow leave it remembered (they change nothing a key check reads), while whatever could change whom a key
// names or whether it may upload stops the key at the very next upload: a rotation, a revocation, a
// deactivation, a deletion through the API, or a statement run straight on the database. Unknown keys are
// never remembered.
import t, { type Test } from 'tap'
import { sql } from 'kysely'
import { agentKeyCacheOf } from '../../services/agents/agent-key-cache.ts'
import { sha256 } from '../../services/auth/secrets.ts'
import type { Store } from '../../services/store/open-store.ts'
import { assertError, makeBatch, startClient, unique } from '../test-client.ts'
import { onEachBackend } from '../store/backends.ts'
import { waitFor } from '../wait-for.ts'

async function keyCache(t: Test, store: Store): Promise<void> {
  const api = await startClient(t, {}, store)
  const cache = agentKeyCacheOf(store.db)
  if (!cache) throw new Error('the API did not start remembering agent keys')
  const upload = (key: string) => api.ingest(key, makeBatch())
  /** A fresh agent whose key was used (twice: the first upload records its host) and is remembered. */
  const usedAgent = async (t: Test) => {
    const agent = await api.createAgent(unique('cached'))
    for (let i = 0; i < 3; i++) t.equal((await upload(agent.api_key)).status, 202, `upload ${i + 1}`)
    t.ok(cache.has(sha256(agent.api_key)), 'its key is remembered, and uploads do not forget it')
    return agent
  }
  /**
   * A change made by a statement on the database reaches this process by NOTIFY: before the statement's
   * answer on the embedded engine, a round trip later on a server.
   */
  const forgotten = async (t: Test, key: string) => {
    if (store.backend === 'embedded') t.notOk(cache.has(sha256(key)), 'forgotten before the statement was answered')
    else await waitFor('the key forgotten', () => !cache.has(sha256(key)), 2000, 5)
  }

  await t.test('a rotated key is refused at the next upload; the new one works', async (t) => {
    const a = await usedAgent(t)
    const rotated = await api.request('POST', `/api/v1/agents/${a.id}/rotate-key`, { token: api.adminToken })
    t.equal(rotated.status, 200, rotated.text)
    assertError(t, await upload(a.api_key), 401, 'UNAUTHORIZED', 'the old key:')
    t.equal((await upload(rotated.body.api_key)).status, 202, 'the new key')
  })

  await t.test('a revoked key', async (t) => {
    const a = await usedAgent(t)
    t.equal((await api.request('POST', `/api/v1/agents/${a.id}/revoke-key`, { token: api.adminToken })).status, 204)
    assertError(t, await upload(a.api_key), 401, 'UNAUTHORIZED', 'the next upload:')
  })

  await t.test('an agent deactivated, then reactivated', async (t) => {
    const a = await usedAgent(t)
    t.equal((await api.request('PUT', `/api/v1/agents/${a.id}`, { token: api.adminToken, body: { status: 'inactive' } })).status, 200)
    assertError(t, await upload(a.api_key), 403, 'FORBIDDEN', 'the next upload:')
    t.equal((await api.request('PUT', `/api/v1/agents/${a.id}`, { token: api.adminToken, body: { status: 'active' } })).status, 200)
    t.equal((await upload(a.api_key)).status, 202, 'accepted again once active')
  })

  await t.test('an agent deleted', async (t) => {
    const a = await usedAgent(t)
    t.equal((await api.request('DELETE', `/api/v1/agents/${a.id}`, { token: api.adminToken })).status, 204)
    assertError(t, await upload(a.api_key), 401, 'UNAUTHORIZED', 'the next upload:')
  })

  await t.test('a key removed by a statement on the database', async (t) => {
    const a = await usedAgent(t)
    await sql`update agents set api_key_hash = null where id = ${a.id}::uuid`.execute(store.db)
    await forgotten(t, a.api_key)
    assertError(t, await upload(a.api_key), 401, 'UNAUTHORIZED', 'the next upload:')
  })

  await t.test('an agent deactivated by a statement on the database', async (t) => {
    const a = await usedAgent(t)
    await sql`update agents set status = 'inactive' where id = ${a.id}::uuid`.execute(store.db)
    await forgotten(t, a.api_key)
    assertError(t, await upload(a.api_key), 403, 'FORBIDDEN', 'the next upload:')
  })

  await t.test('an agent renamed: what an upload sees of it follows', async (t) => {
    const a = await usedAgent(t)
    const name = unique('renamed')
    t.equal((await api.request('PUT', `/api/v1/agents/${a.id}`, { token: api.adminToken, body: { name } })).status, 200)
    t.notOk(cache.has(sha256(a.api_key)), 'forgotten')
    t.equal((await upload(a.api_key)).status, 202)
    const { rows: [row] } = await sql<{ name: string }>`select name from agents where id = ${a.id}::uuid`.execute(store.db)
    t.equal(row.name, name)
  })

  await t.test('an unknown key is not remembered: once it names an agent, its first upload is accepted', async (t) => {
    const a = await api.createAgent(unique('later'))
    const key = `hp_${unique('chosen')}`
    assertError(t, await upload(key), 401, 'UNAUTHORIZED', 'unknown:')
    await sql`update agents set api_key_hash = ${sha256(key)} where id = ${a.id}::uuid`.execute(store.db)
    t.equal((await upload(key)).status, 202, 'accepted at once')
  })
}

onEachBackend(t, keyCache)
