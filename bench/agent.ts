// `npm run bench:agent`: what the agent costs the host, side by side with prometheus-node-exporter.
//
//   npm run bench:agent [-- --minutes 10 --collections 100]
//
// 1. Bundles the agent (the form it is installed in) and a collector loop with the same code.
// 2. CPU per steady-state collection (collect + JSON), utime+stime+cutime+cstime of the collecting process
//    from /proc/<pid>/stat around N collections: at this machine's process count, then with 500 extra
//    idle processes. Child processes started per collection, counted at Node's process API in that child.
// 3. node_exporter (installed with apt-get if missing, on 127.0.0.1 only): CPU per /metrics scrape and RSS.
// 4. The real agent (agent/bin.js, as systemd runs it) at a 10 s interval against a stand-in ingest server
//    on 127.0.0.1 for --minutes: its RSS over time and its average CPU.
// 5. The documented command as a user types it (`npm run agent -- --interval 1s …`, the bundle `npm install`
//    built) for --documented-seconds, while node_exporter is scraped once a second in the same window: CPU
//    per collection of the agent's process tree (npm, shell, node) against CPU per scrape, RSS, children.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, request, type Server } from 'node:http'
import { createServer as netServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { AGENT_NODE_FLAGS } from '../agent/v8-flags.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BUNDLE = join(ROOT, 'agent', 'dist', 'hostpulse-agent.js')
const CLK_TCK = 100
const TICK_MS = 1000 / CLK_TCK

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    collections: { type: 'string', default: '100' },
    'extra-processes': { type: 'string', default: '500' },
    'documented-seconds': { type: 'string', default: '60' },
  },
})
const MINUTES = Number(values.minutes)
const COLLECTIONS = Number(values.collections)
const EXTRA = Number(values['extra-processes'])
const DOCUMENTED_SECONDS = Number(values['documented-seconds'])
if (!(MINUTES > 0) || !(COLLECTIONS > 0) || !(EXTRA >= 0)) {
  console.error('bench:agent: --minutes, --collections and --extra-processes take positive numbers, e.g. --minutes 2')
  process.exit(2)
}

const say = (msg: string) => console.error(`[bench:agent ${new Date().toISOString().slice(11, 19)}] ${msg}`)
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

/** utime+stime+cutime+cstime in clock ticks. */
function cpuTicks(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
}
const rssMb = (pid: number) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024
const processCount = () => readdirSync('/proc').filter(n => /^\d+$/.test(n)).length
/** Processes created on the whole machine since boot (/proc/stat "processes"). */
const forksSinceBoot = () => Number(/^processes (\d+)/m.exec(readFileSync('/proc/stat', 'utf8'))![1])

