// Rate limits as seed 004 §8 describes them: X-RateLimit-Limit / -Remaining / -Reset (unix seconds) on
// every limited answer, 429 in the error format with details.retry_after and Retry-After, and separate
// budgets: auth per address, reads and writes per user, ingest per agent key. Login failures are limited
// per user and per address, with one answer whether the user exists or not.
import t from 'tap'
import { ADMIN, assertError, makeBatch, metric, openTestStore } from '../test-client.ts'
import { listenApp, startClient } from './security-helpers.ts'

t.test('rate limits', async (t) => {
  const store = await openTestStore(t)
  const limits = { windowMs: 60_000, auth: 4, read: 6, write: 5, ingest: 7 }
  const api = await startClient(t, { rateLimits: limits, loginThrottle: { windowMs: 60_000, maxFailuresPerUser: 3, maxFailuresPerIp: 1000 } }, store)
  // api.login above used 1 of the 4 auth requests.

  t.test('reads: headers count down, then 429 in the error format with retry_after and Retry-After', async (t) => {
    const seen: number[] = []
    let res
    for (let i = 0; i < 6; i++) {
      res = await api.req('GET', '/api/v1/auth/me', { token: api.adminToken })
      t.equal(res.status, 200)
      t.equal(res.headers.get('x-ratelimit-limit'), '6')
      seen.push(Number(res.headers.get('x-ratelimit-remaining')))
      const reset = Number(res.headers.get('x-ratelimit-reset'))
      const now = Date.now() / 1000
      t.ok(reset > now && reset <= now + 61, `X-RateLimit-Reset is a unix time within the window (${reset})`)
    }
    t.same(seen, [5, 4, 3, 2, 1, 0])
    res = await api.req('GET', '/api/v1/auth/me', { token: api.adminToken })
    assertError(t, res, 429, 'RATE_LIMITED')
    t.match(res.body.message, /^Rate limit exceeded\. Please retry after \d+ seconds\.$/)
    t.type(res.body.details.retry_after, 'number')
    t.ok(res.body.details.retry_after > 0 && res.body.details.retry_after <= 60)
    t.equal(res.headers.get('retry-after'), String(res.body.details.retry_after))
    t.equal(res.headers.get('x-ratelimit-remaining'), '0')
    t.equal(res.headers.get('x-ratelimit-limit'), '6')
  })

  t.test('writes have their own budget (reads are spent), per user', async (t) => {
    const body = { description: 'x' }
    for (let i = 0; i < 5; i++) {
      const res = await api.req('POST', '/api/v1/enrollment-tokens', { token: api.adminToken, body })
      t.equal(res.status, 201)
      t.equal(res.headers.get('x-ratelimit-limit'), '5')
    }
    const before = await store.db.selectFrom('enrollment_tokens').select('id').execute()
    assertError(t, await api.req('POST', '/api/v1/enrollment-tokens', { token: api.adminToken, body }), 429, 'RATE_LIMITED')
    const after = await store.db.selectFrom('enrollment_tokens').select('id').execute()
    t.equal(after.length, before.length, 'a refused write changes nothing')
  })

  t.test('ingest is limited per agent key: one exhausted key does not slow another', async (t) => {
    const fresh = await startClient(t, { rateLimits: limits }, store)
    const mk = async (name: string) => (await fresh.req('POST', '/api/v1/agents', { token: fresh.adminToken, body: { name } })).body.api_key as string
    const [k1, k2] = [await mk('rl-1'), await mk('rl-2')]
    const send = (key: string) => fresh.req('POST', '/api/v1/ingest', { apiKey: key, body: makeBatch({ metrics: [metric('cpu', 'usage_percent', 1)] }) })
    for (let i = 0; i < 7; i++) {
      const res = await send(k1)
      t.equal(res.status, 202)
      t.equal(res.headers.get('x-ratelimit-limit'), '7')
    }
    const refused = await send(k1)
    assertError(t, refused, 429, 'RATE_LIMITED', 'key 1 over budget:')
    t.ok(Number(refused.headers.get('retry-after')) > 0)
    t.equal((await send(k2)).status, 202, 'key 2 has its own budget')
  })

  t.test('auth: per address, shared by login and refresh; health is never limited', async (t) => {
    const a = await api.req('POST', '/api/v1/auth/login', { body: ADMIN })
    t.equal(a.status, 200)
    t.equal(a.headers.get('x-ratelimit-limit'), '4')
    await api.req('POST', '/api/v1/auth/refresh', { body: { refresh_token: a.body.refresh_token } })
    const third = await api.req('POST', '/api/v1/auth/login', { body: ADMIN })
    t.equal(third.status, 200)
    t.equal(third.headers.get('x-ratelimit-remaining'), '0')
    assertError(t, await api.req('POST', '/api/v1/auth/login', { body: ADMIN }), 429, 'RATE_LIMITED', 'fifth auth request:')
    assertError(t, await api.req('POST', '/api/v1/agents/register', { body: { token: 'hpe_x', hostname: 'h' } }), 429, 'RATE_LIMITED', 'registration shares the auth budget:')
    for (let i = 0; i < 20; i++) t.equal((await api.req('GET', '/health')).status, 200)
    t.equal((await api.req('GET', '/health')).headers.get('x-ratelimit-limit'), null)
  })

  t.test('failed logins: per user and per address, the same 429 for a real and an unknown user', async (t) => {
    const app = await listenApp(t, store, { loginThrottle: { windowMs: 60_000, maxFailuresPerUser: 3, maxFailuresPerIp: 8 } })
    const login = (username: string, password: string) => fetch(`${app.url}/api/v1/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }),
    }).then(async (r) => ({ status: r.status, body: await r.json(), headers: r.headers }))
    for (let i = 0; i < 3; i++) t.equal((await login(ADMIN.username, `wrong-${i}`)).status, 401)
    const locked = await login(ADMIN.username, ADMIN.password)
    t.equal(locked.status, 429, 'the right password is refused too while the user is locked')
    t.equal(locked.body.error, 'RATE_LIMITED')
    t.ok(locked.body.details.retry_after > 0 && locked.body.details.retry_after <= 60)
    t.equal(locked.headers.get('retry-after'), String(locked.body.details.retry_after))
    for (let i = 0; i < 3; i++) t.equal((await login('no-such-user', `wrong-${i}`)).status, 401)
    const ghost = await login('no-such-user', 'whatever')
    t.equal(ghost.status, 429, 'an unknown user locks the same way')
    t.equal(ghost.body.message.replace(/\d+/g, 'N'), locked.body.message.replace(/\d+/g, 'N'), 'same message')
    // Per address: 6 failures so far from 127.0.0.1; two more different users reach the limit of 8.
    t.equal((await login('spray-1', 'x')).status, 401)
    t.equal((await login('spray-2', 'x')).status, 401)
    const sprayed = await login('spray-3', 'x')
    t.equal(sprayed.status, 429, 'password spraying across usernames is limited per address')
  })
})
