// The seed 003 agent's upload bodies (metrics, process lists, logs with user sessions) as native ingest
// batches, under the series names the hostpulse agent itself writes (agent/cpu.ts, memory.ts, disk.ts,
// network.ts, process.ts, sessions.ts), so the data is in the native charts, alerting and Grafana. The
// native checker (checkBatches) then judges every batch; its field paths are given back in the seed's words.
import { randomUUID } from 'node:crypto'
import { Type, type Static } from 'typebox'
import type { DiskItem, IngestBatch, LogItem, MetricItem, NetworkItem, ProcessItem, SessionItem } from '../../../contract/ingest-batch.ts'
import { LOG_LEVELS } from '../../../contract/ingest-batch.ts'
import { checkBatches } from '../../ingest/check-batches.ts'
import { DomainError, invalidField } from '../../errors/domain-error.ts'
import type { NetworkRow } from '../../query/range-reads.ts'
import { counterRate, round } from '../../../agent/counter-rate.ts'
import { seedTime } from '../seed-time.ts'

// ---- Shared pieces ------------------------------------------------------------------------------

const Count = Type.Number({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
const Percent = Type.Number({ minimum: 0, maximum: 1e6 })
const OptionalCount = Type.Optional(Count)
const OptionalPercent = Type.Optional(Percent)
/**
 * ISO 8601 (an offset-less time is UTC, as Python's isoformat() writes it) or seconds since 1970. The number
 * comes first: the validator coerces types, and would otherwise turn a number into a string.
 */
const SeedTime = Type.Union([Type.Number({ minimum: 0, maximum: 1e13 }), Type.String({ minLength: 1, maxLength: 64 })])
const Text = (max: number) => Type.Optional(Type.Union([Type.String({ maxLength: max }), Type.Null()]))

/** Who sent it and when: every seed upload may say both. */
const UploadHead = {
  hostname: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  timestamp: Type.Optional(SeedTime),
}


/** The first of several spellings a seed agent may use for one value. */
const first = <T>(...values: Array<T | null | undefined>): T | undefined => values.find((v) => v !== undefined && v !== null) ?? undefined

/**
 * checkBatches on one batch, its `invalid` errors renamed to the seed's fields (`metrics[0].value` →
 * `cpu_usage`); unnamed paths stay as the native checker wrote them.
 */
function checked(batch: IngestBatch, seedField: (nativePath: string) => string | undefined, now: number): IngestBatch {
  try {
    return checkBatches(batch, now)[0]
  } catch (err) {
    if (!(err instanceof DomainError) || err.kind !== 'invalid' || !err.details) throw err
    const details: Record<string, unknown> = {}
    for (const [path, problems] of Object.entries(err.details)) details[seedField(path) ?? path] = problems
    const [field, problems] = Object.entries(details)[0]
    throw new DomainError('invalid', `Invalid request: ${field} ${(problems as string[])[0]}`, { details, cause: err })
  }
}

const timeField = (path: string) => (path === 'time' ? 'timestamp' : undefined)

// ---- Metrics ------------------------------------------------------------------------------------

export const MetricsUpload = Type.Object({
  ...UploadHead,
  cpu_usage: OptionalPercent, cpu_percent: OptionalPercent,
  memory_usage: OptionalPercent, memory_percent: OptionalPercent,
  memory_total: OptionalCount, memory_used: OptionalCount, memory_available: OptionalCount,
  swap_usage: OptionalPercent, swap_percent: OptionalPercent,
  load_average: Type.Optional(Type.Array(Type.Number({ minimum: 0, maximum: 1e6 }), { minItems: 1, maxItems: 3 })),
  disk_usage: OptionalPercent, disk_percent: OptionalPercent,
  disk_total: OptionalCount, disk_used: OptionalCount, disk_free: OptionalCount,
  mount_point: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })), disk_device: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  network_in: OptionalCount, bytes_recv: OptionalCount, network_out: OptionalCount, bytes_sent: OptionalCount,
  packets_recv: OptionalCount, packets_sent: OptionalCount,
  interface: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
}, { additionalProperties: true })
export type MetricsUpload = Static<typeof MetricsUpload>

/** The interface a seed agent's machine-wide counters are stored under (psutil.net_io_counters() sums every NIC). */
export const SEED_ALL_INTERFACES = 'all'
/** The mount point of the seed agent's one disk figure when it names none. */
export const SEED_DISK_MOUNT = '/'

/** The interface of a metrics upload (its counters are stored under this name). */
export const uploadInterface = (body: MetricsUpload) => body.interface ?? SEED_ALL_INTERFACES

/** An interface's counters as last stored. */
export type PreviousCounters = Pick<NetworkRow, 'time' | 'bytes_sent' | 'bytes_recv' | 'packets_sent' | 'packets_recv'>

