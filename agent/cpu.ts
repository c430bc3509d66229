// CPU usage from /proc/stat deltas and load average from /proc/loadavg.
import type { MetricItem } from '../contract/ingest-batch.ts'
import { round } from './counter-rate.ts'
import { readPseudoFile } from './pseudo-files.ts'

/** Jiffies per state for one CPU line of /proc/stat (guest time is already inside user/nice). */
export interface CpuTimes {
  user: number; nice: number; system: number; idle: number
  iowait: number; irq: number; softirq: number; steal: number
}

export interface ProcStat {
  total: CpuTimes
  cores: CpuTimes[]
  /** Boot time, seconds since the epoch (`btime`). */
  bootTime: number
  /** Processes and threads created since boot (`processes`), on the whole machine; undefined if the line is missing. */
  forks: number | undefined
}

const STATES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const

export function parseProcStat(text: string): ProcStat {
  let total: CpuTimes | undefined
  const cores: CpuTimes[] = []
  let bootTime = 0
  let forks: number | undefined
  for (const line of text.split('\n')) {
    if (line.startsWith('cpu')) {
      const [label, ...fields] = line.trim().split(/\s+/)
      const times = Object.fromEntries(STATES.map((s, i) => [s, Number(fields[i] ?? 0)])) as unknown as CpuTimes
      if (label === 'cpu') total = times
      else cores[Number(label.slice(3))] = times
    } else if (line.startsWith('btime ')) {
      bootTime = Number(line.slice(6))
    } else if (line.startsWith('processes ')) {
      forks = Number(line.slice(10))
    }
  }
  if (!total) throw new Error('no aggregate "cpu" line in /proc/stat')
  return { total, cores: cores.filter(Boolean), bootTime, forks: Number.isSafeInteger(forks) ? forks : undefined }
}

export interface CpuPercents extends Record<(typeof STATES)[number], number> { usage_percent: number }

/** Share of each state between two samples; the eight states sum to 100. Undefined if no time passed. */
export function cpuPercents(prev: CpuTimes, cur: CpuTimes): CpuPercents | undefined {
  const deltas = STATES.map(s => Math.max(0, cur[s] - prev[s]))
  const total = deltas.reduce((a, b) => a + b, 0)
  if (total === 0) return undefined
  const out = Object.fromEntries(STATES.map((s, i) => [s, (deltas[i] / total) * 100])) as unknown as CpuPercents
  out.usage_percent = 100 - out.idle - out.iowait
  return out
}

export function parseLoadavg(text: string): { load1: number; load5: number; load15: number } {
  const [a, b, c] = text.trim().split(/\s+/).map(Number)
  return { load1: a, load5: b, load15: c }
}

/** Keeps the previous /proc/stat counters so each call reports usage since the last call. */
export class CpuCollector {
  private previous: ProcStat | undefined
  private forksNow: number | undefined

  constructor(private readonly procRoot = '/proc') {}

  async collect(): Promise<MetricItem[]> {
    this.forksNow = undefined
    const statText = readPseudoFile(`${this.procRoot}/stat`)
    const loadText = readPseudoFile(`${this.procRoot}/loadavg`)
    const stat = parseProcStat(statText)
    const previous = this.previous
    this.previous = stat
    this.forksNow = stat.forks

    const load = parseLoadavg(loadText)
    const metrics: MetricItem[] = [
      { metric_type: 'cpu', metric_name: 'cores', value: stat.cores.length },
      { metric_type: 'load', metric_name: 'load1', value: load.load1 },
      { metric_type: 'load', metric_name: 'load5', value: load.load5 },
      { metric_type: 'load', metric_name: 'load15', value: load.load15 },
      // The public API seed names load this way; keep both until the seed is migrated.
      { metric_type: 'cpu', metric_name: 'load_avg_1', value: load.load1 },
      { metric_type: 'cpu', metric_name: 'load_avg_5', value: load.load5 },
      { metric_type: 'cpu', metric_name: 'load_avg_15', value: load.load15 },
    ]
    if (!previous) return metrics

    const overall = cpuPercents(previous.total, stat.total)
    if (overall) {
      for (const [name, value] of Object.entries(overall)) {
        metrics.push({ metric_type: 'cpu', metric_name: name, value: round(value) })
      }
    }
    stat.cores.forEach((core, i) => {
      const before = previous.cores[i]
      const p = before && cpuPercents(before, core)
      if (p) metrics.push({ metric_type: 'cpu', metric_name: 'usage_percent', value: round(p.usage_percent), tags: { core: String(i) } })
    })
    return metrics
  }

  /** Boot time from the last sample (seconds since the epoch); the process collector needs it. */
  get bootTime(): number | undefined {
    return this.previous?.bootTime
  }

  /**
   * The machine's count of processes created since boot, as read by the last collection; undefined when that
   * collection failed. The process collector lists /proc again only when it moved.
   */
  get forks(): number | undefined {
    return this.forksNow
  }
}
