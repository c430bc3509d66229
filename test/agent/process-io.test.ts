// Per-process disk I/O and open descriptors (issue 17 part 4) from a /proc laid out in a directory: rates
// from /proc/[pid]/io deltas, a reused pid (a new process) counted from zero, a process whose io may not be
// read left without the fields and said once; and from the real /proc, this process's open descriptors.
import t from 'tap'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { spawn } from 'node:child_process'
import { ProcessCollector, parsePidIo } from '../../agent/process.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The CPU time a process has had so far, by its schedstat where the kernel keeps one, by its stat otherwise; and its state. */
function runState(pid: number): { state: string; ran: string } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  let ran = `${fields[11]} ${fields[12]}` // utime stime
  try { ran = readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0] } catch { /* no schedstat: the ticks do */ }
  return { state: fields[0], ran }
}

/** Resolves once `pid` sleeps and has not run for 200 ms; throws after 20 s. */
async function waitUntilBlocked(pid: number): Promise<void> {
  const deadline = performance.now() + 20_000
  let last = runState(pid)
  for (;;) {
    await sleep(200)
    const now = runState(pid)
    if (now.state === 'S' && last.state === 'S' && now.ran === last.ran) return
    if (performance.now() > deadline) throw new Error(`pid ${pid} still runs after 20 s (${now.state}, ${now.ran})`)
    last = now
  }
}

/**
 * One process in the fake /proc: stat (start ticks tell a reused pid; `ticks` its CPU, so a process that ran
 * has a stat of its own), status, cmdline, io unless absent, fd entries.
 */
function writeProcess(root: string, pid: number, p: { name: string; start: number; ticks?: number; read?: number; write?: number; fds?: number; cmdline?: string }) {
  const dir = `${root}/${pid}`
  mkdirSync(`${dir}/fd`, { recursive: true })
  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime prio nice threads itreal starttime vsize
  writeFileSync(`${dir}/stat`, `${pid} (${p.name}) S 1 ${pid} ${pid} 0 -1 0 0 0 0 0 ${p.ticks ?? 10} 5 0 0 20 0 1 0 ${p.start} 1000000 100 0\n`)
  writeFileSync(`${dir}/status`, `Name:\t${p.name}\nUid:\t0\t0\t0\t0\nVmRSS:\t  1024 kB\n`)
  writeFileSync(`${dir}/cmdline`, `${p.cmdline ?? `/usr/bin/${p.name}`}\0`)
  if (p.read !== undefined) {
    writeFileSync(`${dir}/io`, `rchar: 1\nwchar: 1\nsyscr: 1\nsyscw: 1\nread_bytes: ${p.read}\nwrite_bytes: ${p.write}\ncancelled_write_bytes: 0\n`)
  } else rmSync(`${dir}/io`, { force: true })
  for (const f of readdirSync(`${dir}/fd`)) rmSync(`${dir}/fd/${f}`)
  for (let i = 0; i < (p.fds ?? 0); i++) writeFileSync(`${dir}/fd/${i}`, '')
}

t.test('parsePidIo reads read_bytes and write_bytes, not rchar and wchar', async (t) => {
  t.same(parsePidIo('rchar: 99\nwchar: 98\nsyscr: 1\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n'), { readBytes: 4096, writeBytes: 8192 })
  t.equal(parsePidIo('rchar: 99\n'), undefined, 'a truncated file gives nothing rather than zeros')
})

