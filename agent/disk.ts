// Filesystems (mounts + statfs) and block-device I/O (/proc/diskstats deltas).
import { readdir, realpath, stat, statfs } from 'node:fs/promises'
import { basename } from 'node:path'
import type { DiskItem, MetricItem } from '../contract/ingest-batch.ts'
import { counterRate, round } from './counter-rate.ts'
import { DEFAULT_HOST_PATHS, onHost, type HostPaths } from './host-paths.ts'
import { readPseudoFile, readPseudoFileOr } from './pseudo-files.ts'

/** Filesystem types that hold no user data (kernel views, RAM-backed, container plumbing). */
const PSEUDO_FS = new Set([
  'proc', 'sysfs', 'devtmpfs', 'devpts', 'tmpfs', 'ramfs', 'cgroup', 'cgroup2', 'pstore', 'bpf',
  'securityfs', 'debugfs', 'tracefs', 'configfs', 'fusectl', 'mqueue', 'hugetlbfs', 'autofs',
  'binfmt_misc', 'rpc_pipefs', 'nsfs', 'efivarfs', 'squashfs', 'fuse.lxcfs', 'fuse.portal',
  'fuse.gvfsd-fuse', 'selinuxfs', 'nfsd', 'overlayfs-meta', 'devfs', 'sunrpc',
])

export interface MountEntry { device: string; mountPoint: string; fsType: string }

/** /proc/self/mounts escapes space, tab, newline and backslash as octal (\040). */
const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))

export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = []
  for (const line of text.split('\n')) {
    const [device, mountPoint, fsType] = line.split(' ')
    if (!device || !mountPoint || !fsType) continue
    out.push({ device: unescapeMount(device), mountPoint: unescapeMount(mountPoint), fsType })
  }
  return out
}

/** Mounts worth reporting: real filesystems, each device once (bind mounts repeat the device). */
export function realFilesystems(mounts: MountEntry[]): MountEntry[] {
  const byDevice = new Map<string, MountEntry>()
  for (const m of mounts) {
    if (PSEUDO_FS.has(m.fsType)) continue
    // Overlay roots all say "overlay": key those by mount point instead.
    const key = m.fsType === 'overlay' ? `overlay:${m.mountPoint}` : m.device
    const kept = byDevice.get(key)
    if (!kept || m.mountPoint.length < kept.mountPoint.length) byDevice.set(key, m)
  }
  return [...byDevice.values()]
}

export interface DiskStat {
  major: number; minor: number; name: string
  readsCompleted: number; sectorsRead: number; writesCompleted: number; sectorsWritten: number
  ioTicksMs: number
}

export function parseDiskstats(text: string): DiskStat[] {
  const out: DiskStat[] = []
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    if (f.length < 14) continue
    out.push({
      major: Number(f[0]), minor: Number(f[1]), name: f[2],
      readsCompleted: Number(f[3]), sectorsRead: Number(f[5]),
      writesCompleted: Number(f[7]), sectorsWritten: Number(f[9]),
      ioTicksMs: Number(f[12]),
    })
  }
  return out
}

export interface DiskIoRates {
  read_bytes_per_sec: number; write_bytes_per_sec: number
  read_ops_per_sec: number; write_ops_per_sec: number
  io_util_percent: number
}

/** Rates between two /proc/diskstats samples; sectors are always 512 bytes there. */
export function diskIoRates(prev: DiskStat, cur: DiskStat, elapsedSeconds: number): DiskIoRates {
  return {
    read_bytes_per_sec: round(counterRate(prev.sectorsRead, cur.sectorsRead, elapsedSeconds) * 512),
    write_bytes_per_sec: round(counterRate(prev.sectorsWritten, cur.sectorsWritten, elapsedSeconds) * 512),
    read_ops_per_sec: round(counterRate(prev.readsCompleted, cur.readsCompleted, elapsedSeconds)),
    write_ops_per_sec: round(counterRate(prev.writesCompleted, cur.writesCompleted, elapsedSeconds)),
    io_util_percent: round(Math.min(100, counterRate(prev.ioTicksMs, cur.ioTicksMs, elapsedSeconds) / 10)),
  }
}

/** Linux dev_t split as glibc's major()/minor() do. */
function devNumbers(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn)
  return `${major}:${minor}`
}

export interface DiskSample { disks: DiskItem[]; metrics: MetricItem[] }

