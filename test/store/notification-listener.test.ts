// The server backend's LISTEN connection against a real PostgreSQL: opened only at the first listen,
// delivering NOTIFYs from other connections, re-LISTENing after its connection is killed and telling its
// listeners so (what was NOTIFYed meanwhile is lost), closed on close.
// LISTEN/NOTIFY is plain PostgreSQL, so a throwaway PostgreSQL cluster (Debian's postgresql package) is
// enough; where none is installed the test says so and skips. The embedded backend's LISTEN is exercised
// by test/live/cross-instance.test.ts.
import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { NotificationListener } from '../../services/store/notification-listener.ts'

function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres'))).sort((x, y) => Number(y) - Number(x))
  return versions[0] && join(root, versions[0], 'bin')
}

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number }
    s.close(() => resolve(port))
  })
})

async function until<T>(check: () => T | Promise<T>, timeoutMs: number, what: string): Promise<Exclude<T, false | undefined>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v as Exclude<T, false | undefined>
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const bin = postgresBin()
// PostgreSQL refuses to run as root: run it as the package's postgres user then.
const asRoot = process.getuid?.() === 0
const hasPostgresUser = !asRoot || spawnSync('id', ['postgres']).status === 0
const skip = !bin ? 'PostgreSQL is not installed here (apt-get install postgresql): nothing to LISTEN on'
  : !hasPostgresUser ? 'running as root without a postgres user to run PostgreSQL as' : false

