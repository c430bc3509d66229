// GET /health (seed 001) and GET /ready, over real HTTP.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { listenApp, openTestStore, request } from '../test-client.ts'

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

t.test('closing a store that never ran a query ends its worker thread, so the process can exit', async (t) => {
  // In a child process: a live worker thread keeps Node running, which is what a stuck shutdown looks like.
  const code = `
    import { openStore } from './services/store/open-store.ts'
    import { mkdtemp, rm } from 'node:fs/promises'
    import { tmpdir } from 'node:os'
    import { join } from 'node:path'
    const dir = await mkdtemp(join(tmpdir(), 'hostpulse-close-test-'))
    const store = await openStore({ backend: 'embedded', dataDir: join(dir, 'pg') })
    await store.close()
    await rm(dir, { recursive: true, force: true })
    console.log('closed')`
  const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', code], { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  child.stderr.on('data', (d) => { out += d })
  const exited = await new Promise<number | 'timeout'>((resolve) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); resolve('timeout') }, 30_000)
    child.on('exit', (code) => { clearTimeout(timer); resolve(code ?? -1) })
  })
  t.match(out, /closed/, 'the store opened and close() returned')
  t.equal(exited, 0, 'the process exits on its own within 30 s of close()')
})
