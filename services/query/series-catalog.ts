// What a series selector (`<type>.<name>` plus `tags.<key>=<value>`) names: which family, which table and
// column at raw and at aggregate resolution, and which tag filters it takes.
import { sql, type RawBuilder } from 'kysely'
import { DomainError } from '../errors/domain-error.ts'
import type { Family } from './resolution-for-range.ts'

export type SeriesAgg = 'avg' | 'min' | 'max' | 'last' | 'p95' | 'rate'
/** `rate` is the per-second increase of a counter (read-series.ts, readCounterRate), narrow metrics only. */
export const SERIES_AGGS: SeriesAgg[] = ['avg', 'min', 'max', 'last', 'p95', 'rate']

export interface WideFamily {
  family: Exclude<Family, 'metrics'>
  raw: string
  rollup: string
  fields: readonly string[]
  aliases: Record<string, string>
  /** Tag keys that select one series; `key` is the one the hourly aggregate is grouped by. */
  key: string
  tagColumns: readonly string[]
  /** Fields whose hourly statistics live in another aggregate than `rollup` (grouped by the same key). */
  rollupOf?: Readonly<Record<string, string>>
}

const WIDE: Record<string, WideFamily> = {
  disk: {
    family: 'disk', raw: 'disk_metrics', rollup: 'disk_metrics_1h', key: 'mount_point', tagColumns: ['mount_point', 'device'], aliases: {},
    fields: ['usage_percent', 'used_bytes', 'available_bytes', 'total_bytes', 'inodes_percent', 'read_bytes_per_sec', 'write_bytes_per_sec',
      'read_ops_per_sec', 'write_ops_per_sec', 'io_util_percent'],
  },
  network: {
    family: 'network', raw: 'network_metrics', rollup: 'network_metrics_1h', key: 'interface', tagColumns: ['interface'],
    aliases: { rx_bytes_per_sec: 'bytes_recv_per_sec', tx_bytes_per_sec: 'bytes_sent_per_sec', rx_packets_per_sec: 'packets_recv_per_sec',
      tx_packets_per_sec: 'packets_sent_per_sec', rx_bytes: 'bytes_recv', tx_bytes: 'bytes_sent' },
    fields: ['bytes_sent_per_sec', 'bytes_recv_per_sec', 'packets_sent_per_sec', 'packets_recv_per_sec', 'bytes_sent', 'bytes_recv',
      'errors_in', 'errors_out', 'drop_in', 'drop_out'],
  },
  process: {
    family: 'process', raw: 'process_metrics', rollup: 'process_metrics_1h', key: 'name', tagColumns: ['name'], aliases: {},
    fields: ['cpu_percent', 'memory_bytes', 'memory_percent', 'num_threads', 'read_bytes_per_sec', 'write_bytes_per_sec', 'open_fds'],
    // sql/024: per-process I/O and open files came later, in an aggregate of their own.
    rollupOf: { read_bytes_per_sec: 'process_io_1h', write_bytes_per_sec: 'process_io_1h', open_fds: 'process_io_1h' },
  },
}

/**
 * What hostpulse's own agent reports into the metrics table (agent/cpu.ts, memory.ts, disk.ts, sessions.ts,
 * collect-batch.ts), each with the tag keys its series carry: these are known before any agent sends them.
 * Other faces (line protocol, uploads) write any `<type>.<name>`; those are known from what an agent has.
 */
