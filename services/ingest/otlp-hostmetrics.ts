// The OpenTelemetry Collector's hostmetrics receiver → hostpulse's own families, so a host that only speaks
// OTLP gets the CPU, memory, swap, load, filesystem and network charts, the fleet page and the rules an
// agent's data gets. Its points are stored as otel.* too (otlp-batches.ts); this adds, per instant, what the
// agent would have sent. Cumulative counters (system.cpu.time, system.network.io, system.disk.io …) become
// rates against the previous export of the same series, remembered in memory (CounterMemory): the first
// export after a start has totals but no rates, exactly like the agent's first collection.
// Attribute names of both the classic receiver (state, direction, device, mountpoint, cpu) and the newer
// semantic conventions (cpu.mode, network.io.direction, system.device …) are read.
import type { DiskItem, MetricItem, NetworkItem } from '../../contract/ingest-batch.ts'
import type { OtlpPoint } from './otlp-metrics.ts'

/** What one instant of hostmetrics adds to a batch. */
export interface HostRows { metrics: MetricItem[]; disks: DiskItem[]; networks: NetworkItem[] }

/** Series remembered at most (LRU): a few hundred per host, so tens of thousands of hosts fit. */
const MAX_REMEMBERED = 500_000

/** The previous value of each cumulative series, per agent, to turn totals into per-second rates. */
export class CounterMemory {
  private readonly last = new Map<string, { ms: number; value: number }>()

  /** The per-second increase since the previous sample (a drop is a restart: undefined), remembering this one. */
  rate(key: string, ms: number, value: number): number | undefined {
    const before = this.last.get(key)
    if (before && ms <= before.ms) return undefined // a retry or an older export: nothing new, nothing forgotten
    this.last.delete(key)
    this.last.set(key, { ms, value })
    if (this.last.size > MAX_REMEMBERED) this.last.delete(this.last.keys().next().value!)
    if (!before || value < before.value) return undefined
    return (value - before.value) / ((ms - before.ms) / 1000)
  }

  /** The increase since the previous sample (undefined on the first one, a restart, or a retry). */
  delta(key: string, ms: number, value: number): { increase: number; seconds: number } | undefined {
    const before = this.last.get(key)
    const rate = this.rate(key, ms, value)
    return rate === undefined || !before ? undefined : { increase: value - before.value, seconds: (ms - before.ms) / 1000 }
  }
}

const round = (n: number) => Math.round(n * 100) / 100
const pick = (a: Record<string, string>, ...keys: string[]): string | undefined => {
  for (const k of keys) if (a[k] !== undefined) return a[k]
  return undefined
}
const stateOf = (a: Record<string, string>) => pick(a, 'state', 'cpu.mode', 'system.cpu.state', 'system.memory.state', 'system.filesystem.state', 'system.paging.state')
const directionOf = (a: Record<string, string>) => pick(a, 'direction', 'network.io.direction', 'disk.io.direction', 'system.network.direction')
const deviceOf = (a: Record<string, string>) => pick(a, 'device', 'system.device', 'network.interface.name')
const cpuOf = (a: Record<string, string>) => (pick(a, 'cpu', 'cpu.logical_number', 'system.cpu.logical_number') ?? '').replace(/^cpu/, '')

/** OTel's CPU states → the agent's names (cpu.user, cpu.iowait …). */
const CPU_STATES: Record<string, string> = {
  user: 'user', nice: 'nice', system: 'system', idle: 'idle', wait: 'iowait', iowait: 'iowait', interrupt: 'irq', softirq: 'softirq', steal: 'steal',
}

/** The hostmetrics names this reads; any other point is only stored as otel.*. */
export const HOSTMETRICS_NAMES = new Set([
  'system.cpu.utilization', 'system.cpu.time', 'system.cpu.load_average.1m', 'system.cpu.load_average.5m', 'system.cpu.load_average.15m',
  'system.memory.usage', 'system.paging.usage', 'system.filesystem.usage', 'system.filesystem.inodes.usage',
  'system.disk.io', 'system.disk.operations', 'system.disk.io_time', 'system.network.io', 'system.network.packets',
  'system.network.errors', 'system.network.dropped',
])

const group = <T>(map: Map<string, T[]>, key: string, item: T) => {
  const list = map.get(key)
  if (list) list.push(item)
  else map.set(key, [item])
}

/**
 * The agent's families for one agent's points, per instant (ms → rows). `memory` keys are prefixed with
 * `agentId`, so one memory serves every host.
 */
