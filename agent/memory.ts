// Memory and swap from /proc/meminfo.
import type { MetricItem } from '../contract/ingest-batch.ts'
import { round } from './counter-rate.ts'
import { readPseudoFile } from './pseudo-files.ts'

/** /proc/meminfo as bytes by field name (the file says kB, meaning KiB). */
export function parseMeminfo(text: string): Map<string, number> {
  const fields = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(\d+)(?:\s+kB)?/.exec(line)
    if (m) fields.set(m[1], Number(m[2]) * (line.endsWith('kB') ? 1024 : 1))
  }
  return fields
}

export interface MemorySample { metrics: MetricItem[]; totalBytes: number }

export function memoryMetrics(info: Map<string, number>): MemorySample {
  const get = (k: string) => info.get(k) ?? 0
  const total = get('MemTotal')
  const free = get('MemFree')
  const buffers = get('Buffers')
  // "Cached" as free(1) shows it: page cache plus reclaimable slab.
  const cached = get('Cached') + get('SReclaimable')
  // Kernels before 3.14 lack MemAvailable; free+buffers+cache is the classic estimate.
  const available = info.has('MemAvailable') ? get('MemAvailable') : free + buffers + cached
  const used = Math.max(0, total - available)
  const swapTotal = get('SwapTotal')
  const swapFree = get('SwapFree')
  const swapUsed = Math.max(0, swapTotal - swapFree)
  const pct = (part: number, whole: number) => (whole > 0 ? round((part / whole) * 100) : 0)
  const m = (metric_type: string, metric_name: string, value: number): MetricItem => ({ metric_type, metric_name, value })
  return {
    totalBytes: total,
    metrics: [
      m('memory', 'total_bytes', total),
      m('memory', 'used_bytes', used),
      m('memory', 'available_bytes', available),
      m('memory', 'free_bytes', free),
      m('memory', 'cached_bytes', cached),
      m('memory', 'buffers_bytes', buffers),
      m('memory', 'usage_percent', pct(used, total)),
      m('swap', 'total_bytes', swapTotal),
      m('swap', 'used_bytes', swapUsed),
      m('swap', 'free_bytes', swapFree),
      m('swap', 'usage_percent', pct(swapUsed, swapTotal)),
    ],
  }
}

export async function collectMemory(procRoot = '/proc'): Promise<MemorySample> {
  return memoryMetrics(parseMeminfo(readPseudoFile(`${procRoot}/meminfo`)))
}
