// The two-command start: `npm start` (services/main.ts) opens the embedded store, prints the URL and the
// admin credentials, its local agent reports this machine, and SIGINT stops everything with nothing lost.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { openStore } from '../../services/store/open-store.ts'

const MAIN = new URL('../../services/main.ts', import.meta.url).pathname

function start(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => { out += d })
  child.stderr!.on('data', (d) => { out += d })
  const waitFor = (re: RegExp, ms = 60_000) => new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = out.match(re)
      if (m) { clearInterval(timer); resolve(m) }
    }, 50)
    setTimeout(() => { clearInterval(timer); reject(new Error(`no ${re} within ${ms} ms; output:\n${out}`)) }, ms).unref()
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, waitFor, exited, output: () => out }
}

async function login(url: string, password: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }),
  })
  if (res.status !== 200) throw new Error(`login ${res.status}: ${await res.text()}`)
  return ((await res.json()) as { token: string }).token
}

const dir = await mkdtemp(join(tmpdir(), 'hostpulse-main-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
let running: ChildProcess | undefined
t.teardown(() => { running?.kill('SIGKILL') })

t.test('first start: URL, generated admin password, local agent data within one interval, clean stop', async (t) => {
  const app = start({ HOSTPULSE_DATA_DIR: dir, HOSTPULSE_AGENT_INTERVAL: '1s' })
  running = app.child
  const [, password] = await app.waitFor(/admin:\s+admin \/ (\S+)/)
  const [, url] = await app.waitFor(/API listening on (http:\/\/127\.0\.0\.1:\d+)/)
  const [, agentName] = await app.waitFor(/local agent "([^"]+)"/)
  const token = await login(url, password)

  const health = await (await fetch(`${url}/health`)).json() as Record<string, unknown>
  t.equal(health.status, 'healthy')
  t.equal((await fetch(`${url}/ready`)).status, 200)

  let latest: { count: number; metrics: Array<{ metric_type: string; metric_name: string; value: number; time: string }> } = { count: 0, metrics: [] }
  for (let i = 0; i < 100 && latest.count === 0; i++) {
    await new Promise((r) => setTimeout(r, 200))
    latest = await (await fetch(`${url}/api/v1/metrics/latest/${agentName}`, { headers: { authorization: `Bearer ${token}` } })).json() as typeof latest
  }
  t.ok(latest.count > 0, `the local agent's metrics are there (${latest.count} series)`)
  const cpu = latest.metrics.find((m) => m.metric_type === 'cpu' && m.metric_name === 'usage_percent')
  t.ok(cpu && cpu.value >= 0 && cpu.value <= 100, 'cpu.usage_percent is a percentage')

  // A second batch before the stop (the next test checks both were kept): wait for a newer sample.
  const newest = (l: typeof latest) => Math.max(...l.metrics.map((m) => Date.parse(m.time)))
  const first = newest(latest)
  for (let i = 0; i < 100 && newest(latest) <= first; i++) {
    await new Promise((r) => setTimeout(r, 200))
    latest = await (await fetch(`${url}/api/v1/metrics/latest/${agentName}`, { headers: { authorization: `Bearer ${token}` } })).json() as typeof latest
  }
  t.ok(newest(latest) > first, 'a second batch arrived')
  app.child.kill('SIGINT')
  t.equal(await app.exited, 0, 'exits 0 on SIGINT')
  t.match(app.output(), /stopped cleanly/)
  running = undefined
})

t.test('data survives the stop; a second start keeps the password and shows no new one', async (t) => {
  const store = await openStore({ backend: 'embedded', dataDir: join(dir, 'pg') })
  const { rows: [{ batches, metrics }] } = await sql<{ batches: number; metrics: number }>`select
    (select count(*) from ingest_batches) as batches, (select count(*) from metrics) as metrics`.execute(store.db)
  await store.close()
  t.ok(batches >= 2, `${batches} batches stored before the stop`)
  t.ok(metrics > 0)

  const app = start({ HOSTPULSE_DATA_DIR: dir, HOSTPULSE_LOCAL_AGENT: 'false', ALERT_TARGETS_ALLOW_PRIVATE: 'true' })
  running = app.child
  await app.waitFor(/Press Ctrl-C/)
  t.match(app.output(), /admin:\s+admin \(password: ADMIN_PASSWORD, or the one printed at first start\)/)
  t.notMatch(app.output(), /local agent "/, 'HOSTPULSE_LOCAL_AGENT=false starts no agent')
  t.match(app.output(), /WARNING: ALERT_TARGETS_ALLOW_PRIVATE=true: notification channels may target loopback and private addresses/, 'the relaxed setting is announced')
  app.child.kill('SIGTERM')
  t.equal(await app.exited, 0)
  running = undefined
})

t.test('a bad setting stops the start with the variable named', async (t) => {
  const app = start({ HOSTPULSE_DATA_DIR: dir, PORT: 'eighty', HOSTPULSE_RETENTION_RAW: '30 days' })
  t.equal(await app.exited, 1)
  t.match(app.output(), /PORT="eighty"/)
  t.match(app.output(), /HOSTPULSE_RETENTION_RAW="30 days"/)
  t.notMatch(app.output(), /at .*\.ts:\d+/, 'no stack trace')
})
