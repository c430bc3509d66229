// Collectors checked against what the kernel itself says, on this machine.
import t from 'tap'
import { readdirSync, readFileSync, readlinkSync, statfsSync } from 'node:fs'
import { spawn } from 'node:child_process'
import os from 'node:os'
import { Value } from 'typebox/value'
import { IngestBatch } from '../../contract/ingest-batch.ts'
import { BatchCollector } from '../../agent/collect-batch.ts'
import { CpuCollector } from '../../agent/cpu.ts'
import { DiskCollector } from '../../agent/disk.ts'
import { collectInventory } from '../../agent/inventory.ts'
import { collectMemory } from '../../agent/memory.ts'
import { NetworkCollector } from '../../agent/network.ts'
import { ProcessCollector, heldProcessBudget, helperPids } from '../../agent/process.ts'

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))
const metric = (ms: Array<{ metric_type: string; metric_name: string; value: number; tags?: Record<string, string> }>, type: string, name: string) =>
  ms.find(m => m.metric_type === type && m.metric_name === name && !m.tags)?.value

t.test('memory total equals MemTotal in /proc/meminfo', async t => {
  const memTotalKb = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1])
  const { metrics, totalBytes } = await collectMemory()
  t.equal(totalBytes, memTotalKb * 1024)
  t.equal(metric(metrics, 'memory', 'total_bytes'), memTotalKb * 1024)
  const used = metric(metrics, 'memory', 'used_bytes')!
  const available = metric(metrics, 'memory', 'available_bytes')!
  t.equal(used + available, memTotalKb * 1024)
  const pct = metric(metrics, 'memory', 'usage_percent')!
  t.ok(pct >= 0 && pct <= 100, `usage ${pct} within 0..100`)
})

t.test('cpu: first sample has no deltas; later ones are percents summing to ~100', async t => {
  const cpu = new CpuCollector()
  const loadBefore = os.loadavg()[0]
  const first = await cpu.collect()
  const loadAfter = os.loadavg()[0]
  t.equal(metric(first, 'cpu', 'usage_percent'), undefined, 'no usage without a previous sample')
  t.equal(metric(first, 'cpu', 'cores'), os.cpus().length)
  t.equal(metric(first, 'load', 'load1'), metric(first, 'cpu', 'load_avg_1'), 'both load names carry the same value')
  // The kernel updates the load average every 5 s: read it on both sides of the collection.
  const load1 = metric(first, 'load', 'load1')!
  t.ok(load1 >= Math.min(loadBefore, loadAfter) - 0.01 && load1 <= Math.max(loadBefore, loadAfter) + 0.01,
    `load1 ${load1} agrees with os.loadavg() (${loadBefore} before, ${loadAfter} after)`)
  // Burn a little CPU so the interval has ticks in it.
  const end = Date.now() + 300
  while (Date.now() < end) Math.sqrt(Math.random())
  const second = await cpu.collect()
  const parts = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'].map(n => metric(second, 'cpu', n)!)
  for (const p of parts) t.ok(p >= 0 && p <= 100, `part ${p} in 0..100`)
  const sum = parts.reduce((a, b) => a + b, 0)
  t.ok(Math.abs(sum - 100) < 0.1, `parts sum to ${sum}`)
  const usage = metric(second, 'cpu', 'usage_percent')!
  t.ok(usage > 0 && usage <= 100, `usage ${usage} > 0 after a busy loop`)
  const perCore = second.filter(m => m.metric_name === 'usage_percent' && m.tags?.core !== undefined)
  t.equal(perCore.length, os.cpus().length, 'one usage figure per core')
  for (const m of perCore) t.ok(m.value >= 0 && m.value <= 100)
})