export function hostmetricsRows(points: OtlpPoint[], agentId: string, memory: CounterMemory): Map<number, HostRows> {
  const byName = new Map<string, OtlpPoint[]>()
  for (const p of points) if (HOSTMETRICS_NAMES.has(p.name)) group(byName, p.name, p)
  const out = new Map<number, HostRows>()
  if (byName.size === 0) return out
  const at = (ms: number): HostRows => {
    let rows = out.get(ms)
    if (!rows) out.set(ms, rows = { metrics: [], disks: [], networks: [] })
    return rows
  }
  const metric = (ms: number, metric_type: string, metric_name: string, value: number, tags?: Record<string, string>) =>
    at(ms).metrics.push(tags ? { metric_type, metric_name, value, tags } : { metric_type, metric_name, value })

  cpuRows(byName, agentId, memory, metric)
  for (const [suffix, n] of [['1m', '1'], ['5m', '5'], ['15m', '15']] as const) {
    for (const p of byName.get(`system.cpu.load_average.${suffix}`) ?? []) {
      metric(p.timeMs, 'load', `load${n}`, p.value)
      metric(p.timeMs, 'cpu', `load_avg_${n}`, p.value)
    }
  }
  memoryRows(byName.get('system.memory.usage') ?? [], 'memory', metric)
  memoryRows(byName.get('system.paging.usage') ?? [], 'swap', metric)
  for (const [ms, disks] of diskRows(byName, agentId, memory)) at(ms).disks.push(...disks)
  for (const [ms, networks] of networkRows(byName, agentId, memory)) at(ms).networks.push(...networks)
  return out
}

type MetricSink = (ms: number, type: string, name: string, value: number, tags?: Record<string, string>) => void

/** Per instant: the average over CPUs of each state in percent, cpu.usage_percent (100 − idle − iowait), and per core. */
function cpuRows(byName: Map<string, OtlpPoint[]>, agentId: string, memory: CounterMemory, metric: MetricSink): void {
  // instant → cpu → state → fraction of that CPU's time
  const shares = new Map<number, Map<string, Map<string, number>>>()
  const share = (ms: number, cpu: string, state: string, fraction: number) => {
    const cpus = shares.get(ms) ?? new Map<string, Map<string, number>>()
    shares.set(ms, cpus)
    const states = cpus.get(cpu) ?? new Map<string, number>()
    cpus.set(cpu, states)
    states.set(state, (states.get(state) ?? 0) + fraction)
  }
  const utilization = byName.get('system.cpu.utilization') ?? []
  for (const p of utilization) {
    const state = CPU_STATES[stateOf(p.attributes) ?? '']
    if (state) share(p.timeMs, cpuOf(p.attributes), state, p.value)
  }
  // Seconds per state: each CPU's shares are its states' increases over their sum (as /proc/stat's jiffies).
  if (utilization.length === 0) {
    const increases = new Map<string, { ms: number; cpu: string; byState: Map<string, number> }>()
    for (const p of byName.get('system.cpu.time') ?? []) {
      const state = CPU_STATES[stateOf(p.attributes) ?? '']
      if (!state) continue
      const cpu = cpuOf(p.attributes)
      const d = memory.delta(`${agentId}\u0000cpu\u0000${cpu}\u0000${stateOf(p.attributes)}`, p.timeMs, p.value)
      if (!d) continue
      const key = `${p.timeMs}\u0000${cpu}`
      const entry = increases.get(key) ?? { ms: p.timeMs, cpu, byState: new Map<string, number>() }
      increases.set(key, entry)
      entry.byState.set(state, (entry.byState.get(state) ?? 0) + d.increase)
    }
    for (const { ms, cpu, byState } of increases.values()) {
      const total = [...byState.values()].reduce((a, b) => a + b, 0)
      if (total > 0) for (const [state, s] of byState) share(ms, cpu, state, s / total)
    }
  }
  for (const [ms, cpus] of shares) {
    const states = new Set([...cpus.values()].flatMap((s) => [...s.keys()]))
    const average = (state: string) => [...cpus.values()].reduce((sum, s) => sum + (s.get(state) ?? 0), 0) / cpus.size * 100
    for (const state of states) metric(ms, 'cpu', state, round(average(state)))
    if (states.has('idle')) {
      metric(ms, 'cpu', 'usage_percent', round(Math.max(0, 100 - average('idle') - average('iowait'))))
      for (const [cpu, s] of cpus) {
        if (cpu !== '' && s.has('idle')) metric(ms, 'cpu', 'usage_percent', round(Math.max(0, 100 - ((s.get('idle') ?? 0) + (s.get('iowait') ?? 0)) * 100)), { core: cpu })
      }
    }
    metric(ms, 'cpu', 'cores', cpus.size)
  }
}