function esbuild(args: string[]): void {
  const bin = join(ROOT, 'node_modules', '.bin', 'esbuild')
  const r = spawnSync(bin, [...args, '--bundle', '--platform=node', '--format=esm', '--target=node20', '--log-level=warning',
    "--banner:js=import { createRequire as __hpCreateRequire } from 'node:module'; const require = __hpCreateRequire(import.meta.url);"], { stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`esbuild failed (${r.status ?? r.error?.message}); is node_modules/.bin/esbuild there? run npm install`)
}

/** The collector loop: runs in its own process so /proc/<pid>/stat holds only collection work. */
const LOOP_SOURCE = `
import { setFlagsFromString } from 'node:v8'
import { AGENT_V8_FLAGS } from ${JSON.stringify(join(ROOT, 'agent', 'v8-flags.js'))}
setFlagsFromString(AGENT_V8_FLAGS)
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { readdirSync, readFileSync } from 'node:fs'
const require = createRequire(import.meta.url)
const cp = require('node:child_process')
let started = 0
const spawnOriginal = cp.ChildProcess.prototype.spawn
cp.ChildProcess.prototype.spawn = function (o) { started++; return spawnOriginal.call(this, o) }
for (const n of ['spawnSync', 'execSync', 'execFileSync']) { const o = cp[n]; cp[n] = (...a) => { started++; return o(...a) } }
syncBuiltinESMExports()
const { BatchCollector } = await import(${JSON.stringify(join(ROOT, 'agent', 'collect-batch.ts'))})
const children = () => readdirSync('/proc/self/task').flatMap(t => readFileSync('/proc/self/task/' + t + '/children', 'utf8').trim().split(/\\s+/).filter(Boolean))
const c = new BatchCollector()
await c.collect()
for (let i = 0; i < 300 && children().length > 0; i++) await new Promise(r => setTimeout(r, 50)) // inventory helpers
for (let i = 0; i < 5; i++) { JSON.stringify(await c.collect()); await new Promise(r => setTimeout(r, 20)) }
process.on('message', async n => {
  const before = started
  let processes = 0, bytes = 0
  for (let i = 0; i < n; i++) {
    const batch = await c.collect()
    bytes = JSON.stringify(batch).length
    processes = batch.processes.length
    await new Promise(r => setTimeout(r, 20))
  }
  process.send({ started: started - before, processes, bytes })
})
process.send('ready')
`

interface LoopResult { cpuMsPerCollection: number; childrenPerCollection: number; machineForks: number; processes: number; bytes: number }

async function startLoop(file: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  await new Promise<void>((resolve, reject) => {
    child.once('message', m => (m === 'ready' ? resolve() : reject(new Error(String(m)))))
    child.once('exit', code => reject(new Error(`collector loop exited with ${code}`)))
  })
  return child
}

async function measureLoop(child: ChildProcess, n: number): Promise<LoopResult> {
  const forks0 = forksSinceBoot()
  const t0 = cpuTicks(child.pid!)
  child.send(n)
  const answer = await new Promise<{ started: number; processes: number; bytes: number }>(r => child.once('message', m => r(m as never)))
  const t1 = cpuTicks(child.pid!)
  return {
    cpuMsPerCollection: ((t1 - t0) * TICK_MS) / n,
    childrenPerCollection: answer.started / n,
    machineForks: forksSinceBoot() - forks0,
    processes: answer.processes,
    bytes: answer.bytes,
  }
}

async function freePort(preferred: number): Promise<number> {
  const tryPort = (port: number) => new Promise<number | undefined>(resolve => {
    const s = netServer().once('error', () => resolve(undefined)).listen(port, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })
  return (await tryPort(preferred)) ?? (await tryPort(0))!
}

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, res => {
      let n = 0
      res.on('data', c => { n += c.length }).on('end', () => resolve(n))
    }).on('error', reject).end()
  })
}

function nodeExporterBinary(): string {
  for (const p of ['/usr/bin/prometheus-node-exporter', '/usr/bin/node_exporter']) if (existsSync(p)) return p
  say('prometheus-node-exporter is not installed; installing it with apt-get (needs root and the Debian mirrors)')
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'prometheus-node-exporter'], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  if (r.status !== 0 || !existsSync('/usr/bin/prometheus-node-exporter')) {
    throw new Error('could not install prometheus-node-exporter; run `apt-get install -y prometheus-node-exporter` as root, then run the bench again')
  }
  return '/usr/bin/prometheus-node-exporter'
}

