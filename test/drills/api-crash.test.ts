// Crash drill (issue 15 part 3), CI-sized: the API (`npm start`, embedded engine) is SIGKILLed while a fleet
// of simulated agents writes to it, stays down a few seconds, and is started again on the same data
// directory. The embedded TimescaleDB runs inside the API process, so this is also the drill of the
// database's process killed during writes and reopened. Every batch the agents generated must be stored
// exactly once at the end: what the API acknowledged survived the kill, and what it did not acknowledge
// waited in the agents' buffers and was replayed. `npm run bench:drills` runs the long version.
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '../../services/store/open-store.ts'
import { SimulatedFleet, accountFleet } from '../../bench/simulated-fleet.ts'
import { freePort, login, startApi } from './api-process.ts'

const AGENTS = 10
const INTERVAL_MS = 1000
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('the API SIGKILLed under load and restarted: every batch stored once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-drill-crash-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const port = await freePort()
  const env = { HOSTPULSE_DATA_DIR: join(dir, 'server') }
  let api = await startApi(port, env)
  t.teardown(() => { api.child.kill('SIGKILL') })
  const token = await login(api.url)
  // Short backoff steps, so the agents notice the restart within a second or two (the real policy caps at 60 s).
  const fleet = await SimulatedFleet.register(api.url, token, { agents: AGENTS, intervalMs: INTERVAL_MS, dir: join(dir, 'agents'), backoff: { baseMs: 500, capMs: 2000 } })
  t.teardown(() => fleet.stop())
  fleet.start()

  await sleep(6000)
  const beforeKill = fleet.generated
  api.child.kill('SIGKILL')
  t.equal(await api.exited, null, 'the API died of the signal, mid-run')
  await sleep(4000)
  t.ok(fleet.buffering > 0, `agents buffered while the API was down (${fleet.buffering} of ${AGENTS})`)
  api = await startApi(port, env)
  await sleep(5000)
  fleet.stopCollecting()
  t.ok(await fleet.drain(60_000), 'every agent emptied its buffer after the restart')
  await fleet.stop()
  t.comment(`${beforeKill} batches generated before the kill, ${fleet.generated} in all; at most ${fleet.maxBuffering} agents buffering at once`)

  api.child.kill('SIGINT')
  t.equal(await api.exited, 0, 'the restarted API stops cleanly')
  const store = await openStore({ backend: 'embedded', dataDir: join(dir, 'server', 'pg') })
  t.teardown(() => store.close())
  const account = await accountFleet(store.db, fleet.agents)
  t.equal(await fleet.setAside(), 0, 'no batch was refused')
  t.equal(account.lost, 0, `no batch lost (${account.stored} of ${account.generated} stored)`)
  t.equal(account.duplicatedRows, 0, `no row stored twice (${account.metricRows} metric rows for ${account.stored} batches)`)
  t.ok(account.generated > beforeKill, 'batches were generated after the kill too')
})