t.test('NotificationListener against a real PostgreSQL', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-pg-listen-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const run = (cmd: string, args: string[]) => asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] as const : [cmd, args] as const
  if (asRoot) {
    const pgUid = Number(spawnSync('id', ['-u', 'postgres']).stdout.toString())
    chownSync(dir, pgUid, -1)
  }
  const [initCmd, initArgs] = run(join(bin!, 'initdb'), ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync'])
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8' })
  t.equal(init.status, 0, `initdb: ${init.stderr.slice(0, 300)}`)
  const port = await freePort()
  const [pgCmd, pgArgs] = run(join(bin!, 'postgres'), ['-D', join(dir, 'data'), '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'])
  // Its own process group: runuser does not pass signals on, so the group is stopped as a whole.
  const server: ChildProcess = spawn(pgCmd, pgArgs, { stdio: 'ignore', detached: true })
  const exited = new Promise((r) => server.once('exit', r))
  t.teardown(async () => {
    try { process.kill(-server.pid!, 'SIGINT') } catch { /* already gone */ }
    await exited
  })
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const admin = await until(async (): Promise<pg.Client | false> => {
    const client = new pg.Client({ connectionString: url })
    return client.connect().then(() => client, () => false)
  }, 20_000, 'PostgreSQL accepting connections')
  t.teardown(() => admin.end())
  const listenerBackends = async () => (await admin.query(
    "select pid from pg_stat_activity where pid <> pg_backend_pid() and backend_type = 'client backend'")).rows.map((r) => r.pid as number)

  const errors: Error[] = []
  let reconnects = 0
  const listener = new NotificationListener({ connectionString: url, retryMs: 50, onError: (e) => errors.push(e), onReconnect: () => { reconnects++ } })
  t.teardown(() => listener.close())
  t.same(await listenerBackends(), [], 'no connection before the first listen (the wire-bridge tests depend on it)')

  const got: string[] = []
  let ingestReconnects = 0
  const stop = await listener.listen('hostpulse_ingest', (p) => got.push(p), () => { ingestReconnects++ })
  const other: string[] = []
  let alertReconnects = 0
  const losses: number[] = []
  await listener.listen('hostpulse_alerts', (p) => other.push(p), () => { alertReconnects++ }, () => { losses.push(reconnects) })
  t.equal((await listenerBackends()).length, 1, 'one dedicated connection for every channel')

  await admin.query("select pg_notify('hostpulse_ingest', 'first')")
  await until(() => got.length === 1, 5000, 'the first notification')
  await admin.query('begin')
  await admin.query("select pg_notify('hostpulse_ingest', 'in a transaction')")
  t.same(got, ['first'], 'a NOTIFY inside a transaction is not delivered before commit')
  await admin.query('commit')
  await until(() => got.length === 2, 5000, 'the committed notification')
  t.same(got, ['first', 'in a transaction'])
  await admin.query("select pg_notify('hostpulse_alerts', 'alert')")
  await until(() => other.length === 1, 5000, 'the other channel')

  // The server kills the connection: the listener reconnects and LISTENs to every channel again.
  await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where pid <> pg_backend_pid() and backend_type = \'client backend\'')
  await until(() => reconnects === 1, 10_000, 'reconnected')
  t.ok(errors.length >= 1, `the loss was reported (${errors[0]?.message})`)
  t.same([ingestReconnects, alertReconnects], [1, 1], 'each listen\'s onReconnect is told once: its notifications may have been missed')
  t.same(losses, [0], 'onLost was told once, before the reconnect')
  await admin.query("select pg_notify('hostpulse_ingest', 'after reconnect')")
  await admin.query("select pg_notify('hostpulse_alerts', 'alert after reconnect')")
  await until(() => got.includes('after reconnect') && other.includes('alert after reconnect'), 5000, 'notifications after the reconnect')
  t.pass('both channels work again after the reconnect')

  await stop()
  await admin.query("select pg_notify('hostpulse_ingest', 'after unlisten')")
  await admin.query("select pg_notify('hostpulse_alerts', 'still listening')")
  await until(() => other.includes('still listening'), 5000, 'the remaining channel')
  t.notOk(got.includes('after unlisten'), 'an unlistened channel delivers nothing')

  // A second loss: only the listen still in place hears of the reconnect.
  await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where pid <> pg_backend_pid() and backend_type = \'client backend\'')
  await until(() => reconnects === 2, 10_000, 'reconnected again')
  t.same([ingestReconnects, alertReconnects], [1, 2], 'an unlistened handler is not told of later reconnects')

  await t.rejects(listener.listen('bad; drop table x', () => {}), /invalid notification channel/, 'channel names are checked before they reach SQL')
  await listener.close()
  await until(async () => (await listenerBackends()).length === 0, 5000, 'connection closed')
  t.pass('close ends the dedicated connection')

  // Subscribing while the connection is down (lost when nothing listened, so no reconnect was due): the new
  // listener is told at once that nothing arrives, and the connection comes back on its own.
  // A database of its own: PostgreSQL cannot refuse connections to the one the admin client is in.
  await admin.query('create database hostpulse_late')
  const late = new NotificationListener({ connectionString: url.replace(/\/postgres$/, '/hostpulse_late'), retryMs: 50, maxRetryMs: 200 })
  t.teardown(() => late.close())
  const stopFirst = await late.listen('hostpulse_first', () => {})
  await stopFirst()
  await admin.query('alter database hostpulse_late allow_connections false')
  t.teardown(() => admin.query('alter database hostpulse_late allow_connections true').catch(() => undefined))
  await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where pid <> pg_backend_pid() and backend_type = \'client backend\'')
  await until(() => !late.connected, 5000, 'the connection lost')
  const heard: string[] = []
  let lateLosses = 0
  let lateReconnects = 0
  await late.listen('hostpulse_late', (p) => heard.push(p), () => { lateReconnects++ }, () => { lateLosses++ })
  t.equal(lateLosses, 1, 'a listen while the connection is down is told at once that nothing arrives')
  await admin.query('alter database hostpulse_late allow_connections true')
  await until(() => lateReconnects === 1, 10_000, 'reconnected without another listen')
  const notifier = new pg.Client({ connectionString: url.replace(/\/postgres$/, '/hostpulse_late') })
  await notifier.connect()
  await notifier.query("select pg_notify('hostpulse_late', 'heard')")
  await notifier.end()
  await until(() => heard.includes('heard'), 5000, 'the late channel')
  t.pass('the channel subscribed while down works once the connection is back')
})

t.test('a first listen against an unreachable server fails with the cause', async (t) => {
  const port = await freePort()
  const listener = new NotificationListener({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` })
  await t.rejects(listener.listen('hostpulse_ingest', () => {}), /ECONNREFUSED|connect/)
  await listener.close()
})
