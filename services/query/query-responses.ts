// Response schemas of the query routes (seed 001's listings and the series family).
import { Type } from 'typebox'
import { Nullable, Time } from '../http/response-schemas.ts'

const Tags = Type.Record(Type.String(), Type.String())
const ListingHead = {
  agent_id: Type.String({ description: 'the agent\'s name' }), start: Time, end: Time, count: Type.Integer(),
  next_end: Type.Optional(Time), next_cursor: Type.Optional(Type.String()),
}

export const MetricOut = Type.Object({
  time: Time, agent_id: Type.String(), metric_type: Type.String(), metric_name: Type.String(), value: Type.Number(), tags: Tags,
})
export const LatestOut = Type.Object({ agent_id: Type.String(), count: Type.Integer(), metrics: Type.Array(MetricOut) })
export const RangeOut = Type.Object({ ...ListingHead, metrics: Type.Array(MetricOut) })

const N = Nullable(Type.Number())
export const DiskOut = Type.Object({ ...ListingHead, metrics: Type.Array(Type.Object({
  time: Time, agent_id: Type.String(), device: Type.String(), mount_point: Type.String(), filesystem: Nullable(Type.String()),
  total_bytes: Type.Number(), used_bytes: Type.Number(), available_bytes: Type.Number(), usage_percent: Type.Number(),
  inodes_total: N, inodes_used: N, inodes_percent: N, read_bytes_per_sec: N, write_bytes_per_sec: N, read_ops_per_sec: N,
  write_ops_per_sec: N, io_util_percent: N,
})) })
export const NetworkOut = Type.Object({ ...ListingHead, metrics: Type.Array(Type.Object({
  time: Time, agent_id: Type.String(), interface: Type.String(), bytes_sent: Type.Number(), bytes_recv: Type.Number(),
  packets_sent: Type.Number(), packets_recv: Type.Number(), errors_in: Type.Number(), errors_out: Type.Number(),
  drop_in: Type.Number(), drop_out: Type.Number(), is_up: Type.Boolean(), bytes_sent_per_sec: N, bytes_recv_per_sec: N,
  packets_sent_per_sec: N, packets_recv_per_sec: N,
})) })
export const ProcessListOut = Type.Object({ ...ListingHead, metrics: Type.Array(Type.Object({
  time: Time, agent_id: Type.String(), pid: Type.Integer(), parent_pid: Nullable(Type.Integer()), name: Type.String(), cmdline: Type.String(),
  username: Nullable(Type.String()), cpu_percent: Type.Number(), memory_bytes: Type.Number(), memory_vms: N, memory_percent: Type.Number(),
  num_threads: Nullable(Type.Integer()), status: Nullable(Type.String()), create_time: Nullable(Time),
  read_bytes_per_sec: N, write_bytes_per_sec: N, open_fds: Nullable(Type.Integer()),
})) })

const SeriesHead = {
  metric: Type.String(), tags: Tags, agg: Type.String(), step: Type.Integer({ description: 'seconds per point' }),
  resolution: Type.String({ description: 'raw or the aggregate read' }), start: Time, end: Time,
}
export const SeriesOut = Type.Object({ agent_id: Type.String(), ...SeriesHead, timestamps: Type.Array(Time), values: Type.Array(Type.Number()) })

export const StatsFields = {
  min: N, max: N, avg: N, stddev: N, current: N, p50: N, p75: N, p90: N, p95: N, p97_5: N, p99: N, p100: N,
  count: Type.Integer(), source: Type.String({ description: 'raw, or the aggregate whose averages were used' }),
}
export const StatsOut = Type.Object({ agent_id: Type.String(), metric: Type.String(), tags: Tags, start: Time, end: Time, ...StatsFields })
export const CompareOut = Type.Object({
  ...SeriesHead, timestamps: Type.Array(Time),
  series: Type.Array(Type.Object({ agent_id: Type.String(), values: Type.Array(Nullable(Type.Number())), stats: Type.Object(StatsFields) })),
})

const ProcessNode = Type.Object({
  id: Type.Integer(), pid: Type.Integer(), parent_pid: Nullable(Type.Integer()), name: Type.String(), cmdline: Type.String(),
  username: Nullable(Type.String()), status: Nullable(Type.String()), cpu_percent: Type.Number(), memory_percent: Type.Number(),
  memory_rss: Type.Number(), memory_vms: N, num_threads: Nullable(Type.Integer()), create_time: Nullable(Time),
  read_bytes_per_sec: Type.Optional(Nullable(Type.Number({ description: 'bytes per second read from storage; null when the agent could not read it' }))),
  write_bytes_per_sec: Type.Optional(Nullable(Type.Number())), open_fds: Type.Optional(Nullable(Type.Integer())),
  children: Type.Array(Type.Object({}, { additionalProperties: true, description: 'nested process nodes of the same shape' })),
}, { additionalProperties: true })
export const ProcessTreeOut = Type.Object({
  agent_id: Type.String(), hostname: Nullable(Type.String()), snapshot_id: Nullable(Type.Integer()), timestamp: Nullable(Time),
  total_processes: Type.Integer(), q: Type.Optional(Type.String()), process_tree: Type.Array(ProcessNode),
})
export const TopProcessesOut = Type.Object({
  agent_id: Type.String(), by: Type.String(), stat: Type.String(),
  group: Type.String({ description: 'process: one row per process (pid, started_at); name: one row per name, every process of it together' }),
  start: Time, end: Time, resolution: Type.String(), count: Type.Integer(),
  processes: Type.Array(Type.Object({
    name: Type.String(), pid: Nullable(Type.Integer({ description: 'the process (group=process)' })),
    started_at: Nullable(Time), first_seen: Nullable(Time),
    cmdline: Nullable(Type.String()), username: Nullable(Type.String()), last_pid: Nullable(Type.Integer()),
    last_seen: Nullable(Time), avg_cpu_percent: N, max_cpu_percent: N, avg_memory_bytes: N, max_memory_bytes: N,
    avg_memory_percent: N, samples: Type.Integer(),
    avg_io_bytes_per_sec: Nullable(Type.Number({ description: 'bytes read plus written per second; null where the agent could not read the process\'s I/O, '
      + 'and on windows read from the hourly aggregate unless ranking by disk_io' })),
    max_io_bytes_per_sec: N, avg_read_bytes_per_sec: N, avg_write_bytes_per_sec: N,
  })),
})
