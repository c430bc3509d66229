// GET /health (seed 001) and GET /ready, over real HTTP.
import t from 'tap'
import { listenApp, openTestStore, request } from './helpers.ts'

t.test('/health and /ready on a live database', async (t) => {
  const store = await openTestStore(t)
  const { url } = await listenApp(t, store)

  const before = Math.floor(Date.now() / 1000)
  const health = await request(url, 'GET', '/health')
  const after = Math.floor(Date.now() / 1000)
  t.equal(health.status, 200)
  t.match(health.headers.get('content-type'), /application\/json/)
  t.same(Object.keys(health.body).sort(), ['service', 'status', 'timestamp'], 'exactly the seed 001 fields')
  t.equal(health.body.status, 'healthy')
  t.equal(health.body.service, 'hostpulse-api')
  t.ok(Number.isInteger(health.body.timestamp), 'timestamp is an integer (unix seconds, not ms)')
  t.ok(health.body.timestamp >= before - 2 && health.body.timestamp <= after + 2, `timestamp ${health.body.timestamp} within seconds of now (${before})`)

  const ready = await request(url, 'GET', '/ready')
  t.equal(ready.status, 200)
  t.same(ready.body, { status: 'ready', database: 'embedded' })

  const noAuthNeeded = await request(url, 'GET', '/health', { headers: { authorization: 'Bearer garbage' } })
  t.equal(noAuthNeeded.status, 200, '/health ignores a bad token: it needs none')
})

t.test('/ready fails with 503 while the database is unreachable, /health still answers', async (t) => {
  const store = await openTestStore(t, false)
  const { url } = await listenApp(t, store)
  t.equal((await request(url, 'GET', '/ready')).status, 200, 'ready while the store is open')

  await store.close()
  const started = Date.now()
  const ready = await request(url, 'GET', '/ready')
  t.ok(Date.now() - started < 5000, 'answers within the 2 s ping timeout (plus slack)')
  t.equal(ready.status, 503)
  t.equal(ready.body.error, 'SERVICE_UNAVAILABLE')
  t.equal(ready.body.code, 503)
  t.match(ready.body.message, /database/i, 'message says the database is the problem')

  const health = await request(url, 'GET', '/health')
  t.equal(health.status, 200, '/health is liveness only')
  t.equal(health.body.status, 'healthy')
})

t.test('unknown route: 404 in the error format', async (t) => {
  const store = await openTestStore(t, false)
  const { url } = await listenApp(t, store)
  const res = await request(url, 'GET', '/api/v1/nope')
  t.equal(res.status, 404)
  t.same(res.body, { error: 'NOT_FOUND', message: 'No route GET /api/v1/nope', code: 404 })
})