/** Per-second rates since the previous counters, by the hostpulse agent's own rule (wraps and resets included). */
function withRates(net: NetworkItem, prev: PreviousCounters, elapsedSeconds: number): NetworkItem {
  if (!(elapsedSeconds > 0)) return net
  const rate = (before: number, now: number) => round(counterRate(before, now, elapsedSeconds, 64))
  return {
    ...net,
    bytes_sent_per_sec: rate(prev.bytes_sent, net.bytes_sent), bytes_recv_per_sec: rate(prev.bytes_recv, net.bytes_recv),
    packets_sent_per_sec: rate(prev.packets_sent, net.packets_sent), packets_recv_per_sec: rate(prev.packets_recv, net.packets_recv),
  }
}

/**
 * A metrics upload → one batch: cpu.usage_percent, memory.* and swap.usage_percent, load.load1/5/15 (and
 * cpu.load_avg_N, as the hostpulse agent writes both), one filesystem row and one interface row. Byte
 * counts the seed agent does not send are 0 in the filesystem row; packets likewise. With `previous`, the
 * interface's last stored counters, the row also gets per-second rates (what the native charts draw).
 */
export function metricsBatch(body: MetricsUpload, now = Date.now(), previous?: PreviousCounters): IngestBatch {
  const time = body.timestamp !== undefined ? seedTime(body.timestamp, 'timestamp') : new Date(now).toISOString()
  const metrics: MetricItem[] = []
  const from: string[] = []
  const add = (field: string, metric_type: string, metric_name: string, value: number | undefined) => {
    if (value === undefined) return
    metrics.push({ metric_type, metric_name, value })
    from.push(field)
  }
  const alias = (a: keyof MetricsUpload, b: keyof MetricsUpload) => (body[a] !== undefined ? a : b) as string
  add(alias('cpu_usage', 'cpu_percent'), 'cpu', 'usage_percent', first(body.cpu_usage, body.cpu_percent))
  add(alias('memory_usage', 'memory_percent'), 'memory', 'usage_percent', first(body.memory_usage, body.memory_percent))
  add('memory_total', 'memory', 'total_bytes', body.memory_total)
  add('memory_used', 'memory', 'used_bytes', body.memory_used)
  add('memory_available', 'memory', 'available_bytes', body.memory_available)
  add(alias('swap_usage', 'swap_percent'), 'swap', 'usage_percent', first(body.swap_usage, body.swap_percent))
  ;(body.load_average ?? []).forEach((v, i) => {
    const n = [1, 5, 15][i]
    add(`load_average[${i}]`, 'load', `load${n}`, v)
    add(`load_average[${i}]`, 'cpu', `load_avg_${n}`, v)
  })

  const batch: IngestBatch = { batch_id: randomUUID(), time, metrics }
  const diskPercent = first(body.disk_usage, body.disk_percent)
  if (diskPercent !== undefined || body.disk_total !== undefined) {
    const total = body.disk_total ?? 0
    const used = body.disk_used ?? 0
    const disk: DiskItem = {
      device: body.disk_device ?? body.mount_point ?? SEED_DISK_MOUNT, mount_point: body.mount_point ?? SEED_DISK_MOUNT,
      total_bytes: total, used_bytes: used, available_bytes: body.disk_free ?? Math.max(0, total - used),
      usage_percent: diskPercent ?? (total > 0 ? Math.round((used / total) * 10_000) / 100 : 0),
    }
    batch.disks = [disk]
  }
  const recv = first(body.network_in, body.bytes_recv)
  const sent = first(body.network_out, body.bytes_sent)
  if (recv !== undefined || sent !== undefined) {
    const net: NetworkItem = {
      interface: uploadInterface(body), bytes_recv: recv ?? 0, bytes_sent: sent ?? 0,
      packets_recv: body.packets_recv ?? 0, packets_sent: body.packets_sent ?? 0,
    }
    batch.networks = [previous ? withRates(net, previous, (Date.parse(time) - previous.time.getTime()) / 1000) : net]
  }
  if (metrics.length === 0 && !batch.disks && !batch.networks) {
    throw new DomainError('invalid', 'Invalid request: no metrics in the upload', {
      details: { '(body)': ['no metrics: send at least one of cpu_usage, memory_usage, disk_usage, network_in, network_out'] },
    })
  }
  const diskField: Record<string, string> = { usage_percent: alias('disk_usage', 'disk_percent'), total_bytes: 'disk_total', used_bytes: 'disk_used', available_bytes: 'disk_free', mount_point: 'mount_point', device: 'disk_device' }
  const netField: Record<string, string> = { bytes_recv: alias('network_in', 'bytes_recv'), bytes_sent: alias('network_out', 'bytes_sent'), packets_recv: 'packets_recv', packets_sent: 'packets_sent', interface: 'interface' }
  return checked(batch, (path) => {
    const m = /^(metrics|disks|networks)\[(\d+)\]\.?(.*)$/.exec(path)
    if (!m) return timeField(path)
    if (m[1] === 'metrics') return from[Number(m[2])]
    return (m[1] === 'disks' ? diskField : netField)[m[3]]
  }, now)
}

