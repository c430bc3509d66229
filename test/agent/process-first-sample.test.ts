// A process's CPU is a delta between two reads: the first collection (the agent's start, or processes
// switched back on by the server) samples twice, so a busy process is not reported at 0 %.
import t from 'tap'
import { spawn } from 'node:child_process'
import { ProcessCollector } from '../../agent/process.ts'
import { BatchCollector } from '../../agent/collect-batch.ts'
import os from 'node:os'

const PROCESSES_ONLY = { cpu: false, memory: false, disk: false, network: false, processes: true, sessions: false, containers: false } as never

t.test("the first collection reports a busy process's CPU, not 0 %", async t => {
  // Spins for 5 s at most, whatever becomes of this test.
  const busy = spawn(process.execPath, ['-e', 'const end = Date.now() + 5000; while (Date.now() < end) {}'], { stdio: 'ignore' })
  t.teardown(() => { busy.kill('SIGKILL') })
  await new Promise(r => busy.once('spawn', r))
  await new Promise(r => setTimeout(r, 300))
  // Collecting as inside the API (hideOwnChildren false), so this process's child is listed.
  const collector = new BatchCollector(() => {}, { hideOwnChildren: false, hostDetails: async () => ({ agent_version: 'test', arch: 'x64', cpu_model: 'test', cpu_cores: 1 }) })
  const started = performance.now()
  const items = (await collector.collect({ collect: PROCESSES_ONLY })).processes!
  const took = performance.now() - started
  const spinning = items.find(p => p.pid === busy.pid)
  t.ok(spinning, 'the busy process is listed')
  t.ok(spinning!.cpu_percent > 1, `its CPU on the first collection is not 0: ${spinning!.cpu_percent} %`)
  t.ok(took >= 450, `sampled over the priming gap (${Math.round(took)} ms)`)
})

t.test("a process whose parent exits is reported under its new parent at once, though it did not run", async t => {
  // The shell starts a sleeper, prints its pid and exits a second later: the sleeper is re-parented.
  const shell = spawn('sh', ['-c', 'sleep 20 & echo $!; sleep 1'], { stdio: ['ignore', 'pipe', 'ignore'] })
  const sleeper = Number(await new Promise<string>(resolve => shell.stdout!.once('data', (d: Buffer) => resolve(d.toString()))))
  t.teardown(() => { try { process.kill(sleeper, 'SIGKILL') } catch { /* gone */ } })
  const ctx = { bootTime: Math.round(Date.now() / 1000 - os.uptime()), memTotalBytes: os.totalmem() }
  const collector = new ProcessCollector('/proc', -1)
  const before = (await collector.collect(ctx)).find(p => p.pid === sleeper)
  t.equal(before?.parent_pid, shell.pid, 'first under the shell')
  await new Promise(r => shell.once('exit', r))
  const { readFileSync } = await import('node:fs')
  const kernelSays = Number(readFileSync(`/proc/${sleeper}/stat`, 'utf8').split(') ')[1].split(' ')[1])
  t.not(kernelSays, shell.pid, `the kernel re-parented it (to ${kernelSays})`)
  const after = (await collector.collect(ctx)).find(p => p.pid === sleeper)
  t.equal(after?.parent_pid, kernelSays, 'the next collection names the new parent')
})
