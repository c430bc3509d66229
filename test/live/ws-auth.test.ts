// Who may open a live stream: a live session's JWT in ?token=, the Sec-WebSocket-Protocol header or the
// Authorization header; everything else is refused with 401 in the error format before the upgrade. An
// agent of another organization is as unknown as a missing one (404). A logout closes open streams, and
// no token reaches a log line.
import { Writable } from 'node:stream'
import t from 'tap'
import { sql } from 'kysely'
import { ADMIN, JWT_SECRET, assertError, createOrgWithAdmin, jwtClaims, signJwt } from '../test-client.ts'
import { connectWs, clientOn, listenApp, refusedUpgrade, startClient } from './live-helpers.ts'

const api = await startClient(t, { live: { sessionCheckMs: 150 } })
const agent = await api.createAgent('auth-01')
const otherOrg = await createOrgWithAdmin(api.store, 'other-org', 'other-admin', 'other-password-1')
const otherToken = (await api.login('other-admin', 'other-password-1')).token
const other = clientOn(api.app, api.store, api.url, otherOrg, otherToken)
const foreignAgent = await other.createAgent('foreign-01')

t.test('no token, or a bad one: 401 in the error format, never upgraded', async (t) => {
  const claims = jwtClaims(api.adminToken)
  const refresh = (await api.login(ADMIN.username, ADMIN.password)).refresh_token
  const bad: Array<[string, string]> = [
    ['no token', ''],
    ['garbage', '?token=not-a-jwt'],
    ['wrongly signed', `?token=${signJwt(claims, 'another-secret-that-is-long-enough-0123456789')}`],
    ['expired', `?token=${signJwt({ ...claims, exp: Math.floor(Date.now() / 1000) - 10 }, JWT_SECRET)}`],
    ['a refresh token', `?token=${refresh}`],
    ['a session that does not exist', `?token=${signJwt({ ...claims, sid: '00000000-0000-4000-8000-000000000000' }, JWT_SECRET)}`],
  ]
  for (const path of ['/ws/live', '/ws/metrics/auth-01']) {
    for (const [what, query] of bad) {
      const res = await refusedUpgrade(`${api.wsUrl}${path}${query}`)
      assertError(t, { status: res.status, body: res.body, text: '', headers: new Headers() }, 401, 'UNAUTHORIZED', `${path}, ${what}:`)
    }
  }
  const viaProtocol = await refusedUpgrade(`${api.wsUrl}/ws/live`, { protocols: ['hostpulse', signJwt(claims, 'another-secret-that-is-long-enough-0123456789')] })
  t.equal(viaProtocol.status, 401, 'a wrongly signed token in Sec-WebSocket-Protocol is refused too')
})

t.test('the token is taken from ?token=, Sec-WebSocket-Protocol or Authorization', async (t) => {
  const query = await connectWs(t, `${api.wsUrl}/ws/live?token=${api.adminToken}`)
  t.equal((await query.waitFor((m) => m.type === 'snapshot')).type, 'snapshot', '?token= works')

  const protocol = await connectWs(t, `${api.wsUrl}/ws/metrics/auth-01`, { protocols: ['hostpulse', api.adminToken] })
  t.equal(protocol.ws.protocol, 'hostpulse', 'the server answers the hostpulse subprotocol, never the token')
  t.equal((await protocol.waitFor((m) => m.type === 'metrics')).agent_id, 'auth-01', 'Sec-WebSocket-Protocol works')

  const header = await connectWs(t, `${api.wsUrl}/ws/metrics/${agent.id}`, { headers: { authorization: `Bearer ${api.adminToken}` } })
  t.equal((await header.waitFor((m) => m.type === 'metrics')).agent_id, 'auth-01', 'Authorization works (programs), by agent id')

  const viewer = await api.req('POST', '/api/v1/users', { token: api.adminToken, body: { username: 'live-viewer', password: 'viewer-password-1', role: 'viewer' } })
  t.equal(viewer.status, 201)
  const viewerToken = (await api.login('live-viewer', 'viewer-password-1')).token
  const asViewer = await connectWs(t, `${api.wsUrl}/ws/metrics/auth-01?token=${viewerToken}`)
  t.ok(await asViewer.waitFor((m) => m.type === 'metrics'), 'a viewer may watch')
})