export const AGENT_METRICS: Readonly<Record<string, readonly string[]>> = {
  ...Object.fromEntries(['cores', 'user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'load_avg_1', 'load_avg_5', 'load_avg_15']
    .map((name) => [`cpu.${name}`, []])),
  'cpu.usage_percent': ['core'],
  'load.load1': [], 'load.load5': [], 'load.load15': [],
  ...Object.fromEntries(['total_bytes', 'used_bytes', 'available_bytes', 'free_bytes', 'cached_bytes', 'buffers_bytes', 'usage_percent']
    .map((name) => [`memory.${name}`, []])),
  ...Object.fromEntries(['total_bytes', 'used_bytes', 'free_bytes', 'usage_percent'].map((name) => [`swap.${name}`, []])),
  ...Object.fromEntries(['read_bytes_per_sec', 'write_bytes_per_sec', 'read_ops_per_sec', 'write_ops_per_sec', 'io_util_percent']
    .map((name) => [`diskio.${name}`, ['device']])),
  'sessions.count': [], 'containers.count': [],
}

/** Every metric the catalog knows: the agent's scalar metrics and each wide field (with its aliases). */
export function catalogMetrics(): string[] {
  const wide = Object.entries(WIDE).flatMap(([type, w]) => [...w.fields, ...Object.keys(w.aliases)].map((f) => `${type}.${f}`))
  return [...Object.keys(AGENT_METRICS), ...wide]
}

/** The wide family a metric type names (disk, network, process), if any: its tables and tag columns. */
export function wideFamily(type: string): Readonly<WideFamily> | undefined {
  return WIDE[type]
}

export const isWideField = (wide: Readonly<WideFamily>, name: string) => wide.fields.includes(wide.aliases[name] ?? name)

const METRIC = /^([a-z][a-z0-9_]*)\.([a-z0-9_]+)$/

/** `<type>.<name>` split, or a 400 saying what a metric looks like. */
export function splitMetric(metric: string): { type: string; name: string } {
  const m = METRIC.exec(metric)
  if (!m) throw badMetric(`metric must look like <type>.<name>, e.g. cpu.usage_percent (got "${metric}")`)
  return { type: m[1], name: m[2] }
}

export interface SeriesTarget {
  family: Family
  /** The selector as the caller wrote it (aliases kept). */
  metric: string
  /** Its `<type>` and `<name>` as stored (a wide field's alias resolved). */
  metricType: string
  metricName: string
  tags: Record<string, string>
  /**
   * Whether the filter picks one series. Tags on a scalar metric select every series holding them
   * (`tags.code=200` over several jobs), which a read merges per bucket; a wide family's key picks one.
   */
  oneSeries: boolean
  /** SQL for the row filter beyond org, agent and time. */
  filter(): RawBuilder<unknown>
  /** The value expression for one bucket: `native` reads an aggregate at its own granularity. */
  value(agg: SeriesAgg, level: 'raw' | 'rollup' | 'native'): RawBuilder<number>
  rawSource: string
  /** The column holding one sample in raw rows, and the per-bucket average in the aggregate. */
  rawColumn: string
  rollupAvgColumn: string
  /** Aggregate columns for statistics over buckets; `sumsq` where the aggregate keeps it. */
  rollup: { min: string; max: string; avg: string; last: string; count: string; sum?: string; sumsq?: string }
  /** The aggregate holding this series' hourly statistics when it is not the family's (resolutionForRange's) one. */
  rollupSource?: string
}

/** The relation to read `target` from at `resolution`: raw rows, or the aggregate that holds its columns. */
export function sourceFor(target: Pick<SeriesTarget, 'rollupSource'>, resolution: { source: string; nativeSeconds: number }): string {
  return resolution.nativeSeconds === 0 || target.rollupSource === undefined ? resolution.source : target.rollupSource
}

function badMetric(message: string, field = 'metric'): DomainError {
  return new DomainError('invalid', `Invalid request: ${message}`, { details: { [field]: [message] } })
}

const ROLLUP_METRICS = { avg: sql`sum(sum) / sum(count)`, min: sql`min(min)`, max: sql`max(max)`, last: sql`last(last, bucket)` }

export function parseSeriesTarget(metric: string, tags: Record<string, string>): SeriesTarget {
  const { type, name } = splitMetric(metric)
  const wide = WIDE[type]
  if (!wide) return scalarTarget(metric, tags)
  const field = wide.aliases[name] ?? name
  if (!wide.fields.includes(field)) {
    throw badMetric(`${type} has no field "${name}"; known: ${[...wide.fields, ...Object.keys(wide.aliases)].join(', ')}`)
  }
  for (const key of Object.keys(tags)) {
    if (!wide.tagColumns.includes(key)) throw badMetric(`${type} series take tags.${wide.tagColumns.join(' or tags.')}, not tags.${key}`, `tags.${key}`)
  }
  if (tags[wide.key] === undefined) {
    throw badMetric(`${type} series need tags.${wide.key}=<value> to pick one ${wide.key.replace('_', ' ')}`, `tags.${wide.key}`)
  }
  return {
    family: wide.family, metric, metricType: type, metricName: field, tags, oneSeries: true, rawSource: wide.raw, rawColumn: field, rollupAvgColumn: `${field}_avg`,
    ...(wide.rollupOf?.[field] ? { rollupSource: wide.rollupOf[field] } : {}),
    rollup: { min: `${field}_min`, max: `${field}_max`, avg: `${field}_avg`, last: `${field}_last`, count: 'count' },
    filter: () => sql.join(Object.entries(tags).map(([k, v]) => sql`${sql.ref(k)} = ${v}`), sql` and `),
    value: (agg, level) => {
      if (level === 'raw') return rawExpression(sql.ref(field), agg)
      const col = (suffix: string) => sql.ref(`${field}_${suffix}`)
      if (level === 'native') return col(agg) as RawBuilder<number>
      if (agg === 'avg') return sql<number>`sum(${col('avg')} * count) / sum(count)`
      if (agg === 'min') return sql<number>`min(${col('min')})`
      if (agg === 'max') return sql<number>`max(${col('max')})`
      return sql<number>`last(${col('last')}, bucket)`
    },
  }
}

/** A series of the narrow metrics table, whatever its `<type>` (a wide family's type too: Telegraf writes disk.used_percent). */
export function scalarTarget(metric: string, tags: Record<string, string>): SeriesTarget {
  const { type, name } = splitMetric(metric)
  return {
    family: 'metrics', metric, metricType: type, metricName: name, tags, oneSeries: Object.keys(tags).length === 0,
    rawSource: 'metrics', rawColumn: 'value', rollupAvgColumn: 'avg',
    rollup: { min: 'min', max: 'max', avg: 'avg', last: 'last', count: 'count', sum: 'sum', sumsq: 'sumsq' },
    filter: () => sql`metric_type = ${type} and metric_name = ${name} and ${Object.keys(tags).length > 0
      ? sql`tags @> ${JSON.stringify(tags)}::jsonb` : sql`tags = '{}'::jsonb`}`,
    value: (agg, level) => {
      if (level === 'raw') return rawExpression(sql.ref('value'), agg)
      if (level === 'native') return sql.ref(agg) as RawBuilder<number>
      return ROLLUP_METRICS[agg as Exclude<SeriesAgg, 'p95' | 'rate'>] as RawBuilder<number>
    },
  }
}

function rawExpression(column: RawBuilder<unknown> | ReturnType<typeof sql.ref>, agg: SeriesAgg): RawBuilder<number> {
  switch (agg) {
    case 'avg': return sql<number>`avg(${column})::float8`
    case 'min': return sql<number>`min(${column})::float8`
    case 'max': return sql<number>`max(${column})::float8`
    case 'last': return sql<number>`last(${column}, time)::float8`
    case 'p95': return sql<number>`percentile_cont(0.95) within group (order by ${column})`
    // A rate is not one aggregate of a bucket's rows: readSeries computes it across buckets.
    case 'rate': throw new Error('rate is computed by readCounterRate, not as a bucket expression')
  }
}

/** `tags.<key>=<value>` query parameters, as a plain object. */
export function tagsFromQuery(query: Record<string, unknown>): Record<string, string> {
  const tags: Record<string, string> = {}
  for (const [k, v] of Object.entries(query)) {
    if (!k.startsWith('tags.')) continue
    const key = k.slice(5)
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(key)) throw badMetric(`tag names are letters, digits, _ . - (got "${key}")`, k)
    if (typeof v !== 'string' || v.length > 1024) throw badMetric(`tags.${key} must be one value of at most 1,024 characters`, k)
    tags[key] = v
  }
  return tags
}
