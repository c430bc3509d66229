// Every process from /proc/[pid]/{stat,status,cmdline}, with CPU % from utime+stime deltas, disk bytes read
// and written per second from /proc/[pid]/io deltas, and its open file descriptors (/proc/[pid]/fd). The last
// two are readable only for the agent's own user's processes unless it runs as root (or with
// CAP_SYS_PTRACE): for the others they are left out, and the collector says so once.
import { closeSync, openSync, readdirSync } from 'node:fs'
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

const PID_FILES = ['stat', 'status', 'cmdline'] as const
/** Held descriptors per process: the three above and io, when it may be read. */
const HELD_FILES_PER_PROCESS = PID_FILES.length + 1
/** A process's open descriptors are counted at most this often (a directory listing per process is the dearest read). */
const FD_COUNT_EVERY_MS = 10_000

/**
 * A process's /proc files, held open from one collection to the next: a read from offset 0 regenerates them,
 * so the next collection reads each with one syscall instead of open, read and close (a third of the CPU).
 * A held file keeps pointing at its own process: once that exits, reads fail and the pid is opened afresh.
 */
class HeldPidFiles {
  private constructor(private readonly fds: number[], private readonly ioFd: number | undefined) {}

  static open(dir: string): HeldPidFiles {
    const fds: number[] = []
    try {
      for (const name of PID_FILES) fds.push(openSync(`${dir}/${name}`, 'r'))
    } catch (err) {
      for (const fd of fds) closeSync(fd)
      throw err
    }
    return new HeldPidFiles(fds, openOptional(`${dir}/io`))
  }

  read(): RawPidFiles {
    return {
      stat: readOpenPseudoFile(this.fds[0], PID_FILE_BYTES), status: readOpenPseudoFile(this.fds[1], PID_FILE_BYTES),
      cmdline: readOpenPseudoFile(this.fds[2], PID_FILE_BYTES), io: this.ioFd === undefined ? undefined : readOptional(this.ioFd),
    }
  }

  close(): void {
    for (const fd of this.fds) closeSync(fd)
    if (this.ioFd !== undefined) closeSync(this.ioFd)
  }
}

/** /proc/[pid]/io is seven short lines. */
const IO_FILE_BYTES = 512

/**
 * /proc/[pid]/io, or undefined when the kernel refuses it: it checks the right to read another process's
 * I/O at every read, not only at open (seen for pid 1 in a container), and a refusal must not cost the process.
 */
function readOptional(fd: number): string | undefined {
  try {
    return readOpenPseudoFile(fd, IO_FILE_BYTES)
  } catch {
    return undefined
  }
}

/** A descriptor for a file the agent may not be allowed to read (another user's /proc/[pid]/io): undefined then. */
function openOptional(path: string): number | undefined {
  try {
    return openSync(path, 'r')
  } catch {
    return undefined
  }
}

/** `io` is undefined when the process's I/O counters may not be read. */
interface RawPidFiles { stat: string; status: string; cmdline: string; io: string | undefined }