// ---- Processes ----------------------------------------------------------------------------------

const SeedProcess = Type.Object({
  pid: Type.Integer({ minimum: 0, maximum: 2147483647 }),
  name: Type.String({ maxLength: 255 }),
  ppid: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 2147483647 }), Type.Null()])),
  parent_pid: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 2147483647 }), Type.Null()])),
  username: Text(128), status: Text(32),
  cmdline: Type.Optional(Type.Union([Type.String({ maxLength: 65536 }), Type.Array(Type.String({ maxLength: 65536 }), { maxItems: 4096 }), Type.Null()])),
  cpu_percent: Type.Optional(Type.Union([Percent, Type.Null()])),
  memory_percent: Type.Optional(Type.Union([Percent, Type.Null()])),
  memory_rss: Type.Optional(Type.Union([Count, Type.Null()])), memory_bytes: Type.Optional(Type.Union([Count, Type.Null()])),
  memory_vms: Type.Optional(Type.Union([Count, Type.Null()])), memory_mb: Type.Optional(Type.Union([Count, Type.Null()])),
  memory_info: Type.Optional(Type.Union([Type.Object({ rss: Type.Optional(Count), vms: Type.Optional(Count) }, { additionalProperties: true }), Type.Null()])),
  num_threads: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 2147483647 }), Type.Null()])),
  create_time: Type.Optional(Type.Union([SeedTime, Type.Null()])),
}, { additionalProperties: true })

export const ProcessesUpload = Type.Object({
  ...UploadHead,
  processes: Type.Array(SeedProcess, { maxItems: 20000 }),
}, { additionalProperties: true })
export type ProcessesUpload = Static<typeof ProcessesUpload>

/**
 * A process list → one batch holding one snapshot (psutil's fields: ppid, memory_info.rss/vms or
 * memory_rss, memory_mb, cmdline as a list). An unknown CPU or memory share (psutil's None) is 0.
 */
export function processesBatch(body: ProcessesUpload, now = Date.now()): IngestBatch {
  const time = body.timestamp !== undefined ? seedTime(body.timestamp, 'timestamp') : new Date(now).toISOString()
  const processes = body.processes.map((p, i): ProcessItem => {
    const rss = first(p.memory_rss, p.memory_bytes, p.memory_info?.rss, p.memory_mb === undefined || p.memory_mb === null ? undefined : Math.round(p.memory_mb * 1024 * 1024))
    const item: ProcessItem = {
      pid: p.pid, name: p.name, cpu_percent: p.cpu_percent ?? 0, memory_percent: p.memory_percent ?? 0, memory_bytes: Math.round(rss ?? 0),
    }
    const parent = first(p.ppid, p.parent_pid)
    if (parent !== undefined) item.parent_pid = parent
    const cmdline = Array.isArray(p.cmdline) ? p.cmdline.join(' ') : p.cmdline
    if (cmdline) item.cmdline = cmdline.slice(0, 4096)
    if (p.username) item.username = p.username
    if (p.status) item.status = p.status
    const vms = first(p.memory_vms, p.memory_info?.vms)
    if (vms !== undefined) item.memory_vms = Math.round(vms)
    if (p.num_threads !== undefined && p.num_threads !== null) item.num_threads = p.num_threads
    if (p.create_time !== undefined && p.create_time !== null) item.create_time = seedTime(p.create_time, `processes[${i}].create_time`)
    return item
  })
  const seedName: Record<string, string> = { parent_pid: 'ppid', memory_bytes: 'memory_rss', memory_vms: 'memory_vms' }
  return checked({ batch_id: randomUUID(), time, processes }, (path) => {
    const m = /^processes\[(\d+)\]\.(.*)$/.exec(path)
    return m ? `processes[${m[1]}].${seedName[m[2]] ?? m[2]}` : timeField(path)
  }, now)
}

// ---- Logs and user sessions ---------------------------------------------------------------------

const SeedLog = Type.Object({
  message: Type.String({ maxLength: 16384 }),
  level: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })), log_level: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  source: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })), log_type: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  timestamp: Type.Optional(SeedTime), time: Type.Optional(SeedTime),
  fields: Type.Optional(Type.Object({}, { additionalProperties: true })),
}, { additionalProperties: true })