async function startNodeExporter(): Promise<{ child: ChildProcess; port: number; version: string }> {
  const bin = nodeExporterBinary()
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).split('\n')[0]
  const port = await freePort(9100)
  const child = spawn(bin, [`--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' })
  for (let i = 0; i < 100; i++) {
    if (await get(port, '/metrics').then(() => true, () => false)) return { child, port, version }
    await sleep(100)
  }
  child.kill()
  throw new Error(`node_exporter did not answer on 127.0.0.1:${port}`)
}

async function measureScrapes(pid: number, port: number, n: number): Promise<{ cpuMsPerScrape: number; bytes: number }> {
  for (let i = 0; i < 3; i++) await get(port, '/metrics')
  const t0 = cpuTicks(pid)
  let bytes = 0
  for (let i = 0; i < n; i++) { bytes = await get(port, '/metrics'); await sleep(20) }
  return { cpuMsPerScrape: ((cpuTicks(pid) - t0) * TICK_MS) / n, bytes }
}

function spawnIdle(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn('sleep', ['600'], { stdio: 'ignore' }))
}

/** A stand-in ingest endpoint on loopback: 202 for batches, 404 elsewhere (no config endpoint). */
async function standInServer(): Promise<{ server: Server; port: number; batches: () => number }> {
  let batches = 0
  const server = createServer((req, res) => {
    req.on('data', () => {}).on('end', () => {
      if (req.url === '/api/v1/ingest' && req.method === 'POST') { batches++; res.writeHead(202, { 'content-type': 'application/json' }).end('{}') }
      else res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not Found"}')
    })
  })
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  return { server, port: (server.address() as { port: number }).port, batches: () => batches }
}

interface RssRun { samples: Array<[minute: number, mb: number]>; cpuPercent: number; cpuPercentWithStart: number; batches: number; children: number }

async function runAgent(minutes: number): Promise<RssRun> {
  const stand = await standInServer()
  const dataDir = mkdtempSync(join(tmpdir(), 'hostpulse-bench-agent-'))
  const agent = spawn(process.execPath, [...AGENT_NODE_FLAGS, join(ROOT, 'agent', 'bin.js'), '--server', `http://127.0.0.1:${stand.port}`, '--api-key', 'bench',
    '--interval', '10s', '--data-dir', dataDir, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] })
  const pid = agent.pid!
  const began = Date.now()
  const samples: Array<[number, number]> = []
  let steadyFrom: { at: number; ticks: number } | undefined
  const endAt = began + minutes * 60_000
  let lastReport = 0
  while (Date.now() < endAt) {
    await sleep(Math.min(10_000, endAt - Date.now()))
    if (agent.exitCode !== null) throw new Error(`the agent exited early (code ${agent.exitCode})`)
    const minute = (Date.now() - began) / 60_000
    samples.push([minute, rssMb(pid)])
    // Steady state: from 30 s on, after start-up (bundle load, inventory helper, priming).
    if (!steadyFrom && Date.now() - began >= 30_000) steadyFrom = { at: Date.now(), ticks: cpuTicks(pid) }
    if (Date.now() - lastReport >= 60_000) {
      lastReport = Date.now()
      say(`agent run: ${minute.toFixed(1)}/${minutes} min, RSS ${samples.at(-1)![1].toFixed(1)} MB, ${stand.batches()} batches delivered`)
    }
  }
  const ticks = cpuTicks(pid)
  const seconds = (Date.now() - began) / 1000
  const cpuPercentWithStart = ((ticks * TICK_MS) / 1000 / seconds) * 100
  const cpuPercent = steadyFrom ? (((ticks - steadyFrom.ticks) * TICK_MS) / (Date.now() - steadyFrom.at)) * 100 : NaN
  const children = readdirSync(`/proc/${pid}/task`).flatMap(t => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)).length
  agent.kill('SIGTERM')
  await new Promise(r => agent.once('exit', r))
  stand.server.close()
  rmSync(dataDir, { recursive: true, force: true })
  return { samples, cpuPercent, cpuPercentWithStart, batches: stand.batches(), children }
}

/** Every descendant of `pid` (children's children too), from /proc/<pid>/task/<tid>/children. */
function descendants(pid: number): number[] {
  let direct: number[] = []
  try {
    direct = readdirSync(`/proc/${pid}/task`).flatMap(t => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number))
  } catch { return [] }
  return direct.flatMap(c => [c, ...descendants(c)])
}
const cmdline = (pid: number) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim() } catch { return '' } }

interface DocumentedRun {
  collections: number; cpuMsPerCollection: number; nodeCpuMsPerCollection: number; rssMb: number; tree: string[]
  /** Children started during the window (seen by polling once a second), and the long-lived ones. */
  agentChildren: number; longLived: string[]; neCpuMsPerScrape: number; scrapes: number; runtime: 'bundle' | 'tsx'
}