/**
 * system.memory.usage (used, free, buffered, cached, slab_reclaimable, slab_unreclaimable) or system.paging.usage
 * (used, free, cached; summed over devices) → the agent's memory.* or swap.*: total is every state's sum, and
 * memory's available is what the kernel can hand out without swapping (free, buffers, cache, reclaimable slab).
 */
function memoryRows(points: OtlpPoint[], family: 'memory' | 'swap', metric: MetricSink): void {
  const byTime = new Map<number, Map<string, number>>()
  for (const p of points) {
    const state = stateOf(p.attributes)
    if (!state) continue
    const states = byTime.get(p.timeMs) ?? new Map<string, number>()
    byTime.set(p.timeMs, states)
    states.set(state, (states.get(state) ?? 0) + p.value)
  }
  for (const [ms, s] of byTime) {
    const get = (state: string) => s.get(state) ?? 0
    const total = [...s.values()].reduce((a, b) => a + b, 0)
    if (family === 'memory') {
      const available = get('free') + get('buffered') + get('cached') + get('slab_reclaimable')
      const used = Math.max(0, total - available)
      metric(ms, 'memory', 'total_bytes', total)
      metric(ms, 'memory', 'used_bytes', used)
      metric(ms, 'memory', 'available_bytes', available)
      metric(ms, 'memory', 'free_bytes', get('free'))
      metric(ms, 'memory', 'cached_bytes', get('cached'))
      metric(ms, 'memory', 'buffers_bytes', get('buffered'))
      metric(ms, 'memory', 'usage_percent', total > 0 ? round(used / total * 100) : 0)
    } else {
      metric(ms, 'swap', 'total_bytes', total)
      metric(ms, 'swap', 'used_bytes', get('used'))
      metric(ms, 'swap', 'free_bytes', get('free'))
      metric(ms, 'swap', 'usage_percent', total > 0 ? round(get('used') / total * 100) : 0)
    }
  }
}

const whole = (n: number) => Math.max(0, Math.round(n))
const baseName = (device: string) => device.replace(/^.*\//, '')

/** Per-device rates from a cumulative series split by direction (read/write, receive/transmit). */
function directionRates(points: OtlpPoint[], family: string, agentId: string, memory: CounterMemory): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>()
  for (const p of points) {
    const device = deviceOf(p.attributes)
    const direction = directionOf(p.attributes) ?? ''
    if (!device) continue
    const rate = memory.rate(`${agentId}\u0000${family}\u0000${device}\u0000${direction}`, p.timeMs, p.value)
    if (rate === undefined) continue
    const rates = out.get(device) ?? {}
    out.set(device, rates)
    rates[direction] = rate
  }
  return out
}