t.test('process list has this process with the right ppid and name, and CPU % from deltas', async t => {
  const procs = new ProcessCollector()
  const ctx = { bootTime: Number(/^btime (\d+)/m.exec(readFileSync('/proc/stat', 'utf8'))![1]), memTotalBytes: os.totalmem() }
  const cpuBefore = process.cpuUsage()
  const wallBefore = performance.now()
  await procs.collect(ctx)
  // 1.5 s: the collector's interval (its two reads of this process) and cpuUsage's (around both collections)
  // differ by the collections' own time, which a loaded machine stretches; a long busy loop makes that small.
  const end = Date.now() + 1500
  while (Date.now() < end) Math.sqrt(Math.random())
  const list = await procs.collect(ctx)
  // What this process really used over the same interval (other tests may share the cores, so a busy
  // loop alone does not say how much CPU it got).
  const used = process.cpuUsage(cpuBefore)
  const usedPercent = ((used.user + used.system) / 1000 / (performance.now() - wallBefore)) * 100
  const me = list.find(p => p.pid === process.pid)
  t.ok(me, 'own pid is listed')
  t.equal(me!.parent_pid, process.ppid)
  t.equal(me!.name, 'node')
  t.equal(me!.username, os.userInfo().username)
  t.equal(me!.status, 'running', 'this process is running while it reads its own stat')
  t.ok(me!.cpu_percent > 0, `busy loop shows as CPU (${me!.cpu_percent} %)`)
  // /proc counts in clock ticks (10 ms): a few ticks of difference over a 1.5 s interval are rounding.
  t.ok(Math.abs(me!.cpu_percent - usedPercent) < 15, `CPU ${me!.cpu_percent} % agrees with process.cpuUsage() (${usedPercent.toFixed(1)} %)`)
  t.ok(me!.cpu_percent <= 100 * os.cpus().length + 5)
  t.ok(Math.abs(me!.memory_bytes - process.memoryUsage().rss) < 32 * 1024 * 1024, 'rss close to process.memoryUsage().rss')
  t.ok(me!.cmdline!.includes('collectors.test.ts'), 'cmdline has the script')
  const created = Date.parse(me!.create_time!)
  const expected = Date.now() - process.uptime() * 1000
  t.ok(Math.abs(created - expected) < 5000, 'create_time matches process.uptime()')
  t.ok(list.find(p => p.pid === 1), 'pid 1 is listed')
  for (const p of list) t.ok(p.cpu_percent >= 0 && p.memory_percent >= 0, `pid ${p.pid} has non-negative figures`)
})

t.test('processes that exit between samples are skipped without error', async t => {
  // selfPid -1: this test's own child must count as an ordinary process here.
  const procs = new ProcessCollector('/proc', -1)
  const ctx = { bootTime: 0, memTotalBytes: os.totalmem() }
  const child = spawn('sleep', ['30'])
  await sleep(50)
  t.ok((await procs.collect(ctx)).some(p => p.pid === child.pid), 'child listed while alive')
  child.kill()
  await new Promise(r => child.once('exit', r))
  const after = await procs.collect(ctx)
  t.notOk(after.some(p => p.pid === child.pid), 'gone after exit')
})

/** This process's open /proc/[pid] files, as paths. */
const heldProcFiles = () => readdirSync('/proc/self/fd').flatMap(fd => {
  try { return [readlinkSync(`/proc/self/fd/${fd}`)] } catch { return [] }
}).filter(path => /^\/proc\/\d+\/(stat|status|cmdline)$/.test(path))

t.test('/proc files held between collections follow their process: exec shows, exit and close() let go', async t => {
  const heldByOthers = new Set(heldProcFiles()) // collectors of earlier tests, never closed
  const procs = new ProcessCollector('/proc', -1)
  const ctx = { bootTime: 0, memTotalBytes: os.totalmem() }
  const child = spawn('sh', ['-c', 'sleep 0.4; exec sleep 30'], { stdio: 'ignore' })
  t.teardown(() => { child.kill('SIGKILL') })
  await sleep(100)
  const first = (await procs.collect(ctx)).find(p => p.pid === child.pid)
  t.match(first, { name: 'sh', cmdline: 'sh -c sleep 0.4; exec sleep 30' }, 'before the exec')
  t.ok(heldProcFiles().includes(`/proc/${child.pid}/stat`), 'its files are held')
  await sleep(600)
  const second = (await procs.collect(ctx)).find(p => p.pid === child.pid)
  t.match(second, { name: 'sleep', cmdline: 'sleep 30' }, 'the held files show the program it became')
  child.kill('SIGKILL')
  await new Promise(r => child.once('exit', r))
  t.notOk((await procs.collect(ctx)).some(p => p.pid === child.pid), 'gone after exit')
  t.notOk(heldProcFiles().some(path => path.startsWith(`/proc/${child.pid}/`)), 'and its files closed')
  procs.close()
  t.same(heldProcFiles().filter(path => !heldByOthers.has(path)), [], 'close() lets go of every held file')
})