function readPidFiles(dir: string): RawPidFiles {
  let io: string | undefined
  try { io = readPseudoFile(`${dir}/io`, IO_FILE_BYTES) } catch { io = undefined }
  return { stat: readPseudoFile(`${dir}/stat`, PID_FILE_BYTES), status: readPseudoFile(`${dir}/status`, PID_FILE_BYTES), cmdline: readPseudoFile(`${dir}/cmdline`, PID_FILE_BYTES), io }
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

/** Entries of /proc/[pid]/fd: its open file descriptors; undefined when they may not be listed. */
function countOpenFds(dir: string): number | undefined {
  try {
    return readdirSync(`${dir}/fd`).length
  } catch {
    return undefined
  }
}

/** Each held process costs ~10 kB of kernel memory (two seq_file buffers, three open files): beyond this many, files are opened per read. */
const MAX_HELD_PROCESSES = 1024

/** How many processes may have their files held: three descriptors each, within half the soft limit on open files. */
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

/** uid → name from /etc/passwd, re-read at most once a minute when an unknown uid shows up. */
class UserNames {
  private names = new Map<number, string>()
  private loadedAt = -Infinity

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
    const text = await readFile('/etc/passwd', 'utf8').catch(() => '')
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

export interface ProcessContext { bootTime: number; memTotalBytes: number }

/** What the last collection saw of a process: its CPU ticks, I/O counters and descriptor count, and what was worked out from its files. */
interface Seen {
  start: number; ticks: number; rawCmdline: string; cmdline: string | undefined; createTime: string | undefined
  io: { readBytes: number; writeBytes: number } | undefined
  fds: { count: number; at: number } | undefined
}

interface PidReading { stat: PidStat; status: { uid: number; rssBytes: number }; cmdline: string; io: { readBytes: number; writeBytes: number } | undefined }

/** Keeps each process's CPU ticks so each call reports CPU % since the last call. */
export class ProcessCollector {
  private previous: { at: number; bootTime: number; seen: Map<number, Seen> } | undefined
  private readonly users = new UserNames()
  private held = new Map<number, HeldPidFiles>()
  private readonly heldBudget = heldProcessBudget(readPseudoFileOr('/proc/self/limits', ''))
  /** Processes whose I/O counters could not be read in the last collection, of how many; said once. */
  private unreadableIo = { count: 0, of: 0, said: false }

  /**
   * `selfPid`: the agent; its descendants (helper commands some library ran) are left out of the list.
   * `reportCommandLine`: what of a process's argv is sent (scrubbed of credentials by default).
   */
  constructor(
    private readonly procRoot = '/proc',
    private readonly selfPid = process.pid,
    private readonly reportCommandLine = commandLineReporter(DEFAULT_COMMAND_LINES),
  ) {}

  async collect(ctx: ProcessContext): Promise<ProcessItem[]> {
    const names = readdirSync(this.procRoot)
    const at = performance.now()
    const previous = this.previous
    const elapsed = previous ? (at - previous.at) / 1000 : 0
    const seen = new Map<number, Seen>()

    const raw: PidReading[] = []
    const held = new Map<number, HeldPidFiles>()
    let read = 0
    for (const name of names) {
      if (!isPidName(name)) continue
      if (read > 0 && read % PIDS_PER_TURN === 0) await yieldToEventLoop()
      read++
      const reading = this.readPid(name, held)
      if (reading) raw.push(reading)
    }
    // Processes that exited since the last collection.
    for (const [pid, files] of this.held) if (held.get(pid) !== files) files.close()
    this.held = held

    await this.users.refresh(raw.map(r => r.status.uid))
    const helpers = helperPids(raw.map(r => r.stat), this.selfPid)
    const sameBoot = previous?.bootTime === ctx.bootTime
    const items: ProcessItem[] = []
    let unreadable = 0
    for (const { stat, status, cmdline, io } of raw) {
      if (helpers.has(stat.pid)) continue
      const total = stat.utime + stat.stime
      const before = previous?.seen.get(stat.pid)
      const sameProcess = before !== undefined && before.start === stat.startTicks
      let cpu = 0
      if (previous && elapsed > 0) {
        // A pid not seen last time (or reused) started after that sample: all its ticks fall in this interval.
        const base = sameProcess ? before.ticks : 0
        cpu = Math.max(0, ((total - base) / CLK_TCK / elapsed) * 100)
      }
      const item: ProcessItem = {
        pid: stat.pid,
        parent_pid: stat.ppid,
        name: stat.name.slice(0, 255),
        status: stateWord(stat.state),
        cpu_percent: round(cpu),
        memory_bytes: status.rssBytes,
        memory_vms: stat.vsizeBytes,
        memory_percent: ctx.memTotalBytes > 0 ? round((status.rssBytes / ctx.memTotalBytes) * 100, 3) : 0,
        num_threads: stat.numThreads,
      }
      // Scrubbing is a function of the command line alone: an unchanged one is not scrubbed again.
      const reported = before !== undefined && before.rawCmdline === cmdline ? before.cmdline : this.reportCommandLine(cmdline)
      if (reported !== undefined) item.cmdline = reported
      if (status.uid >= 0) item.username = this.users.name(status.uid)
      let createTime: string | undefined
      if (ctx.bootTime > 0) {
        createTime = sameProcess && sameBoot && before.createTime !== undefined
          ? before.createTime
          : new Date((ctx.bootTime + stat.startTicks / CLK_TCK) * 1000).toISOString()
        item.create_time = createTime
      }
      if (io === undefined) unreadable++
      else if (previous && elapsed > 0) {
        // As for CPU: a process not seen last time started after that sample, so all its bytes fall in this interval.
        const base = sameProcess ? before.io : { readBytes: 0, writeBytes: 0 }
        if (base !== undefined) {
          item.read_bytes_per_sec = round(Math.max(0, io.readBytes - base.readBytes) / elapsed)
          item.write_bytes_per_sec = round(Math.max(0, io.writeBytes - base.writeBytes) / elapsed)
        }
      }
      let fds = sameProcess ? before.fds : undefined
      if (fds === undefined || at - fds.at >= FD_COUNT_EVERY_MS) {
        const count = countOpenFds(`${this.procRoot}/${stat.pid}`)
        fds = count === undefined ? undefined : { count, at }
      }
      if (fds !== undefined) item.open_fds = fds.count
      seen.set(stat.pid, { start: stat.startTicks, ticks: total, rawCmdline: cmdline, cmdline: reported, createTime, io, fds })
      items.push(item)
    }
    this.unreadableIo = { count: unreadable, of: items.length, said: this.unreadableIo.said }
    this.previous = { at, bootTime: ctx.bootTime, seen }
    return items
  }

  /**
   * Once, after the first collection where it happened: how many processes' disk I/O and open descriptors
   * the agent may not read, and how to let it (their figures are left out; everything else is sent).
   */
  takeAccessNotice(): string | undefined {
    const u = this.unreadableIo
    if (u.said || u.count === 0) return undefined
    this.unreadableIo = { ...u, said: true }
    return `per-process disk I/O and open files are unreadable for ${u.count} of ${u.of} processes: their read/write rates and open_fds are left out. `
      + 'Linux shows them only for the agent\'s own user\'s processes unless it has CAP_SYS_PTRACE (root outside a container has it; '
      + 'the systemd unit says how to grant it)'
  }

  /** Closes the /proc files held open; the next collection opens them again. */
  close(): void {
    for (const files of this.held.values()) files.close()
    this.held = new Map()
  }

  /** One process's files, through the files held since the last collection when it is the same process. */
  private readPid(name: string, held: Map<number, HeldPidFiles>): PidReading | undefined {
    const pid = Number(name)
    const kept = this.held.get(pid)
    if (kept) {
      try {
        const reading = parsePidFiles(kept.read())
        held.set(pid, kept)
        return reading
      } catch {
        // Its process exited; the pid may be a new process's by now.
        this.held.delete(pid)
        kept.close()
      }
    }
    const dir = `${this.procRoot}/${name}`
    try {
      if (held.size >= this.heldBudget) return parsePidFiles(readPidFiles(dir))
      const files = HeldPidFiles.open(dir)
      try {
        const reading = parsePidFiles(files.read())
        held.set(pid, files)
        return reading
      } catch (err) {
        files.close()
        throw err
      }
    } catch {
      // The process exited while we were reading it.
      return undefined
    }
  }
}

function parsePidFiles(files: RawPidFiles): PidReading {
  return { stat: parsePidStat(files.stat), status: parsePidStatus(files.status), cmdline: files.cmdline, io: files.io === undefined ? undefined : parsePidIo(files.io) }
}
