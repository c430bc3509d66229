// What InfluxDB clients meet besides the line protocol itself, over real HTTP: every way they send the agent
// key (and a refusal in the right error format per route), /ping's version headers, /query's CREATE DATABASE
// and SHOW DATABASES, and error bodies Telegraf's two outputs can decode.
import t from 'tap'
import { GENEROUS_LIMITS, listenApp, startClient } from '../test-client.ts'
import { assertV1Error, assertV2Error, rowsOf, send, type Sent } from './influx-helpers.ts'

const WRITE_PATHS = ['/api/v2/write', '/write'] as const

/**
 * Telegraf's outputs.influxdb_v2 decode of an error body (Go's encoding/json into genericRespError: keys
 * matched case-insensitively, Code and Message strings, Line and MaxLength int32 pointers) and the text it
 * logs; undefined where the decode fails and Telegraf logs only the status line.
 */
function telegrafV2Log(res: Sent): string | undefined {
  if (typeof res.body !== 'object' || res.body === null || Array.isArray(res.body)) return undefined
  const fields: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(res.body)) fields[k.toLowerCase()] = v
  const { code = '', message = '', line, maxlength } = fields
  if (typeof code !== 'string' || typeof message !== 'string') return undefined
  for (const n of [line, maxlength]) if (n !== undefined && n !== null && !(Number.isInteger(n) && Math.abs(n as number) < 2 ** 31)) return undefined
  return `${code}: ${message}${line !== undefined ? ` - line[${line}]` : ''}`
}

/** Telegraf's outputs.influxdb decode of a /write error (`{"error": string}`) and a /query answer (results[0].error). */
const telegrafV1Error = (res: Sent): string | undefined => (typeof res.body?.error === 'string' ? res.body.error : undefined)

