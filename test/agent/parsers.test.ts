// Pure parsers and calculators, run on fixture text captured from /proc (some fields edited for edge cases).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { counterDelta, counterRate, NATIVE_COUNTER_BITS } from '../../agent/counter-rate.ts'
import { cpuPercents, parseLoadavg, parseProcStat } from '../../agent/cpu.ts'
import { diskIoRates, parseDiskstats, parseMounts, realFilesystems } from '../../agent/disk.ts'
import { cloudProviderFromDmi, defaultRouteInterface } from '../../agent/inventory.ts'
import { memoryMetrics, parseMeminfo } from '../../agent/memory.ts'
import { interfaceIsUp, parseNetDev } from '../../agent/network.ts'
import { parsePidStat, parsePidStatus, stateWord } from '../../agent/process.ts'
import { parseUtmp, UTMP_RECORD_SIZE } from '../../agent/sessions.ts'

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')

t.test('/proc/stat: aggregate, per-core lines, boot time and forks', async t => {
  const s = parseProcStat(fixture('proc-stat.txt'))
  t.same(s.total, { user: 7013, nice: 10, system: 3041, idle: 37670, iowait: 92, irq: 0, softirq: 68, steal: 2773 })
  t.equal(s.cores.length, 2)
  t.equal(s.cores[1].system, 1641)
  t.equal(s.bootTime, 1795000000)
  t.equal(s.forks, 3050, 'processes created since boot')
  t.equal(parseProcStat('cpu  1 2 3 4 5 6 7 8\n').forks, undefined, 'no "processes" line: not known, not 0')
  t.throws(() => parseProcStat('intr 1 2 3\n'), /no aggregate "cpu" line/)
})

t.test('cpu percentages between two samples sum to 100', async t => {
  const before = parseProcStat(fixture('proc-stat.txt')).total
  const after = { ...before, user: before.user + 30, system: before.system + 10, idle: before.idle + 50, iowait: before.iowait + 5, steal: before.steal + 5 }
  const p = cpuPercents(before, after)!
  t.equal(p.user, 30)
  t.equal(p.idle, 50)
  t.equal(p.usage_percent, 45, 'usage excludes idle and iowait')
  const sum = p.user + p.nice + p.system + p.idle + p.iowait + p.irq + p.softirq + p.steal
  t.equal(sum, 100)
  t.equal(cpuPercents(before, before), undefined, 'no time passed: no figures')
})

t.test('/proc/loadavg', async t => {
  t.same(parseLoadavg('0.19 0.28 0.15 1/95 3050\n'), { load1: 0.19, load5: 0.28, load15: 0.15 })
})

t.test('/proc/meminfo in bytes, used = total - available', async t => {
  const info = parseMeminfo(fixture('meminfo.txt'))
  t.equal(info.get('MemTotal'), 24684096 * 1024)
  t.equal(info.get('HugePages_Total'), 0, 'unitless fields are kept as counts')
  const { metrics, totalBytes } = memoryMetrics(info)
  const get = (type: string, name: string) => metrics.find(m => m.metric_type === type && m.metric_name === name)!.value
  t.equal(totalBytes, 24684096 * 1024)
  t.equal(get('memory', 'used_bytes'), (24684096 - 23734492) * 1024)
  t.equal(get('memory', 'cached_bytes'), (236080 + 10000) * 1024)
  t.equal(get('swap', 'used_bytes'), (2097148 - 1048574) * 1024)
  t.equal(get('swap', 'usage_percent'), 50)
})

t.test('/proc/net/dev, including a name glued to its first counter', async t => {
  const ifs = parseNetDev(fixture('proc-net-dev.txt'))
  t.same(ifs.map(i => i.interface), ['lo', 'eth0', 'docker0'])
  t.same(ifs[1], {
    interface: 'eth0', bytes_recv: 176540703, packets_recv: 4946, errors_in: 1, drop_in: 2,
    bytes_sent: 599246, packets_sent: 3463, errors_out: 3, drop_out: 4,
  })
  t.equal(ifs[2].bytes_recv, 12345678901234, '64-bit counters survive as numbers')
  t.equal(ifs[2].bytes_sent, 42)
})

t.test('interface up-ness from operstate and flags', async t => {
  t.equal(interfaceIsUp('up\n', '0x1003\n'), true)
  t.equal(interfaceIsUp('down\n', '0x1002\n'), false)
  t.equal(interfaceIsUp('unknown\n', '0x9\n'), true, 'loopback reports unknown but IFF_UP')
  t.equal(interfaceIsUp('unknown\n', '0x8\n'), false)
})