const SeedSession = Type.Object({
  username: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })), user: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  terminal: Text(64), tty: Text(64),
  host: Text(255), ip_address: Text(255), remote_host: Text(255),
  pid: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 2147483647 }), Type.Null()])),
  login_time: Type.Optional(SeedTime), started: Type.Optional(SeedTime),
}, { additionalProperties: true })

export const LogsUpload = Type.Object({
  ...UploadHead,
  logs: Type.Optional(Type.Array(SeedLog, { maxItems: 5000 })),
  sessions: Type.Optional(Type.Array(SeedSession, { maxItems: 1000 })),
  user_sessions: Type.Optional(Type.Array(SeedSession, { maxItems: 1000 })),
}, { additionalProperties: true })
export type LogsUpload = Static<typeof LogsUpload>

type Level = (typeof LOG_LEVELS)[number]
/** Level names seed agents use (Python's logging, syslog) → the native six. */
const LEVEL_ALIASES: Record<string, Level> = {
  trace: 'debug', warn: 'warning', err: 'error', fatal: 'critical', crit: 'critical', alert: 'critical', emerg: 'critical', emergency: 'critical',
}
const KNOWN_LOG_KEYS = new Set(['message', 'level', 'log_level', 'source', 'log_type', 'timestamp', 'time', 'fields', 'hostname'])
/** Where a line came from when the seed agent does not say. */
export const SEED_LOG_SOURCE = 'seed-agent'

function logLevel(text: string | undefined, field: string): Level {
  if (text === undefined) return 'info'
  const l = text.toLowerCase()
  if ((LOG_LEVELS as readonly string[]).includes(l)) return l as Level
  const alias = LEVEL_ALIASES[l]
  if (!alias) throw invalidField(field, `must be one of ${LOG_LEVELS.join(', ')} (or warn, err, fatal, crit)`)
  return alias
}

/**
 * Logs (level, source or log_type, message, time; other keys become fields) and the user sessions the same
 * upload carries (`sessions` or `user_sessions`) → one batch. Lines more than a day older than the upload
 * are refused by the native rule (a batch's items stay within a day of it).
 */
export function logsBatch(body: LogsUpload, now = Date.now()): IngestBatch {
  const time = body.timestamp !== undefined ? seedTime(body.timestamp, 'timestamp') : new Date(now).toISOString()
  const logs = (body.logs ?? []).map((l, i): LogItem => {
    const extra = Object.fromEntries(Object.entries(l).filter(([k]) => !KNOWN_LOG_KEYS.has(k)))
    const fields = { ...extra, ...(l.fields ?? {}) }
    const when = first(l.timestamp, l.time)
    const item: LogItem = {
      // LogItem's level is typed from a mapped union TypeScript cannot narrow: the value is one of LOG_LEVELS.
      source: first(l.source, l.log_type) ?? SEED_LOG_SOURCE, level: logLevel(first(l.level, l.log_level), `logs[${i}].level`), message: l.message,
    }
    if (when !== undefined) item.time = seedTime(when, `logs[${i}].timestamp`)
    if (Object.keys(fields).length > 0) item.fields = fields
    return item
  })
  const key = body.sessions !== undefined ? 'sessions' : 'user_sessions'
  const sessions = (body.sessions ?? body.user_sessions ?? []).map((s, i): SessionItem => {
    const user = first(s.username, s.user)
    if (user === undefined) throw invalidField(`${key}[${i}].username`, 'is required')
    const login = first(s.login_time, s.started)
    if (login === undefined) throw invalidField(`${key}[${i}].login_time`, 'is required')
    const item: SessionItem = { user, login_time: seedTime(login, `${key}[${i}].login_time`) }
    const terminal = first(s.terminal, s.tty)
    if (terminal) item.terminal = terminal
    const host = first(s.host, s.ip_address, s.remote_host)
    if (host) item.host = host
    if (s.pid !== undefined && s.pid !== null && s.pid > 0) item.pid = s.pid
    return item
  })
  if (logs.length === 0 && sessions.length === 0) {
    throw new DomainError('invalid', 'Invalid request: no logs in the upload', { details: { logs: ['send at least one log line (or user session)'] } })
  }
  const batch: IngestBatch = { batch_id: randomUUID(), time }
  if (logs.length > 0) batch.logs = logs
  if (sessions.length > 0) batch.sessions = sessions
  return checked(batch, (path) => {
    const m = /^(logs|sessions)\[(\d+)\]\.(.*)$/.exec(path)
    if (!m) return timeField(path)
    if (m[1] === 'sessions') return `${key}[${m[2]}].${m[3] === 'user' ? 'username' : m[3]}`
    return `logs[${m[2]}].${m[3] === 'time' ? 'timestamp' : m[3]}`
  }, now)
}