t.test('InfluxDB compatibility', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('influx-client')
  const key = agent.api_key
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
  const nowNs = () => `${BigInt(Date.now() - 60_000) * 1_000_000n}`

  t.test('the agent key is accepted every way InfluxDB clients send credentials', async (t) => {
    const ways: Array<[string, { headers?: Record<string, string>; query?: string }]> = [
      ['X-API-Key', { headers: { 'x-api-key': key } }],
      ['Authorization: Token <key> (InfluxDB 2, Telegraf outputs.influxdb_v2)', { headers: { authorization: `Token ${key}` } }],
      ['Authorization: token <key> (scheme in any case)', { headers: { authorization: `token ${key}` } }],
      ['Authorization: Token <user>:<key> (InfluxDB 1.8)', { headers: { authorization: `Token telegraf:${key}` } }],
      ['Authorization: Bearer <key> (InfluxDB 3 clients)', { headers: { authorization: `Bearer ${key}` } }],
      ['Authorization: BEARER <key>', { headers: { authorization: `BEARER ${key}` } }],
      ['Authorization: Basic <any user>:<key> (InfluxDB 1.x, Telegraf outputs.influxdb)', { headers: { authorization: basic('telegraf', key) } }],
      ['?u=<any user>&p=<key> (InfluxDB 1.x)', { query: `?u=whoever&p=${encodeURIComponent(key)}` }],
    ]
    let n = 0
    for (const [way, creds] of ways) {
      for (const path of WRITE_PATHS) {
        const res = await send(api, `auth,way=w${++n} v=1 ${nowNs()}`, { path, query: creds.query, headers: creds.headers })
        t.equal(res.status, 204, `${path}, ${way}: 204 (${res.text})`)
      }
      const q = `?q=${encodeURIComponent('CREATE DATABASE telegraf')}${creds.query ? `&${creds.query.slice(1)}` : ''}`
      const query = await send(api, undefined, { method: 'GET', path: '/query', query: q, headers: creds.headers })
      t.equal(query.status, 200, `/query, ${way}: 200 (${query.text})`)
    }
    t.equal((await rowsOf(api, agent.id)).length, n, 'every write stored its line')
  })

  t.test('a missing or wrong key is a 401 naming the accepted ways, in each route\'s format', async (t) => {
    const wrong: Array<[string, { headers?: Record<string, string>; query?: string }]> = [
      ['nothing', {}],
      ['an unknown X-API-Key', { headers: { 'x-api-key': 'hp_not_a_key' } }],
      ['an unknown Token', { headers: { authorization: 'Token hp_not_a_key' } }],
      ['an unknown Bearer', { headers: { authorization: 'Bearer hp_not_a_key' } }],
      ['a user session token as Bearer', { headers: { authorization: `Bearer ${api.adminToken}` } }],
      ['Basic with a wrong password', { headers: { authorization: basic('telegraf', 'hp_not_a_key') } }],
      ['Basic without a password', { headers: { authorization: basic('telegraf', '') } }],
      ['?p= wrong', { query: '?u=telegraf&p=hp_not_a_key' }],
      ['an empty Token', { headers: { authorization: 'Token ' } }],
      ['an unknown scheme', { headers: { authorization: `Digest ${key}` } }],
    ]
    for (const [what, creds] of wrong) {
      const v2 = await send(api, 'x v=1', { query: creds.query, headers: creds.headers })
      assertV2Error(t, v2, 401, 'unauthorized', `/api/v2/write, ${what}:`)
      for (const way of ['X-API-Key', 'Token <key>', 'Bearer <key>', 'Basic base64(<any user>:<key>)', '?u=<any user>&p=<key>']) {
        t.ok(v2.body?.message.includes(way), `/api/v2/write, ${what}: the message names ${way}`)
      }
      assertV1Error(t, await send(api, 'x v=1', { path: '/write', query: creds.query, headers: creds.headers }), 401, `/write, ${what}:`)
      const q = `?q=CREATE+DATABASE+x${creds.query ? `&${creds.query.slice(1)}` : ''}`
      assertV1Error(t, await send(api, undefined, { method: 'GET', path: '/query', query: q, headers: creds.headers }), 401, `GET /query, ${what}:`)
      assertV1Error(t, await send(api, 'q=CREATE+DATABASE+x', { method: 'POST', path: '/query', query: creds.query, headers: { ...creds.headers, 'content-type': 'application/x-www-form-urlencoded' } }), 401, `POST /query, ${what}:`)
    }
    const none = await send(api, 'x v=1')
    t.match(none.body.message, /^No agent key: send the key of an agent/, 'missing: says so, not "Missing X-API-Key header"')
    const unknown = await send(api, 'x v=1', { headers: { authorization: 'Bearer hp_not_a_key' } })
    t.match(unknown.body.message, /^Unknown or revoked agent key/, 'wrong: says so')

    const inactive = await api.createAgent('influx-inactive')
    t.equal((await api.req('PATCH', `/api/v1/agents/${inactive.id}`, { token: api.adminToken, body: { status: 'inactive' } })).status, 200)
    assertV2Error(t, await send(api, 'x v=1', { headers: { authorization: `Token ${inactive.api_key}` } }), 403, 'forbidden', 'inactive agent, v2:')
    assertV1Error(t, await send(api, 'x v=1', { path: '/write', headers: { authorization: basic('u', inactive.api_key) } }), 403, 'inactive agent, 1.x:')
    t.same(await rowsOf(api, inactive.id), [], 'nothing stored for it')
  })

  t.test('/ping answers 204 with the version headers, no credentials needed', async (t) => {
    for (const method of ['GET', 'HEAD']) {
      const res = await send(api, undefined, { method, path: '/ping' })
      t.equal(res.status, 204, `${method} /ping: 204`)
      t.equal(res.text, '', `${method} /ping: no body`)
      t.equal(res.headers.get('x-influxdb-version'), '1.8.10', `${method} /ping: X-Influxdb-Version`)
      t.equal(res.headers.get('x-influxdb-build'), 'hostpulse', `${method} /ping: X-Influxdb-Build`)
    }
    const verbose = await send(api, undefined, { method: 'GET', path: '/ping', query: '?verbose=true' })
    t.equal(verbose.status, 200, 'verbose=true: 200 (load balancers that want one)')
    t.same(verbose.body, { version: '1.8.10' })
    t.equal((await send(api, undefined, { method: 'GET', path: '/ping', query: '?verbose=false' })).status, 204, 'verbose=false: 204')
    t.equal((await send(api, undefined, { method: 'GET', path: '/ping', headers: { authorization: 'Token hp_not_a_key' } })).status, 204, 'a wrong key does not matter')
    const write = await send(api, `hdr v=1 ${nowNs()}`, { headers: { authorization: `Token ${key}` } })
    t.equal(write.headers.get('x-influxdb-version'), '1.8.10', 'every InfluxDB route names the version (a write too)')
    const refused = await send(api, 'x v=1', { path: '/write' })
    t.equal(refused.headers.get('x-influxdb-build'), 'hostpulse', 'and a refusal')
  })

  t.test('/query: CREATE DATABASE is a no-op success, SHOW DATABASES lists, other InfluxQL is refused', async (t) => {
    const auth = { authorization: basic('telegraf', key) }
    const get = (q: string, extra = '') => send(api, undefined, { method: 'GET', path: '/query', query: `?q=${encodeURIComponent(q)}${extra}`, headers: auth })
    // Telegraf's outputs.influxdb on start: a form POST, the name quoted.
    const telegraf = await send(api, `q=${encodeURIComponent('CREATE DATABASE "telegraf"')}`, { method: 'POST', path: '/query', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' } })
    t.equal(telegraf.status, 200, telegraf.text)
    t.same(telegraf.body, { results: [{ statement_id: 0 }] }, 'as InfluxDB 1.x answers it (Telegraf reads results[0].error: none)')
    t.equal(telegraf.headers.get('x-influxdb-version'), '1.8.10')
    for (const q of ['create database telegraf', 'CREATE DATABASE "my db" WITH DURATION 7d REPLICATION 1 SHARD DURATION 1d NAME "week"',
      'CREATE DATABASE IF NOT EXISTS metrics', ' CREATE DATABASE "a;b" ', 'CREATE DATABASE "esc\\"aped"']) {
      const res = await get(q)
      t.equal(res.status, 200, `${q}: 200 (${res.text})`)
      t.same(res.body, { results: [{ statement_id: 0 }] }, `${q}: one statement, no error`)
    }
    const post = await send(api, 'x=1', { method: 'POST', path: '/query', query: `?q=${encodeURIComponent('CREATE DATABASE x')}`, headers: { ...auth, 'content-type': 'text/plain' } })
    t.equal(post.status, 200, 'POST with q in the query string')

    t.same((await get('SHOW DATABASES', '&db=telegraf')).body,
      { results: [{ statement_id: 0, series: [{ name: 'databases', columns: ['name'], values: [['telegraf']] }] }] }, 'SHOW DATABASES: the requested db')
    t.same((await get('show databases')).body, { results: [{ statement_id: 0, series: [{ name: 'databases', columns: ['name'] }] }] }, 'none requested: no values, as InfluxDB with no databases')
    t.same((await get('CREATE DATABASE "tg"; SHOW DATABASES')).body,
      { results: [{ statement_id: 0 }, { statement_id: 1, series: [{ name: 'databases', columns: ['name'], values: [['tg']] }] }] }, 'two statements, two results')

    for (const q of ['SELECT * FROM cpu', 'DROP DATABASE telegraf', 'CREATE DATABASE', 'SHOW MEASUREMENTS', 'CREATE DATABASE a; SELECT 1']) {
      const res = await get(q)
      assertV1Error(t, res, 400, `${q}:`)
      t.match(res.body?.error, /^hostpulse stores line protocol but does not answer InfluxQL queries .*read through the hostpulse API.*README/, `${q}: says where to read instead`)
    }
    const missing = await send(api, undefined, { method: 'GET', path: '/query', headers: auth })
    assertV1Error(t, missing, 400, 'no q:')
    t.equal(missing.body.error, 'missing required parameter "q"')
  })

  t.test('errors Telegraf\'s outputs decode: a string code on /api/v2/write, {"error"} on /write', async (t) => {
    const partial = await send(api, `ok v=1 ${nowNs()}\nbad v=`, { headers: { authorization: `Token ${key}` } })
    t.equal(telegrafV2Log(partial), `invalid: ${partial.body.message} - line[2]`, 'partial write: Telegraf logs code, message and line')
    t.match(telegrafV2Log(partial), /line 2: field "v" has no value/, 'and the message says what was wrong')
    t.match(telegrafV2Log(await send(api, 'x v=1')), /^unauthorized: No agent key/, '401')
    t.match(telegrafV2Log(await send(api, 'x v=1', { query: '?precision=h', headers: { authorization: `Token ${key}` } })), /^invalid: precision=h/, 'bad precision')
    t.match(telegrafV1Error(await send(api, `ok v=1 ${nowNs()}\nbad v=`, { path: '/write', headers: { authorization: basic('t', key) } })), /^partial write/, '1.x partial write')
    t.match(telegrafV1Error(await send(api, 'x v=1', { path: '/write' })), /^No agent key/, '1.x 401')

    const v2NotFound = await send(api, undefined, { method: 'GET', path: '/api/v2/write' })
    assertV2Error(t, v2NotFound, 404, 'not found', 'GET /api/v2/write (no such route):')
    assertV1Error(t, await send(api, undefined, { method: 'GET', path: '/write' }), 404, 'GET /write (no such route):')
  })

  t.test('rate limited: 429 "too many requests" with Retry-After, in each format', async (t) => {
    const { url } = await listenApp(t, api.store, { rateLimits: { ...GENEROUS_LIMITS.rateLimits, ingest: 1 } })
    const limited = { ...api, url }
    t.equal((await send(limited, `rl v=1 ${nowNs()}`, { headers: { 'x-api-key': key } })).status, 204)
    const v2 = await send(limited, `rl v=1 ${nowNs()}`, { headers: { 'x-api-key': key } })
    assertV2Error(t, v2, 429, 'too many requests', 'v2:')
    t.ok(Number(v2.headers.get('retry-after')) >= 1, 'Retry-After (Telegraf waits that long)')
    assertV1Error(t, await send(limited, `rl v=1 ${nowNs()}`, { path: '/write', headers: { 'x-api-key': key } }), 429, '1.x:')
  })

  t.test('the budget is per agent key however the key travels (Bearer, ?p=), not per address', async (t) => {
    const { url } = await listenApp(t, api.store, { rateLimits: { ...GENEROUS_LIMITS.rateLimits, ingest: 1 } })
    const limited = { ...api, url }
    const bearer = (await api.createAgent('rl-bearer')).api_key
    const query = (await api.createAgent('rl-query')).api_key
    t.equal((await send(limited, `rl v=1 ${nowNs()}`, { headers: { authorization: `Bearer ${bearer}` } })).status, 204, 'the Bearer agent\'s first write')
    t.equal((await send(limited, `rl v=1 ${nowNs()}`, { path: '/write', query: `?u=x&p=${encodeURIComponent(query)}` })).status, 204,
      'another agent from the same address has its own budget')
    assertV2Error(t, await send(limited, `rl v=1 ${nowNs()}`, { headers: { authorization: `Bearer ${bearer}` } }), 429, 'too many requests', 'the Bearer agent\'s second write:')
    assertV1Error(t, await send(limited, `rl v=1 ${nowNs()}`, { path: '/write', query: `?u=x&p=${encodeURIComponent(query)}` }), 429, '?p= agent\'s second write:')
  })
})
