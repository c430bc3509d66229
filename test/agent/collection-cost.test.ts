// A steady-state collection starts no process. Counted at Node's process-creation API, which every library
// (systeminformation included) goes through; agent modules are imported only after the counter is in place.
import t from 'tap'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { readdirSync, readFileSync } from 'node:fs'

const require = createRequire(import.meta.url)
const cp = require('node:child_process') as typeof import('node:child_process')
const started: string[] = []
// ChildProcess.prototype.spawn is where spawn, exec, execFile and fork all end up (not in Node's typings).
const proto = cp.ChildProcess.prototype as unknown as { spawn: (this: unknown, options: { file?: string }) => unknown }
const originalSpawn = proto.spawn
proto.spawn = function (options) {
  started.push(String(options?.file))
  return originalSpawn.call(this, options)
}
for (const name of ['spawnSync', 'execSync', 'execFileSync'] as const) {
  const original = cp[name] as (...args: unknown[]) => unknown
  ;(cp as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => { started.push(String(args[0])); return original(...args) }
}
syncBuiltinESMExports()

/** Live children of this process, as the kernel lists them. */
const liveChildren = () => readdirSync('/proc/self/task').flatMap(tid =>
  readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean))

t.test('the counter sees a process being started (so a zero below means something)', async t => {
  const before = started.length
  await new Promise(r => cp.execFile('true', r))
  cp.execSync('true')
  t.equal(started.length - before, 2)
})

t.test('0 child processes per steady-state collection', async t => {
  const { BatchCollector } = await import('../../agent/collect-batch.ts')
  const c = new BatchCollector()
  await c.collect() // start: the inventory may run helper commands once
  // systeminformation does not wait for every helper it starts; let the start-up ones finish. What stays
  // is not the agent's: tsx keeps an esbuild service process for compiling the test's TypeScript.
  const deadline = Date.now() + 5000
  while (liveChildren().length > 0 && Date.now() < deadline) await new Promise(r => setTimeout(r, 50))
  const notOurs = new Set(liveChildren())
  const atStart = started.length
  t.comment(`first collection (inventory) started ${atStart} process(es); alive before the steady state, not the agent's: ${[...notOurs].map(pid => readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).join(', ') || 'none'}`)
  const collections = 20
  for (let i = 0; i < collections; i++) {
    await c.collect()
    const alive = liveChildren().filter(pid => !notOurs.has(pid)).map(pid => `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')}`)
    t.same(alive, [], `collection ${i + 1}: no child alive`)
  }
  t.same(started.slice(atStart), [], `${collections} steady-state collections started no process`)
})
