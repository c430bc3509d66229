// The agent ↔ server wire contract for POST /api/v1/ingest, defined once and imported by both sides.
import { Type, type Static } from 'typebox'

const Tags = Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 1024 }), { maxProperties: 32 })
const Rfc3339 = Type.String({ format: 'date-time', description: 'RFC3339 timestamp with offset' })
// Counters fit PostgreSQL bigint and stay exact in a JS number; pids fit int4.
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
const Rate = Type.Number({ minimum: 0 })
const Percent = Type.Number({ minimum: 0 })
const Name = (max: number) => Type.String({ minLength: 1, maxLength: max })

export const HostInfo = Type.Object({
  hostname: Name(255),
  ip_address: Type.Optional(Type.String({ maxLength: 64 })),
  os: Type.Optional(Type.String({ maxLength: 128 })),
  os_version: Type.Optional(Type.String({ maxLength: 128 })),
  agent_version: Type.Optional(Type.String({ maxLength: 64 })),
  // Inventory: sent at start and whenever it changes.
  ip_addresses: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 256 })),
  kernel: Type.Optional(Type.String({ maxLength: 128 })),
  arch: Type.Optional(Type.String({ maxLength: 32 })),
  cpu_model: Type.Optional(Type.String({ maxLength: 256 })),
  cpu_cores: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  memory_total_bytes: Type.Optional(Count),
  virtualization: Type.Optional(Type.String({ maxLength: 64 })),
  cloud_provider: Type.Optional(Type.String({ maxLength: 64 })),
  // Bits/second per interface, for interface utilization computed server-side (PerfAnalysis face).
  // A record's key type is not checked by the schema, hence propertyNames for the name length.
  link_speed_bits_per_sec: Type.Optional(Type.Record(Type.String(), Count, { maxProperties: 1000, propertyNames: { minLength: 1, maxLength: 64 } })),
  // Cloud placement, as the PerfAnalysis face's collector fields.
  region: Type.Optional(Type.String({ maxLength: 64 })),
  instance_type: Type.Optional(Type.String({ maxLength: 64 })),
}, { additionalProperties: true })

export const MetricItem = Type.Object({
  time: Type.Optional(Rfc3339),
  metric_type: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9_]*$' }),
  metric_name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[a-z0-9_]+$' }),
  value: Type.Number({ minimum: -1e300, maximum: 1e300 }),
  tags: Type.Optional(Tags),
})

export const DiskItem = Type.Object({
  time: Type.Optional(Rfc3339),
  device: Name(255),
  mount_point: Name(1024),
  filesystem: Type.Optional(Type.String({ maxLength: 64 })),
  total_bytes: Count,
  used_bytes: Count,
  available_bytes: Count,
  usage_percent: Percent,
  inodes_total: Type.Optional(Count),
  inodes_used: Type.Optional(Count),
  inodes_percent: Type.Optional(Percent),
  read_bytes_per_sec: Type.Optional(Rate),
  write_bytes_per_sec: Type.Optional(Rate),
  read_ops_per_sec: Type.Optional(Rate),
  write_ops_per_sec: Type.Optional(Rate),
  io_util_percent: Type.Optional(Percent),
})

export const NetworkItem = Type.Object({
  time: Type.Optional(Rfc3339),
  interface: Name(64),
  bytes_sent: Count,
  bytes_recv: Count,
  packets_sent: Count,
  packets_recv: Count,
  errors_in: Type.Optional(Count),
  errors_out: Type.Optional(Count),
  drop_in: Type.Optional(Count),
  drop_out: Type.Optional(Count),
  is_up: Type.Optional(Type.Boolean()),
  bytes_sent_per_sec: Type.Optional(Rate),
  bytes_recv_per_sec: Type.Optional(Rate),
  packets_sent_per_sec: Type.Optional(Rate),
  packets_recv_per_sec: Type.Optional(Rate),
})