t.test('rates from counter deltas; a reused pid starts from zero; unreadable io left out and said once', async (t) => {
  const root = mkdtempSync(`${os.tmpdir()}/fake-proc-`)
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  writeProcess(root, 10, { name: 'postgres', start: 1000, read: 1_000_000, write: 5_000_000, fds: 7 })
  writeProcess(root, 20, { name: 'backup', start: 2000, read: 0, write: 0, fds: 3 })
  writeProcess(root, 30, { name: 'sshd', start: 3000, fds: 2 })
  const ctx = { bootTime: 1_700_000_000, memTotalBytes: 8 * 1024 ** 3 }
  const collector = new ProcessCollector(root, -1)
  t.teardown(() => collector.close())

  // The collector's interval lies between the sleep below and everything from here to the second reading.
  const before = performance.now()
  const first = await collector.collect(ctx)
  t.equal(first.find((p) => p.pid === 10)!.read_bytes_per_sec, undefined, 'no rate before a second reading')
  t.equal(first.find((p) => p.pid === 10)!.open_fds, 7, 'open descriptors counted from the first reading')
  const notice = collector.takeAccessNotice()
  t.match(notice, /unreadable for 1 of 3 processes/, 'the unreadable one is said')
  t.match(notice, /root|CAP_SYS_PTRACE/, 'with how to read them all')
  t.equal(collector.takeAccessNotice(), undefined, 'once')

  await sleep(500)
  // Reading 2 MB takes CPU: its stat changes with its ticks.
  writeProcess(root, 10, { name: 'postgres', start: 1000, ticks: 12, read: 1_000_000 + 2_000_000, write: 5_000_000 + 500_000, fds: 9 })
  // pid 20 is now another process (a later start) whose counters are below the old one's.
  writeProcess(root, 20, { name: 'rsync', start: 2500, read: 300_000, write: 0, fds: 4 })
  const second = await collector.collect(ctx)
  const elapsed = (performance.now() - before) / 1000
  const pg = second.find((p) => p.pid === 10)!
  const near = (actual: number | undefined, bytes: number) => actual !== undefined && actual <= (bytes / 0.5) * 1.001 && actual >= (bytes / elapsed) * 0.999
  t.ok(near(pg.read_bytes_per_sec, 2_000_000), `postgres reads 2,000,000 bytes over ~0.5 s (${pg.read_bytes_per_sec}/s, elapsed ${elapsed.toFixed(3)} s)`)
  t.ok(near(pg.write_bytes_per_sec, 500_000), `and writes 500,000 (${pg.write_bytes_per_sec}/s)`)
  t.equal(pg.open_fds, 7, 'descriptors are recounted at most every 10 s: the count read first stands')
  const rsync = second.find((p) => p.pid === 20)!
  t.equal(rsync.name, 'rsync')
  t.ok(near(rsync.read_bytes_per_sec, 300_000), `a reused pid is a new process: its 300,000 bytes fall in this interval, no negative rate (${rsync.read_bytes_per_sec}/s)`)
  t.equal(rsync.open_fds, 4, 'a new process is counted at once')
  const sshd = second.find((p) => p.pid === 30)!
  t.same([sshd.read_bytes_per_sec, sshd.write_bytes_per_sec], [undefined, undefined], 'unreadable io: no rates, not zeros')
  t.equal(sshd.cpu_percent >= 0 && sshd.name, 'sshd', 'the rest of it is still sent')
})

t.test('a process whose stat is unchanged is reported as before until its re-read, which catches up on its I/O', async (t) => {
  const root = mkdtempSync(`${os.tmpdir()}/fake-proc-`)
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  writeProcess(root, 10, { name: 'logger', start: 1000, ticks: 50, read: 0, write: 1_000_000, fds: 5 })
  writeProcess(root, 20, { name: 'worker', start: 2000, ticks: 70, read: 0, write: 0, fds: 3 })
  const ctx = { bootTime: 1_700_000_000, memTotalBytes: 8 * 1024 ** 3 }
  const REREAD_MS = 4000
  const collector = new ProcessCollector(root, -1, undefined, REREAD_MS)
  t.teardown(() => collector.close())
  const before1 = performance.now()
  await collector.collect(ctx)
  const after1 = performance.now()

  // The logger writes 400,000 bytes and retitles itself in less than a tick: its stat stays as it was.
  writeProcess(root, 10, { name: 'logger', start: 1000, ticks: 50, read: 0, write: 1_400_000, fds: 6, cmdline: 'logger: flushing' })
  // The worker runs: its stat changes, so it is read in full at once.
  writeProcess(root, 20, { name: 'worker', start: 2000, ticks: 90, read: 0, write: 300_000, fds: 3, cmdline: 'worker --busy' })
  await sleep(200)
  const second = await collector.collect(ctx)
  const quiet = second.find((p) => p.pid === 10)!
  t.same([quiet.cpu_percent, quiet.write_bytes_per_sec, quiet.cmdline, quiet.open_fds], [0, 0, '/usr/bin/logger', 5],
    'unchanged stat: 0 % CPU, no I/O, and what its files said last time')
  const worker = second.find((p) => p.pid === 20)!
  t.equal(worker.cmdline, 'worker --busy', 'a process whose stat changed: its command line read again')
  t.ok(worker.cpu_percent > 0 && worker.write_bytes_per_sec! > 0, `and its CPU and I/O (${worker.cpu_percent} %, ${worker.write_bytes_per_sec} B/s)`)

  // Past the re-read period the logger is read in full: its 400,000 bytes over the time since its counters were read.
  while (performance.now() - after1 < REREAD_MS + 50) await sleep(50)
  const before3 = performance.now()
  const reread = (await collector.collect(ctx)).find((p) => p.pid === 10)!
  const after3 = performance.now()
  t.equal(reread.cmdline, 'logger: flushing', 'the new title, within the re-read period')
  t.equal(reread.open_fds, 6, 'and its descriptors')
  const [low, high] = [400_000 / ((after3 - before1) / 1000), 400_000 / ((before3 - after1) / 1000)]
  t.ok(reread.write_bytes_per_sec! >= low * 0.999 && reread.write_bytes_per_sec! <= high * 1.001,
    `its bytes spread over the span since they were last read, none lost (${reread.write_bytes_per_sec} B/s, between ${low.toFixed(0)} and ${high.toFixed(0)})`)
})

