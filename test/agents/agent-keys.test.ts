// Agent keys and enrollment over real HTTP: rotation and revocation take effect at once, a key writes
// only its own agent's data, enrollment tokens (hashed, shown once, expiry, use count, revocation), the
// registration flow pending → approved/rejected and auto-approve — also driven by the real agent's code.
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { sql } from 'kysely'
import { assertError, makeBatch, metric } from '../test-client.ts'
import { startClient } from '../security/security-helpers.ts'
import { resolveApiKey } from '../../agent/enrollment.ts'
import { sha256 } from '../../services/auth/secrets.ts'

t.test('agent keys and enrollment', async (t) => {
  const api = await startClient(t)
  const admin = api.adminToken
  const createAgent = async (name: string) => {
    const res = await api.req('POST', '/api/v1/agents', { token: admin, body: { name } })
    if (res.status !== 201) throw new Error(`${res.status} ${res.text}`)
    return res.body as { id: string; name: string; api_key: string }
  }
  const ingest = (key: string, value: number) => api.req('POST', '/api/v1/ingest', { apiKey: key, body: makeBatch({ metrics: [metric('cpu', 'usage_percent', value)], disks: [], networks: [], processes: [] }) })
  const valuesOf = async (agentId: string) => (await sql<{ value: number }>`select value from metrics where agent_id = ${agentId} order by value`.execute(api.store.db)).rows.map((r) => r.value)

  t.test('a key writes only its own agent; rotation refuses the old key at once; revocation refuses it', async (t) => {
    const a = await createAgent('keys-a')
    const b = await createAgent('keys-b')
    t.equal((await ingest(a.api_key, 11)).status, 202)
    t.equal((await ingest(b.api_key, 22)).status, 202)
    t.same(await valuesOf(a.id), [11], "a's key wrote only to a")
    t.same(await valuesOf(b.id), [22], "b's key wrote only to b")

    const rotated = await api.req('POST', `/api/v1/agents/${a.id}/rotate-key`, { token: admin })
    t.equal(rotated.status, 200)
    t.match(rotated.body, { id: a.id, name: 'keys-a', api_key: /^hp_/ })
    t.not(rotated.body.api_key, a.api_key)
    assertError(t, await ingest(a.api_key, 12), 401, 'UNAUTHORIZED', 'old key after rotation:')
    t.equal((await ingest(rotated.body.api_key, 13)).status, 202, 'the new key works')
    const row = await api.store.db.selectFrom('agents').select('api_key_hash').where('id', '=', a.id).executeTakeFirstOrThrow()
    t.equal(row.api_key_hash, sha256(rotated.body.api_key), 'only the hash is stored')
    const byName = await api.req('POST', '/api/v1/agents/keys-b/rotate-key', { token: admin })
    t.equal(byName.status, 200, 'by name as well as by id')

    t.equal((await api.req('POST', `/api/v1/agents/${a.id}/revoke-key`, { token: admin })).status, 204)
    assertError(t, await ingest(rotated.body.api_key, 14), 401, 'UNAUTHORIZED', 'revoked key:')
    t.same(await valuesOf(a.id), [11, 13], 'nothing stored with the old or revoked key')
    const shown = await api.req('GET', `/api/v1/agents/${a.id}`, { token: admin })
    t.notOk(/api_key/.test(shown.text), 'the agent never shows its key or hash after creation')

    const viewer = await api.user('viewer')
    assertError(t, await api.req('POST', `/api/v1/agents/${b.id}/rotate-key`, { token: viewer.token }), 403, 'FORBIDDEN', 'viewer rotate:')
    assertError(t, await api.req('POST', `/api/v1/agents/${b.id}/revoke-key`, { token: viewer.token }), 403, 'FORBIDDEN', 'viewer revoke:')
    const editor = await api.user('editor')
    t.equal((await api.req('POST', `/api/v1/agents/${b.id}/rotate-key`, { token: editor.token })).status, 200, 'editors manage agents')
    assertError(t, await api.req('POST', '/api/v1/agents/no-such-agent/rotate-key', { token: admin }), 404, 'NOT_FOUND')
  })

  t.test('enrollment tokens: shown once, stored hashed, listed without the secret, revocable', async (t) => {
    const res = await api.req('POST', '/api/v1/enrollment-tokens', { token: admin, body: { description: 'rack 4', max_uses: 2, expires_in: '1h' } })
    t.equal(res.status, 201)
    t.match(res.body, { description: 'rack 4', max_uses: 2, uses: 0, auto_approve: false, usable: true, token: /^hpe_/ })
    t.ok(Date.parse(res.body.expires_at) > Date.now() + 59 * 60_000)
    const list = await api.req('GET', '/api/v1/enrollment-tokens', { token: admin })
    t.ok(list.body.tokens.some((x: { id: string }) => x.id === res.body.id))
    t.notOk(list.text.includes(res.body.token), 'the list never shows the token')
    t.notOk(/token_hash/.test(list.text))
    const stored = await api.store.db.selectFrom('enrollment_tokens').select('token_hash').where('id', '=', res.body.id).executeTakeFirstOrThrow()
    t.equal(stored.token_hash, sha256(res.body.token))
    const viewer = await api.user('viewer')
    assertError(t, await api.req('POST', '/api/v1/enrollment-tokens', { token: viewer.token, body: {} }), 403, 'FORBIDDEN')
    assertError(t, await api.req('POST', '/api/v1/enrollment-tokens', { token: admin, body: { max_uses: 0 } }), 400, 'VALIDATION_ERROR')
    assertError(t, await api.req('POST', '/api/v1/enrollment-tokens', { token: admin, body: { expires_in: '-5m' } }), 400, 'VALIDATION_ERROR')
  })

  const register = (token: string, hostname: string, extra: Record<string, unknown> = {}) =>
    api.req('POST', '/api/v1/agents/register', { body: { token, hostname, ip_address: '192.0.2.7', os: 'Debian GNU/Linux', os_version: '12', agent_version: '0.3.0', ...extra } })
  /** Every request of these tests is a newer attempt than the last, as the agent numbers them (Idempotency-Attempt). */
  let attempts = 0
  const nextAttempt = () => String(++attempts)
  const poll = (id: string, token: string, header = 'x-enrollment-token', attempt: string | undefined = nextAttempt()) =>
    api.req('GET', `/api/v1/agents/register/${id}`, { headers: { [header]: token, ...attempt === undefined ? {} : { 'idempotency-attempt': attempt } } })
  const newToken = async (body: Record<string, unknown> = {}) => (await api.req('POST', '/api/v1/enrollment-tokens', { token: admin, body })).body as { id: string; token: string }

  t.test('pending registration: approve, the key is delivered (again only while the agent has not uploaded), then it ingests', async (t) => {
    const tok = await newToken({ labels: { rack: '4' } })
    const reg = await register(tok.token, 'db-01.example.com', { kernel: '6.1.0', cpu_cores: 8, unknown_future_field: 'ignored' })
    t.equal(reg.status, 202)
    t.match(reg.body, { status: 'pending', registration_id: /^[0-9a-f-]{36}$/ })
    t.same((await poll(reg.body.registration_id, tok.token)).body, { status: 'pending' })
    assertError(t, await api.req('GET', `/api/v1/agents/register/${reg.body.registration_id}`), 401, 'UNAUTHORIZED', 'poll without token:')
    const other = await newToken()
    assertError(t, await poll(reg.body.registration_id, other.token), 404, 'NOT_FOUND', 'poll with another token:')
    assertError(t, await poll(reg.body.registration_id, 'hpe_not-a-token'), 401, 'UNAUTHORIZED', 'poll with a bad token:')

    const pending = await api.req('GET', '/api/v1/registrations/pending', { token: admin })
    const listed = pending.body.registrations.find((r: { id: string }) => r.id === reg.body.registration_id)
    t.match(listed, { hostname: 'db-01.example.com', status: 'pending', os: 'Debian GNU/Linux', inventory: { kernel: '6.1.0', cpu_cores: 8 } })
    t.notOk('unknown_future_field' in listed.inventory)
    const viewer = await api.user('viewer')
    assertError(t, await api.req('POST', `/api/v1/registrations/${reg.body.registration_id}/approve`, { token: viewer.token }), 403, 'FORBIDDEN')

    const approved = await api.req('POST', `/api/v1/registrations/${reg.body.registration_id}/approve`, { token: admin })
    t.equal(approved.status, 200)
    t.match(approved.body, { status: 'approved', agent_name: 'db-01.example.com', agent_id: /^[0-9a-f-]{36}$/ })
    t.notOk(/api_key/.test(approved.text), 'the approver never sees the key')
    const agent = await api.store.db.selectFrom('agents').select(['api_key_hash', 'labels', 'hostname']).where('id', '=', approved.body.agent_id).executeTakeFirstOrThrow()
    t.equal(agent.api_key_hash, null, 'no key exists until the agent collects it')
    t.same(agent.labels, { rack: '4' }, "the token's labels")
    assertError(t, await api.req('POST', `/api/v1/registrations/${reg.body.registration_id}/reject`, { token: admin }), 409, 'CONFLICT', 'decided twice:')

    const lost = await poll(reg.body.registration_id, tok.token, 'x-enroll-token')
    t.equal(lost.status, 200)
    t.match(lost.body, { status: 'approved', agent_id: approved.body.agent_id, api_key: /^hp_/ })
    // That answer never reached the agent: it polls again and, as its agent has not uploaded, gets a new key.
    const got = await poll(reg.body.registration_id, tok.token)
    t.equal(got.status, 200)
    t.match(got.body, { status: 'approved', agent_id: approved.body.agent_id, api_key: /^hp_/ })
    t.not(got.body.api_key, lost.body.api_key, 'a new key')
    assertError(t, await ingest(lost.body.api_key, 54), 401, 'UNAUTHORIZED', 'the key of the lost answer:')
    t.equal((await ingest(got.body.api_key, 55)).status, 202)
    t.same(await valuesOf(approved.body.agent_id), [55])
    const conflict = await poll(reg.body.registration_id, tok.token)
    assertError(t, conflict, 409, 'CONFLICT', 'once the agent has uploaded, the key is not made again:')
    t.match(conflict.body.message, /uploaded with it since.*rotate it on the server/)
  })

  t.test('rejection, auto-approve, expiry, use count and revocation of tokens', async (t) => {
    const tok = await newToken({ max_uses: 2 })
    const r1 = await register(tok.token, 'web-1')
    const rejected = await api.req('POST', `/api/v1/registrations/${r1.body.registration_id}/reject`, { token: admin, body: { reason: 'unknown host' } })
    t.equal(rejected.status, 200)
    t.same((await poll(r1.body.registration_id, tok.token)).body, { status: 'rejected', reason: 'unknown host' })
    t.equal((await register(tok.token, 'web-2')).status, 202, 'second use')
    assertError(t, await register(tok.token, 'web-3'), 401, 'UNAUTHORIZED', 'third use of a 2-use token:')

    const auto = await newToken({ auto_approve: true, labels: { env: 'prod' } })
    const a1 = await register(auto.token, 'web-1')
    t.equal(a1.status, 201)
    t.match(a1.body, { status: 'approved', agent_id: /^[0-9a-f-]{36}$/, api_key: /^hp_/, agent_name: 'web-1' })
    t.equal((await ingest(a1.body.api_key, 66)).status, 202)
    const a2 = await register(auto.token, 'web-1')
    t.equal(a2.body.agent_name, 'web-1-2', 'a second host of the same name gets a free name')

    const expired = await newToken({ expires_in: '1m' })
    await api.store.db.updateTable('enrollment_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', expired.id).execute()
    const late = await register(expired.token, 'late-host')
    assertError(t, late, 401, 'UNAUTHORIZED', 'expired token:')
    t.match(late.body.message, /expired/)

    const revoked = await newToken()
    const pending = await register(revoked.token, 'revoked-host')
    t.equal((await api.req('DELETE', `/api/v1/enrollment-tokens/${revoked.id}`, { token: admin })).status, 204)
    assertError(t, await register(revoked.token, 'revoked-host-2'), 401, 'UNAUTHORIZED', 'revoked token:')
    assertError(t, await poll(pending.body.registration_id, revoked.token), 401, 'UNAUTHORIZED', 'polling with a revoked token:')
    assertError(t, await register('hpe_made-up', 'x'), 401, 'UNAUTHORIZED', 'unknown token:')
    assertError(t, await api.req('POST', '/api/v1/agents/register', { body: { token: revoked.token } }), 400, 'VALIDATION_ERROR', 'no hostname:')
    const made = await api.req('POST', '/api/v1/agents', { token: admin, body: { name: 'audited-agent' } })
    t.equal(made.status, 201)
    t.equal((await api.req('DELETE', `/api/v1/agents/${made.body.id}`, { token: admin })).status, 204)
    const audit = await api.req('GET', '/api/v1/audit?limit=1000', { token: admin })
    const actions = new Set(audit.body.entries.map((e: { action: string }) => e.action))
    for (const a of ['enrollment_token.create', 'enrollment_token.revoke', 'registration.request', 'registration.approve', 'registration.reject', 'registration.auto_approve', 'registration.key_delivered', 'agent.key_rotate', 'agent.key_revoke', 'agent.create', 'agent.delete']) {
      t.ok(actions.has(a), `${a} audited`)
    }
    const ofAgent = audit.body.entries.filter((e: { target_id: string }) => e.target_id === made.body.id)
    t.same(ofAgent.map((e: { action: string; details: unknown }) => [e.action, e.details]), [['agent.delete', { name: 'audited-agent' }], ['agent.create', { name: 'audited-agent' }]],
      'the agent\'s creation and deletion, newest first, with its name and no key')
    t.notOk(audit.text.includes(made.body.api_key), 'the key is nowhere in the log')
  })

  t.test('a repeated attempt (the same Idempotency-Key) is the same registration: no second use of the token, no second agent', async (t) => {
    const attempt = (token: string, key: string | undefined, hostname = 'repeat-host', number = nextAttempt()) =>
      api.req('POST', '/api/v1/agents/register', { headers: key === undefined ? {} : { 'idempotency-key': key, 'idempotency-attempt': number }, body: { token, hostname, os: 'Debian GNU/Linux' } })
    const usesOf = async (id: string) => (await api.store.db.selectFrom('enrollment_tokens').select('uses').where('id', '=', id).executeTakeFirstOrThrow()).uses
    const registrationsOf = async (tokenId: string) => (await api.store.db.selectFrom('agent_registrations').select('id').where('token_id', '=', tokenId).execute()).length

    // Waiting for approval, a one-use token: the repeat answers the same registration, though the token is used up.
    const one = await newToken({ max_uses: 1 })
    const key = crypto.randomUUID()
    const first = await attempt(one.token, key)
    t.equal(first.status, 202)
    const again = await attempt(one.token, key)
    t.equal(again.status, 202, `the repeat is answered: ${again.text}`)
    t.equal(again.body.registration_id, first.body.registration_id, 'with the same registration')
    t.equal(await usesOf(one.id), 1, 'one use of the token')
    t.equal(await registrationsOf(one.id), 1, 'one registration')
    assertError(t, await attempt(one.token, crypto.randomUUID()), 401, 'UNAUTHORIZED', 'another request key is another registration:')
    assertError(t, await attempt(one.token, undefined), 401, 'UNAUTHORIZED', 'and so is a request without one:')
    // Decided meanwhile: the repeat still answers the registration; the poll tells the decision and gives the key.
    t.equal((await api.req('POST', `/api/v1/registrations/${first.body.registration_id}/approve`, { token: admin })).status, 200)
    const decided = await attempt(one.token, key)
    t.equal(decided.status, 202)
    t.equal(decided.body.registration_id, first.body.registration_id)
    t.match((await poll(first.body.registration_id, one.token)).body, { status: 'approved', api_key: /^hp_/ })

    // Approved by an editor since deleted (decided_by is then null, as an auto-approval's): the key was never
    // collected, so the repeat is told to poll, never handed a key of its own.
    const byEditor = await newToken()
    const editorKey = crypto.randomUUID()
    const waiting = await attempt(byEditor.token, editorKey, 'repeat-editor-gone')
    t.equal(waiting.status, 202)
    const editor = await api.user('editor')
    t.equal((await api.req('POST', `/api/v1/registrations/${waiting.body.registration_id}/approve`, { token: editor.token })).status, 200)
    t.equal((await api.req('DELETE', `/api/v1/users/${editor.id}`, { token: admin })).status, 204)
    const { decided_by } = await api.store.db.selectFrom('agent_registrations').select('decided_by').where('id', '=', waiting.body.registration_id).executeTakeFirstOrThrow()
    t.equal(decided_by, null, 'the decider is gone')
    const afterEditor = await attempt(byEditor.token, editorKey, 'repeat-editor-gone')
    t.equal(afterEditor.status, 202, `the repeat is told to poll: ${afterEditor.text}`)
    t.match(afterEditor.body, { status: 'pending', registration_id: waiting.body.registration_id })
    t.notOk('api_key' in afterEditor.body, 'and carries no key')
    t.match((await poll(waiting.body.registration_id, byEditor.token)).body, { status: 'approved', api_key: /^hp_/ }, 'the poll delivers it')
    t.equal((await api.store.db.selectFrom('agents').select('id').where('hostname', '=', 'repeat-editor-gone').execute()).length, 1, 'one agent')

    // Auto-approved: the repeat gets the same agent and a new key, which replaces the one in the lost answer.
    const auto = await newToken({ auto_approve: true, max_uses: 1 })
    const autoKey = crypto.randomUUID()
    const made = await attempt(auto.token, autoKey, 'repeat-auto')
    t.equal(made.status, 201)
    const repeated = await attempt(auto.token, autoKey, 'repeat-auto')
    t.equal(repeated.status, 201, `the repeat is answered: ${repeated.text}`)
    // The first attempt, held up on its way, turns up after the repeat: it never replaces the repeat's key.
    assertError(t, await attempt(auto.token, autoKey, 'repeat-auto', '1'), 503, 'SERVICE_UNAVAILABLE', 'an older attempt turning up late:')
    const unnumbered = await api.req('POST', '/api/v1/agents/register', { headers: { 'idempotency-key': autoKey }, body: { token: auto.token, hostname: 'repeat-auto' } })
    assertError(t, unnumbered, 409, 'CONFLICT', 'a repeat without an attempt number:')
    t.match(unnumbered.body.message, /no Idempotency-Attempt/)
    for (const bad of ['0', '-1', '1.5', 'x', '9'.repeat(16)]) {
      const res = await api.req('POST', '/api/v1/agents/register', { headers: { 'idempotency-key': autoKey, 'idempotency-attempt': bad }, body: { token: auto.token, hostname: 'repeat-auto' } })
      assertError(t, res, 400, 'VALIDATION_ERROR', `Idempotency-Attempt ${bad}:`)
    }
    t.match(repeated.body, { status: 'approved', agent_id: made.body.agent_id, agent_name: 'repeat-auto', api_key: /^hp_/ })
    t.not(repeated.body.api_key, made.body.api_key, 'a new key')
    const agents = await api.store.db.selectFrom('agents').select('id').where('hostname', '=', 'repeat-auto').execute()
    t.equal(agents.length, 1, 'one agent')
    t.equal(await usesOf(auto.id), 1, 'one use of the token')
    assertError(t, await ingest(made.body.api_key, 1), 401, 'UNAUTHORIZED', 'the key of the lost answer:')
    t.equal((await ingest(repeated.body.api_key, 2)).status, 202)
    // Once the agent has uploaded, its key is not made again: the answer was not lost, or the key was since.
    const late = await attempt(auto.token, autoKey, 'repeat-auto')
    assertError(t, late, 409, 'CONFLICT', 'a repeat after the agent uploaded:')
    t.match(late.body.message, /uploaded with it since.*rotate it on the server/)
    t.equal((await ingest(repeated.body.api_key, 3)).status, 202, 'and its key still works')

    // Two attempts at once (the retry fired while the first was still being answered): one registration.
    const twin = await newToken({ auto_approve: true, max_uses: 5 })
    const twinKey = crypto.randomUUID()
    const twins = await Promise.all([attempt(twin.token, twinKey, 'repeat-twin'), attempt(twin.token, twinKey, 'repeat-twin')])
    const answered = twins.filter((r) => r.status === 201)
    t.ok(answered.length >= 1, `at least one is answered with the agent: ${twins.map((r) => r.text).join(' ')}`)
    for (const r of twins.filter((r) => r.status !== 201)) assertError(t, r, 503, 'SERVICE_UNAVAILABLE', 'the other, arrived no later than the one answered:')
    t.same(new Set(answered.map((r) => r.body.agent_id)).size, 1, 'one agent in the answers')
    t.equal(await usesOf(twin.id), 1, 'one use of the token')
    t.equal((await api.store.db.selectFrom('agents').select('id').where('hostname', '=', 'repeat-twin').execute()).length, 1, 'one agent')

    // The key belongs to its token: the same key with another token is another registration.
    const other = await newToken()
    t.equal((await attempt(other.token, twinKey, 'repeat-other')).status, 202)
    t.equal(await registrationsOf(other.id), 1)

    // A revoked token registers nothing, repeat or not.
    const revoked = await newToken()
    const revokedKey = crypto.randomUUID()
    t.equal((await attempt(revoked.token, revokedKey)).status, 202)
    t.equal((await api.req('DELETE', `/api/v1/enrollment-tokens/${revoked.id}`, { token: admin })).status, 204)
    assertError(t, await attempt(revoked.token, revokedKey), 401, 'UNAUTHORIZED', 'a repeat with a revoked token:')

    // A key that is no key is a 400, and spends nothing.
    const checked = await newToken()
    for (const bad of ['x'.repeat(129), 'two words', 'caf\u00e9']) {
      const res = await api.req('POST', '/api/v1/agents/register', { headers: { 'idempotency-key': bad }, body: { token: checked.token, hostname: 'bad-key' } })
      assertError(t, res, 400, 'VALIDATION_ERROR', `Idempotency-Key ${JSON.stringify(bad.slice(0, 20))}:`)
    }
    t.equal(await usesOf(checked.id), 0, 'no use of the token spent on them')

    const audit = await api.req('GET', '/api/v1/audit?limit=1000', { token: admin })
    const actions = audit.body.entries.map((e: { action: string }) => e.action)
    t.ok(actions.includes('registration.repeat'), 'repeats are audited')
    t.ok(actions.includes('registration.key_redelivered'), 'and so are keys made again at a poll')
  })

  t.test('a key answer lost days after the request is made again; a key handed to an editor is not', async (t) => {
    const tok = await newToken()
    const reg = await register(tok.token, 'approved-late')
    // Requested on Friday, approved on Monday: the window counts from the key's delivery, not the request.
    await sql`update agent_registrations set requested_at = now() - interval '60 hours' where id = ${reg.body.registration_id}`.execute(api.store.db)
    t.equal((await api.req('POST', `/api/v1/registrations/${reg.body.registration_id}/approve`, { token: admin })).status, 200)
    const lost = await poll(reg.body.registration_id, tok.token)
    t.equal(lost.status, 200)
    const again = await poll(reg.body.registration_id, tok.token)
    t.equal(again.status, 200, `the agent's next poll gets a key: ${again.text}`)
    t.not(again.body.api_key, lost.body.api_key)
    // A day after the delivery the poll is a 409 that says so.
    await api.store.db.updateTable('agent_registrations').set({ key_delivered_at: new Date(Date.now() - 25 * 3600_000) }).where('id', '=', reg.body.registration_id).execute()
    const late = await poll(reg.body.registration_id, tok.token)
    assertError(t, late, 409, 'CONFLICT', 'a day after the delivery:')
    t.match(late.body.message, /delivered more than 24 h ago/)

    // Seed 003's face approves and hands the key to the editor: no poll makes it again.
    const faced = await register(tok.token, 'approved-on-the-face')
    const { number } = await api.store.db.selectFrom('agent_registrations').select('number').where('id', '=', faced.body.registration_id).executeTakeFirstOrThrow()
    const approved = await api.req('POST', `/api/registrations/${number}/approve/`, { token: admin })
    t.equal(approved.status, 200, approved.text)
    const handed = await poll(faced.body.registration_id, tok.token)
    assertError(t, handed, 409, 'CONFLICT', 'a key handed to an editor:')
    t.match(handed.body.message, /already handed out/)
  })

  t.test("the real agent's enrollment through a connection that loses the registration's answer: one use, one agent, a working key", async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'hostpulse-enroll-'))
    t.teardown(() => rm(dataDir, { recursive: true, force: true }))
    const tok = await newToken({ auto_approve: true, max_uses: 1 })
    // Forwards to the API; the first registration's answer is dropped after the API has made it.
    let registrations = 0
    const proxy = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', async () => {
        const headers: Record<string, string> = {}
        for (const name of ['content-type', 'x-enrollment-token', 'idempotency-key', 'idempotency-attempt']) {
          const v = req.headers[name]
          if (typeof v === 'string') headers[name] = v
        }
        const upstream = await fetch(new URL(req.url!, api.url), { method: req.method, headers, body: req.method === 'POST' ? Buffer.concat(chunks) : undefined })
        const text = await upstream.text()
        if (req.method === 'POST' && req.url === '/api/v1/agents/register' && registrations++ === 0) {
          req.socket.destroy()
          return
        }
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' }).end(text)
      })
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    t.teardown(() => new Promise<void>((resolve) => proxy.close(() => resolve())))
    const lines: string[] = []
    const key = await resolveApiKey({
      serverUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, dataDir, enrollToken: tok.token, pollMs: 50, log: (_l, m) => lines.push(m),
      hostInfo: async () => ({ hostname: 'enrolled-through-loss', ip_address: '192.0.2.10', os: 'Debian', os_version: '12', agent_version: 'test' }),
    })
    t.equal(registrations, 2, 'the agent tried again after the lost answer')
    t.match(lines.join('\n'), /registration at .* failed .*trying again/)
    const agents = await api.store.db.selectFrom('agents').select('id').where('hostname', '=', 'enrolled-through-loss').execute()
    t.equal(agents.length, 1, 'one agent for the host')
    const uses = await api.store.db.selectFrom('enrollment_tokens').select('uses').where('id', '=', tok.id).executeTakeFirstOrThrow()
    t.equal(uses.uses, 1, 'one use of its one-use token')
    t.equal((await ingest(key, 88)).status, 202, 'the key the agent kept works')
    t.same(await valuesOf(agents[0].id), [88])
  })

  t.test("the real agent's enrollment code against the real server: pending, approved by an admin, key stored", async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'hostpulse-enroll-'))
    t.teardown(() => rm(dataDir, { recursive: true, force: true }))
    const tok = await newToken()
    const lines: string[] = []
    const keyPromise = resolveApiKey({
      serverUrl: api.url, dataDir, enrollToken: tok.token, pollMs: 50, log: (_l, m) => lines.push(m),
      hostInfo: async () => ({ hostname: 'enrolled-by-agent', ip_address: '192.0.2.9', os: 'Debian', os_version: '12', agent_version: 'test' }),
    })
    let regId: string | undefined
    for (let i = 0; i < 100 && !regId; i++) {
      await new Promise((r) => setTimeout(r, 50))
      const list = await api.req('GET', '/api/v1/registrations?status=pending', { token: admin })
      regId = list.body.registrations.find((r: { hostname: string }) => r.hostname === 'enrolled-by-agent')?.id
    }
    t.ok(regId, 'the agent registered and waits')
    t.equal((await api.req('POST', `/api/v1/registrations/${regId}/approve`, { token: admin })).status, 200)
    const key = await keyPromise
    t.match(key, /^hp_/)
    t.equal((await ingest(key, 77)).status, 202, 'the key the agent received works')
    t.match(lines.join('\n'), /waiting for an administrator/)
  })
})
