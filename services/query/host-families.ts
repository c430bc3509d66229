// A host's four standard families (CPU, memory, disk devices, network interfaces) as columns on one time
// axis, and their statistics. Seed 004's face and the performance report both read them here, so the two
// always show the same numbers. Every read goes through resolutionForRange (at most 1,000 points).
import { sql, type Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import { readSeries } from './read-series.ts'
import { resolutionForRange, type Family, type RetentionDays } from './resolution-for-range.ts'
import { parseSeriesTarget, type SeriesTarget } from './series-catalog.ts'
import { seriesStats, type SeriesStats } from './series-stats.ts'

const MIB = 1024 * 1024

/** One column: the stored series it reads and the factor to the unit it is shown in. */
export interface HostField { metric: string; unit: string; scale?: number }

export const CPU_FIELDS = {
  user: { metric: 'cpu.user', unit: '%' }, system: { metric: 'cpu.system', unit: '%' }, idle: { metric: 'cpu.idle', unit: '%' },
  iowait: { metric: 'cpu.iowait', unit: '%' }, steal: { metric: 'cpu.steal', unit: '%' }, irq: { metric: 'cpu.irq', unit: '%' },
  softirq: { metric: 'cpu.softirq', unit: '%' },
} satisfies Record<string, HostField>

export const MEMORY_FIELDS = {
  used: { metric: 'memory.used_bytes', unit: 'MiB', scale: 1 / MIB },
  available: { metric: 'memory.available_bytes', unit: 'MiB', scale: 1 / MIB },
  cached: { metric: 'memory.cached_bytes', unit: 'MiB', scale: 1 / MIB },
  buffers: { metric: 'memory.buffers_bytes', unit: 'MiB', scale: 1 / MIB },
  percent_used: { metric: 'memory.usage_percent', unit: '%' },
} satisfies Record<string, HostField>

/** Per block device (tag `device`), rates per second since the previous sample. */
export const DISK_FIELDS = {
  read_bytes: { metric: 'diskio.read_bytes_per_sec', unit: 'B/s' },
  write_bytes: { metric: 'diskio.write_bytes_per_sec', unit: 'B/s' },
  read_ops: { metric: 'diskio.read_ops_per_sec', unit: 'ops/s' },
  write_ops: { metric: 'diskio.write_ops_per_sec', unit: 'ops/s' },
  utilization: { metric: 'diskio.io_util_percent', unit: '%' },
} satisfies Record<string, HostField>

/** Per interface, rates per second; `utilization` is derived from these and the link speed. */
export const NETWORK_FIELDS = {
  rx_bytes: { metric: 'network.bytes_recv_per_sec', unit: 'B/s' },
  tx_bytes: { metric: 'network.bytes_sent_per_sec', unit: 'B/s' },
  rx_packets: { metric: 'network.packets_recv_per_sec', unit: 'packets/s' },
  tx_packets: { metric: 'network.packets_sent_per_sec', unit: 'packets/s' },
} satisfies Record<string, HostField>

export type HostFamily = 'cpu' | 'memory' | 'disk' | 'network'

export interface HostRange { orgId: string; agentId: string; start: Date; end: Date; retentionDays?: RetentionDays; now?: Date }

/** Columns on one time axis; a column holds null where its series has no bucket the others have. */
export interface Columns { timestamps: Date[]; columns: Record<string, Array<number | null>> }

/** A device's or interface's columns, on the axis its family shares. */
export interface NamedColumns { name: string; columns: Record<string, Array<number | null>> }

const STORE_FAMILY: Record<HostFamily, Family> = { cpu: 'metrics', memory: 'metrics', disk: 'metrics', network: 'network' }

function scaled(value: number | null, scale = 1): number | null {
  return value === null ? null : value * scale
}

/** Reads `targets` (one family, so one resolution) and lines them up on the union of their buckets. */
async function readAligned(db: Kysely<Database>, range: HostRange, family: Family, targets: Array<{ key: string; target: SeriesTarget; scale?: number }>): Promise<{ timestamps: Date[]; values: Map<string, Array<number | null>> }> {
  const resolution = resolutionForRange({ family, start: range.start, end: range.end, maxPoints: 1000, retentionDays: range.retentionDays, now: range.now })
  const series = await Promise.all(targets.map((t) => readSeries(db, { orgId: range.orgId, agentId: range.agentId, target: t.target, start: range.start, end: range.end }, resolution)))
  const axis = [...new Set(series.flatMap((s) => s.timestamps))].sort((a, b) => a - b)
  const index = new Map(axis.map((t, i) => [t, i]))
  const values = new Map<string, Array<number | null>>()
  targets.forEach((t, i) => {
    const column: Array<number | null> = axis.map(() => null)
    series[i].timestamps.forEach((ts, j) => { column[index.get(ts)!] = scaled(series[i].values[j], t.scale) })
    values.set(t.key, column)
  })
  return { timestamps: axis.map((t) => new Date(t)), values }
}

/** CPU or memory columns of one host. */
export async function hostColumns(db: Kysely<Database>, range: HostRange, family: 'cpu' | 'memory'): Promise<Columns> {
  const fields: Record<string, HostField> = family === 'cpu' ? CPU_FIELDS : MEMORY_FIELDS
  const targets = Object.entries(fields).map(([key, f]) => ({ key, target: parseSeriesTarget(f.metric, {}), scale: f.scale }))
  const { timestamps, values } = await readAligned(db, range, 'metrics', targets)
  return { timestamps, columns: Object.fromEntries(values) }
}

/** The diskio metric names behind DISK_FIELDS: a device with any of them is listed. */
const DISK_METRIC_NAMES = Object.values(DISK_FIELDS).map((f) => f.metric.slice('diskio.'.length))

/** The block devices (disk) or interfaces (network) with data in the range, by name. */
export async function hostDeviceNames(db: Kysely<Database>, range: HostRange, family: 'disk' | 'network'): Promise<string[]> {
  const level = resolutionForRange({ family: STORE_FAMILY[family], start: range.start, end: range.end, maxPoints: 1000, retentionDays: range.retentionDays, now: range.now })
  const time = sql.ref(level.nativeSeconds === 0 ? 'time' : 'bucket')
  const scope = sql`org_id = ${range.orgId} and agent_id = ${range.agentId} and ${time} >= ${range.start} and ${time} < ${range.end}`
  const { rows } = family === 'disk'
    ? await sql<{ name: string }>`select distinct tags->>'device' as name from ${sql.table(level.source)}
        where ${scope} and metric_type = 'diskio' and metric_name in (${sql.join(DISK_METRIC_NAMES)}) and tags ? 'device'`.execute(db)
    : await sql<{ name: string }>`select distinct interface as name from ${sql.table(level.source)} where ${scope}`.execute(db)
  return rows.map((r) => r.name).sort()
}

/** Full-duplex utilization of a link: the busier direction's bits per second over the link's speed, in %. */
export function linkUtilizationPercent(rxBytesPerSec: number | null, txBytesPerSec: number | null, speedBitsPerSec: number | undefined): number | null {
  if (!speedBitsPerSec || speedBitsPerSec <= 0 || (rxBytesPerSec === null && txBytesPerSec === null)) return null
  return (Math.max(rxBytesPerSec ?? 0, txBytesPerSec ?? 0) * 8 * 100) / speedBitsPerSec
}

/**
 * Per device or interface columns, all on one axis. Network utilization needs each link's speed (the
 * agent's inventory `link_speed_bits_per_sec`); without one (virtual interfaces) it is null, not zero.
 */
export async function hostDeviceColumns(db: Kysely<Database>, range: HostRange, family: 'disk' | 'network',
  linkSpeeds: Record<string, number> = {}): Promise<{ timestamps: Date[]; items: NamedColumns[] }> {
  const names = await hostDeviceNames(db, range, family)
  const fields: Record<string, HostField> = family === 'disk' ? DISK_FIELDS : NETWORK_FIELDS
  const tagKey = family === 'disk' ? 'device' : 'interface'
  const targets = names.flatMap((name) => Object.entries(fields).map(([field, f]) => ({
    key: `${name}\u0000${field}`, target: parseSeriesTarget(f.metric, { [tagKey]: name }), scale: f.scale,
  })))
  const { timestamps, values } = await readAligned(db, range, STORE_FAMILY[family], targets)
  const items = names.map((name) => {
    const columns = Object.fromEntries(Object.keys(fields).map((field) => [field, values.get(`${name}\u0000${field}`)!]))
    if (family === 'network') {
      columns.utilization = timestamps.map((_, i) => linkUtilizationPercent(columns.rx_bytes[i], columns.tx_bytes[i], linkSpeeds[name]))
    }
    return { name, columns }
  })
  return { timestamps, items }
}

export type FieldStats = Omit<SeriesStats, 'source'>

/** Statistics of each family's fields over the range, equal to those of the raw values when read raw. */
export interface HostStats {
  cpu: Record<string, FieldStats>
  memory: Record<string, FieldStats>
  disk: Record<string, Record<string, FieldStats>>
  network: Record<string, Record<string, FieldStats>>
}

function scaleStats(s: SeriesStats, scale = 1): FieldStats {
  const k = (v: number | null) => scaled(v, scale)
  return {
    min: k(s.min), max: k(s.max), avg: k(s.avg), stddev: k(s.stddev), current: k(s.current),
    p50: k(s.p50), p75: k(s.p75), p90: k(s.p90), p95: k(s.p95), p97_5: k(s.p97_5), p99: k(s.p99), p100: k(s.p100), count: s.count,
  }
}

async function fieldStats(db: Kysely<Database>, range: HostRange, fields: Record<string, HostField>, tags: Record<string, string>): Promise<Record<string, FieldStats>> {
  const entries = await Promise.all(Object.entries(fields).map(async ([key, f]) => {
    const stats = await seriesStats(db, { ...range, target: parseSeriesTarget(f.metric, tags) })
    return [key, scaleStats(stats, f.scale)] as const
  }))
  return Object.fromEntries(entries)
}

/** Statistics of the asked families (all four by default); devices and interfaces are those with data in the range. */
export async function hostStats(db: Kysely<Database>, range: HostRange, families: readonly HostFamily[] = ['cpu', 'memory', 'disk', 'network']): Promise<Partial<HostStats>> {
  const out: Partial<HostStats> = {}
  if (families.includes('cpu')) out.cpu = await fieldStats(db, range, CPU_FIELDS, {})
  if (families.includes('memory')) out.memory = await fieldStats(db, range, MEMORY_FIELDS, {})
  for (const family of ['disk', 'network'] as const) {
    if (!families.includes(family)) continue
    const names = await hostDeviceNames(db, range, family)
    const fields: Record<string, HostField> = family === 'disk' ? DISK_FIELDS : NETWORK_FIELDS
    const tagKey = family === 'disk' ? 'device' : 'interface'
    out[family] = Object.fromEntries(await Promise.all(names.map(async (name) => [name, await fieldStats(db, range, fields, { [tagKey]: name })] as const)))
  }
  return out
}

/** The host's latest memory size in GiB (memory.total_bytes), or null before its first memory sample. */
export async function memoryTotalGb(db: Kysely<Database>, orgId: string, agentId: string): Promise<number | null> {
  const row = await db.selectFrom('metrics_latest').select('value')
    .where('org_id', '=', orgId).where('agent_id', '=', agentId)
    .where('metric_type', '=', 'memory').where('metric_name', '=', 'total_bytes').executeTakeFirst()
  return row ? row.value / (MIB * 1024) : null
}