t.test('/proc is listed again only when the fork count moves or the listing ages: exited processes drop out in between', async (t) => {
  const root = mkdtempSync(`${os.tmpdir()}/fake-proc-`)
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  writeProcess(root, 10, { name: 'sshd', start: 1000 })
  writeProcess(root, 20, { name: 'cron', start: 2000 })
  const REREAD_MS = 4000
  const collector = new ProcessCollector(root, -1, undefined, REREAD_MS)
  t.teardown(() => collector.close())
  const pids = async (forks: number | undefined) =>
    (await collector.collect({ bootTime: 1_700_000_000, memTotalBytes: 8 * 1024 ** 3, forks })).map((p) => p.pid).sort((a, b) => a - b)

  const firstListing = performance.now()
  t.same(await pids(500), [10, 20], 'the first collection lists /proc')
  // cron exits; a directory appears that no fork made (only a fake /proc can do that): with the count where it
  // was, the collector reads the pids it knew and does not list /proc.
  // A held file of an exited process reads nothing (the kernel answers ESRCH); a deleted file here would still read.
  writeFileSync(`${root}/20/stat`, '')
  rmSync(`${root}/20`, { recursive: true })
  writeProcess(root, 30, { name: 'nginx', start: 3000 })
  t.same(await pids(500), [10], 'fork count unchanged: the exited process drops out, /proc is not listed')
  t.ok(performance.now() - firstListing < REREAD_MS, 'inside the listing\'s age (else the check above proves nothing)')
  t.same(await pids(501), [10, 30], 'the count moved: /proc is listed and the new process is found')
  writeProcess(root, 40, { name: 'redis', start: 4000 })
  t.same(await pids(undefined), [10, 30, 40], 'no fork count (CPU collection off or failed): /proc is listed')
  writeProcess(root, 50, { name: 'dockerd', start: 5000 })
  const countedListing = performance.now()
  t.same(await pids(501), [10, 30, 40, 50], 'after a listing without a count, the next one lists too, though the count is the last one seen')
  writeProcess(root, 60, { name: 'postfix', start: 6000 })
  t.same(await pids(501), [10, 30, 40, 50], 'then, the count unchanged, not again')
  t.ok(performance.now() - countedListing < REREAD_MS, 'inside the listing\'s age')
  while (performance.now() - countedListing < REREAD_MS + 50) await sleep(50)
  t.same(await pids(501), [10, 30, 40, 50, 60], 'the same count, but the listing is older than the re-read period: listed again')
})

t.test('the real /proc: this process\'s open descriptors', async (t) => {
  const collector = new ProcessCollector('/proc', -1)
  t.teardown(() => collector.close())
  const ctx = { bootTime: 0, memTotalBytes: os.totalmem() }
  const list = await collector.collect(ctx)
  const me = list.find((p) => p.pid === process.pid)!
  const now = readdirSync('/proc/self/fd').length
  t.ok(me.open_fds !== undefined && Math.abs(me.open_fds - now) <= 8, `open_fds ${me.open_fds} close to /proc/self/fd's ${now}`)
  const second = (await collector.collect(ctx)).find((p) => p.pid === process.pid)!
  t.type(second.read_bytes_per_sec, 'number', 'own process: a read rate')
  t.ok(second.write_bytes_per_sec! >= 0, 'and a write rate')
})

t.test('the real /proc: a sleeping process is not read again until it runs, and then its CPU shows', async (t) => {
  // One thread: whether it ran is told by its schedstat where the kernel keeps one, by its stat otherwise.
  const child = spawn('sh', ['-c', 'read go; i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; read never'], { stdio: ['pipe', 'ignore', 'ignore'] })
  t.teardown(() => { child.kill('SIGKILL') })
  // Its full re-read kept out of the way (at least 6 s after it is first seen): the change alone must show it.
  const collector = new ProcessCollector('/proc', -1, undefined, 600_000)
  t.teardown(() => collector.close())
  const ctx = { bootTime: 0, memTotalBytes: os.totalmem() }
  const find = async () => (await collector.collect(ctx)).find((p) => p.pid === child.pid)!
  // Waited for, not slept on (a busy machine starts a shell slowly): the kernel has it asleep (S) and its run
  // time stands still, so it sits in `read go`.
  await waitUntilBlocked(child.pid!)
  await find()
  const asleep = await find()
  const again = await find()
  t.equal(again, asleep, 'asleep: the same report, nothing read or parsed again')
  t.equal(again.cpu_percent, 0, 'at 0 % CPU')
  child.stdin!.write('go\n')
  const t0 = performance.now()
  let busy = 0
  while (busy === 0 && performance.now() - t0 < 5_000) {
    await sleep(300)
    busy = (await find()).cpu_percent
  }
  t.ok(busy > 0, `once it runs, its CPU shows (${busy} %)`)
})
