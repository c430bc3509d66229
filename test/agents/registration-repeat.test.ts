// A registration's attempts (one Idempotency-Key) are one registration on both backends, including two
// attempts at the same moment: on a server the second waits on the first's claim of the key, then answers
// with the registration the first made; the token's use is spent once and one agent exists.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { onEachBackend } from '../store/backends.ts'
import { registerHost } from '../../services/agents/enrollment-repository.ts'
import { sha256 } from '../../services/auth/secrets.ts'
import type { Store } from '../../services/store/open-store.ts'

async function newToken(store: Store, autoApprove: boolean, maxUses: number | null) {
  const org = await store.db.insertInto('organizations').values({ name: `org-${randomUUID().slice(0, 8)}` }).returning('id').executeTakeFirstOrThrow()
  const secret = `hpe_${randomUUID()}`
  const token = await store.db.insertInto('enrollment_tokens')
    .values({ org_id: org.id, token_hash: sha256(secret), auto_approve: autoApprove, max_uses: maxUses, labels: '{}' })
    .returning('id').executeTakeFirstOrThrow()
  return { orgId: org.id, tokenId: token.id, secret }
}

const host = (hostname: string) => ({ hostname, os: 'Debian GNU/Linux', inventory: {} })

await onEachBackend(t, async (t, store) => {
  const { db } = store
  const usesOf = async (id: string) => (await db.selectFrom('enrollment_tokens').select('uses').where('id', '=', id).executeTakeFirstOrThrow()).uses

  t.test('twin attempts of an auto-approved registration: one use, one agent, both answered with it', async (t) => {
    const tok = await newToken(store, true, 3)
    const key = randomUUID()
    const twins = await Promise.all([1, 2, 3].map(() => registerHost(db, tok.secret, host('twin-host'), '192.0.2.1', key)))
    const agents = await db.selectFrom('agents').select('id').where('org_id', '=', tok.orgId).execute()
    t.equal(agents.length, 1, 'one agent')
    t.equal(await usesOf(tok.tokenId), 1, 'one use of the token')
    t.same(twins.map((r) => r.status), ['approved', 'approved', 'approved'])
    t.same(new Set(twins.map((r) => r.registrationId)).size, 1, 'one registration')
    t.same(twins.map((r) => (r.status === 'approved' ? r.agent.id : undefined)), [agents[0].id, agents[0].id, agents[0].id])
    t.equal(twins.filter((r) => r.repeated).length, 2, 'two of them answered as repeats')
    // The agent's key is the one answered last (each repeat makes a new one while the agent has not uploaded).
    const { api_key_hash } = await db.selectFrom('agents').select('api_key_hash').where('id', '=', agents[0].id).executeTakeFirstOrThrow()
    const keys = twins.map((r) => (r.status === 'approved' ? sha256(r.apiKey) : ''))
    t.ok(keys.includes(api_key_hash!), 'the stored key is one of those answered')
  })

  t.test('twin attempts of a registration that waits: one use of a one-use token, one registration', async (t) => {
    const tok = await newToken(store, false, 1)
    const key = randomUUID()
    const twins = await Promise.all([1, 2].map(() => registerHost(db, tok.secret, host('twin-pending'), null, key)))
    t.same(twins.map((r) => r.status), ['pending', 'pending'])
    t.equal(twins[0].registrationId, twins[1].registrationId)
    t.equal(await usesOf(tok.tokenId), 1)
    const regs = await db.selectFrom('agent_registrations').select('id').where('token_id', '=', tok.tokenId).execute()
    t.equal(regs.length, 1, 'one registration stored')
  })

  t.test('a failed registration spends no use of the token', async (t) => {
    const tok = await newToken(store, true, 1)
    // A hostname the agents table refuses (a NUL) fails the agent's insert inside the registration's transaction.
    await t.rejects(registerHost(db, tok.secret, host('bad\u0000host'), null, randomUUID()))
    t.equal(await usesOf(tok.tokenId), 0, 'the use was given back with the rest of the transaction')
    t.equal((await db.selectFrom('agent_registrations').select('id').where('token_id', '=', tok.tokenId).execute()).length, 0)
    const ok = await registerHost(db, tok.secret, host('good-host'), null, randomUUID())
    t.equal(ok.status, 'approved', 'the token still registers')
  })
})
