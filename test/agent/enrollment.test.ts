// Registration with an enrollment token against a stand-in for the seed 003 registration endpoints.
import t from 'tap'
import { rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { KEY_FILE, readStoredKey, resolveApiKey } from '../../agent/enrollment.ts'
import { startAgent } from '../../agent/run-agent.ts'
import { IngestServer, logRecorder, tempDir, waitFor } from './ingest-server.ts'

const TOKEN = 'enroll-abc'
const hostInfo = async () => ({ hostname: 'test-host', ip_address: '192.0.2.7', os: 'Debian GNU/Linux', os_version: '12' })

t.test('auto-approved (201): the key is stored 0600 and used for ingest', async t => {
  const dataDir = await tempDir(t)
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  server.other = req => (req.url === '/api/v1/agents/register' && req.method === 'POST'
    ? { status: 201, body: { status: 'approved', agent_id: 'a-1', api_key: 'key-from-server' } }
    : { status: 404 })
  const { lines, log } = logRecorder()
  const agent = await startAgent({ serverUrl: server.url, enrollToken: TOKEN, dataDir, log, intervalMs: 3_600_000, collector: { hostDetails: async () => ({ os: 'TestOS', agent_version: 't', arch: 'x64', cpu_model: 'm', cpu_cores: 1 }) } })
  t.teardown(() => agent.stop())
  const reg = server.otherRequests.find(r => r.url === '/api/v1/agents/register')!
  const body = JSON.parse(reg.body)
  t.equal(body.token, TOKEN)
  t.equal(typeof body.hostname, 'string')
  t.equal(body.os, 'TestOS', 'with the inventory')
  t.ok('ip_addresses' in body && 'kernel' in body, 'identity fields too')
  const mode = (await stat(join(dataDir, KEY_FILE))).mode & 0o777
  t.equal(mode, 0o600, 'key file readable by the agent user only')
  t.same((await readStoredKey(dataDir))!.api_key, 'key-from-server')
  t.match(lines.join('\n'), /enrolled with .* as agent a-1; key stored in/)
  await agent.collectNow()
  t.equal(server.requests[0].apiKey, 'key-from-server', 'ingest uses the received key')
  t.equal(server.otherRequests.find(r => r.url === '/api/v1/agents/self/config')?.headers['x-api-key'], 'key-from-server', 'and so does the config fetch')
})

t.test('pending (202): polls with the token until approved; a restart uses the stored key without registering again', async t => {
  const dataDir = await tempDir(t)
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  let polls = 0
  server.other = req => {
    if (req.method === 'POST' && req.url === '/api/v1/agents/register') return { status: 202, body: { status: 'pending', registration_id: 'r-42' } }
    if (req.method === 'GET' && req.url === '/api/v1/agents/register/r-42') {
      if (req.headers['x-enrollment-token'] !== TOKEN) return { status: 401, body: { message: 'bad token' } }
      return ++polls < 3 ? { status: 200, body: { status: 'pending' } } : { status: 200, body: { status: 'approved', api_key: 'approved-key' } }
    }
    return { status: 404 }
  }
  const { lines, log } = logRecorder()
  const key = await resolveApiKey({ serverUrl: server.url, dataDir, enrollToken: TOKEN, hostInfo, log, pollMs: 50 })
  t.equal(key, 'approved-key')
  t.equal(polls, 3, 'polled until approved')
  t.match(lines.join('\n'), /registration r-42 is waiting for an administrator to approve this host/)

  const again = await resolveApiKey({ serverUrl: server.url, dataDir, enrollToken: TOKEN, hostInfo, log, pollMs: 50 })
  t.equal(again, 'approved-key')
  t.equal(server.otherRequests.filter(r => r.method === 'POST').length, 1, 'registered once')
})

t.test('a restart while pending keeps polling the same registration', async t => {
  const dataDir = await tempDir(t)
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  let approve = false
  server.other = req => {
    if (req.method === 'POST') return { status: 202, body: { status: 'pending', registration_id: 'r-7' } }
    return { status: 200, body: approve ? { status: 'approved', api_key: 'k7' } : { status: 'pending' } }
  }
  const stop = new AbortController()
  const first = resolveApiKey({ serverUrl: server.url, dataDir, enrollToken: TOKEN, hostInfo, log: () => {}, pollMs: 30, signal: stop.signal })
  await waitFor(() => server.otherRequests.some(r => r.method === 'GET'), 'a poll')
  stop.abort()
  await t.rejects(first, /stopped while registering/)
  approve = true
  t.equal(await resolveApiKey({ serverUrl: server.url, dataDir, enrollToken: TOKEN, hostInfo, log: () => {}, pollMs: 30 }), 'k7')
  t.equal(server.otherRequests.filter(r => r.method === 'POST').length, 1, 'no second registration request')
})

t.test('every attempt of one registration sends the same Idempotency-Key, across a failed answer and a restart', async t => {
  const dataDir = await tempDir(t)
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  let answer: 'fail' | 'hang' | 'ok' = 'fail'
  server.other = req => {
    if (req.method !== 'POST') return { status: 404 }
    if (answer === 'fail') { answer = 'hang'; return { status: 502, body: { message: 'bad gateway' } } }
    if (answer === 'hang') return { status: 503, body: { message: 'deploying' } }
    return { status: 201, body: { status: 'approved', agent_id: 'a-9', api_key: 'k9' } }
  }
  const stop = new AbortController()
  const first = resolveApiKey({ serverUrl: server.url, dataDir, enrollToken: TOKEN, hostInfo, log: () => {}, pollMs: 30, signal: stop.signal })
  await waitFor(() => server.otherRequests.filter(r => r.method === 'POST').length >= 2, 'a second attempt after the 502')
  stop.abort()
  await t.rejects(first, /stopped while registering/)
  answer = 'ok'
  t.equal(await resolveApiKey({ serverUrl: server.url, dataDir, enrollToken: TOKEN, hostInfo, log: () => {}, pollMs: 30 }), 'k9', 'the restarted agent registers')
  const keys = server.otherRequests.filter(r => r.method === 'POST').map(r => r.headers['idempotency-key'])
  t.equal(keys.length, 3)
  t.same(server.otherRequests.filter(r => r.method === 'POST').map(r => r.headers['idempotency-attempt']), ['1', '2', '3'], 'each attempt numbered, on from the restart')
  t.match(keys[0], /^[0-9a-f-]{36}$/, 'a UUID')
  t.same(new Set(keys).size, 1, `one key for the three attempts: ${keys.join(', ')}`)

  // A new registration (the key file removed) is a new request.
  await rm(join(dataDir, KEY_FILE))
  t.equal(await resolveApiKey({ serverUrl: server.url, dataDir, enrollToken: TOKEN, hostInfo, log: () => {}, pollMs: 30 }), 'k9')
  const fourth = server.otherRequests.filter(r => r.method === 'POST').at(-1)!.headers['idempotency-key']
  t.not(fourth, keys[0], 'with a key of its own')
})

t.test('rejected, a refused token, and a server without the endpoint end with the cause and the fix', async t => {
  const dataDir = await tempDir(t)
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  const opts = { serverUrl: server.url, dataDir, enrollToken: TOKEN, hostInfo, log: () => {}, pollMs: 20 }

  server.other = req => (req.method === 'POST' ? { status: 202, body: { status: 'pending', registration_id: 'r-9' } } : { status: 200, body: { status: 'rejected' } })
  await t.rejects(resolveApiKey(opts), /an administrator rejected registration r-9; ask for it to be approved/)

  server.other = () => ({ status: 403, body: { message: 'token expired' } })
  await t.rejects(resolveApiKey(opts), /the server refused the enrollment token \(HTTP 403: token expired\); create a new token/)

  server.other = () => ({ status: 404 })
  await t.rejects(resolveApiKey(opts), /has no registration endpoint .*set it as HOSTPULSE_API_KEY/)
  t.equal(await readStoredKey(dataDir), undefined, 'no key stored')

  await t.rejects(resolveApiKey({ ...opts, enrollToken: undefined }), /no API key given; set HOSTPULSE_API_KEY .* or pass --enroll-token TOKEN/)
  t.equal(await resolveApiKey({ ...opts, apiKey: 'given' }), 'given', 'a given key needs no registration')
})
