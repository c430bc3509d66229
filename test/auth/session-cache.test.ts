// Authenticated requests on the embedded engine remember live sessions (services/auth/session-cache.ts):
// whatever ends a session or changes its user must stop the token at the very next request, through the API
// or by a statement run straight on the database, and a session past its expiry is refused although remembered.
import t from 'tap'
import { sql } from 'kysely'
import { assertError, startClient } from '../test-client.ts'

t.test('a remembered session stops at once', async (t) => {
  const api = await startClient(t)
  /** Two requests on the token: the second is answered from what the first left remembered. */
  const works = async (token: string) => {
    const first = await api.get('/api/v1/auth/me', token)
    const second = await api.get('/api/v1/auth/me', token)
    return first.status === 200 && second.status === 200 ? second : undefined
  }

  t.test('logout', async (t) => {
    const u = await api.user('viewer')
    t.ok(await works(u.token), 'the token works')
    t.equal((await api.request('POST', '/api/v1/auth/logout', { token: u.token })).status, 204)
    assertError(t, await api.get('/api/v1/auth/me', u.token), 401, 'UNAUTHORIZED', 'the next request:')
  })

  t.test('a role changed by an admin', async (t) => {
    const u = await api.user('editor')
    t.equal((await works(u.token))?.body.role, 'editor')
    const res = await api.request('PUT', `/api/v1/users/${u.id}`, { token: api.adminToken, body: { role: 'viewer' } })
    t.equal(res.status, 200, res.text)
    t.equal((await api.get('/api/v1/auth/me', u.token)).body.role, 'viewer', 'the next request acts as a viewer')
    assertError(t, await api.request('POST', '/api/v1/agents', { token: u.token, body: { name: 'not-allowed' } }), 403, 'FORBIDDEN', 'and is refused an editor\'s action:')
  })

  t.test('a user deleted', async (t) => {
    const u = await api.user('viewer')
    t.ok(await works(u.token))
    t.equal((await api.request('DELETE', `/api/v1/users/${u.id}`, { token: api.adminToken })).status, 204)
    assertError(t, await api.get('/api/v1/auth/me', u.token), 401, 'UNAUTHORIZED', 'the next request:')
  })

  t.test('a session revoked by a statement on the database', async (t) => {
    const u = await api.user('viewer')
    t.ok(await works(u.token))
    await sql`update auth_sessions set revoked_at = now() where user_id = ${u.id}::uuid`.execute(api.store.db)
    assertError(t, await api.get('/api/v1/auth/me', u.token), 401, 'UNAUTHORIZED', 'the next request:')
  })

  t.test('a session that expires while remembered', async (t) => {
    const u = await api.user('viewer')
    // Its expiry moved close by a statement on sessions (which forgets them), then remembered again.
    // Four seconds: the requests before it must fit, on a loaded machine too.
    await sql`update auth_sessions set expires_at = now() + interval '4 seconds' where user_id = ${u.id}::uuid`.execute(api.store.db)
    t.ok(await works(u.token), 'works before its expiry')
    await new Promise((r) => setTimeout(r, 4100))
    assertError(t, await api.get('/api/v1/auth/me', u.token), 401, 'UNAUTHORIZED', 'after its expiry:')
  })

  t.test('a token whose session belongs to another user', async (t) => {
    const a = await api.user('viewer')
    const b = await api.user('viewer')
    t.ok(await works(a.token))
    const { iat: _, exp: __, ...claims } = api.app.jwt.decode<Record<string, unknown>>(b.token)!
    const forged = api.app.jwt.sign({ ...claims, sid: api.app.jwt.decode<{ sid: string }>(a.token)!.sid } as never)
    assertError(t, await api.get('/api/v1/auth/me', forged), 401, 'UNAUTHORIZED', 'b\'s claims on a\'s remembered session:')
  })
})
