// An agent in a container reads the host through bind mounts (/host/proc, /host/sys, /host/root):
// filesystems come from the host's mount table and are measured under the host root.
import t from 'tap'
import { mkdirSync, statfsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DiskCollector } from '../../agent/disk.ts'
import { BatchCollector } from '../../agent/collect-batch.ts'
import { parseCliOptions } from '../../agent/cli-options.ts'

/** A fake host: its own /proc/1/mounts (the container's /proc/self/mounts would list the container's mounts). */
function fakeHost(dir: string) {
  const proc = join(dir, 'proc'); const sys = join(dir, 'sys'); const root = join(dir, 'root')
  mkdirSync(join(proc, '1'), { recursive: true }); mkdirSync(join(sys, 'block'), { recursive: true })
  mkdirSync(join(root, 'srv', 'data'), { recursive: true })
  writeFileSync(join(proc, '1', 'mounts'), [
    '/dev/hostdisk1 / ext4 rw,relatime 0 0',
    '/dev/hostdisk2 /srv/data xfs rw,relatime 0 0',
    'proc /proc proc rw 0 0',
    'tmpfs /run tmpfs rw 0 0',
  ].join('\n') + '\n')
  writeFileSync(join(proc, 'self'), 'not the mount table to read: the container view')
  writeFileSync(join(proc, 'diskstats'), '')
  writeFileSync(join(proc, 'stat'), 'cpu  1 0 1 100 0 0 0 0 0 0\nbtime 1700000000\n')
  return { proc, sys, rootfs: root }
}

t.test('disks come from the host mount table and are measured under the host root', async t => {
  const paths = fakeHost(t.testdir())
  const { disks } = await new DiskCollector(paths).collect()
  t.same(disks.map(d => d.mount_point).sort(), ['/', '/srv/data'], 'host mount points, as the host names them; pseudo filesystems left out')
  const data = disks.find(d => d.mount_point === '/srv/data')!
  t.equal(data.device, '/dev/hostdisk2')
  t.equal(data.filesystem, 'xfs')
  const s = statfsSync(join(paths.rootfs, 'srv', 'data'))
  t.equal(data.total_bytes, s.blocks * s.bsize, 'sizes are those of the directory under the host root')
})

t.test('without a host root the agent reads its own mount table, as before', async t => {
  const { disks } = await new DiskCollector().collect()
  t.ok(disks.some(d => d.mount_point === '/'), 'the root filesystem is reported')
})

t.test('the batch collector hands the paths to every /proc reader', async t => {
  const dir = t.testdir()
  const paths = fakeHost(dir)
  writeFileSync(join(paths.proc, 'meminfo'), 'MemTotal: 2048 kB\nMemFree: 1024 kB\nMemAvailable: 1536 kB\nBuffers: 0 kB\nCached: 0 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n')
  const batch = await new BatchCollector(() => {}, { paths }).collect({
    collect: { cpu: false, memory: true, disk: true, network: false, processes: false, sessions: false, containers: false } as never,
  })
  const total = batch.metrics?.find(m => m.metric_type === 'memory' && m.metric_name === 'total_bytes')
  t.equal(total?.value, 2048 * 1024, 'memory read from the host /proc/meminfo given, not this machine\'s')
  t.same(batch.disks?.map(d => d.mount_point).sort(), ['/', '/srv/data'])
})

t.test('flags and environment set the paths; a wrong directory stops the start with the fix', async t => {
  const paths = fakeHost(t.testdir())
  const cmd = parseCliOptions(['--once'], { HOSTPULSE_HOST_PROC: paths.proc, HOSTPULSE_HOST_SYS: paths.sys, HOSTPULSE_HOST_ROOT: paths.rootfs })
  t.same(cmd.kind === 'once' && cmd.paths, paths)
  t.same(parseCliOptions(['--once'], {}).kind === 'once' && (parseCliOptions(['--once'], {}) as { paths: unknown }).paths, { proc: '/proc', sys: '/sys', rootfs: '/' })
  t.throws(() => parseCliOptions(['--once', '--host-proc', '/nonexistent/proc'], {}), /not a proc filesystem.*--host-proc/)
  t.throws(() => parseCliOptions(['--once', '--host-root', '/nonexistent/root'], {}), /host root .* does not exist/)
})

t.test("user names and the OS come from the host's files under its root, not the container image's", async t => {
  const dir = t.testdir()
  const root = join(dir, 'root')
  mkdirSync(join(root, 'etc'), { recursive: true })
  const uid = process.getuid!()
  writeFileSync(join(root, 'etc', 'passwd'), `hostroot:x:0:0:root:/root:/bin/sh\nhostuser:x:${uid}:${uid}::/home/hostuser:/bin/sh\n`)
  writeFileSync(join(root, 'etc', 'os-release'), 'PRETTY_NAME="Fedora Linux 40 (Server Edition)"\nNAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\n')
  // The host's /proc and /sys are this machine's: the processes are real, the files under the root stand in.
  const paths = { proc: '/proc', sys: '/sys', rootfs: root }
  const image = { os: 'Debian GNU/Linux', os_version: '12', agent_version: 'test', arch: 'x64', cpu_model: 'test', cpu_cores: 1 }
  const batch = await new BatchCollector(() => {}, { paths, hostDetails: async () => ({ ...image }) }).collect({
    collect: { cpu: false, memory: false, disk: false, network: false, processes: true, sessions: false, containers: false } as never,
  })
  t.match(batch.host, { os: 'Fedora Linux', os_version: '40' }, "the host's os-release, not the image's")
  const me = batch.processes?.find(p => p.pid === process.pid)
  t.equal(me?.username, 'hostuser', "this process's uid named as the host's passwd names it")
})

t.test('os-release: quoted and bare values, escapes, comments', async t => {
  const { parseOsRelease } = await import('../../agent/inventory.ts')
  t.same(parseOsRelease('# comment\nNAME="Ubuntu"\nVERSION_ID="24.04"\n'), { name: 'Ubuntu', versionId: '24.04' })
  t.same(parseOsRelease("NAME='Alpine Linux'\nVERSION_ID=3.20.1\n"), { name: 'Alpine Linux', versionId: '3.20.1' })
  t.same(parseOsRelease('NAME="A \\"quoted\\" name"\n'), { name: 'A "quoted" name' })
  t.same(parseOsRelease(''), {})
})
