// The crash drill (issue 15 part 3): the API as operators run it (`npm start`, embedded engine) is SIGKILLed
// while a fleet of simulated agents writes to it, stays down, and is started again on the same data
// directory. The embedded TimescaleDB lives in the API process, so this is also the drill of the database's
// process killed during writes and reopened. test/drills/api-crash.test.ts runs it CI-sized and asserts on
// the report; `npm run bench:drills` runs it at fleet size and prints it.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '../services/store/open-store.ts'
import type { BackoffPolicy } from '../agent/connection-state.ts'
import { SimulatedFleet, accountFleet, type FleetAccount } from './simulated-fleet.ts'
import { freePort, login, startApi } from './api-process.ts'

export interface CrashDrillOptions {
  agents: number
  intervalMs: number
  /** Load before the kill, time down, load after the restart. */
  beforeMs: number
  downMs: number
  afterMs: number
  backoff?: BackoffPolicy
  progress?: (line: string) => void
}

export interface CrashDrillReport {
  /** The exit code the killed API reported (null: killed by the signal). */
  killedExitCode: number | null
  generatedBeforeKill: number
  /** Agents holding batches in their buffer just before the restart. */
  bufferingWhileDown: number
  /** From spawning the restarted API to its listening (recovery of the embedded database included). */
  restartMs: number
  /** From the restarted API listening to every agent's buffer empty. */
  catchUpMs: number
  drained: boolean
  cleanExitCode: number | null
  setAside: number
  /** Batches still in the agents' buffers at the end (each would be replayed by a restarted agent; a drill expects none). */
  leftBuffered: number
  account: FleetAccount
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function runCrashDrill(opts: CrashDrillOptions): Promise<CrashDrillReport> {
  const say = opts.progress ?? (() => {})
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-drill-crash-'))
  const port = await freePort()
  const env = { HOSTPULSE_DATA_DIR: join(dir, 'server') }
  let api = await startApi(port, env)
  let fleet: SimulatedFleet | undefined
  try {
    const token = await login(api.url)
    fleet = await SimulatedFleet.register(api.url, token, { agents: opts.agents, intervalMs: opts.intervalMs, dir: join(dir, 'agents'), backoff: opts.backoff })
    fleet.start()
    say(`${opts.agents} agents writing every ${opts.intervalMs / 1000} s to ${api.url}`)
    await sleep(opts.beforeMs)
    const generatedBeforeKill = fleet.generated
    api.child.kill('SIGKILL')
    const killedExitCode = await api.exited
    say(`SIGKILL after ${generatedBeforeKill} batches; down for ${opts.downMs / 1000} s`)
    await sleep(opts.downMs)
    const bufferingWhileDown = fleet.buffering
    const spawned = performance.now()
    api = await startApi(port, env)
    const listening = performance.now()
    say(`restarted in ${((listening - spawned) / 1000).toFixed(1)} s; ${bufferingWhileDown} agents buffering`)
    let catchUpMs = -1
    const afterUntil = Date.now() + opts.afterMs
    while (Date.now() < afterUntil) {
      await sleep(250)
      if (catchUpMs < 0 && fleet.buffering === 0) catchUpMs = performance.now() - listening
    }
    fleet.stopCollecting()
    const drained = await fleet.drain(120_000)
    if (catchUpMs < 0) catchUpMs = performance.now() - listening
    await fleet.stop()
    api.child.kill('SIGINT')
    const cleanExitCode = await api.exited
    const store = await openStore({ backend: 'embedded', dataDir: join(dir, 'server', 'pg') })
    try {
      const account = await accountFleet(store.db, fleet.agents)
      return {
        killedExitCode, generatedBeforeKill, bufferingWhileDown, restartMs: listening - spawned, catchUpMs, drained,
        cleanExitCode, setAside: await fleet.setAside(), leftBuffered: await fleet.buffered(), account,
      }
    } finally {
      await store.close()
    }
  } finally {
    await fleet?.stop()
    api.child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
}