/** system.filesystem.usage (+ inodes) per mount, with the device's I/O rates from system.disk.* (matched by device name). */
function diskRows(byName: Map<string, OtlpPoint[]>, agentId: string, memory: CounterMemory): Map<number, DiskItem[]> {
  const io = directionRates(byName.get('system.disk.io') ?? [], 'disk.io', agentId, memory)
  const ops = directionRates(byName.get('system.disk.operations') ?? [], 'disk.ops', agentId, memory)
  const busy = directionRates(byName.get('system.disk.io_time') ?? [], 'disk.io_time', agentId, memory)
  const mounts = new Map<string, { ms: number; device: string; mount: string; type?: string; states: Map<string, number>; inodes: Map<string, number> }>()
  const mountOf = (p: OtlpPoint) => {
    const device = deviceOf(p.attributes) ?? ''
    const mount = pick(p.attributes, 'mountpoint', 'system.filesystem.mountpoint') ?? ''
    if (!device || !mount) return undefined
    const key = `${p.timeMs}\u0000${device}\u0000${mount}`
    let m = mounts.get(key)
    if (!m) mounts.set(key, m = { ms: p.timeMs, device, mount, type: pick(p.attributes, 'type', 'system.filesystem.type'), states: new Map(), inodes: new Map() })
    return m
  }
  for (const p of byName.get('system.filesystem.usage') ?? []) {
    const m = mountOf(p)
    const state = stateOf(p.attributes)
    if (m && state) m.states.set(state, (m.states.get(state) ?? 0) + p.value)
  }
  for (const p of byName.get('system.filesystem.inodes.usage') ?? []) {
    const m = mountOf(p)
    const state = stateOf(p.attributes)
    if (m && state) m.inodes.set(state, (m.inodes.get(state) ?? 0) + p.value)
  }
  const out = new Map<number, DiskItem[]>()
  for (const m of mounts.values()) {
    if (m.states.size === 0) continue
    const used = m.states.get('used') ?? 0
    const free = m.states.get('free') ?? 0
    const disk: DiskItem = {
      device: m.device, mount_point: m.mount, ...(m.type ? { filesystem: m.type.slice(0, 64) } : {}),
      total_bytes: whole(used + free + (m.states.get('reserved') ?? 0)), used_bytes: whole(used), available_bytes: whole(free),
      usage_percent: used + free > 0 ? round(used / (used + free) * 100) : 0,
    }
    if (m.inodes.size > 0) {
      const iu = m.inodes.get('used') ?? 0
      const total = iu + (m.inodes.get('free') ?? 0)
      Object.assign(disk, { inodes_total: whole(total), inodes_used: whole(iu), inodes_percent: total > 0 ? round(iu / total * 100) : 0 })
    }
    const device = baseName(m.device)
    const r = io.get(device)
    if (r) Object.assign(disk, { read_bytes_per_sec: round(r.read ?? 0), write_bytes_per_sec: round(r.write ?? 0) })
    const o = ops.get(device)
    if (o) Object.assign(disk, { read_ops_per_sec: round(o.read ?? 0), write_ops_per_sec: round(o.write ?? 0) })
    const b = busy.get(device)
    if (b) disk.io_util_percent = round(Math.min(100, (b[''] ?? 0) * 100))
    const list = out.get(m.ms) ?? []
    out.set(m.ms, list)
    list.push(disk)
  }
  return out
}

/** system.network.io (+ packets, errors, dropped) per interface: the totals as sent, and per-second rates. */
function networkRows(byName: Map<string, OtlpPoint[]>, agentId: string, memory: CounterMemory): Map<number, NetworkItem[]> {
  const interfaces = new Map<string, { ms: number; device: string; values: Record<string, number> }>()
  const collect = (name: string, field: string) => {
    for (const p of byName.get(`system.network.${name}`) ?? []) {
      const device = deviceOf(p.attributes)
      const direction = directionOf(p.attributes)
      if (!device || (direction !== 'receive' && direction !== 'transmit')) continue
      const key = `${p.timeMs}\u0000${device}`
      let i = interfaces.get(key)
      if (!i) interfaces.set(key, i = { ms: p.timeMs, device, values: {} })
      i.values[`${field}_${direction}`] = (i.values[`${field}_${direction}`] ?? 0) + p.value
    }
  }
  collect('io', 'bytes')
  collect('packets', 'packets')
  collect('errors', 'errors')
  collect('dropped', 'drop')
  const out = new Map<number, NetworkItem[]>()
  for (const i of interfaces.values()) {
    const v = i.values
    if (v.bytes_receive === undefined || v.bytes_transmit === undefined) continue
    const net: NetworkItem = {
      interface: i.device.slice(0, 64),
      bytes_recv: whole(v.bytes_receive), bytes_sent: whole(v.bytes_transmit),
      // The contract needs packet counts; a Collector with the packets metric disabled sends none: 0.
      packets_recv: whole(v.packets_receive ?? 0), packets_sent: whole(v.packets_transmit ?? 0),
    }
    if (v.errors_receive !== undefined) net.errors_in = whole(v.errors_receive)
    if (v.errors_transmit !== undefined) net.errors_out = whole(v.errors_transmit)
    if (v.drop_receive !== undefined) net.drop_in = whole(v.drop_receive)
    if (v.drop_transmit !== undefined) net.drop_out = whole(v.drop_transmit)
    const rate = (field: string, value: number | undefined) => value === undefined ? undefined : memory.rate(`${agentId}\u0000net\u0000${i.device}\u0000${field}`, i.ms, value)
    const rates = {
      bytes_recv_per_sec: rate('bytes_recv', v.bytes_receive), bytes_sent_per_sec: rate('bytes_sent', v.bytes_transmit),
      packets_recv_per_sec: rate('packets_recv', v.packets_receive), packets_sent_per_sec: rate('packets_sent', v.packets_transmit),
    }
    for (const [k, r] of Object.entries(rates)) if (r !== undefined) (net as Record<string, unknown>)[k] = round(r)
    const list = out.get(i.ms) ?? []
    out.set(i.ms, list)
    list.push(net)
  }
  return out
}