/** `npm run agent -- --interval 1s …` beside node_exporter scraped every second, both over the same window. */
async function runDocumented(seconds: number, exporter: { child: ChildProcess; port: number }): Promise<DocumentedRun> {
  const stand = await standInServer()
  const dataDir = mkdtempSync(join(tmpdir(), 'hostpulse-bench-documented-'))
  const npm = spawn('npm', ['run', '--silent', 'agent', '--', '--server', `http://127.0.0.1:${stand.port}`, '--api-key', 'bench',
    '--interval', '1s', '--data-dir', dataDir, '--log-level', 'warn'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  npm.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  // Start-up (npm, the launcher, the first collections) is left out: the window opens after 10 s.
  await sleep(10_000)
  if (npm.exitCode !== null) throw new Error(`npm run agent exited early (code ${npm.exitCode}): ${stderr.slice(-500)}`)
  const tree = [npm.pid!, ...descendants(npm.pid!)]
  const agentPid = tree.find(p => cmdline(p).includes('agent/bin.js') && !cmdline(p).startsWith('sh'))
  if (!agentPid) throw new Error(`no agent/bin.js process under npm: ${tree.map(cmdline).join(' | ')}`)
  const ticks = () => tree.reduce((sum, p) => { try { return sum + cpuTicks(p) } catch { return sum } }, 0)
  const t0 = ticks(); const a0 = cpuTicks(agentPid); const n0 = cpuTicks(exporter.child.pid!); const b0 = stand.batches()
  let scrapes = 0
  const endAt = Date.now() + seconds * 1000
  // Long-lived children (journalctl --follow, when log shipping reads the journal) are there from the start;
  // a child started by a collection would appear during the window.
  const longLived = new Set(descendants(agentPid))
  const started = new Set<number>()
  while (Date.now() < endAt) {
    const next = Date.now() + 1000
    await get(exporter.port, '/metrics'); scrapes++
    for (const p of descendants(agentPid)) if (!longLived.has(p)) started.add(p)
    await sleep(Math.max(0, next - Date.now()))
  }
  const collections = stand.batches() - b0
  const run: DocumentedRun = {
    collections, cpuMsPerCollection: ((ticks() - t0) * TICK_MS) / collections, nodeCpuMsPerCollection: ((cpuTicks(agentPid) - a0) * TICK_MS) / collections,
    rssMb: rssMb(agentPid), tree: tree.map(cmdline), agentChildren: started.size, longLived: [...longLived].map(cmdline),
    neCpuMsPerScrape: ((cpuTicks(exporter.child.pid!) - n0) * TICK_MS) / scrapes, scrapes,
    runtime: /the bundle \(agent\/dist\) is older/.test(stderr) || !existsSync(BUNDLE) ? 'tsx' : 'bundle',
  }
  npm.kill('SIGTERM')
  for (const p of tree) { try { process.kill(p, 'SIGTERM') } catch { /* gone */ } }
  await sleep(500)
  stand.server.close()
  rmSync(dataDir, { recursive: true, force: true })
  return run
}

// ---- report ----
type Row = [figure: string, value: string, target: string, vsNodeExporter: string, verdict: string]
const rows: Row[] = []
const verdict = (ok: boolean) => (ok ? 'MET' : 'MISSED')
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a')

async function main(): Promise<void> {
  say(`bundling the agent: ${BUNDLE}`)
  esbuild([join(ROOT, 'agent', 'cli.ts'), `--outfile=${BUNDLE}`])
  const work = mkdtempSync(join(tmpdir(), 'hostpulse-bench-'))
  const loopEntry = join(work, 'collector-loop.ts')
  writeFileSync(loopEntry, LOOP_SOURCE)
  const loopFile = join(work, 'collector-loop.mjs')
  esbuild([loopEntry, `--outfile=${loopFile}`])

  const idle: ChildProcess[] = []
  let exporter: { child: ChildProcess; port: number; version: string } | undefined
  const cleanup = () => { for (const c of idle) c.kill('SIGKILL'); exporter?.child.kill() }
  process.once('SIGINT', () => { cleanup(); process.exit(130) })
  try {
    say('starting prometheus-node-exporter on 127.0.0.1')
    exporter = await startNodeExporter()
    const machineProcesses = processCount()
    say(`${exporter.version}; ${machineProcesses} processes on this machine; ${COLLECTIONS} collections and scrapes per figure`)

    const loop = await startLoop(loopFile)
    const base = await measureLoop(loop, COLLECTIONS)
    const neBase = await measureScrapes(exporter.child.pid!, exporter.port, COLLECTIONS)
    say(`with ${base.processes} processes: agent ${fmt(base.cpuMsPerCollection, 2)} ms/collection, node_exporter ${fmt(neBase.cpuMsPerScrape, 2)} ms/scrape`)

    say(`spawning ${EXTRA} idle processes (sleep 600)`)
    idle.push(...spawnIdle(EXTRA))
    await sleep(1000)
    // Steady state, as at 70 processes (the loop collected 6 times before its first figure): the first
    // collections after the spawn read 500 processes never seen before in full (their files opened, their
    // descriptors counted), which happens once in a process's life, not every collection.
    await measureLoop(loop, 5)
    const busy = await measureLoop(loop, COLLECTIONS)
    const neBusy = await measureScrapes(exporter.child.pid!, exporter.port, COLLECTIONS)
    for (const c of idle.splice(0)) c.kill('SIGKILL')
    loop.kill()
    say(`with ${busy.processes} processes: agent ${fmt(busy.cpuMsPerCollection, 2)} ms/collection, node_exporter ${fmt(neBusy.cpuMsPerScrape, 2)} ms/scrape`)
    const neRss = rssMb(exporter.child.pid!)

    say(`running the agent (agent/bin.js, bundled) at a 10 s interval for ${MINUTES} min against a stand-in ingest server on 127.0.0.1`)
    const run = await runAgent(MINUTES)
    say(`running the documented command (npm run agent -- --interval 1s) for ${DOCUMENTED_SECONDS} s beside node_exporter scraped once a second`)
    const documented = await runDocumented(DOCUMENTED_SECONDS, exporter)
    exporter.child.kill()

    const rssEnd = run.samples.at(-1)![1]
    const quarter = run.samples.find(([m]) => m >= MINUTES / 4)?.[1] ?? run.samples[0][1]
    const secondHalf = run.samples.filter(([m]) => m >= MINUTES / 2).map(([, mb]) => mb)
    const spread = Math.max(...secondHalf) - Math.min(...secondHalf)
    const growth = rssEnd - quarter
    const flat = growth <= 3 && spread <= 3
    const perCollectionShare = (base.cpuMsPerCollection / 10_000) * 100

    rows.push(
      [`CPU per collection, ${base.processes} processes (collect + JSON)`, `${fmt(base.cpuMsPerCollection, 2)} ms`, `≤ node_exporter per scrape (${fmt(neBase.cpuMsPerScrape, 2)} ms)`,
        `${fmt(base.cpuMsPerCollection / neBase.cpuMsPerScrape, 2)}×`, verdict(base.cpuMsPerCollection <= neBase.cpuMsPerScrape)],
      [`CPU per collection, ${busy.processes} processes (+${EXTRA} idle)`, `${fmt(busy.cpuMsPerCollection, 2)} ms`, '≤ 60 ms',
        `${fmt(busy.cpuMsPerCollection / neBusy.cpuMsPerScrape, 2)}×`, verdict(busy.cpuMsPerCollection <= 60)],
      ['Child processes per steady-state collection', `${fmt(base.childrenPerCollection, 2)} / ${fmt(busy.childrenPerCollection, 2)}`, '0', 'node_exporter: 0',
        verdict(base.childrenPerCollection === 0 && busy.childrenPerCollection === 0)],
      ['  (whole machine: processes created during those runs)', `${base.machineForks} / ${busy.machineForks}`, 'info', '', ''],
      ['CPU share at 10 s, from CPU per collection', `${fmt(perCollectionShare, 3)} % of a core`, '≤ 0.2 %', '', verdict(perCollectionShare <= 0.2)],
      [`CPU share measured over the ${MINUTES} min run (after 30 s start-up)`, `${fmt(run.cpuPercent, 3)} % of a core`, '≤ 0.2 %', '', verdict(run.cpuPercent <= 0.2)],
      ['  same, including start-up', `${fmt(run.cpuPercentWithStart, 3)} % of a core`, 'info', '', ''],
      [`Agent RSS after ${MINUTES} min at 10 s`, `${fmt(rssEnd)} MB`, '≤ 60 MB', `${fmt(rssEnd / neRss, 2)}× node_exporter's ${fmt(neRss)} MB`, verdict(rssEnd <= 60)],
      ['Agent RSS flat', `+${fmt(growth)} MB since ${fmt(MINUTES / 4)} min, ${fmt(spread)} MB spread in 2nd half`, '≤ 3 MB growth and spread', '', verdict(flat)],
      [`npm run agent at 1 s (${documented.runtime}): CPU per collection, whole tree`, `${fmt(documented.cpuMsPerCollection, 2)} ms`,
        `≤ node_exporter per scrape in the same window (${fmt(documented.neCpuMsPerScrape, 2)} ms)`,
        `${fmt(documented.cpuMsPerCollection / documented.neCpuMsPerScrape, 2)}×`, verdict(documented.cpuMsPerCollection <= documented.neCpuMsPerScrape)],
      ['  of which the agent process', `${fmt(documented.nodeCpuMsPerCollection, 2)} ms`, 'info', `${documented.collections} collections, ${documented.scrapes} scrapes`, ''],
      ['npm run agent at 1 s: RSS of the agent process', `${fmt(documented.rssMb)} MB`, '≤ 60 MB', '', verdict(documented.rssMb <= 60)],
      ['npm run agent at 1 s: child processes started during the window', `${documented.agentChildren}`, '0', `long-lived: ${documented.longLived.length === 0 ? 'none' : documented.longLived.map(c => c.split(' ')[0]).join(', ')}`, verdict(documented.agentChildren === 0)],
      ['node_exporter CPU per scrape', `${fmt(neBase.cpuMsPerScrape, 2)} / ${fmt(neBusy.cpuMsPerScrape, 2)} ms`, 'reference', `${neBase.bytes} bytes/scrape`, ''],
      ['node_exporter RSS', `${fmt(neRss)} MB`, 'reference', '', ''],
    )
    console.log(`\nhostpulse agent vs ${exporter.version}; ${machineProcesses} processes on this machine, ${readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)!.length} cores; MB = MiB`)
    console.log(`agent batch: ${base.bytes} bytes of JSON with ${base.processes} processes; ${run.batches} batches delivered in the run; children alive at the end: ${run.children}`)
    console.log(`documented command's processes: ${documented.tree.join(' → ')}`)
    console.log(`RSS samples (minute: MB): ${run.samples.filter((_, i) => i % 6 === 5 || i === run.samples.length - 1).map(([m, mb]) => `${fmt(m)}: ${fmt(mb)}`).join(', ')}\n`)
    const widths = [0, 1, 2, 3, 4].map(i => Math.max(...rows.map(r => r[i].length), ['figure', 'value', 'target', 'vs node_exporter', ''][i].length))
    const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()
    console.log(line(['figure', 'value', 'target', 'vs node_exporter', 'verdict']))
    for (const r of rows) console.log(line(r))
  } finally {
    cleanup()
    rmSync(work, { recursive: true, force: true })
  }
}

main().catch(err => {
  console.error(`bench:agent: ${(err as Error).message}`)
  process.exit(1)
})
