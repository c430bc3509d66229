// The one Kysely Database interface, shared by both backends (embedded PGlite and a TimescaleDB server).
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely'

type CreatedAt = ColumnType<Date, Date | string | undefined, never>
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>
type Timestamp = ColumnType<Date, Date | string, Date | string>
type Json<T> = ColumnType<T, string | T, string | T>

export interface OrganizationsTable {
  id: Generated<string>
  name: string
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export type Role = 'admin' | 'editor' | 'viewer'

export interface UsersTable {
  id: Generated<string>
  org_id: string
  username: string
  password_hash: string
  role: Role
  created_at: CreatedAt
  updated_at: UpdatedAt
  display_name: ColumnType<string | null, string | null | undefined, string | null>
  email: ColumnType<string | null, string | null | undefined, string | null>
  /** The small integer seed 004 names a user by (sql/019). */
  number: ColumnType<number, never, never>
}

export interface UserPreferencesTable {
  user_id: string
  org_id: string
  preferences: ColumnType<Record<string, unknown>, string, string>
  updated_at: ColumnType<Date, Date | undefined, Date>
}

export type ReportStatus = 'pending' | 'generating' | 'completed' | 'failed'
export type ReportFormat = 'html' | 'pdf'

/** Seed 004's performance reports (sql/020). */
export interface ReportsTable {
  id: Generated<number>
  org_id: string
  agent_id: string
  created_by: string | null
  name: string
  status: ColumnType<ReportStatus, ReportStatus | undefined, ReportStatus>
  format: ReportFormat
  time_range_hours: number
  include_containers: boolean
  range_start: Date
  range_end: Date
  file_name: string | null
  file_size_bytes: ColumnType<number | null, number | null | undefined, number | null>
  error_message: string | null
  claimed_by: string | null
  heartbeat_at: Date | null
  created_at: CreatedAt
  started_at: Date | null
  completed_at: Date | null
}

export interface ReportFilesTable {
  report_id: number
  content_type: string
  content: Uint8Array
}

export interface AuthSessionsTable {
  id: Generated<string>
  org_id: string
  user_id: string
  refresh_token_hash: string
  created_at: CreatedAt
  expires_at: Timestamp
  revoked_at: Date | null
}

export type AgentStatus = 'active' | 'inactive' | 'pending'

export interface AgentsTable {
  id: Generated<string>
  org_id: string
  name: string
  hostname: string | null
  ip_address: string | null
  os: string | null
  os_version: string | null
  agent_version: string | null
  labels: Json<Record<string, string>>
  status: ColumnType<AgentStatus, AgentStatus | undefined, AgentStatus>
  api_key_hash: string | null
  created_at: CreatedAt
  updated_at: UpdatedAt
  last_seen_at: Date | null
  last_metrics_at: Date | null
  inventory: ColumnType<Record<string, unknown>, string | undefined, string>
  config: ColumnType<Record<string, unknown>, string | undefined, string>
  /** The agent's integer id on the compatibility faces (seeds 000, 003, 004): never reused. */
  number: Generated<number>
  /** Day of the month its traffic billing cycle starts (29–31: the month's last day in shorter months). */
  traffic_cycle_day: ColumnType<number, number | undefined, number>
  /** IANA time zone its traffic days and cycles are counted in. */
  time_zone: ColumnType<string, string | undefined, string>
  /** Interfaces counted in the host's traffic total; null: all but loopback and virtual ones. */
  traffic_interfaces: string[] | null
  traffic_quota_bytes: ColumnType<number | null, number | null | undefined, number | null>
  traffic_quota_direction: ColumnType<TrafficDirection, TrafficDirection | undefined, TrafficDirection>
}

/** What a traffic quota counts: bytes received plus sent, or one direction. */
export type TrafficDirection = 'total' | 'sent' | 'received'

export interface TrafficQuotasTable {
  org_id: string
  label_key: string
  label_value: string
  quota_bytes: number
  direction: ColumnType<TrafficDirection, TrafficDirection | undefined, TrafficDirection>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface NetworkTrafficDailyTable {
  day: Date
  org_id: string
  agent_id: string
  interface: string
  received_bytes: number
  sent_bytes: number
}

export interface NetworkTrafficTable {
  bucket: Date
  org_id: string
  agent_id: string
  interface: string
  received_bytes: number
  sent_bytes: number
}

export interface IngestBatchesTable {
  batch_id: string
  org_id: string
  agent_id: string
  batch_time: Timestamp
  received_at: CreatedAt
  row_count: number
}

export interface MetricsTable {
  time: Timestamp
  org_id: string
  agent_id: string
  metric_type: string
  metric_name: string
  value: number
  tags: Json<Record<string, string>>
}

export interface DiskMetricsTable {
  time: Timestamp
  org_id: string
  agent_id: string
  device: string
  mount_point: string
  filesystem: string | null
  total_bytes: number
  used_bytes: number
  available_bytes: number
  usage_percent: number
  inodes_total: number | null
  inodes_used: number | null
  inodes_percent: number | null
  read_bytes_per_sec: number | null
  write_bytes_per_sec: number | null
  read_ops_per_sec: number | null
  write_ops_per_sec: number | null
  io_util_percent: number | null
}

export interface NetworkMetricsTable {
  time: Timestamp
  org_id: string
  agent_id: string
  interface: string
  bytes_sent: number
  bytes_recv: number
  packets_sent: number
  packets_recv: number
  errors_in: number
  errors_out: number
  drop_in: number
  drop_out: number
  is_up: boolean
  bytes_sent_per_sec: number | null
  bytes_recv_per_sec: number | null
  packets_sent_per_sec: number | null
  packets_recv_per_sec: number | null
}

export interface ProcessSnapshotsTable {
  time: Timestamp
  org_id: string
  agent_id: string
  snapshot_id: Generated<number>
  batch_id: string
  total_processes: number
}

export interface ProcessMetricsTable {
  time: Timestamp
  org_id: string
  agent_id: string
  snapshot_id: number
  pid: number
  parent_pid: number | null
  name: string
  cmdline: string
  username: string | null
  status: string | null
  cpu_percent: number
  memory_bytes: number
  memory_vms: number | null
  memory_percent: number
  num_threads: number | null
  create_time: Date | null
  /** Per-process disk I/O and open files (sql/024); null when the agent could not read them. */
  read_bytes_per_sec: number | null
  write_bytes_per_sec: number | null
  open_fds: number | null
}

export interface UserSessionsTable {
  time: Timestamp
  org_id: string
  agent_id: string
  username: string
  terminal: string | null
  host: string | null
  pid: number | null
  login_time: Timestamp
}

export type LogLevel = 'debug' | 'info' | 'notice' | 'warning' | 'error' | 'critical'

export interface LogsTable {
  time: Timestamp
  org_id: string
  agent_id: string
  id: Generated<number>
  source: string
  level: LogLevel
  message: string
  fields: Json<Record<string, unknown>>
}

export interface ContainerMetricsTable {
  time: Timestamp
  org_id: string
  agent_id: string
  container_id: string
  name: string
  image: string | null
  state: string | null
  cpu_percent: number | null
  memory_bytes: number | null
  memory_limit_bytes: number | null
  memory_percent: number | null
  rx_bytes: number | null
  tx_bytes: number | null
}

/** One row per container an agent has reported (sql/018): `id` is its integer id on seed 004's face, never reused. */
export interface ContainersTable {
  id: ColumnType<number, never, never>
  org_id: string
  agent_id: string
  container_id: string
  name: string
  image: string | null
  state: string | null
  first_seen: Timestamp
  last_seen: Timestamp
}

export interface EnrollmentTokensTable {
  id: Generated<string>
  org_id: string
  token_hash: string
  description: ColumnType<string, string | undefined, string>
  auto_approve: ColumnType<boolean, boolean | undefined, boolean>
  labels: ColumnType<Record<string, string>, string | undefined, string>
  max_uses: number | null
  uses: ColumnType<number, number | undefined, number>
  expires_at: Date | string | null
  created_by: string | null
  created_at: CreatedAt
  revoked_at: Date | null
}

export type RegistrationStatus = 'pending' | 'approved' | 'rejected'

export interface AgentRegistrationsTable {
  id: Generated<string>
  org_id: string
  token_id: string
  hostname: string
  ip_address: string | null
  os: string | null
  os_version: string | null
  agent_version: string | null
  inventory: ColumnType<Record<string, unknown>, string | undefined, string>
  remote_address: string | null
  status: ColumnType<RegistrationStatus, RegistrationStatus | undefined, RegistrationStatus>
  reason: string | null
  agent_id: string | null
  requested_at: CreatedAt
  decided_at: Date | null
  decided_by: string | null
  key_delivered_at: Date | null
  /** The agent's Idempotency-Key for this registration (sql/032): every attempt of one registration sends the same. */
  request_key: ColumnType<string | null, string | null | undefined, string | null>
  /** The agent's number for the attempt whose answer carries the current key (sql/032); null when the key went another way. */
  key_attempt: ColumnType<number | null, number | null | undefined, number | null>
  /** The registration's integer id on seed 003's face. */
  number: Generated<number>
}

export type AuditActorType = 'user' | 'agent' | 'anonymous' | 'system'

export interface AuditLogTable {
  id: Generated<number>
  time: CreatedAt
  org_id: string | null
  actor_type: AuditActorType
  actor_id: string | null
  actor_name: string | null
  action: string
  target_type: string | null
  target_id: string | null
  ip: string | null
  details: ColumnType<Record<string, unknown>, string | undefined, never>
}

export interface DashboardsTable {
  id: Generated<string>
  org_id: string
  owner_id: string | null
  scope: 'user' | 'organization'
  name: string
  description: ColumnType<string, string | undefined, string>
  layout: Json<Record<string, unknown>>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface MetricsLatestTable {
  org_id: string
  agent_id: string
  metric_type: string
  metric_name: string
  tags: Json<Record<string, string>>
  time: Timestamp
  value: number
}

/** Rows of the metrics_1m / metrics_1h / metrics_1d continuous aggregates. */
export interface MetricsRollupView {
  bucket: Date
  org_id: string
  agent_id: string
  metric_type: string
  metric_name: string
  tags: Record<string, string>
  avg: number
  min: number
  max: number
  sum: number
  count: number
  last: number
  /** Sum of squares: a standard deviation over buckets without the raw rows. */
  sumsq: number
}

/** `<field>_avg`, `_min`, `_max`, `_last` of each field an hourly aggregate keeps (sql/002). */
type HourlyStats<F extends string> = { [K in `${F}_${'avg' | 'min' | 'max' | 'last'}`]: number | null }
interface HourlyKey { bucket: Date; org_id: string; agent_id: string; count: number }

export type DiskMetricsHourlyView = HourlyKey & { mount_point: string; device: string } & HourlyStats<
  'usage_percent' | 'used_bytes' | 'available_bytes' | 'total_bytes' | 'inodes_percent' | 'read_bytes_per_sec' | 'write_bytes_per_sec'
  | 'read_ops_per_sec' | 'write_ops_per_sec' | 'io_util_percent'>
export type NetworkMetricsHourlyView = HourlyKey & { interface: string } & HourlyStats<
  'bytes_sent_per_sec' | 'bytes_recv_per_sec' | 'packets_sent_per_sec' | 'packets_recv_per_sec' | 'bytes_sent' | 'bytes_recv'
  | 'errors_in' | 'errors_out' | 'drop_in' | 'drop_out'>
export type ProcessMetricsHourlyView = HourlyKey & { name: string } & HourlyStats<'cpu_percent' | 'memory_bytes' | 'memory_percent' | 'num_threads'>
/** sql/024: the I/O fields' hourly statistics per process name (count: rows with I/O rates). */
export type ProcessIoHourlyView = HourlyKey & { name: string } & HourlyStats<'read_bytes_per_sec' | 'write_bytes_per_sec' | 'open_fds'>
export type ContainerMetricsHourlyView = HourlyKey & { container_id: string } & HourlyStats<
  'cpu_percent' | 'memory_bytes' | 'memory_percent' | 'rx_bytes' | 'tx_bytes'>

export type AlertSeverity = 'info' | 'warning' | 'critical'
export type AlertRuleKind = 'threshold' | 'agent_offline' | 'process_absent' | 'no_data' | 'traffic_quota'
export type AlertAggregation = 'avg' | 'min' | 'max' | 'last' | 'count' | 'p95' | 'rate'
export type AlertCondition = '>' | '>=' | '<' | '<=' | '==' | '!='
export type AlertLifecycleState = 'inactive' | 'pending' | 'firing' | 'resolved'
export type ChannelType = 'slack' | 'email' | 'webhook' | 'discord'
export type NotificationKind = 'firing' | 'repeat' | 'resolved'
export type NotificationStatus = 'pending' | 'sending' | 'delivered' | 'failed' | 'superseded'

export interface NotificationChannelsTable {
  id: Generated<string>
  org_id: string
  name: string
  type: ChannelType
  config: Json<Record<string, unknown>>
  enabled: ColumnType<boolean, boolean | undefined, boolean>
  created_by: string | null
  created_at: CreatedAt
  updated_at: UpdatedAt
  /** The channel's integer id on seed 003's face (/api/notifications/{id}/): never reused. */
  number: Generated<number>
}

export interface AlertRulesTable {
  id: Generated<string>
  org_id: string
  name: string
  description: ColumnType<string, string | undefined, string>
  kind: ColumnType<AlertRuleKind, AlertRuleKind | undefined, AlertRuleKind>
  metric: string
  aggregation: ColumnType<AlertAggregation, AlertAggregation | undefined, AlertAggregation>
  window_seconds: ColumnType<number, number | undefined, number>
  condition: ColumnType<AlertCondition, AlertCondition | undefined, AlertCondition>
  threshold: number | null
  warning_threshold: number | null
  recovery_threshold: number | null
  for_seconds: ColumnType<number, number | undefined, number>
  severity: ColumnType<AlertSeverity, AlertSeverity | undefined, AlertSeverity>
  agents: ColumnType<string[], string[] | undefined, string[]>
  labels: Json<Record<string, string>>
  tags: Json<Record<string, string>>
  channels: ColumnType<string[], string[] | undefined, string[]>
  repeat_interval_seconds: number | null
  notify_on_resolve: ColumnType<boolean, boolean | undefined, boolean>
  enabled: ColumnType<boolean, boolean | undefined, boolean>
  annotations: Json<Record<string, string>>
  interval_seconds: ColumnType<number, number | undefined, number>
  group_wait_seconds: ColumnType<number, number | undefined, number>
  source: ColumnType<'api' | 'file', 'api' | 'file' | undefined, 'api' | 'file'>
  created_by: string | null
  created_at: CreatedAt
  updated_at: UpdatedAt
  last_evaluated_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  last_evaluation_error: ColumnType<string | null, string | null | undefined, string | null>
  /** The rule's integer id on seed 003's face (/api/thresholds/{id}/): never reused. */
  number: Generated<number>
}

export interface AlertEventsTable {
  id: Generated<string>
  org_id: string
  rule_id: string | null
  rule_name: string
  agent_id: string | null
  agent_name: string
  series_key: ColumnType<string, string | undefined, string>
  series_tags: Json<Record<string, string>>
  severity: AlertSeverity
  state: 'firing' | 'resolved'
  value: number | null
  threshold: number | null
  summary: ColumnType<string, string | undefined, string>
  annotations: Json<Record<string, string>>
  started_at: Timestamp
  resolved_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  resolved_by: string | null
  resolve_comment: string | null
  acknowledged_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  acknowledged_by: string | null
  ack_comment: string | null
  ack_expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  /** The event's severity when it was acknowledged (sql/033). */
  acknowledged_severity: ColumnType<AlertSeverity | null, AlertSeverity | null | undefined, AlertSeverity | null>
  last_notified_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  notification_count: ColumnType<number, number | undefined, number>
  created_at: CreatedAt
  updated_at: UpdatedAt
  /** The event's integer id on seed 003's face (/api/alerts/{id}/): never reused. */
  number: Generated<number>
}

export interface AlertStatesTable {
  rule_id: string
  agent_id: string
  series_key: ColumnType<string, string | undefined, string>
  org_id: string
  series_tags: Json<Record<string, string>>
  state: AlertLifecycleState
  severity: AlertSeverity | null
  value: number | null
  pending_since: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  firing_since: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  last_evaluated_at: UpdatedAt
  last_notified_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  /** The severity the last notification of the current firing told of (sql/033). */
  notified_severity: ColumnType<AlertSeverity | null, AlertSeverity | null | undefined, AlertSeverity | null>
  event_id: string | null
}

export interface SilencesTable {
  id: Generated<string>
  org_id: string
  kind: ColumnType<'silence' | 'maintenance', 'silence' | 'maintenance' | undefined, 'silence' | 'maintenance'>
  /** {rule_id?, rule?, agent?, severity?, labels?}: every matcher given must match. */
  matchers: Json<SilenceMatchers>
  starts_at: Timestamp
  ends_at: Timestamp
  comment: ColumnType<string, string | undefined, string>
  created_by: string | null
  created_by_name: string | null
  created_at: CreatedAt
}

export interface SilenceMatchers {
  rule_id?: string
  rule?: string
  agent?: string
  severity?: AlertSeverity
  labels?: Record<string, string>
}

export interface AlertNotificationsTable {
  id: Generated<string>
  org_id: string
  event_id: string
  rule_id: string | null
  channel_id: string | null
  channel_name: string
  kind: NotificationKind
  status: ColumnType<NotificationStatus, NotificationStatus | undefined, NotificationStatus>
  attempts: ColumnType<number, number | undefined, number>
  next_attempt_at: ColumnType<Date, Date | string | undefined, Date | string>
  last_error: string | null
  group_key: string
  message_id: string | null
  created_at: CreatedAt
  delivered_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
}

export interface Database {
  organizations: OrganizationsTable
  users: UsersTable
  user_preferences: UserPreferencesTable
  reports: ReportsTable
  report_files: ReportFilesTable
  auth_sessions: AuthSessionsTable
  agents: AgentsTable
  ingest_batches: IngestBatchesTable
  metrics: MetricsTable
  metrics_latest: MetricsLatestTable
  disk_metrics: DiskMetricsTable
  network_metrics: NetworkMetricsTable
  network_traffic: NetworkTrafficTable
  network_traffic_daily: NetworkTrafficDailyTable
  traffic_quotas: TrafficQuotasTable
  process_snapshots: ProcessSnapshotsTable
  process_metrics: ProcessMetricsTable
  user_sessions: UserSessionsTable
  logs: LogsTable
  container_metrics: ContainerMetricsTable
  containers: ContainersTable
  dashboards: DashboardsTable
  metrics_1m: MetricsRollupView
  metrics_1h: MetricsRollupView
  metrics_1d: MetricsRollupView
  disk_metrics_1h: DiskMetricsHourlyView
  network_metrics_1h: NetworkMetricsHourlyView
  process_metrics_1h: ProcessMetricsHourlyView
  process_io_1h: ProcessIoHourlyView
  container_metrics_1h: ContainerMetricsHourlyView
  enrollment_tokens: EnrollmentTokensTable
  agent_registrations: AgentRegistrationsTable
  audit_log: AuditLogTable
  notification_channels: NotificationChannelsTable
  alert_rules: AlertRulesTable
  alert_events: AlertEventsTable
  alert_states: AlertStatesTable
  silences: SilencesTable
  alert_notifications: AlertNotificationsTable
}

export type Agent = Selectable<AgentsTable>
export type NewAgent = Insertable<AgentsTable>
export type User = Selectable<UsersTable>