t.test('held processes: four descriptors each (stat, status, cmdline, io) within half the soft limit, at most 1024', async t => {
  t.equal(heldProcessBudget('Max open files            1024                 524288               files     \n'), 89)
  t.equal(heldProcessBudget('Max open files            20000                20000                files     \n'), 1024)
  t.equal(heldProcessBudget('Max open files            unlimited            unlimited            files     \n'), 1024)
  t.equal(heldProcessBudget('Max open files            64                   64                   files     \n'), 0)
  t.equal(heldProcessBudget(''), 89, 'unreadable limits: the usual 1024')
})

t.test('filesystem of / matches statfs(/)', async t => {
  const disks = new DiskCollector()
  const { disks: items } = await disks.collect()
  const root = items.find(d => d.mount_point === '/')
  t.ok(root, '/ is reported')
  const s = statfsSync('/')
  t.equal(root!.total_bytes, s.blocks * s.bsize)
  t.ok(Math.abs(root!.available_bytes - s.bavail * s.bsize) < 64 * 1024 * 1024, 'available within 64 MiB of statfs')
  t.equal(root!.inodes_total, s.files)
  t.ok(root!.usage_percent >= 0 && root!.usage_percent <= 100)
  const fsType = readFileSync('/proc/self/mounts', 'utf8').split('\n').map(l => l.split(' ')).find(f => f[1] === '/')![2]
  t.equal(root!.filesystem, fsType)
  t.notOk(items.some(d => ['proc', 'sysfs', 'tmpfs', 'cgroup', 'cgroup2', 'devpts'].includes(d.filesystem!)), 'no pseudo filesystems')
  const plainDevices = items.filter(d => d.filesystem !== 'overlay').map(d => d.device)
  t.equal(new Set(plainDevices).size, plainDevices.length, 'bind mounts of one device are reported once')

  await sleep(200)
  const second = await disks.collect()
  const root2 = second.disks.find(d => d.mount_point === '/')!
  const hasIo = readFileSync('/proc/diskstats', 'utf8').trim().length > 0
  if (hasIo) {
    t.type(root2.read_bytes_per_sec, 'number', 'I/O rates attached to / on the second sample')
    t.ok(second.metrics.some(m => m.metric_type === 'diskio' && m.tags?.device), 'diskio metrics per device')
  }
  for (const m of second.metrics) t.ok(m.value >= 0, `${m.metric_name} ${m.tags?.device} non-negative`)
})

t.test('network counters are monotonic across two samples and rates never negative', async t => {
  const net = new NetworkCollector()
  const a = await net.collect()
  // Make some loopback traffic so at least one counter moves.
  const http = await import('node:http')
  const server = http.createServer((_, res) => res.end('x'.repeat(10000)))
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  await (await fetch(`http://127.0.0.1:${port}/`)).text()
  server.close()
  await sleep(100)
  const b = await net.collect()
  t.same(a.map(i => i.interface).sort(), b.map(i => i.interface).sort())
  for (const now of b) {
    const before = a.find(i => i.interface === now.interface)!
    t.ok(now.bytes_recv >= before.bytes_recv && now.bytes_sent >= before.bytes_sent, `${now.interface} counters monotonic`)
    for (const k of ['bytes_sent_per_sec', 'bytes_recv_per_sec', 'packets_sent_per_sec', 'packets_recv_per_sec'] as const) {
      t.ok(now[k]! >= 0, `${now.interface} ${k} >= 0`)
    }
  }
  const lo = b.find(i => i.interface === 'lo')
  if (lo) {
    t.equal(lo.is_up, true)
    t.ok(lo.bytes_recv_per_sec! > 0, 'loopback traffic shows as a rate')
  }
})

