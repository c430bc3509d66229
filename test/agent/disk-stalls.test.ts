// Filesystems that do not answer (a hard NFS mount whose server is gone, a hung FUSE daemon) and disks that
// appear while the agent runs, on a stand-in /proc and /sys: the kernel's hang is stood in by a statfs call
// that does not return until the test lets it.
import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DiskCollector } from '../../agent/disk.ts'

const figures = { blocks: 1000, bsize: 4096, bfree: 400, bavail: 300, files: 100, ffree: 50 }

function standIn(t: { teardown: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'hostpulse-disks-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const proc = join(dir, 'proc')
  const sys = join(dir, 'sys')
  mkdirSync(join(proc, 'self'), { recursive: true })
  mkdirSync(join(sys, 'block', 'vda'), { recursive: true })
  writeFileSync(join(proc, 'self', 'mounts'), '/dev/vda1 / ext4 rw 0 0\nfiler:/export /mnt/nfs nfs4 rw 0 0\n')
  const diskstats = (lines: string[]) => writeFileSync(join(proc, 'diskstats'), lines.join('\n') + '\n')
  const line = (name: string, sectorsWritten: number) => `   8       0 ${name} 10 0 100 5 20 0 ${sectorsWritten} 10 0 30 40 0 0 0 0`
  return { paths: { proc, sys, rootfs: '/' }, sys, diskstats, line }
}

t.test('a filesystem that does not answer is left out, not asked again until it answers, and the rest is reported', async (t) => {
  const { paths } = standIn(t)
  let release: () => void = () => {}
  let answering = false
  const asked: string[] = []
  const statfs = (path: string) => {
    asked.push(path)
    if (path !== '/mnt/nfs' || answering) return Promise.resolve(figures)
    return new Promise<typeof figures>((resolve) => { release = () => resolve(figures) })
  }
  const lines: string[] = []
  const disks = new DiskCollector(paths, { mountTimeoutMs: 200, statfs, log: (level, message) => lines.push(`${level} ${message}`) })
  const started = Date.now()
  const first = await disks.collect()
  t.ok(Date.now() - started < 2000, `the collection waited about the timeout, not for the mount (${Date.now() - started} ms)`)
  t.same(first.disks.map(d => d.mount_point), ['/'], 'the other filesystems are reported')
  t.match(lines.join('\n'), /warn filesystem \/mnt\/nfs \(nfs4, filer:\/export\) did not answer within 200 ms/)
  const second = await disks.collect()
  t.same(second.disks.map(d => d.mount_point), ['/'])
  t.equal(asked.filter(p => p === '/mnt/nfs').length, 1, 'the stalled mount is not asked again while its call hangs')
  answering = true
  release()
  for (let i = 0; i < 100 && !lines.some(l => l.includes('answers again')); i++) await new Promise(r => setTimeout(r, 20))
  t.match(lines.join('\n'), /info filesystem \/mnt\/nfs answers again/)
  const third = await disks.collect()
  t.same(third.disks.map(d => d.mount_point).sort(), ['/', '/mnt/nfs'], 'reported again once it answers')
})

t.test('a dead filer with four mounts holds at most two of libuv\'s threads; local filesystems are still reported', async (t) => {
  const { paths } = standIn(t)
  const { writeFileSync } = await import('node:fs')
  writeFileSync(join(paths.proc, 'self', 'mounts'), ['/dev/vda1 / ext4 rw 0 0', ...['home', 'data', 'scratch', 'software'].map(d => `filer:/${d} /mnt/${d} nfs4 rw 0 0`)].join('\n') + '\n')
  const hanging: Array<() => void> = []
  const asked: string[] = []
  const statfs = (path: string) => {
    asked.push(path)
    if (path === '/') return Promise.resolve(figures)
    return new Promise<typeof figures>((resolve) => { hanging.push(() => resolve(figures)) })
  }
  t.teardown(() => { for (const release of hanging) release() })
  const lines: string[] = []
  const log = (level: string, message: string) => lines.push(`${level} ${message}`)
  const first = await new DiskCollector(paths, { mountTimeoutMs: 100, statfs, log }).collect()
  t.same(first.disks.map(d => d.mount_point), ['/'], 'the local filesystem is reported')
  t.equal(asked.filter(p => p.startsWith('/mnt/')).length, 2, 'two of the four mounts were asked, both hang')
  t.match(lines.join('\n'), /2 filesystems do not answer; network and FUSE filesystems are not asked until one does/)
  // A collector made again (disks switched off and on by the server) does not ask them again either.
  const again = await new DiskCollector(paths, { mountTimeoutMs: 100, statfs, log }).collect()
  t.same(again.disks.map(d => d.mount_point), ['/'])
  t.equal(asked.filter(p => p.startsWith('/mnt/')).length, 2, 'still two calls in all')
})

t.test('a disk attached while the agent runs gets its I/O metrics', async (t) => {
  const { paths, sys, diskstats, line } = standIn(t)
  const disks = new DiskCollector(paths, { statfs: () => Promise.resolve(figures) })
  diskstats([line('vda', 1000)])
  await disks.collect()
  diskstats([line('vda', 2000)])
  const before = await disks.collect()
  t.same([...new Set(before.metrics.map(m => m.tags?.device))], ['vda'])
  // A volume attached: the kernel lists it in /sys/block and /proc/diskstats.
  mkdirSync(join(sys, 'block', 'vdb'))
  diskstats([line('vda', 3000), line('vdb', 0)])
  await disks.collect()
  diskstats([line('vda', 4000), line('vdb', 5000)])
  const after = await disks.collect()
  t.same([...new Set(after.metrics.map(m => m.tags?.device))].sort(), ['vda', 'vdb'], 'the new disk is reported')
  t.ok(after.metrics.some(m => m.tags?.device === 'vdb' && m.metric_name === 'write_bytes_per_sec' && m.value > 0), 'with its rates')
})