/** How long a mount's statfs may take before the mount is left out (node_exporter's mount timeout). */
export const MOUNT_TIMEOUT_MS = 5_000

/**
 * How many hung filesystem calls may hold libuv's file threads (4 by default) before no more mounts that
 * could hang are asked: the agent's own file work (its queue, /proc) needs the rest.
 */
export const MAX_STALLED_MOUNTS = 2

/**
 * Mounts whose filesystem call has not returned (a hard NFS mount whose server is gone, a hung FUSE daemon),
 * by the path they were reached at. Such a call holds one of libuv's few file threads until it returns, so
 * the mount is not asked again meanwhile. Kept for the process, not per collector: a collector made again
 * (disks switched off and on by the server) must not ask again either.
 */
const stalledMounts = new Set<string>()

export interface DiskCollectorOptions {
  /** A mount whose statfs/stat has not answered within this is left out until that call returns. */
  mountTimeoutMs?: number
  log?: (level: 'warn' | 'info', message: string) => void
  /** The filesystem call (tests stand in a hung one). */
  statfs?: (path: string) => Promise<StatFsFigures>
}

interface StatFsFigures { blocks: number; bsize: number; bfree: number; bavail: number; files: number; ffree: number }

/** Keeps the previous diskstats sample so each call reports I/O since the last call. */
export class DiskCollector {
  private previous: { at: number; stats: Map<string, DiskStat> } | undefined
  private wholeDevices: Set<string> | undefined

  private readonly procRoot: string
  private readonly sysRoot: string
  private readonly mountTimeoutMs: number
  /** Whether the log already says that mounts are not asked while MAX_STALLED_MOUNTS calls hang. */
  private saidFull = false
  private readonly log: NonNullable<DiskCollectorOptions['log']>
  private readonly statfs: NonNullable<DiskCollectorOptions['statfs']>

  constructor(private readonly paths: HostPaths = DEFAULT_HOST_PATHS, opts: DiskCollectorOptions = {}) {
    this.procRoot = paths.proc
    this.sysRoot = paths.sys
    this.mountTimeoutMs = opts.mountTimeoutMs ?? MOUNT_TIMEOUT_MS
    this.log = opts.log ?? (() => {})
    this.statfs = opts.statfs ?? statfs
  }

