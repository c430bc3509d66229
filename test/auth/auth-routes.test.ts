// Login, protected routes, logout, refresh rotation and reuse detection, /me — over real HTTP.
import t from 'tap'
import { ACCESS_TTL, ADMIN, JWT_SECRET, assertError, jwtClaims, signJwt, startClient } from '../test-client.ts'

t.test('auth', async (t) => {
  const api = await startClient(t)

  t.test('login returns {token, refresh_token, expires_in}', async (t) => {
    const res = await api.post('/api/v1/auth/login', ADMIN)
    t.equal(res.status, 200)
    t.same(Object.keys(res.body).sort(), ['expires_in', 'refresh_token', 'token'])
    t.match(res.body.token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'token is a JWT')
    t.match(res.body.refresh_token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'refresh_token is a JWT')
    t.not(res.body.token, res.body.refresh_token)
    t.equal(res.body.expires_in, ACCESS_TTL)
    const session = await api.store.db.selectFrom('auth_sessions').selectAll().orderBy('created_at', 'desc').executeTakeFirstOrThrow()
    t.not(session.refresh_token_hash, res.body.refresh_token, 'the refresh token is stored hashed')
  })

  t.test('wrong password and unknown user get the same 401 body', async (t) => {
    const wrong = await api.post('/api/v1/auth/login', { username: ADMIN.username, password: 'not-the-password' })
    const unknown = await api.post('/api/v1/auth/login', { username: 'nobody-here', password: 'not-the-password' })
    assertError(t, wrong, 401, 'UNAUTHORIZED', 'wrong password:')
    assertError(t, unknown, 401, 'UNAUTHORIZED', 'unknown user:')
    t.equal(wrong.text, unknown.text, 'byte-identical bodies: no user enumeration')
  })

  t.test('login body validation', async (t) => {
    const res = await api.post('/api/v1/auth/login', { username: ADMIN.username })
    assertError(t, res, 400, 'VALIDATION_ERROR')
    t.ok(res.body.details?.password, 'details names password')
    t.match(res.body.message, /password/)
  })

  t.test('protected routes without a token or with a bad one: 401 in the error format', async (t) => {
    for (const [method, path] of [['GET', '/api/v1/metrics/latest/x'], ['POST', '/api/v1/agents'], ['GET', '/api/v1/metrics/range/x'],
      ['GET', '/api/v1/agents/x'], ['GET', '/api/v1/auth/me'], ['POST', '/api/v1/auth/logout']] as const) {
      const body = method === 'POST' ? { name: 'should-not-exist' } : undefined
      assertError(t, await api.request(method, path, { body }), 401, 'UNAUTHORIZED', `${method} ${path} no token:`)
      assertError(t, await api.request(method, path, { body, token: 'garbage' }), 401, 'UNAUTHORIZED', `${method} ${path} garbage token:`)
      assertError(t, await api.request(method, path, { body, headers: { authorization: `Basic ${Buffer.from('admin:admin-password-1').toString('base64')}` } }),
        401, 'UNAUTHORIZED', `${method} ${path} basic auth:`)
    }
    const agents = await api.store.db.selectFrom('agents').select('name').where('name', '=', 'should-not-exist').execute()
    t.same(agents, [], 'no agent was created by an unauthenticated POST')
  })

  t.test('a token signed with another secret, or a refresh token used as access token, is refused', async (t) => {
    const { token, refresh_token } = await api.login(ADMIN.username, ADMIN.password)
    const claims = jwtClaims(token)
    const now = Math.floor(Date.now() / 1000)
    const resigned = signJwt(claims, JWT_SECRET)
    t.equal((await api.get('/api/v1/auth/me', resigned)).status, 200, 'control: the same claims signed with the real secret pass')
    const forged = signJwt(claims, 'some-other-secret-some-other-secret-00')
    assertError(t, await api.get('/api/v1/auth/me', forged), 401, 'UNAUTHORIZED', 'forged:')
    assertError(t, await api.get('/api/v1/auth/me', refresh_token), 401, 'UNAUTHORIZED', 'refresh token as bearer:')
    const expired = signJwt({ ...claims, iat: now - 7200, exp: now - 3600 }, JWT_SECRET)
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${token.split('.')[1]}.`
    assertError(t, await api.get('/api/v1/auth/me', unsigned), 401, 'UNAUTHORIZED', 'alg none:')
    assertError(t, await api.get('/api/v1/auth/me', expired), 401, 'UNAUTHORIZED', 'expired:')
    t.equal((await api.get('/api/v1/auth/me', token)).status, 200, 'the genuine token works')
  })

  t.test('GET /api/v1/auth/me', async (t) => {
    const res = await api.get('/api/v1/auth/me')
    t.equal(res.status, 200)
    const user = await api.store.db.selectFrom('users').select(['id']).where('username', '=', ADMIN.username).executeTakeFirstOrThrow()
    t.equal(res.body.id, user.id)
    t.equal(res.body.username, ADMIN.username)
    t.equal(res.body.role, 'admin')
    t.equal(res.body.org_id, api.orgId)
    t.equal(res.body.organization, 'default')
    t.notOk('password_hash' in res.body, 'never shows the password hash')
  })

  t.test('logout: 204, then the access token and the refresh token are refused', async (t) => {
    const { token, refresh_token } = await api.login(ADMIN.username, ADMIN.password)
    t.equal((await api.get('/api/v1/auth/me', token)).status, 200)
    const out = await api.request('POST', '/api/v1/auth/logout', { token })
    t.equal(out.status, 204)
    t.equal(out.text, '', '204 has no body')
    assertError(t, await api.get('/api/v1/auth/me', token), 401, 'UNAUTHORIZED', 'access after logout:')
    assertError(t, await api.get('/api/v1/metrics/latest/x', token), 401, 'UNAUTHORIZED', 'latest after logout:')
    assertError(t, await api.post('/api/v1/auth/refresh', { refresh_token }), 401, 'UNAUTHORIZED', 'refresh after logout:')
    t.equal((await api.get('/api/v1/auth/me')).status, 200, 'another session of the same user is untouched')
  })

  t.test('refresh rotates; the new refresh token works once', async (t) => {
    const first = await api.login(ADMIN.username, ADMIN.password)
    const r1 = await api.post('/api/v1/auth/refresh', { refresh_token: first.refresh_token })
    t.equal(r1.status, 200)
    t.same(Object.keys(r1.body).sort(), ['expires_in', 'refresh_token', 'token'])
    t.not(r1.body.refresh_token, first.refresh_token, 'a new refresh token')
    t.equal(r1.body.expires_in, ACCESS_TTL)
    t.equal((await api.get('/api/v1/auth/me', r1.body.token)).status, 200, 'the new access token works')
    const r2 = await api.post('/api/v1/auth/refresh', { refresh_token: r1.body.refresh_token })
    t.equal(r2.status, 200, 'the rotated token refreshes once')
    t.not(r2.body.refresh_token, r1.body.refresh_token)
    t.equal((await api.get('/api/v1/auth/me', r2.body.token)).status, 200)
  })

  t.test('reusing an old refresh token: 401 and the whole session is revoked', async (t) => {
    const first = await api.login(ADMIN.username, ADMIN.password)
    const rotated = await api.post('/api/v1/auth/refresh', { refresh_token: first.refresh_token })
    t.equal(rotated.status, 200)
    const reuse = await api.post('/api/v1/auth/refresh', { refresh_token: first.refresh_token })
    assertError(t, reuse, 401, 'UNAUTHORIZED', 'reuse of the old refresh token:')
    const sid = jwtClaims(first.token).sid
    const session = await api.store.db.selectFrom('auth_sessions').select(['revoked_at']).where('id', '=', sid).executeTakeFirstOrThrow()
    t.ok(session.revoked_at, 'the session row is revoked in the database')
    assertError(t, await api.post('/api/v1/auth/refresh', { refresh_token: rotated.body.refresh_token }), 401, 'UNAUTHORIZED',
      'the newest refresh token stops too:')
    assertError(t, await api.get('/api/v1/auth/me', rotated.body.token), 401, 'UNAUTHORIZED', 'the newest access token stops too:')
  })

  t.test('refresh with garbage or an access token: 401', async (t) => {
    assertError(t, await api.post('/api/v1/auth/refresh', { refresh_token: 'garbage' }), 401, 'UNAUTHORIZED', 'garbage:')
    assertError(t, await api.post('/api/v1/auth/refresh', { refresh_token: api.adminToken }), 401, 'UNAUTHORIZED', 'access token:')
    assertError(t, await api.post('/api/v1/auth/refresh', {}), 400, 'VALIDATION_ERROR', 'missing:')
  })
})