t.test('inventory names this host', async t => {
  const inv = await collectInventory()
  t.equal(inv.hostname, os.hostname())
  t.equal(inv.cpu_cores, os.cpus().length)
  t.equal(inv.memory_total_bytes, os.totalmem())
  t.equal(inv.kernel, os.release())
  const osRelease = readFileSync('/etc/os-release', 'utf8')
  t.ok(osRelease.includes(inv.os_version!), `os_version ${inv.os_version} is in /etc/os-release`)
})

t.test('a full batch validates against the wire contract and is cheap to collect', async t => {
  const c = new BatchCollector()
  await c.collect()
  await sleep(300)
  const times: number[] = []
  let batch
  for (let i = 0; i < 5; i++) {
    // The agent never collects twice within a clock tick; back to back, the CPU figures would have no time to span.
    await sleep(30)
    const t0 = performance.now()
    batch = await c.collect()
    times.push(performance.now() - t0)
  }
  const errors = [...Value.Errors(IngestBatch, batch)].slice(0, 5)
  t.same(errors, [], 'no contract violations')
  t.ok(batch!.processes!.length > 1)
  t.ok(batch!.metrics!.some(m => m.metric_type === 'cpu' && m.metric_name === 'usage_percent'))
  const median = times.sort((a, b) => a - b)[2]
  t.comment(`collection took ${times.map(x => x.toFixed(1)).join(', ')} ms`)
  // A sanity bound, not a speed target (npm run bench:agent measures the cost): a fifteenth of the 15 s interval.
  t.ok(median < 1000, `median collection ${median.toFixed(1)} ms stays well below the interval`)
})

const meminfoKb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync('/proc/meminfo', 'utf8'))![1])

t.test('memory used and available within 1 % of /proc/meminfo read at the same moment', async t => {
  // Other tests start and stop processes meanwhile: the collected figure must lie between the kernel's
  // figures read just before and just after, give or take 1 %.
  const total = meminfoKb('MemTotal') * 1024
  const before = meminfoKb('MemAvailable') * 1024
  const { metrics } = await collectMemory()
  const after = meminfoKb('MemAvailable') * 1024
  const [low, high] = [Math.min(before, after), Math.max(before, after)]
  const available = metric(metrics, 'memory', 'available_bytes')!
  const used = metric(metrics, 'memory', 'used_bytes')!
  t.ok(available >= low * 0.99 && available <= high * 1.01, `available ${available} vs MemAvailable ${before}..${after}`)
  t.ok(used >= (total - high) * 0.99 && used <= (total - low) * 1.01, `used ${used} vs MemTotal-MemAvailable ${total - high}..${total - low}`)
})

t.test('usage of / within 1 % of statfs', async t => {
  const { disks: items } = await new DiskCollector().collect()
  const s = statfsSync('/')
  const root = items.find(d => d.mount_point === '/')!
  const used = (s.blocks - s.bfree) * s.bsize
  t.ok(Math.abs(root.used_bytes - used) <= 0.01 * used, `used ${root.used_bytes} vs statfs ${used}`)
  const pct = (used / (used + s.bavail * s.bsize)) * 100
  t.ok(Math.abs(root.usage_percent - pct) <= 0.01 * pct, `usage ${root.usage_percent} % vs statfs ${pct.toFixed(2)} %`)
})