t.test('counter rates: normal deltas, resets and 32/64-bit wraps', async t => {
  // [case, previous, current, seconds, counter width, expected per-second rate]
  const cases: Array<[string, number, number, number, 32 | 64, number]> = [
    ['steady growth', 1000, 3000, 2, 64, 1000],
    ['no change', 5, 5, 1, 64, 0],
    ['fractional seconds', 0, 50, 0.5, 64, 100],
    // A reset is counted as Prometheus rate()/increase() count it: the counter restarted at 0.
    ['reset: counted from 0 up to the new value', 1_000_000, 10, 1, 64, 10],
    ['reset to zero', 1_000_000, 0, 1, 64, 0],
    ['reset of a 64-bit counter that had passed 2^32', 5_000_000_000, 100, 1, 64, 100],
    ['a 64-bit counter near 2^32 that went back is a reset, not a 32-bit wrap', 4294967000, 200, 1, 64, 200],
    ['reset of a 32-bit counter in the lower half of its range', 1_000_000, 10, 1, 32, 10],
    // A wrap gives the exact delta across the limit.
    ['32-bit wrap', 4294967000, 200, 1, 32, 2 ** 32 - 4294967000 + 200],
    ['32-bit wrap over 2 s', 2 ** 32 - 1000, 1000, 2, 32, 1000],
    ['64-bit wrap', 2 ** 64 - 4096, 1000, 1, 64, 5096],
    ['64-bit wrap right at the limit', 2 ** 64 - 2048, 0, 1, 64, 2048],
    ['zero elapsed', 0, 100, 0, 64, 0],
    ['negative elapsed (clock oddity)', 0, 100, -1, 64, 0],
    ['NaN input', NaN, 100, 1, 64, 0],
    ['negative input', -5, 100, 1, 64, 0],
  ]
  for (const [name, prev, cur, secs, bits, want] of cases) {
    const rate = counterRate(prev, cur, secs, bits)
    t.equal(rate, want, name)
    t.ok(rate >= 0 && Number.isFinite(rate), `${name}: finite, never negative`)
  }
  t.equal(counterDelta(2 ** 32 - 1, 0, 32), 1, 'one step past the 32-bit limit')
  t.equal(NATIVE_COUNTER_BITS, ['x64', 'arm64', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el'].includes(process.arch) ? 64 : 32, 'this kernel\'s counter width')
  // A delta never exceeds half the counter range, so a reset is never read as a giant wrap.
  for (let prev = 0; prev < 2 ** 32; prev += 2 ** 28) {
    t.ok(counterDelta(prev, 1, 32) < 2 ** 31, `32-bit: decrease from ${prev} gives a bounded delta`)
  }
})

t.test('/proc/[pid]/stat with spaces and parentheses in the name', async t => {
  const s = parsePidStat(fixture('pid-stat.txt'))
  t.same(s, {
    pid: 4242, name: 'tmux: server (main) x', state: 'S', ppid: 1,
    utime: 150, stime: 75, numThreads: 3, startTicks: 98765, vsizeBytes: 123456789,
  })
  t.throws(() => parsePidStat('garbage'), /malformed/)
})

t.test('/proc/[pid]/status: uid and resident memory', async t => {
  t.same(parsePidStatus('Name:\tx\nUid:\t1000\t1000\t1000\t1000\nVmRSS:\t  2048 kB\n'), { uid: 1000, rssBytes: 2048 * 1024 })
  t.same(parsePidStatus('Name:\tkthreadd\nUid:\t0\t0\t0\t0\n'), { uid: 0, rssBytes: 0 }, 'kernel threads have no VmRSS')
})

t.test('process states become words', async t => {
  const table: Record<string, string> = { R: 'running', S: 'sleeping', D: 'disk-sleep', Z: 'zombie', T: 'stopped', t: 'stopped', I: 'idle' }
  for (const [code, word] of Object.entries(table)) t.equal(stateWord(code), word, code)
})

t.test('mounts: unescaping, pseudo filesystems and bind-mount dedupe', async t => {
  const mounts = parseMounts(fixture('mounts.txt'))
  t.equal(mounts[4].mountPoint, '/mnt/my disk')
  const real = realFilesystems(mounts)
  t.same(real.map(m => m.mountPoint), ['/', '/mnt/my disk', '/var/lib/docker/overlay2/abc/merged'])
})

t.test('diskstats rates: 512-byte sectors, util capped at 100', async t => {
  const [sda, sda1] = parseDiskstats(fixture('diskstats.txt'))
  t.equal(sda.name, 'sda')
  t.equal(sda1.sectorsWritten, 38000)
  const later = { ...sda, sectorsRead: sda.sectorsRead + 2000, readsCompleted: sda.readsCompleted + 20, writesCompleted: sda.writesCompleted + 4, ioTicksMs: sda.ioTicksMs + 500 }
  t.same(diskIoRates(sda, later, 2), { read_bytes_per_sec: 512_000, write_bytes_per_sec: 0, read_ops_per_sec: 10, write_ops_per_sec: 2, io_util_percent: 25 })
  t.equal(diskIoRates(sda, { ...sda, ioTicksMs: sda.ioTicksMs + 5000 }, 1).io_util_percent, 100)
  t.equal(diskIoRates(later, sda, 1).read_bytes_per_sec, sda.sectorsRead * 512, 'a counter that went back is a reset: counted from 0, never negative')
})

t.test('utmp: only USER_PROCESS records count', async t => {
  const rec = (type: number, user: string, tty: string, host: string, pid: number, sec: number) => {
    const b = Buffer.alloc(UTMP_RECORD_SIZE)
    b.writeInt16LE(type, 0)
    b.writeInt32LE(pid, 4)
    b.write(tty, 8)
    b.write(user, 44)
    b.write(host, 76)
    b.writeInt32LE(sec, 340)
    return b
  }
  const buf = Buffer.concat([
    rec(2, 'reboot', '~', '6.1.0', 0, 1700000000), // BOOT_TIME
    rec(7, 'alice', 'pts/0', '203.0.113.9', 1234, 1700000100),
    rec(8, 'bob', 'pts/1', '', 999, 1700000200), // DEAD_PROCESS: logged out
    rec(7, 'carol', 'tty1', '', 777, 1700000300),
    Buffer.alloc(100), // torn tail is ignored
  ])
  t.same(parseUtmp(buf), [
    { pid: 1234, tty: 'pts/0', user: 'alice', host: '203.0.113.9', login_time: '2023-11-14T22:15:00.000Z' },
    { pid: 777, tty: 'tty1', user: 'carol', host: '', login_time: '2023-11-14T22:18:20.000Z' },
  ])
})

t.test('cloud provider from DMI strings', async t => {
  const cases: Array<[object, string | undefined]> = [
    [{ sys_vendor: 'Amazon EC2', product_name: 'm5.large' }, 'aws'],
    [{ sys_vendor: 'Xen', bios_version: '4.11.amazon' }, 'aws'],
    [{ sys_vendor: 'Google', product_name: 'Google Compute Engine' }, 'gcp'],
    [{ sys_vendor: 'Microsoft Corporation', product_name: 'Virtual Machine', chassis_asset_tag: '7783-7084-3265-9085-8269-3286-77' }, 'azure'],
    [{ sys_vendor: 'Microsoft Corporation', product_name: 'Virtual Machine' }, undefined],
    [{ sys_vendor: 'DigitalOcean', product_name: 'Droplet' }, 'digitalocean'],
    [{ sys_vendor: 'Hetzner', product_name: 'vServer' }, 'hetzner'],
    [{ sys_vendor: 'QEMU', product_name: 'Standard PC (i440FX + PIIX, 1996)' }, undefined],
    [{}, undefined],
  ]
  for (const [ids, want] of cases) t.equal(cloudProviderFromDmi(ids), want, JSON.stringify(ids))
})

t.test('default route interface from /proc/net/route', async t => {
  const text = 'Iface\tDestination\tGateway \tFlags\n' +
    'eth1\t0000A8C0\t00000000\t0001\n' +
    'eth0\t00000000\t0102A8C0\t0003\n'
  t.equal(defaultRouteInterface(text), 'eth0')
  t.equal(defaultRouteInterface('Iface\tDestination\n'), undefined)
})

t.test('Retry-After: delay-seconds, HTTP date, garbage, and the cap', async t => {
  const { parseRetryAfter, RETRY_AFTER_CAP_MS } = await import('../../agent/send-batches.ts')
  const now = Date.parse('2030-05-01T12:00:00Z')
  t.equal(parseRetryAfter('120', now), 120_000)
  t.equal(parseRetryAfter(' 0 ', now), 0)
  t.equal(parseRetryAfter('Wed, 01 May 2030 12:00:30 GMT', now), 30_000)
  t.equal(parseRetryAfter('Wed, 01 May 2030 11:00:00 GMT', now), 0, 'a date in the past means now')
  t.equal(parseRetryAfter('soon', now), undefined)
  t.equal(parseRetryAfter('-5', now), undefined)
  t.equal(parseRetryAfter(undefined, now), undefined)
  t.equal(parseRetryAfter('999999', now), RETRY_AFTER_CAP_MS, 'capped at an hour')
})

t.test('the top N processes by CPU, then memory, in their original order', async t => {
  const { topProcesses, helperPids } = await import('../../agent/process.ts')
  const p = (pid: number, cpu: number, mem: number) => ({ pid, name: `p${pid}`, cpu_percent: cpu, memory_bytes: mem, memory_percent: 0 })
  const list = [p(1, 0, 10), p(2, 50, 1), p(3, 0, 500), p(4, 50, 9), p(5, 5, 0)]
  t.same(topProcesses(list, 3).map(x => x.pid), [2, 4, 5])
  t.same(topProcesses(list, 4).map(x => x.pid), [2, 3, 4, 5], 'equal CPU: more memory first')
  t.same(topProcesses(list, 10), list)
  t.same(topProcesses(list, 0), [])

  const tree = [{ pid: 1, ppid: 0 }, { pid: 100, ppid: 1 }, { pid: 200, ppid: 100 }, { pid: 201, ppid: 200 }, { pid: 202, ppid: 201 }, { pid: 300, ppid: 1 }]
  t.same([...helperPids(tree, 100)].sort(), [200, 201, 202], 'everything below the agent, not the agent')
  t.same([...helperPids(tree, 999)], [], 'an agent with no children has no helpers')
})

t.test('config file, sizes and the new flags', async t => {
  const { parseCliOptions, parseEnvFile, parseSize } = await import('../../agent/cli-options.ts')
  const { mkdtempSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  t.same(parseEnvFile('# agent\nHOSTPULSE_SERVER=http://127.0.0.1:8080\nexport HOSTPULSE_API_KEY="k 1"\n\nbad line\nHOSTPULSE_INTERVAL=\'30s\'\n'),
    { HOSTPULSE_SERVER: 'http://127.0.0.1:8080', HOSTPULSE_API_KEY: 'k 1', HOSTPULSE_INTERVAL: '30s' })
  t.equal(parseSize('100MiB'), 100 * 1024 ** 2)
  t.equal(parseSize('1GB'), 1e9)
  t.equal(parseSize('512k'), 512 * 1024)
  t.equal(parseSize('4096'), 4096)
  t.throws(() => parseSize('lots'), /is not a size; write it like 100MiB/)
  t.throws(() => parseSize('5 parsecs'), /is not a size/)

  const dir = mkdtempSync(`${tmpdir()}/agent-env-`)
  writeFileSync(`${dir}/agent.env`, 'HOSTPULSE_SERVER=http://127.0.0.1:9\nHOSTPULSE_ENROLL_TOKEN=tok\nHOSTPULSE_BUFFER_MAX_SIZE=10MiB\nHOSTPULSE_BUFFER_MAX_AGE=2d\nHOSTPULSE_INTERVAL=20s\n')
  const cmd = parseCliOptions(['--config', `${dir}/agent.env`, '--interval', '15s', '--data-dir', dir], { HOSTPULSE_BUFFER_MAX_AGE: '12h' })
  t.same(cmd, {
    kind: 'run', serverUrl: 'http://127.0.0.1:9', apiKey: undefined, enrollToken: 'tok', intervalMs: 15_000, dataDir: dir,
    logLevel: 'info', bufferMaxBytes: 10 * 1024 ** 2, bufferMaxAgeMs: 12 * 3600_000,
    paths: { proc: '/proc', sys: '/sys', rootfs: '/' }, commandLines: { mode: 'full', extraPatterns: [] }, warnings: [],
    logs: { files: [], journal: true, maxLines: 1000, maxBytes: 256 * 1024 },
  }, 'flag beats environment beats the file')
  t.throws(() => parseCliOptions(['--config', `${dir}/missing.env`], {}), /cannot read config file .*missing\.env \(ENOENT\)/)
  t.throws(() => parseCliOptions(['--server', 'http://x', '--api-key', 'k', '--buffer-max-size', '1k', '--data-dir', dir], {}), /below 64KiB/)
  t.throws(() => parseCliOptions(['--server', 'http://x', '--data-dir', dir], {}), /no API key given; .* or register this host with --enroll-token TOKEN/)
  writeFileSync(`${dir}/agent-key.json`, '{"api_key":"stored","server_url":"http://x"}')
  t.equal((parseCliOptions(['--server', 'http://x', '--data-dir', dir], {}) as { apiKey?: string }).apiKey, undefined, 'a stored key from an enrollment is enough to start')
})
