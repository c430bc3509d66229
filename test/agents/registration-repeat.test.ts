// A registration's attempts (one Idempotency-Key) are one registration on both backends, including two
// attempts at the same moment: on a server the second waits on the first's lock of the token's row, then answers
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

  t.test('twin attempts of an auto-approved registration: one use, one agent; the newest attempt holds the key', async (t) => {
    const tok = await newToken(store, true, 3)
    const key = randomUUID()
    // Three attempts at once, numbered 1 to 3 by the agent: whichever commits first makes the agent.
    const twins = await Promise.allSettled([1, 2, 3].map((number) => registerHost(db, tok.secret, host('twin-host'), '192.0.2.1', { key, number })))
    const agents = await db.selectFrom('agents').select(['id', 'api_key_hash']).where('org_id', '=', tok.orgId).execute()
    t.equal(agents.length, 1, 'one agent')
    t.equal(await usesOf(tok.tokenId), 1, 'one use of the token')
    const newest = twins[2]
    t.equal(newest.status, 'fulfilled', `the newest attempt is answered${newest.status === 'rejected' ? `: ${String(newest.reason)}` : ''}`)
    for (const [i, r] of twins.entries()) {
      if (r.status === 'fulfilled') {
        t.equal(r.value.status === 'approved' && r.value.agent.id, agents[0].id, `attempt ${i} is answered with the agent`)
      } else {
        t.match(r.reason, { kind: 'unavailable', message: /later attempt .* was already answered/ }, `attempt ${i}, older than the one answered, is told to try again`)
      }
    }
    // The key that works is the newest attempt's: the older ones' clients have moved on.
    if (newest.status === 'fulfilled' && newest.value.status === 'approved') t.equal(agents[0].api_key_hash, sha256(newest.value.apiKey))
  })

  t.test('an older attempt delayed on its way never replaces the key a newer one was answered', async (t) => {
    const tok = await newToken(store, true, 1)
    const key = randomUUID()
    // The retry (attempt 2) arrives first and makes the agent; the original (attempt 1) turns up after it.
    const retry = await registerHost(db, tok.secret, host('delayed-host'), null, { key, number: 2 })
    t.equal(retry.status, 'approved')
    await t.rejects(registerHost(db, tok.secret, host('delayed-host'), null, { key, number: 1 }), { message: /later attempt .* was already answered/ }, 'the original is told to try again')
    const agent = await db.selectFrom('agents').select('api_key_hash').where('org_id', '=', tok.orgId).executeTakeFirstOrThrow()
    t.equal(agent.api_key_hash, retry.status === 'approved' ? sha256(retry.apiKey) : '', "the retry's key still works")
  })

  t.test('twin attempts of a registration that waits: one use of a one-use token, one registration', async (t) => {
    const tok = await newToken(store, false, 1)
    const key = randomUUID()
    const twins = await Promise.all([1, 2].map(() => registerHost(db, tok.secret, host('twin-pending'), null, { key, number: 1 })))
    t.same(twins.map((r) => r.status), ['pending', 'pending'])
    t.equal(twins[0].registrationId, twins[1].registrationId)
    t.equal(await usesOf(tok.tokenId), 1)
    const regs = await db.selectFrom('agent_registrations').select('id').where('token_id', '=', tok.tokenId).execute()
    t.equal(regs.length, 1, 'one registration stored')
  })

  t.test('a failed registration spends no use of the token', async (t) => {
    const tok = await newToken(store, true, 1)
    // A hostname PostgreSQL refuses (a NUL) fails the registration's insert inside its transaction.
    await t.rejects(registerHost(db, tok.secret, host('bad\u0000host'), null, { key: randomUUID(), number: 1 }))
    t.equal(await usesOf(tok.tokenId), 0, 'the use was given back with the rest of the transaction')
    t.equal((await db.selectFrom('agent_registrations').select('id').where('token_id', '=', tok.tokenId).execute()).length, 0)
    const ok = await registerHost(db, tok.secret, host('good-host'), null, { key: randomUUID(), number: 1 })
    t.equal(ok.status, 'approved', 'the token still registers')
  })
})