t.test('another organization\'s agent is refused as unknown (404), before the upgrade', async (t) => {
  for (const id of [foreignAgent.name, foreignAgent.id, 'no-such-agent']) {
    const res = await refusedUpgrade(`${api.wsUrl}/ws/metrics/${id}?token=${api.adminToken}`)
    assertError(t, { status: res.status, body: res.body, text: '', headers: new Headers() }, 404, 'NOT_FOUND', `${id}:`)
  }
  const own = await connectWs(t, `${api.wsUrl}/ws/metrics/${foreignAgent.name}?token=${otherToken}`)
  t.equal((await own.waitFor((m) => m.type === 'metrics')).agent_id, 'foreign-01', 'its own organization may watch it')
  // Longer than any agent name (128): no such agent. Past the router's path limit (512): 414, in the error format.
  const noName = await refusedUpgrade(`${api.wsUrl}/ws/metrics/${'x'.repeat(129)}?token=${api.adminToken}`)
  t.ok(noName.status === 400 || noName.status === 404, `a 129-character agent id is refused before the upgrade (${noName.status})`)
  t.equal(typeof noName.body.error, 'string', 'in the error format')
  const tooLong = await refusedUpgrade(`${api.wsUrl}/ws/metrics/${'x'.repeat(600)}?token=${api.adminToken}`)
  t.equal(tooLong.status, 414, 'an over-long path segment is refused before the upgrade')
  t.equal(tooLong.body.error, 'URI_TOO_LONG')
})

t.test('a plain HTTP request to a stream is a 400 in the error format', async (t) => {
  const res = await api.req('GET', '/ws/live', { token: api.adminToken })
  assertError(t, res, 400, 'BAD_REQUEST')
  t.match(res.body.message, /WebSocket/)
  assertError(t, await api.req('GET', '/ws/live'), 401, 'UNAUTHORIZED', 'and 401 without a token')
})

t.test('logout closes the session\'s open streams', async (t) => {
  const session = await api.login(ADMIN.username, ADMIN.password)
  const stream = await connectWs(t, `${api.wsUrl}/ws/live?token=${session.token}`)
  await stream.waitFor((m) => m.type === 'snapshot')
  const keep = await connectWs(t, `${api.wsUrl}/ws/live?token=${api.adminToken}`)
  await keep.waitFor((m) => m.type === 'snapshot')
  t.equal((await api.req('POST', '/api/v1/auth/logout', { token: session.token })).status, 204)
  t.equal(await stream.closed, 4401, 'closed with 4401 (session ended)')
  t.equal(keep.ws.readyState, keep.ws.OPEN, 'another session stays connected')
})

t.test('a stream opened while the session check reads the database stays open', async (t) => {
  // The check (every 150 ms here) asks about the sessions of the connections open when it began. A stream
  // whose session is remembered opens without a read, during a slow check: it is not that check's to close.
  const session = await api.login(ADMIN.username, ADMIN.password)
  t.equal((await api.req('GET', '/api/v1/agents', { token: session.token })).status, 200, 'the session is remembered')
  const keep = await connectWs(t, `${api.wsUrl}/ws/live?token=${api.adminToken}`)
  await keep.waitFor((m) => m.type === 'snapshot')
  const slow = sql`select pg_sleep(1.5)`.execute(api.store.db)
  await new Promise((resolve) => setTimeout(resolve, 400))
  const stream = await connectWs(t, `${api.wsUrl}/ws/live?token=${session.token}`)
  await slow
  t.equal((await stream.waitFor((m) => m.type === 'snapshot')).type, 'snapshot', 'its snapshot arrives')
  t.equal(stream.ws.readyState, stream.ws.OPEN, 'and it is still open')
})

t.test('no token in any log line', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  const logged = await listenApp(t, api.store, { logger: { level: 'trace', stream } })
  const wsUrl = logged.url.replace(/^http/, 'ws')
  const token = (await api.login(ADMIN.username, ADMIN.password)).token
  const a = await connectWs(t, `${wsUrl}/ws/metrics/auth-01?token=${token}&other=1`)
  await a.waitFor((m) => m.type === 'metrics')
  const b = await connectWs(t, `${wsUrl}/ws/live`, { protocols: ['hostpulse', token] })
  await b.waitFor((m) => m.type === 'snapshot')
  const forged = signJwt(jwtClaims(token), 'another-secret-that-is-long-enough-0123456789')
  await refusedUpgrade(`${wsUrl}/ws/live?token=${forged}`)
  await refusedUpgrade(`${wsUrl}/ws/live`, { protocols: ['hostpulse', forged] })
  const text = lines.join('')
  t.ok(text.includes('/ws/metrics/auth-01?other=1'), 'the request was logged, without its token parameter')
  t.notOk(text.includes(token), 'the valid token is in no log line')
  t.notOk(text.includes(forged), 'nor the refused one')
  t.notOk(text.includes(token.split('.')[2]), 'nor its signature')
})