export const ProcessItem = Type.Object({
  time: Type.Optional(Rfc3339),
  pid: Type.Integer({ minimum: 0, maximum: 2147483647 }),
  parent_pid: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
  name: Type.String({ maxLength: 255 }),
  cmdline: Type.Optional(Type.String({ maxLength: 4096 })),
  username: Type.Optional(Type.String({ maxLength: 128 })),
  status: Type.Optional(Type.String({ maxLength: 32 })),
  cpu_percent: Percent,
  memory_bytes: Count,
  memory_vms: Type.Optional(Count),
  memory_percent: Percent,
  num_threads: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
  create_time: Type.Optional(Rfc3339),
  /** Bytes per second the process caused to be read from and written to storage (/proc/[pid]/io read_bytes, write_bytes). */
  read_bytes_per_sec: Type.Optional(Type.Number({ minimum: 0, maximum: 1e15 })),
  write_bytes_per_sec: Type.Optional(Type.Number({ minimum: 0, maximum: 1e15 })),
  /** Open file descriptors (entries of /proc/[pid]/fd). */
  open_fds: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
})

/** A logged-in user session (seed 003's user sessions). */
export const SessionItem = Type.Object({
  user: Name(128),
  terminal: Type.Optional(Type.String({ maxLength: 64 })),
  host: Type.Optional(Type.String({ maxLength: 255 })),
  pid: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
  login_time: Rfc3339,
})

/** A container seen through a Docker or Podman socket (seed 004). */
export const ContainerItem = Type.Object({
  time: Type.Optional(Rfc3339),
  id: Name(128),
  name: Type.String({ maxLength: 255 }),
  image: Type.Optional(Type.String({ maxLength: 512 })),
  state: Type.Optional(Type.String({ maxLength: 32 })),
  cpu_percent: Type.Optional(Percent),
  memory_bytes: Type.Optional(Count),
  memory_limit_bytes: Type.Optional(Count),
  memory_percent: Type.Optional(Percent),
  rx_bytes: Type.Optional(Count),
  tx_bytes: Type.Optional(Count),
})

export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical'] as const

/** One log line from a file, the systemd journal or an uploader (seed 003's system logs). */
export const LogItem = Type.Object({
  time: Type.Optional(Rfc3339),
  source: Name(255),
  level: Type.Union([Type.Literal('debug'), Type.Literal('info'), Type.Literal('notice'), Type.Literal('warning'), Type.Literal('error'), Type.Literal('critical')]),
  message: Type.String({ maxLength: 16384 }),
  fields: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), { maxProperties: 64 })),
})

export const IngestBatch = Type.Object({
  batch_id: Type.String({ format: 'uuid' }),
  time: Rfc3339,
  host: Type.Optional(HostInfo),
  metrics: Type.Optional(Type.Array(MetricItem, { maxItems: 20000 })),
  disks: Type.Optional(Type.Array(DiskItem, { maxItems: 1000 })),
  networks: Type.Optional(Type.Array(NetworkItem, { maxItems: 1000 })),
  processes: Type.Optional(Type.Array(ProcessItem, { maxItems: 20000 })),
  sessions: Type.Optional(Type.Array(SessionItem, { maxItems: 1000 })),
  containers: Type.Optional(Type.Array(ContainerItem, { maxItems: 2000 })),
  logs: Type.Optional(Type.Array(LogItem, { maxItems: 5000 })),
})

/** One batch, or an array of batches (an agent replaying its on-disk buffer). */
export const IngestBody = Type.Union([IngestBatch, Type.Array(IngestBatch, { minItems: 1, maxItems: 500 })])

export const IngestAccepted = Type.Object({
  accepted_batches: Type.Integer(),
  duplicate_batches: Type.Integer(),
  rows: Type.Object({
    metrics: Type.Integer(), disks: Type.Integer(), networks: Type.Integer(), processes: Type.Integer(),
    sessions: Type.Integer(), containers: Type.Integer(), logs: Type.Integer(),
  }),
  batch_ids: Type.Array(Type.String()),
})

export type HostInfo = Static<typeof HostInfo>
export type MetricItem = Static<typeof MetricItem>
export type DiskItem = Static<typeof DiskItem>
export type NetworkItem = Static<typeof NetworkItem>
export type ProcessItem = Static<typeof ProcessItem>
export type SessionItem = Static<typeof SessionItem>
export type ContainerItem = Static<typeof ContainerItem>
export type LogItem = Static<typeof LogItem>
export type IngestBatch = Static<typeof IngestBatch>
export type IngestBody = Static<typeof IngestBody>
export type IngestAccepted = Static<typeof IngestAccepted>

export const INGEST_PATH = '/api/v1/ingest'
