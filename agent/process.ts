// Every process from /proc/[pid]/{stat,status,cmdline}, with CPU % from utime+stime deltas, disk bytes read
// and written per second from /proc/[pid]/io deltas, and its open file descriptors (/proc/[pid]/fd). The last
// two are readable only for the agent's own user's processes unless it runs as root (or with
// CAP_SYS_PTRACE): for the others they are left out, and the collector says so once.
//
// Most processes on a host sleep through most collections. A process whose stat line is byte for byte what it
// was last time has not used a clock tick of CPU, faulted a page, grown or changed state: it is reported as
// before (at 0 % CPU and no I/O) without reading its other files or parsing anything, and is read in full
// again at least every REREAD_MS. That is what lets a collection over 500 processes cost about what
// node_exporter's scrape costs. What a sleeping process does in under a tick (a short write, a retitle) shows
// within REREAD_MS, its bytes spread over the time since its counters were last read. A process whose stat
// changed is read in full (status, command line, I/O); its descriptors are counted every REREAD_MS. /proc is
// listed only when the machine's fork count moved since the last listing (or that is REREAD_MS old).
import { closeSync, openSync, readdirSync, readSync, statfsSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { ProcessItem } from '../contract/ingest-batch.ts'
import { commandLineReporter, DEFAULT_COMMAND_LINES } from './command-lines.ts'
import { round } from './counter-rate.ts'
import { readOpenPseudoFile, readPseudoFile, readPseudoFileOr } from './pseudo-files.ts'

/** Processes read per event-loop turn: sync reads are ~10x cheaper than fs.promises for tiny /proc files. */
const PIDS_PER_TURN = 64

/** /proc/[pid] files come whole in one read of this size; cmdline is cut to 4096 characters anyway. */
const PID_FILE_BYTES = 16 * 1024

const PID_FILES = ['stat', 'status', 'cmdline', 'io'] as const
type PidFile = Exclude<(typeof PID_FILES)[number], 'stat'>
/** Held descriptors per process: the four above and schedstat. */
const HELD_FILES_PER_PROCESS = PID_FILES.length + 1
/** Every process is read in full at least this often (its stat every collection), and its descriptors counted. */
export const REREAD_MS = 10_000

/** /proc/[pid]/io is seven short lines. */
const IO_FILE_BYTES = 512

/**
 * A process's /proc files, held open from one collection to the next: a read from offset 0 regenerates them,
 * so the next collection reads each with one syscall instead of open, read and close (a third of the CPU).
 * A held file keeps pointing at its own process: once that exits, reads fail and the pid is opened afresh.
 * Without `hold` (past the descriptor budget) each read opens and closes its file.
 */
class PidFiles {
  private readonly fds = new Map<PidFile, number | null>()
  /** Read every collection, so kept apart from the others. */
  private statFd = -1
  private schedFd = -1

  constructor(private readonly dir: string, private readonly hold: boolean) {}

  /** The file's text; throws when the process is gone. */
  read(file: PidFile, bytes = PID_FILE_BYTES): string {
    if (!this.hold) return readPseudoFile(`${this.dir}/${file}`, bytes)
    let fd = this.fds.get(file)
    if (fd === undefined) {
      fd = openSync(`${this.dir}/${file}`, 'r')
      this.fds.set(file, fd)
    }
    if (fd === null) throw new Error(`${this.dir}/${file} may not be opened`)
    return readOpenPseudoFile(fd, bytes)
  }

  get holds(): boolean {
    return this.hold
  }

  /** The stat line's bytes, in `into` (returned: the length); throws when the process is gone. */
  readStatBytes(into: Buffer): number {
    if (!this.hold) {
      const fd = openSync(`${this.dir}/stat`, 'r')
      try { return readSync(fd, into, 0, into.length, 0) } finally { closeSync(fd) }
    }
    if (this.statFd < 0) this.statFd = openSync(`${this.dir}/stat`, 'r')
    return readSync(this.statFd, into, 0, into.length, 0)
  }

  /** /proc/[pid]/schedstat's bytes, in `into`, through a held file (only held files are asked). */
  readSchedstat(into: Buffer): number {
    if (this.schedFd < 0) this.schedFd = openSync(`${this.dir}/schedstat`, 'r')
    return readSync(this.schedFd, into, 0, into.length, 0)
  }

  /**
   * /proc/[pid]/io, or undefined when the kernel refuses it: it checks the right to read another process's
   * I/O at every read, not only at open (seen for pid 1 in a container), and a refusal must not cost the process.
   * A file that cannot be opened is not tried again while it is held.
   */
  readIo(): string | undefined {
    if (this.hold && this.fds.get('io') === null) return undefined
    try {
      return this.read('io', IO_FILE_BYTES)
    } catch {
      if (this.hold && !this.fds.has('io')) this.fds.set('io', null)
      return undefined
    }
  }

  close(): void {
    for (const fd of this.fds.values()) if (fd !== null) closeSync(fd)
    this.fds.clear()
    if (this.statFd >= 0) closeSync(this.statFd)
    if (this.schedFd >= 0) closeSync(this.schedFd)
    this.statFd = -1
    this.schedFd = -1
  }
}

/** Bytes the process caused to be read from and written to storage (`read_bytes`, `write_bytes` of /proc/[pid]/io). */
export function parsePidIo(text: string): { readBytes: number; writeBytes: number } | undefined {
  const readBytes = ioField(text, '\nread_bytes:')
  const writeBytes = ioField(text, '\nwrite_bytes:')
  return readBytes === undefined || writeBytes === undefined ? undefined : { readBytes, writeBytes }
}

/** The number after `label` (which starts with the newline ending the line before it). */
function ioField(text: string, label: string): number | undefined {
  const at = text.indexOf(label)
  if (at < 0) return undefined
  const end = text.indexOf('\n', at + label.length)
  const value = Number(text.slice(at + label.length, end < 0 ? text.length : end))
  return Number.isFinite(value) ? value : undefined
}

/** PROC_SUPER_MAGIC: statfs's type of a procfs mount. */
const PROC_SUPER_MAGIC = 0x9fa0

/**
 * How a process's open descriptors are counted under `procRoot`. Since Linux 6.2 a stat of /proc/[pid]/fd
 * gives the count as its size (one syscall, and for every process, like `ls -l /proc`); before, only a
 * listing of the directory, which the kernel allows for the agent's own user's processes unless it is
 * privileged, at ~20 µs a process. The count is undefined when it may not be had.
 */
function openFdCounter(procRoot: string): { count: (dir: string) => number | undefined; everyProcess: boolean } {
  const listing = (dir: string) => {
    try {
      return readdirSync(`${dir}/fd`).length
    } catch {
      return undefined
    }
  }
  try {
    if (statfsSync(procRoot).type !== PROC_SUPER_MAGIC || statSync(`${procRoot}/self/fd`).size === 0) return { count: listing, everyProcess: false }
  } catch {
    return { count: listing, everyProcess: false }
  }
  const bySize = (dir: string) => {
    try {
      return statSync(`${dir}/fd`).size
    } catch {
      return undefined
    }
  }
  return { count: bySize, everyProcess: true }
}

/** Each held process costs ~10-15 kB of kernel memory (seq_file buffers, five open files): beyond this many, files are opened per read. */
const MAX_HELD_PROCESSES = 1024

/** How many processes may have their files held: HELD_FILES_PER_PROCESS descriptors each, within half the soft limit on open files. */
export function heldProcessBudget(limitsText: string): number {
  const soft = Number(/^Max open files\s+(\d+|unlimited)/m.exec(limitsText)?.[1].replace('unlimited', 'Infinity') ?? 1024)
  return Math.max(0, Math.min(MAX_HELD_PROCESSES, Math.floor((soft / 2 - 64) / HELD_FILES_PER_PROCESS)))
}

/** /proc entries that are processes: all digits. */
function isPidName(name: string): boolean {
  if (name.length === 0) return false
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

/** USER_HZ; 100 on every mainstream Linux build (getconf CLK_TCK), not exposed to Node. */
const CLK_TCK = 100

const STATE_WORDS: Record<string, string> = {
  R: 'running', S: 'sleeping', D: 'disk-sleep', Z: 'zombie', T: 'stopped', t: 'stopped',
  I: 'idle', X: 'dead', x: 'dead', P: 'parked', W: 'paging', K: 'wakekill',
}

export interface PidStat {
  pid: number; name: string; state: string; ppid: number
  utime: number; stime: number; numThreads: number; startTicks: number; vsizeBytes: number
}

/** One /proc/[pid]/stat line. The name sits in parentheses and may itself hold spaces and ')'. */
export function parsePidStat(text: string): PidStat {
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 0 || close < open) throw new Error(`malformed /proc/[pid]/stat: ${text.slice(0, 80)}`)
  // The fields after the name, split at single spaces; only the seven used are cut out of the text.
  const rest = text.slice(close + 2).trim()
  const f: Array<string | undefined> = []
  for (let from = 0, i = 0; i <= 20; i++) {
    if (from > rest.length) break
    let to = rest.indexOf(' ', from)
    if (to < 0) to = rest.length
    if (i <= 1 || i === 11 || i === 12 || i === 17 || i === 19 || i === 20) f[i] = rest.slice(from, to)
    from = to + 1
  }
  return {
    pid: Number(text.slice(0, open).trim()),
    name: text.slice(open + 1, close),
    state: f[0] as string,
    ppid: Number(f[1]),
    utime: Number(f[11]),
    stime: Number(f[12]),
    numThreads: Number(f[17]),
    startTicks: Number(f[19]),
    vsizeBytes: Number(f[20]),
  }
}

/** The digits after `field` and its blanks at the start of a line (`^Uid:\s+(\d+)`), with the blanks that follow them. */
function statusNumber(text: string, field: string): { value: string; end: number } | undefined {
  const line = text.startsWith(field) ? 0 : text.indexOf(`\n${field}`) + 1
  if (line === 0 && !text.startsWith(field)) return undefined
  let i = line + field.length
  const blanks = i
  while (i < text.length && /\s/.test(text[i])) i++
  const digits = i
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++
  if (digits === blanks || i === digits) return undefined
  return { value: text.slice(digits, i), end: i }
}

/** The few /proc/[pid]/status fields stat lacks: real uid and resident memory (absent for kernel threads). */
export function parsePidStatus(text: string): { uid: number; rssBytes: number } {
  const uid = statusNumber(text, 'Uid:')
  const rss = statusNumber(text, 'VmRSS:')
  const kb = rss !== undefined && /^\s+kB/.test(text.slice(rss.end, rss.end + 8))
  return { uid: uid ? Number(uid.value) : -1, rssBytes: rss && kb ? Number(rss.value) * 1024 : 0 }
}

export function stateWord(code: string): string {
  return STATE_WORDS[code] ?? code
}

/** uid → name from the host's /etc/passwd, re-read at most once a minute when an unknown uid shows up. */
class UserNames {
  private names = new Map<number, string>()
  private loadedAt = -Infinity

  /** `passwd`: the host's file (under its root in a container, not the image's). */
  constructor(private readonly passwd = '/etc/passwd') {}

  /** Reads /etc/passwd again when one of `uids` is unknown and the last read is a minute old. */
  async refresh(uids: Iterable<number>): Promise<void> {
    if (performance.now() - this.loadedAt <= 60_000) return
    for (const uid of uids) {
      if (uid >= 0 && !this.names.has(uid)) return this.load()
    }
  }

  /** The name, cut to what the wire takes; the uid itself when /etc/passwd has none. */
  name(uid: number): string {
    return (this.names.get(uid) ?? String(uid)).slice(0, 128)
  }

  private async load(): Promise<void> {
    this.loadedAt = performance.now()
    const text = await readFile(this.passwd, 'utf8').catch(() => '')
    for (const line of text.split('\n')) {
      const [name, , uid] = line.split(':')
      if (name && uid !== undefined && uid !== '') this.names.set(Number(uid), name)
    }
  }
}

/**
 * Pids below `selfPid` in the tree: processes the agent itself started. They exist only because the agent
 * looked, so they must not show up in what it reports. The agent itself stays listed: its cost is real.
 */
export function helperPids(stats: Array<Pick<PidStat, 'pid' | 'ppid'>>, selfPid: number): Set<number> {
  // Most collections find no child of the agent: no map of the whole tree is needed then.
  if (!stats.some(s => s.ppid === selfPid)) return new Set()
  const children = new Map<number, number[]>()
  for (const s of stats) {
    const list = children.get(s.ppid)
    if (list) list.push(s.pid)
    else children.set(s.ppid, [s.pid])
  }
  const helpers = new Set<number>()
  const todo = [...(children.get(selfPid) ?? [])]
  while (todo.length > 0) {
    const pid = todo.pop()!
    if (helpers.has(pid) || pid === selfPid) continue
    helpers.add(pid)
    todo.push(...(children.get(pid) ?? []))
  }
  return helpers
}

/**
 * The `limit` processes that matter most, by CPU % then resident memory (the server's max_processes).
 * Order of the result follows the input so a process tree stays readable.
 */
export function topProcesses(items: ProcessItem[], limit: number): ProcessItem[] {
  if (!(limit >= 0) || items.length <= limit) return items
  const keep = new Set([...items].sort((a, b) => b.cpu_percent - a.cpu_percent || b.memory_bytes - a.memory_bytes).slice(0, limit))
  return items.filter(p => keep.has(p))
}

export interface ProcessContext {
  bootTime: number; memTotalBytes: number
  /**
   * Processes and threads created on the machine since boot (/proc/stat's `processes`), read before this
   * collection; undefined when not known. While it stands still no process can have appeared, so the pids of
   * the last collection are read again without listing /proc (a listing costs as much as reading a hundred processes).
   */
  forks?: number
}

/** What the last collection saw of a process, and what it reported for it. */
interface Seen {
  /**
   * Its stat line's bytes as read, one character per byte (latin1): the same next time means it has not run
   * since. Compared as strings: a third of what Buffer.compare's argument checks cost per process.
   */
  statText: string
  /**
   * Its schedstat as read just before the stat (the same way), when it has one thread: its run time in
   * nanoseconds and its count of runs, the same next time when it has not run at all, and a cheaper read than stat.
   */
  sched: string | undefined
  singleThread: boolean
  start: number; ticks: number; ppid: number
  rawCmdline: string; cmdline: string | undefined; createTime: string | undefined
  /** Its I/O counters and when they were read; undefined when they may not be read. */
  io: { readBytes: number; writeBytes: number; at: number } | undefined
  fds: number | undefined
  /** When it was last read in full, descriptors included. */
  readAt: number
  item: ProcessItem
}

/** A process whose stat changed (or is new) this collection: what was read of it. */
interface Fresh {
  statText: string; sched: string | undefined; stat: PidStat; status: { uid: number; rssBytes: number }; cmdline: string
  io: { readBytes: number; writeBytes: number } | undefined
  /** Its descriptors as counted last time, or to be counted now (undefined): after every read, so the agent's own count holds them all. */
  fds: { count: number | undefined } | undefined
  readAt: number
}

/** Each pid of this collection: unchanged since `before`, or `fresh`. */
interface Entry { pid: number; ppid: number; before: Seen | undefined; fresh: Fresh | undefined }

/** A stat line is one short line (a 64-byte name at most): one read of this always takes it whole. */
const STAT_BYTES = 1024
/** schedstat is three numbers on one line. */
const SCHEDSTAT_BYTES = 128

/** The first collection's sampling gap (collect-batch.ts): CPU over half a second rather than none. */
export const PRIME_MS = 500

/** Keeps each process's CPU ticks so each call reports CPU % since the last call. */
export class ProcessCollector {
  private previous: { at: number; bootTime: number; seen: Map<number, Seen> } | undefined
  private readonly users: UserNames
  private files = new Map<number, PidFiles>()
  /** The machine's fork count when /proc was last listed, and when. */
  private listing: { forks: number; at: number } | undefined
  private readonly heldBudget = heldProcessBudget(readPseudoFileOr('/proc/self/limits', ''))
  private readonly countOpenFds: (dir: string) => number | undefined
  /** Whether descriptors are counted for every process, or (listed) only where I/O counters are readable too. */
  private readonly fdsOfEveryProcess: boolean
  private readonly statBuffer = Buffer.allocUnsafe(STAT_BYTES)
  private readonly schedBuffer = Buffer.allocUnsafe(SCHEDSTAT_BYTES)
  /** Whether schedstat counts runs here (a kernel without scheduler statistics shows zeros). */
  private readonly schedstat: boolean
  /** Processes whose I/O counters could not be read in the last collection, of how many; said once. */
  private unreadableIo = { count: 0, of: 0, said: false }

  /**
   * `selfPid`: the agent; its descendants (helper commands some library ran) are left out of the list.
   * `reportCommandLine`: what of a process's argv is sent (scrubbed of credentials by default).
   * `rereadMs`: how often an unchanged process is read in full again, and a changed one's descriptors counted.
   * `passwd`: where user names are read (the host's /etc/passwd; under the host root in a container).
   */
  constructor(
    private readonly procRoot = '/proc',
    private readonly selfPid = process.pid,
    private readonly reportCommandLine = commandLineReporter(DEFAULT_COMMAND_LINES),
    private readonly rereadMs = REREAD_MS,
    passwd = '/etc/passwd',
  ) {
    this.users = new UserNames(passwd)
    const fds = openFdCounter(procRoot)
    this.countOpenFds = fds.count
    this.fdsOfEveryProcess = fds.everyProcess
    this.schedstat = Number(readPseudoFileOr(`${procRoot}/self/schedstat`, '0').split(' ')[0]) > 0
  }

  /** The processes, with CPU and I/O since the last call (none on the first: it has nothing to compare with). */
  async collect(ctx: ProcessContext): Promise<ProcessItem[]> {
    const at = performance.now()
    const pids = this.pidsToRead(ctx.forks, at)
    const previous = this.previous

    const entries: Entry[] = []
    const files = new Map<number, PidFiles>()
    // Most collections see no process exit and no helper of the agent's: counted here, so that neither needs
    // another walk over every process (at hundreds of processes each walk costs the interpreter ~0.1 ms).
    let carried = 0
    let agentHasChildren = false
    const freshUids: number[] = []
    let read = 0
    for (const pid of pids) {
      if (read > 0 && read % PIDS_PER_TURN === 0) await yieldToEventLoop()
      read++
      const kept = this.files.get(pid)
      const entry = this.readPid(pid, previous?.seen.get(pid), kept, files, at)
      if (kept !== undefined && files.get(pid) === kept) carried++
      if (!entry) continue
      entries.push(entry)
      if (entry.ppid === this.selfPid) agentHasChildren = true
      if (entry.fresh) freshUids.push(entry.fresh.status.uid)
    }
    // Processes that exited since the last collection.
    const exited = carried !== this.files.size
    if (exited) for (const [pid, f] of this.files) if (files.get(pid) !== f) f.close()
    this.files = files
    // A process whose parent exited was handed to init (or a subreaper) without running: a reading reused
    // because it did not run still names the parent that is gone. Such processes are read afresh.
    if (exited && previous) {
      const present = new Set(entries.map(e => e.pid))
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]
        // Its parent was read last time and is gone now.
        if (e.fresh || e.ppid <= 1 || present.has(e.ppid) || !previous.seen.has(e.ppid)) continue
        const again = this.readPid(e.pid, { ...e.before!, readAt: -Infinity }, files.get(e.pid), files, at)
        if (!again) continue
        entries[i] = { ...again, before: e.before }
        if (again.fresh) freshUids.push(again.fresh.status.uid)
      }
    }

    await this.users.refresh(freshUids)
    const helpers = agentHasChildren ? helperPids(entries, this.selfPid) : undefined
    const seen = new Map<number, Seen>()
    const items: ProcessItem[] = []
    let unreadable = 0
    for (const e of entries) {
      if (helpers?.has(e.pid)) continue
      const s = e.fresh ? this.report(e.fresh, e.before, ctx, at) : idle(e.before!)
      if (s.io === undefined) unreadable++
      seen.set(e.pid, s)
      items.push(s.item)
    }
    this.unreadableIo = { count: unreadable, of: items.length, said: this.unreadableIo.said }
    this.previous = { at, bootTime: ctx.bootTime, seen }
    return items
  }

  /**
   * The pids to read: those of /proc's listing, or, when no process was created since the last listing (the
   * machine's fork count is where it was then) and that listing is under `rereadMs` old, the pids the last
   * collection read (those that exited since fail their read and drop out).
   */
  private pidsToRead(forks: number | undefined, at: number): Iterable<number> {
    const last = this.listing
    if (forks !== undefined && last !== undefined && last.forks === forks && at - last.at < this.rereadMs) return this.files.keys()
    const pids: number[] = []
    for (const name of readdirSync(this.procRoot)) if (isPidName(name)) pids.push(Number(name))
    this.listing = forks === undefined ? undefined : { forks, at }
    return pids
  }

  /**
   * Once, after the first collection where it happened: how many processes' disk I/O and open descriptors
   * the agent may not read, and how to let it (their figures are left out; everything else is sent).
   */
  takeAccessNotice(): string | undefined {
    const u = this.unreadableIo
    if (u.said || u.count === 0) return undefined
    this.unreadableIo = { ...u, said: true }
    const [fields, left] = this.fdsOfEveryProcess ? ['disk I/O', 'read/write rates'] : ['disk I/O and open files', 'read/write rates and open_fds']
    return `per-process ${fields} unreadable for ${u.count} of ${u.of} processes: their ${left} are left out. `
      + 'Linux shows them only for the agent\'s own user\'s processes unless it has CAP_SYS_PTRACE (root outside a container has it; '
      + 'the systemd unit says how to grant it)'
  }

  /** Closes the /proc files held open; the next collection opens them again. */
  close(): void {
    for (const f of this.files.values()) f.close()
    this.files = new Map()
    this.listing = undefined
  }

  /**
   * One process: whether it ran since the last collection (its schedstat when it has one thread, its stat
   * otherwise), and when it did (or is new, or its re-read is due) what else is read of it. Undefined when
   * it exited while being read.
   */
  private readPid(pid: number, before: Seen | undefined, kept: PidFiles | undefined, files: Map<number, PidFiles>, at: number): Entry | undefined {
    const due = before === undefined || at - before.readAt >= this.rereadMs
    for (let f = kept ?? this.newFiles(pid, files); ; f = this.newFiles(pid, files)) {
      try {
        const trySched = this.schedstat && f.holds && (before === undefined || before.singleThread)
        let sched: string | undefined
        if (trySched) {
          sched = this.schedBuffer.toString('latin1', 0, f.readSchedstat(this.schedBuffer))
          if (!due && before.sched === sched) {
            files.set(pid, f)
            return { pid, ppid: before.ppid, before, fresh: undefined }
          }
        }
        const length = f.readStatBytes(this.statBuffer)
        files.set(pid, f)
        const statText = this.statBuffer.toString('latin1', 0, length)
        if (!due && statText === before.statText) return { pid, ppid: before.ppid, before, fresh: undefined }
        const stat = parsePidStat(this.statBuffer.toString('utf8', 0, length))
        const sameProcess = before !== undefined && before.start === stat.startTicks
        const reread = !sameProcess || due
        const ioText = f.readIo()
        const fresh: Fresh = {
          statText, stat,
          // Read before the stat, so a run in between shows as a change next time.
          sched: stat.numThreads === 1 ? sched : undefined,
          status: parsePidStatus(f.read('status')),
          cmdline: f.read('cmdline'),
          io: ioText === undefined ? undefined : parsePidIo(ioText),
          fds: reread ? undefined : { count: before!.fds },
          // A new process's next re-read comes at a point of the period of its own, so they do not all fall in one collection.
          readAt: !reread ? before!.readAt : sameProcess ? at : at - this.rereadMs * ((pid % 97) / 97),
        }
        return { pid, ppid: stat.ppid, before, fresh }
      } catch {
        f.close()
        files.delete(pid)
        // A held file fails once its process exits: the pid may be a new process's by now, so it is opened afresh once.
        if (f !== kept) return undefined
      }
    }
  }

  /** A process's files, held open while the descriptor budget allows. */
  private newFiles(pid: number, files: Map<number, PidFiles>): PidFiles {
    return new PidFiles(`${this.procRoot}/${pid}`, files.size < this.heldBudget)
  }

  /** What a process whose stat changed is reported as: CPU and I/O from the deltas since it was last read. */
  private report(fresh: Fresh, before: Seen | undefined, ctx: ProcessContext, at: number): Seen {
    const { stat } = fresh
    const previous = this.previous
    const elapsed = previous ? (at - previous.at) / 1000 : 0
    const total = stat.utime + stat.stime
    const sameProcess = before !== undefined && before.start === stat.startTicks
    let cpu = 0
    if (previous && elapsed > 0) {
      // A pid not seen last time (or reused) started after that sample: all its ticks fall in this interval.
      const base = sameProcess ? before.ticks : 0
      cpu = Math.max(0, ((total - base) / CLK_TCK / elapsed) * 100)
    }
    const { rssBytes, uid } = fresh.status
    const item: ProcessItem = {
      pid: stat.pid,
      parent_pid: stat.ppid,
      name: stat.name.slice(0, 255),
      status: stateWord(stat.state),
      cpu_percent: round(cpu),
      memory_bytes: rssBytes,
      memory_vms: stat.vsizeBytes,
      memory_percent: ctx.memTotalBytes > 0 ? round((rssBytes / ctx.memTotalBytes) * 100, 3) : 0,
      num_threads: stat.numThreads,
    }
    // Scrubbing is a function of the command line alone: an unchanged one is not scrubbed again.
    const reported = before !== undefined && before.rawCmdline === fresh.cmdline ? before.cmdline : this.reportCommandLine(fresh.cmdline)
    if (reported !== undefined) item.cmdline = reported
    if (uid >= 0) item.username = this.users.name(uid)
    let createTime: string | undefined
    if (ctx.bootTime > 0) {
      createTime = sameProcess && previous?.bootTime === ctx.bootTime && before.createTime !== undefined
        ? before.createTime
        : new Date((ctx.bootTime + stat.startTicks / CLK_TCK) * 1000).toISOString()
      item.create_time = createTime
    }
    const io = fresh.io === undefined ? undefined : { ...fresh.io, at }
    if (io !== undefined && previous && elapsed > 0) {
      // Over the time since the counters were last read (an unchanged process's are not read every time). As
      // for CPU, a process not seen last time started after that sample, so all its bytes fall in this interval.
      const base = sameProcess ? before.io : { readBytes: 0, writeBytes: 0, at: previous.at }
      const span = base === undefined ? 0 : (at - base.at) / 1000
      if (base !== undefined && span > 0) {
        item.read_bytes_per_sec = round(Math.max(0, io.readBytes - base.readBytes) / span)
        item.write_bytes_per_sec = round(Math.max(0, io.writeBytes - base.writeBytes) / span)
      }
    }
    const fds = fresh.fds ? fresh.fds.count : this.countOpenFds(`${this.procRoot}/${stat.pid}`)
    if (fds !== undefined) item.open_fds = fds
    return {
      statText: fresh.statText, sched: fresh.sched, singleThread: stat.numThreads === 1, start: stat.startTicks, ticks: total, ppid: stat.ppid,
      rawCmdline: fresh.cmdline, cmdline: reported, createTime, io, fds, readAt: fresh.readAt, item,
    }
  }
}

/**
 * An unchanged process: as reported last time, at 0 % CPU and, when its counters may be read, no I/O (it has
 * not run). The same object when nothing differs.
 */
function idle(before: Seen): Seen {
  const last = before.item
  const noIo = before.io === undefined || (last.read_bytes_per_sec === 0 && last.write_bytes_per_sec === 0)
  if (last.cpu_percent === 0 && noIo) return before
  const item = { ...last, cpu_percent: 0 }
  if (before.io !== undefined) {
    item.read_bytes_per_sec = 0
    item.write_bytes_per_sec = 0
  }
  return { ...before, item }
}
