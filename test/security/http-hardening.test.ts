// Security headers, CORS off unless configured, body size limits per route, request timeouts, and no
// secret in any log line (log output captured while every kind of secret goes through the API).
import t from 'tap'
import { connect } from 'node:net'
import { Writable } from 'node:stream'
import { ADMIN, assertError, makeBatch, openTestStore, proc } from '../test-client.ts'
import { clientOn, listenApp, startClient } from './security-helpers.ts'
import { loadConfig } from '../../services/config/config.ts'

t.test('http hardening', async (t) => {
  const store = await openTestStore(t)
  const api = await startClient(t, {}, store)

  t.test('helmet headers on API answers; a CSP that allows the page its own scripts and styles', async (t) => {
    for (const res of [await api.req('GET', '/health'), await api.req('GET', '/api/v1/auth/me', { token: api.adminToken }), await api.req('GET', '/api/v1/auth/me')]) {
      const csp = res.headers.get('content-security-policy') ?? ''
      t.match(csp, /default-src 'self'/)
      t.match(csp, /script-src 'self'(;|$)/, 'scripts from the same origin only, no inline')
      t.match(csp, /style-src 'self'/)
      t.match(csp, /frame-ancestors 'none'/)
      t.match(csp, /object-src 'none'/)
      t.equal(res.headers.get('x-content-type-options'), 'nosniff')
      t.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN')
      t.match(res.headers.get('strict-transport-security') ?? '', /max-age=\d+/)
      t.equal(res.headers.get('referrer-policy'), 'no-referrer')
      t.equal(res.headers.get('cross-origin-resource-policy'), 'same-origin')
      t.equal(res.headers.get('x-powered-by'), null)
    }
    t.equal((await api.req('GET', '/api/v1/auth/me', { token: api.adminToken })).headers.get('cache-control'), 'no-store', 'API answers are not cached')
  })

  t.test('CORS: off by default; on for configured origins only', async (t) => {
    const origin = 'https://dash.example.com'
    const pre = await api.req('OPTIONS', '/api/v1/auth/me', { headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } })
    t.equal(pre.headers.get('access-control-allow-origin'), null, 'no CORS preflight answer without CORS_ORIGINS')
    const simple = await api.req('GET', '/health', { headers: { origin } })
    t.equal(simple.headers.get('access-control-allow-origin'), null)

    const cors = await listenApp(t, store, { corsOrigins: [origin] })
    const ok = await fetch(`${cors.url}/api/v1/auth/me`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } })
    t.equal(ok.status, 204)
    t.equal(ok.headers.get('access-control-allow-origin'), origin)
    t.match(ok.headers.get('access-control-allow-headers') ?? '', /authorization/)
    const evil = await fetch(`${cors.url}/health`, { headers: { origin: 'https://evil.example' } })
    t.equal(evil.headers.get('access-control-allow-origin'), null, 'another origin is not allowed')
    t.equal(loadConfig({ CORS_ORIGINS: 'https://a.example, https://b.example/' }).corsOrigins.join(' '), 'https://a.example https://b.example')
    t.same(loadConfig({}).corsOrigins, [])
    t.throws(() => loadConfig({ CORS_ORIGINS: '*' }), /CORS_ORIGINS/)
  })

  t.test('body limits per route: 16 KiB for auth and accounts, 1 MiB by default, 64 MiB for ingest', async (t) => {
    const big = 'x'.repeat(20 * 1024)
    assertError(t, await api.req('POST', '/api/v1/auth/login', { body: { username: big, password: big } }), 413, 'PAYLOAD_TOO_LARGE', 'login:')
    assertError(t, await api.req('POST', '/api/v1/users', { token: api.adminToken, body: { username: 'u', password: big, role: 'viewer' } }), 413, 'PAYLOAD_TOO_LARGE', 'users:')
    const agent = await api.req('POST', '/api/v1/agents', { token: api.adminToken, body: { name: 'limits' } })
    const manyBatches = Array.from({ length: 500 }, () => makeBatch({ processes: Array.from({ length: 20 }, (_, i) => proc(1000 + i, `worker-${i}`)) }))
    const res = await api.req('POST', '/api/v1/ingest', { apiKey: agent.body.api_key, body: manyBatches })
    t.ok(JSON.stringify(manyBatches).length > 1024 * 1024, 'the ingest body is over 1 MiB')
    t.equal(res.status, 202, 'an agent replaying its buffer fits')
  })

  t.test('a client that never finishes its request is cut off (request timeout)', async (t) => {
    const slow = await listenApp(t, store, { requestTimeoutMs: 1500 })
    const { port } = new URL(slow.url)
    const started = Date.now()
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write('POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"user'))
      let data = ''
      socket.on('data', (d) => { data += d })
      socket.on('close', () => resolve(data))
      setTimeout(() => { socket.destroy(); resolve('still open') }, 10_000)
    })
    t.not(outcome, 'still open', 'the connection was closed by the server')
    t.match(outcome, /^HTTP\/1\.1 408/, 'with 408 Request Timeout')
    t.same(JSON.parse(outcome.split('\r\n\r\n')[1]), { error: 'REQUEST_TIMEOUT', message: 'No complete request arrived within the request timeout; the connection is closed', code: 408 },
      'in the error format')
    t.ok(Date.now() - started < 6000, `within a few seconds (${Date.now() - started} ms)`)
  })

  t.test('headers larger than the parser takes, or bytes that are not HTTP: 431 or 400 in the error format', async (t) => {
    const { port } = new URL(api.url)
    const raw = (text: string) => new Promise<string>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(text))
      let data = ''
      socket.on('data', (d) => { data += d })
      socket.on('close', () => resolve(data))
      socket.on('error', () => resolve(data))
    })
    const huge = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
    t.match(huge, /^HTTP\/1\.1 431/, '431 for 20 KB of headers')
    t.match(JSON.parse(huge.split('\r\n\r\n')[1]), { error: 'HEADERS_TOO_LARGE', code: 431, message: String })
    const garbage = await raw('\u0001\u0002 nonsense\r\n\r\n')
    t.match(garbage, /^HTTP\/1\.1 400/, '400 for bytes that are not HTTP')
    t.match(JSON.parse(garbage.split('\r\n\r\n')[1]), { error: 'BAD_REQUEST', code: 400, message: String })
  })

  t.test('no secret in any log line', async (t) => {
    const lines: string[] = []
    const stream = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
    const logged = await listenApp(t, store, { logger: { level: 'trace', stream } })
    const l = clientOn(logged.app, store, logged.url, api.orgId)
    const secrets: string[] = [ADMIN.password, 'Wrong-Password-77', 'New-User-Password-1', 'Changed-Password-2']
    await l.req('POST', '/api/v1/auth/login', { body: { username: ADMIN.username, password: 'Wrong-Password-77' } })
    const session = await l.login(ADMIN.username, ADMIN.password)
    secrets.push(session.token, session.refresh_token)
    const refreshed = (await l.req('POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refresh_token } })).body
    secrets.push(refreshed.token, refreshed.refresh_token)
    await l.req('POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refresh_token } }) // reuse
    const tok = (await l.login(ADMIN.username, ADMIN.password)).token
    secrets.push(tok)
    const user = await l.req('POST', '/api/v1/users', { token: tok, body: { username: 'log-user', password: 'New-User-Password-1', role: 'viewer' } })
    const userTok = (await l.login('log-user', 'New-User-Password-1')).token
    secrets.push(userTok)
    await l.req('POST', '/api/v1/users/me/password', { token: userTok, body: { current_password: 'New-User-Password-1', new_password: 'Changed-Password-2' } })
    t.equal(user.status, 201)
    const agent = (await l.req('POST', '/api/v1/agents', { token: tok, body: { name: 'log-agent' } })).body
    secrets.push(agent.api_key)
    await l.req('POST', '/api/v1/ingest', { apiKey: agent.api_key, body: makeBatch() })
    await l.req('POST', '/api/v1/ingest', { apiKey: agent.api_key, body: { broken: true } })
    const rotated = (await l.req('POST', `/api/v1/agents/${agent.id}/rotate-key`, { token: tok })).body
    secrets.push(rotated.api_key)
    const enroll = (await l.req('POST', '/api/v1/enrollment-tokens', { token: tok, body: { auto_approve: false } })).body
    secrets.push(enroll.token)
    const requestKey = crypto.randomUUID()
    secrets.push(requestKey)
    const reg = (await l.req('POST', '/api/v1/agents/register', { headers: { 'idempotency-key': requestKey }, body: { token: enroll.token, hostname: 'log-host' } })).body
    await l.req('GET', `/api/v1/agents/register/${reg.registration_id}`, { headers: { 'x-enrollment-token': enroll.token } })
    await l.req('GET', `/api/v1/agents/register/${reg.registration_id}`, { headers: { 'x-enroll-token': enroll.token } })
    await l.req('GET', '/api/v1/auth/me', { token: 'Bearer-garbage-secret-value' })
    secrets.push('Bearer-garbage-secret-value')
    // InfluxDB 1.x clients send the key in the query string.
    await l.req('POST', `/write?db=x&u=telegraf&p=${encodeURIComponent(rotated.api_key)}`, { rawBody: 'cpu value=1', headers: { 'content-type': 'text/plain' } })
    await l.req('GET', `/query?q=SHOW%20DATABASES&p=${encodeURIComponent(rotated.api_key)}&u=x`)

    const output = lines.join('')
    t.ok(lines.length > 20, `${lines.length} log lines captured`)
    t.match(output, /"authorization":"\[redacted\]"/, 'the authorization header is logged as redacted')
    t.match(output, /"x-api-key":"\[redacted\]"/)
    t.match(output, /"x-enrollment-token":"\[redacted\]"/)
    t.match(output, /"x-enroll-token":"\[redacted\]"/)
    t.match(output, /"idempotency-key":"\[redacted\]"/, "a registration's request key too")
    t.match(output, /"url":"\/api\/v1\/auth\/login"/, 'requests are logged')
    t.match(output, /"url":"\/write\?db=x&u=telegraf&p=\[redacted\]"/, 'a key in the query string is logged as redacted')
    for (const secret of secrets) t.notOk(output.includes(secret), `secret ${secret.slice(0, 6)}… is not in the log`)
  })
})