t.test('every process alive throughout the collection is listed, once', async t => {
  const { readdirSync } = await import('node:fs')
  const pids = () => new Set(readdirSync('/proc').filter(n => /^\d+$/.test(n)).map(Number))
  const before = pids()
  const list = await new ProcessCollector().collect({ bootTime: 0, memTotalBytes: os.totalmem() })
  const after = pids()
  // Processes that other tests start or end meanwhile may or may not be seen; those present on both
  // sides must be, except the collector's own helpers (children of this process, which it never lists).
  const listed = new Set(list.map(p => p.pid))
  const ppidOf = (pid: number) => { try { return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]) } catch { return -1 } }
  const ownHelpers = helperPids([...after].map(pid => ({ pid, ppid: ppidOf(pid) })), process.pid)
  const stable = [...before].filter(pid => after.has(pid) && !ownHelpers.has(pid))
  t.same(stable.filter(pid => !listed.has(pid)), [], `all ${stable.length} processes alive before and after are among the ${list.length} listed`)
  t.equal(listed.size, list.length, 'no pid twice')
  t.same([...listed].filter(pid => !before.has(pid) && !after.has(pid)), [], 'none that /proc never showed')
})

t.test('processes the collecting process started (its helpers) are never listed; it is', async t => {
  const helper = spawn('sh', ['-c', 'sleep 30 & wait'])
  t.teardown(() => { helper.kill('SIGKILL') })
  await sleep(150)
  const list = await new ProcessCollector().collect({ bootTime: 0, memTotalBytes: os.totalmem() })
  t.notOk(list.some(p => p.pid === helper.pid), 'the helper is not listed')
  t.notOk(list.some(p => p.parent_pid === helper.pid), 'nor what the helper started')
  t.ok(list.some(p => p.pid === process.pid), 'the agent itself is')
  t.ok(list.some(p => p.pid === process.ppid), 'and its parent')
})

/** Every number anywhere in a value, with its path. */
function numbersIn(value: unknown, path: string, out: Array<[string, number]>): Array<[string, number]> {
  if (typeof value === 'number') out.push([path, value])
  else if (Array.isArray(value)) value.forEach((v, i) => numbersIn(v, `${path}[${i}]`, out))
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) numbersIn(v, `${path}.${k}`, out)
  return out
}

t.test('every number in a batch, anywhere in it, is finite and non-negative', async t => {
  const c = new BatchCollector()
  await c.collect()
  await sleep(500)
  const batch = await c.collect()
  const numbers = numbersIn(batch, 'batch', [])
  // At least one number per metric and per process (how many depends on the machine).
  t.ok(batch.metrics!.length > 10 && batch.processes!.length > 0 && batch.disks!.length > 0 && batch.networks!.length > 0, 'every family present')
  t.ok(numbers.length >= batch.metrics!.length + batch.processes!.length, `${numbers.length} numbers checked`)
  const bad = numbers.filter(([, n]) => !Number.isFinite(n) || n < 0)
  t.same(bad, [], 'none negative, NaN or infinite')
  t.ok(Array.isArray(batch.sessions), 'sessions are part of the batch (empty without utmp)')
  t.ok(Array.isArray(batch.containers), 'and containers (empty without an engine socket)')
  t.ok(batch.host!.ip_addresses && batch.host!.kernel && batch.host!.cpu_cores! > 0 && batch.host!.memory_total_bytes! > 0, 'inventory in host')
})

t.test('utmp sessions become the wire shape', async t => {
  const { collectSessions, UTMP_RECORD_SIZE } = await import('../../agent/sessions.ts')
  const { writeFileSync, mkdtempSync } = await import('node:fs')
  const rec = Buffer.alloc(UTMP_RECORD_SIZE)
  rec.writeInt16LE(7, 0); rec.writeInt32LE(4321, 4); rec.write('pts/3', 8); rec.write('dana', 44); rec.write('198.51.100.4', 76); rec.writeInt32LE(1700000000, 340)
  const path = `${mkdtempSync(`${os.tmpdir()}/utmp-`)}/utmp`
  writeFileSync(path, rec)
  const { sessions, metrics } = await collectSessions(path)
  t.same(sessions, [{ user: 'dana', terminal: 'pts/3', host: '198.51.100.4', pid: 4321, login_time: '2023-11-14T22:13:20.000Z' }])
  t.equal(metrics[0].value, 1)
})
