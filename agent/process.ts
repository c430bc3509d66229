// Every process from /proc/[pid]/{stat,status,cmdline}, with CPU % from utime+stime deltas.
import { closeSync, openSync, readSync } from 'node:fs'
import { readFile, readdir } from 'node:fs/promises'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { ProcessItem } from '../contract/ingest-batch.ts'
import { commandLineReporter, DEFAULT_COMMAND_LINES } from './command-lines.ts'
import { round } from './counter-rate.ts'

/** Processes read per event-loop turn: sync reads are ~10x cheaper than fs.promises for tiny /proc files. */
const PIDS_PER_TURN = 64

/** One reusable buffer: /proc/[pid] files are small, and cmdline is cut to 4096 characters anyway. */
const readBuf = Buffer.alloc(16 * 1024)

function readProcFile(path: string): string {
  const fd = openSync(path, 'r')
  try {
    return readBuf.toString('utf8', 0, readSync(fd, readBuf, 0, readBuf.length, 0))
  } finally {
    closeSync(fd)
  }
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
  const f = text.slice(close + 2).trim().split(' ')
  return {
    pid: Number(text.slice(0, open).trim()),
    name: text.slice(open + 1, close),
    state: f[0],
    ppid: Number(f[1]),
    utime: Number(f[11]),
    stime: Number(f[12]),
    numThreads: Number(f[17]),
    startTicks: Number(f[19]),
    vsizeBytes: Number(f[20]),
  }
}

/** The few /proc/[pid]/status fields stat lacks: real uid and resident memory (absent for kernel threads). */
export function parsePidStatus(text: string): { uid: number; rssBytes: number } {
  const uid = /^Uid:\s+(\d+)/m.exec(text)
  const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(text)
  return { uid: uid ? Number(uid[1]) : -1, rssBytes: rss ? Number(rss[1]) * 1024 : 0 }
}

export function stateWord(code: string): string {
  return STATE_WORDS[code] ?? code
}

/** uid → name from /etc/passwd, re-read at most once a minute when an unknown uid shows up. */
class UserNames {
  private names = new Map<number, string>()
  private loadedAt = -Infinity

  async name(uid: number): Promise<string> {
    if (!this.names.has(uid) && performance.now() - this.loadedAt > 60_000) await this.load()
    return this.names.get(uid) ?? String(uid)
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

/** Keeps each process's CPU ticks so each call reports CPU % since the last call. */
export class ProcessCollector {
  private previous: { at: number; ticks: Map<number, { start: number; ticks: number }> } | undefined
  private readonly users = new UserNames()

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
    const pids = (await readdir(this.procRoot)).filter(n => /^\d+$/.test(n))
    const at = performance.now()
    const previous = this.previous
    const elapsed = previous ? (at - previous.at) / 1000 : 0
    const ticks = new Map<number, { start: number; ticks: number }>()

    const raw: Array<{ stat: PidStat; status: { uid: number; rssBytes: number }; cmdline: string }> = []
    for (let i = 0; i < pids.length; i++) {
      if (i > 0 && i % PIDS_PER_TURN === 0) await yieldToEventLoop()
      const dir = `${this.procRoot}/${pids[i]}`
      try {
        raw.push({
          stat: parsePidStat(readProcFile(`${dir}/stat`)),
          status: parsePidStatus(readProcFile(`${dir}/status`)),
          cmdline: readProcFile(`${dir}/cmdline`),
        })
      } catch {
        // The process exited while we were reading it.
      }
    }

    const helpers = helperPids(raw.map(r => r.stat), this.selfPid)
    const items: ProcessItem[] = []
    for (const { stat, status, cmdline } of raw) {
      if (helpers.has(stat.pid)) continue
      const total = stat.utime + stat.stime
      ticks.set(stat.pid, { start: stat.startTicks, ticks: total })
      const before = previous?.ticks.get(stat.pid)
      let cpu = 0
      if (previous && elapsed > 0) {
        // A pid not seen last time (or reused) started after that sample: all its ticks fall in this interval.
        const base = before && before.start === stat.startTicks ? before.ticks : 0
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
      const reported = this.reportCommandLine(cmdline)
      if (reported !== undefined) item.cmdline = reported
      if (status.uid >= 0) item.username = (await this.users.name(status.uid)).slice(0, 128)
      if (ctx.bootTime > 0) item.create_time = new Date((ctx.bootTime + stat.startTicks / CLK_TCK) * 1000).toISOString()
      items.push(item)
    }
    this.previous = { at, ticks }
    return items
  }
}