  /** The mount's filesystem figures and its stat, or undefined when it is stalled (or has just stalled). */
  private async probeMount(m: MountEntry): Promise<{ item: DiskItem; dev: bigint | undefined } | undefined> {
    const reachable = onHost(this.paths, m.mountPoint)
    if (stalledMounts.has(reachable)) return undefined
    const call = (async () => {
      const item = await filesystemItem(m, reachable, this.statfs)
      const st = item ? await stat(reachable, { bigint: true }).catch(() => undefined) : undefined
      return item ? { item, dev: st?.dev } : undefined
    })()
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), this.mountTimeoutMs) })
    const result = await Promise.race([call, timedOut])
    clearTimeout(timer)
    if (result !== 'timeout') return result
    stalledMounts.add(reachable)
    this.log('warn', `filesystem ${m.mountPoint} (${m.fsType}, ${m.device}) did not answer within ${this.mountTimeoutMs} ms; it is left out until it does`)
    void call.finally(() => {
      stalledMounts.delete(reachable)
      this.log('info', `filesystem ${m.mountPoint} answers again`)
    }).catch(() => {})
    return undefined
  }

  async collect(): Promise<DiskSample> {
    // In a container our own mount table is the container's: the host's init process has the host's.
    const mountsFile = this.paths.rootfs === '/' ? 'self/mounts' : '1/mounts'
    const mountsText = readPseudoFile(`${this.procRoot}/${mountsFile}`)
    const diskstatsText = readPseudoFileOr(`${this.procRoot}/diskstats`, '')
    const at = performance.now()
    const stats = new Map(parseDiskstats(diskstatsText).map(s => [s.name, s]))
    const previous = this.previous
    // A disk attached since the last look (a hot-added volume) is in /proc/diskstats first: look at /sys/block again.
    if (previous && [...stats.keys()].some(name => !previous.stats.has(name))) this.wholeDevices = undefined
    this.previous = { at, stats }
    const elapsed = previous ? (at - previous.at) / 1000 : 0

    const rates = new Map<string, DiskIoRates>()
    if (previous) {
      for (const [name, cur] of stats) {
        const before = previous.stats.get(name)
        if (before) rates.set(name, diskIoRates(before, cur, elapsed))
      }
    }
    const byNumbers = new Map([...stats.values()].map(s => [`${s.major}:${s.minor}`, s.name]))

    const measure = async (m: MountEntry): Promise<DiskItem | undefined> => {
      const probed = await this.probeMount(m)
      if (!probed) return undefined
      const statName = await this.statNameFor(m, probed.dev, byNumbers, stats)
      const io = statName ? rates.get(statName) : undefined
      return io ? { ...probed.item, ...io } : probed.item
    }
    // Filesystems on a local block device are asked all at once. The others (network, FUSE), which can hang,
    // only as many at a time as hung calls may still be added, and none while MAX_STALLED_MOUNTS hang.
    const mounts = realFilesystems(parseMounts(mountsText))
    const local = mounts.filter(m => m.device.startsWith('/dev/'))
    const remote = mounts.filter(m => !m.device.startsWith('/dev/'))
    const measured = new Map<MountEntry, DiskItem | undefined>()
    await Promise.all(local.map(async m => measured.set(m, await measure(m))))
    for (let i = 0; i < remote.length;) {
      const room = MAX_STALLED_MOUNTS - stalledMounts.size
      if (room <= 0) {
        if (!this.saidFull) this.log('warn', `${stalledMounts.size} filesystems do not answer; network and FUSE filesystems are not asked until one does`)
        this.saidFull = true
        break
      }
      const slice = remote.slice(i, i + room)
      await Promise.all(slice.map(async m => measured.set(m, await measure(m))))
      i += slice.length
    }
    if (stalledMounts.size < MAX_STALLED_MOUNTS) this.saidFull = false
    const disks = mounts.map(m => measured.get(m)).filter((d): d is DiskItem => d !== undefined)

    const metrics: MetricItem[] = []
    const whole = await this.wholeBlockDevices()
    for (const [name, io] of rates) {
      if (!whole.has(name)) continue
      for (const [metric_name, value] of Object.entries(io)) {
        metrics.push({ metric_type: 'diskio', metric_name, value, tags: { device: name } })
      }
    }
    return { disks, metrics }
  }

  /** Finds the diskstats line of a mount: by dev_t first (works for /dev/root), then by device path. */
  private async statNameFor(m: MountEntry, dev: bigint | undefined, byNumbers: Map<string, string>, stats: Map<string, DiskStat>): Promise<string | undefined> {
    const viaNumbers = dev !== undefined ? byNumbers.get(devNumbers(dev)) : undefined
    if (viaNumbers) return viaNumbers
    if (!m.device.startsWith('/dev/')) return undefined
    const name = basename(await realpath(m.device).catch(() => m.device))
    return stats.has(name) ? name : undefined
  }

  /** Whole disks from /sys/block, minus loop and RAM disks; read again only when a new device shows up. */
  private async wholeBlockDevices(): Promise<Set<string>> {
    if (!this.wholeDevices) {
      const names = await readdir(`${this.sysRoot}/block`).catch(() => [] as string[])
      this.wholeDevices = new Set(names.filter(n => !/^(loop|ram)\d+$/.test(n)))
    }
    return this.wholeDevices
  }
}

/** `reachable`: the mount point as this process reaches it (under the host root in a container). */
async function filesystemItem(m: MountEntry, reachable: string, statfsOf: (path: string) => Promise<StatFsFigures>): Promise<DiskItem | undefined> {
  const s = await statfsOf(reachable).catch(() => undefined)
  if (!s || s.blocks === 0) return undefined
  const total = s.blocks * s.bsize
  const used = (s.blocks - s.bfree) * s.bsize
  const available = s.bavail * s.bsize
  // Like df: usage is used / (used + available), since root-reserved blocks are not usable.
  const usable = used + available
  const inodesUsed = s.files - s.ffree
  return {
    device: m.device,
    mount_point: m.mountPoint,
    filesystem: m.fsType,
    total_bytes: total,
    used_bytes: used,
    available_bytes: available,
    usage_percent: usable > 0 ? round((used / usable) * 100) : 0,
    inodes_total: s.files,
    inodes_used: inodesUsed,
    inodes_percent: s.files > 0 ? round((inodesUsed / s.files) * 100) : 0,
  }
}
