// The processes the collecting process started: left out by the standalone agent (its children exist only
// because it looked), listed when the agent runs inside the API (`npm start`), whose children are real work.
import t from 'tap'
import { spawn } from 'node:child_process'
import { BatchCollector } from '../../agent/collect-batch.ts'

const PROCESSES_ONLY = { cpu: false, memory: false, disk: false, network: false, processes: true, sessions: false, containers: false } as never

t.test("a child of the collecting process: hidden by default, listed with hideOwnChildren false", async t => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' })
  t.teardown(() => { child.kill() })
  await new Promise(r => child.once('spawn', r))
  const details = async () => ({ agent_version: 'test', arch: 'x64', cpu_model: 'test', cpu_cores: 1 })
  const hidden = await new BatchCollector(() => {}, { hostDetails: details }).collect({ collect: PROCESSES_ONLY })
  t.notOk(hidden.processes?.some(p => p.pid === child.pid), 'the standalone agent leaves its child out')
  t.ok(hidden.processes?.some(p => p.pid === process.pid), 'and lists itself')
  const listed = await new BatchCollector(() => {}, { hostDetails: details, hideOwnChildren: false }).collect({ collect: PROCESSES_ONLY })
  t.ok(listed.processes?.some(p => p.pid === child.pid && p.name === 'sleep'), "inside the API the API's child is listed")
  t.ok(listed.processes?.some(p => p.pid === 1), 'and so is everything else (pid 1)')
})
