// Dashboards as code: this file writes grafana/dashboards/hostpulse/*.json (`npx tsx grafana/build-dashboards.ts`).
// The JSON is committed so Grafana provisions it as is; test/deploy checks the files match this source.
//
// Resolution: every time series reads raw rows when Grafana's $__interval is short and the continuous
// aggregates when it is long, one UNION ALL branch per relation, each guarded by a constant condition on
// $__interval_ms that the planner folds away, so only one branch touches data. Averages are carried as
// sum and count so that a bucket spanning several aggregate rows is still an exact average.
import { writeFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const DATASOURCE = { type: 'grafana-postgresql-datasource', uid: 'hostpulse-timescaledb' } as const
export const DASHBOARD_DIR = join(dirname(fileURLToPath(import.meta.url)), 'dashboards', 'hostpulse')

const MINUTE_MS = 60_000
const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000

/** The agents a panel reads: the one picked in $agent (names are unique within an organization). */
const AGENT = `agent_id IN (SELECT id FROM agents WHERE name = '$agent')`

interface NarrowQuery {
  /** metric_type = this */
  type: string
  /** metric_name IN these; each becomes one series named after it */
  names: string[]
  /** Filter on the agent (host detail) or split by agent name (fleet). */
  by: 'metric_name' | 'agent'
  agg: 'avg' | 'max'
}

/** A time series over the narrow `metrics` table and metrics_1m/1h/1d, whichever fits $__interval. */
function narrowSeries(q: NarrowQuery): string {
  const names = q.names.map((n) => `'${n}'`).join(', ')
  const where = (time: string) =>
    `$__timeFilter(${time}) AND metric_type = '${q.type}' AND metric_name IN (${names}) AND tags = '{}'` +
    (q.by === 'metric_name' ? ` AND ${AGENT}` : '')
  const series = q.by === 'metric_name' ? 'metric_name' : 'agent_id'
  const value = q.agg === 'avg' ? 'sum(s) / sum(n)' : 'max(mx)'
  const levels: [string, string, string][] = [
    ['metrics', `$__interval_ms < ${MINUTE_MS}`, `time AS t, ${series} AS k, value AS s, 1 AS n, value AS mx`],
    ['metrics_1m', `$__interval_ms >= ${MINUTE_MS} AND $__interval_ms < ${HOUR_MS}`, `bucket, ${series}, sum, count, max`],
    ['metrics_1h', `$__interval_ms >= ${HOUR_MS} AND $__interval_ms < ${DAY_MS}`, `bucket, ${series}, sum, count, max`],
    ['metrics_1d', `$__interval_ms >= ${DAY_MS}`, `bucket, ${series}, sum, count, max`],
  ]
  const branches = levels.map(([rel, guard, cols]) =>
    `  SELECT ${cols} FROM ${rel}\n  WHERE ${guard} AND ${where(rel === 'metrics' ? 'time' : 'bucket')}`).join('\n  UNION ALL\n')
  const label = q.by === 'metric_name' ? 'k' : '(SELECT name FROM agents WHERE id = k)'
  return `SELECT time_bucket('$__interval', t) AS "time", ${label} AS metric, ${value} AS value\nFROM (\n${branches}\n) AS r(t, k, s, n, mx)\nGROUP BY 1, 2\nORDER BY 1`
}

interface WideQuery {
  raw: string
  hourly: string
  /** Columns that name a series, present in both relations (agent_id shows as the agent's name). */
  key: string[]
  /** Output column → field; the value is averaged exactly (sum/count), the maximum, or the increase (max − min). */
  fields: { as: string; field: string; kind?: 'avg' | 'max' | 'increase' }[]
  /** Filter on $agent; false: every agent. */
  perAgent: boolean
}

/** A time series over a wide hypertable and its hourly aggregate (raw below one hour of $__interval). */
function wideSeries(q: WideQuery): string {
  const agent = q.perAgent ? ` AND ${AGENT}` : ''
  const keys = q.key.join(', ')
  const rawCols = q.fields.map((f, i) => `${f.field} AS s${i}, ${f.field} AS lo${i}, ${f.field} AS hi${i}`).join(', ')
  const aggCols = q.fields.map((f, i) => `${f.field}_avg * count, ${f.field}_min, ${f.field}_max`).join(', ')
  const outCols = q.fields.map((f, i) => {
    const expr = f.kind === 'increase' ? `max(hi${i}) - min(lo${i})` : f.kind === 'max' ? `max(hi${i})` : `sum(s${i}) / sum(n)`
    return `${expr} AS "${f.as}"`
  }).join(', ')
  const label = q.key.map((k) => k === 'agent_id' ? '(SELECT name FROM agents WHERE id = agent_id)' : k).join(` || ' ' || `)
  return `SELECT time_bucket('$__interval', t) AS "time", ${label} AS metric, ${outCols}\nFROM (\n` +
    `  SELECT time AS t, ${keys}, 1 AS n, ${rawCols} FROM ${q.raw}\n` +
    `  WHERE $__interval_ms < ${HOUR_MS} AND $__timeFilter(time)${agent}\n  UNION ALL\n` +
    `  SELECT bucket, ${keys}, count, ${aggCols} FROM ${q.hourly}\n` +
    `  WHERE $__interval_ms >= ${HOUR_MS} AND $__timeFilter(bucket)${agent}\n` +
    `) AS r\nGROUP BY 1, ${keys}\nORDER BY 1`
}

/** Top `limit` process names by the range's average of `field`, then that field over time for each. */
function topProcessSeries(field: 'cpu_percent' | 'memory_bytes', limit: number): string {
  return `WITH r AS (
  SELECT time AS t, name, ${field} AS s, 1 AS n FROM process_metrics
  WHERE $__interval_ms < ${HOUR_MS} AND $__timeFilter(time) AND ${AGENT}
  UNION ALL
  SELECT bucket, name, ${field}_avg * count, count FROM process_metrics_1h
  WHERE $__interval_ms >= ${HOUR_MS} AND $__timeFilter(bucket) AND ${AGENT}
), top AS (
  SELECT name FROM r GROUP BY name ORDER BY sum(s) / sum(n) DESC LIMIT ${limit}
)
SELECT time_bucket('$__interval', t) AS "time", name AS metric, sum(s) / sum(n) AS value
FROM r WHERE name IN (SELECT name FROM top)
GROUP BY 1, 2
ORDER BY 1`
}

// ---------------------------------------------------------------- panels

interface Target { refId: string; rawSql: string; format: 'time_series' | 'table' }
export interface Panel {
  id: number; type: string; title: string; description?: string
  gridPos: { x: number; y: number; w: number; h: number }
  datasource: typeof DATASOURCE
  targets: (Target & { datasource: typeof DATASOURCE; editorMode: 'code'; rawQuery: true })[]
  fieldConfig: { defaults: Record<string, unknown>; overrides: unknown[] }
  options: Record<string, unknown>
}

interface PanelSpec {
  title: string; description?: string; type?: 'timeseries' | 'table' | 'stat' | 'logs'
  unit: string; sql: string; format?: 'time_series' | 'table'
  w?: number; h?: number; stack?: boolean; max?: number
  /** Draw a time series as bars (counts per interval). */
  bars?: boolean
  /** Grafana field overrides, e.g. a unit for one column of a table. */
  overrides?: unknown[]
}

/**
 * Grafana's logs visualization over a table-format SQL result: the first time column is the line's time,
 * the first text column the line, a column named `level` its level and one named `id` its identity; the
 * other columns (source) show in the line's details. The query already answers newest first.
 */
const LOGS_OPTIONS = {
  showTime: true, showLabels: false, showCommonLabels: false, wrapLogMessage: true, prettifyLogMessage: false,
  enableLogDetails: true, dedupStrategy: 'none', sortOrder: 'Descending',
}

function layout(specs: PanelSpec[]): Panel[] {
  let x = 0
  let y = 0
  let rowH = 0
  return specs.map((p, i) => {
    const w = p.w ?? 12
    const h = p.h ?? 8
    if (x + w > 24) { x = 0; y += rowH; rowH = 0 }
    const gridPos = { x, y, w, h }
    x += w
    rowH = Math.max(rowH, h)
    const type = p.type ?? 'timeseries'
    const custom = type === 'timeseries'
      ? { drawStyle: p.bars ? 'bars' : 'line', lineWidth: 1, fillOpacity: p.bars ? 80 : p.stack ? 30 : 10, showPoints: 'never', spanNulls: false, stacking: { mode: p.stack ? 'normal' : 'none', group: 'A' } }
      : undefined
    return {
      id: i + 1, type, title: p.title, ...(p.description ? { description: p.description } : {}), gridPos, datasource: DATASOURCE,
      targets: [{ refId: 'A', datasource: DATASOURCE, editorMode: 'code', rawQuery: true, format: p.format ?? (type === 'timeseries' ? 'time_series' : 'table'), rawSql: p.sql }],
      fieldConfig: { defaults: { unit: p.unit, ...(p.max !== undefined ? { min: 0, max: p.max } : {}), ...(custom ? { custom } : {}) }, overrides: p.overrides ?? [] },
      options: type === 'timeseries'
        ? { legend: { displayMode: 'table', placement: 'bottom', calcs: ['mean', 'max', 'lastNotNull'] }, tooltip: { mode: 'multi', sort: 'desc' } }
        : type === 'table' ? { showHeader: true, cellHeight: 'sm' }
        : type === 'logs' ? LOGS_OPTIONS
        : { reduceOptions: { calcs: ['lastNotNull'] } },
    }
  })
}

const agentVariable = {
  name: 'agent', label: 'Host', type: 'query', datasource: DATASOURCE,
  query: 'SELECT name FROM agents ORDER BY name', definition: 'SELECT name FROM agents ORDER BY name',
  refresh: 1, sort: 1, multi: false, includeAll: false, current: {}, options: [], hide: 0,
}

export interface Dashboard {
  uid: string; title: string; tags: string[]; panels: Panel[]
  templating: { list: unknown[] }
  [key: string]: unknown
}

function dashboard(uid: string, title: string, description: string, panels: PanelSpec[], variables: unknown[] = []): Dashboard {
  return {
    uid, title, description, tags: ['hostpulse'], timezone: 'browser', editable: false, graphTooltip: 1,
    schemaVersion: 39, version: 1, refresh: '30s', time: { from: 'now-6h', to: 'now' },
    templating: { list: variables }, annotations: { list: [] },
    links: [{ title: 'hostpulse', type: 'dashboards', tags: ['hostpulse'], asDropdown: true }],
    panels: layout(panels),
  }
}

// ---------------------------------------------------------------- logs
// The `logs` hypertable (sql/016): raw lines only, no aggregate; the agent filter and the time range use
// its (agent_id, time DESC) index.

/** Most lines the Logs panel shows: the newest of the range. */
export const LOG_PANEL_LIMIT = 1000

/** Worst first, as the logs table's CHECK allows them; one series (and colour) each. */
const LOG_LEVEL_COLOURS: [string, string][] = [
  ['critical', 'dark-red'], ['error', 'red'], ['warning', 'orange'], ['notice', 'yellow'], ['info', 'green'], ['debug', 'blue'],
]
const LOG_LEVEL_RANK = `array_position(ARRAY[${LOG_LEVEL_COLOURS.map(([l]) => `'${l}'`).join(', ')}], level)`

const logLines = `SELECT time AS "time", message, level, source, id
FROM logs
WHERE $__timeFilter(time) AND ${AGENT}
ORDER BY time DESC, id DESC
LIMIT ${LOG_PANEL_LIMIT}`

const logLevels = `SELECT time_bucket('$__interval', time) AS "time", level AS metric, count(*)::int AS value
FROM logs
WHERE $__timeFilter(time) AND ${AGENT}
GROUP BY 1, 2
ORDER BY 1, ${LOG_LEVEL_RANK}`

const levelColours = LOG_LEVEL_COLOURS.map(([name, colour]) => ({
  matcher: { id: 'byName', options: name }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: colour } }],
}))

// ---------------------------------------------------------------- dashboards

const fleet = dashboard('hostpulse-fleet', 'Fleet overview', 'Every agent: status, CPU, memory, disk, network and top talkers.', [
  {
    title: 'Agents', type: 'table', unit: 'none', w: 24, h: 8,
    description: 'Online: a sample in the last minute. CPU and memory are the newest values; disk is the fullest mount in the range.',
    sql: `SELECT a.last_metrics_at AS "time", a.name AS agent, a.hostname, a.os,
  CASE WHEN a.last_metrics_at > now() - interval '1 minute' THEN 'online' ELSE 'offline' END AS status,
  (SELECT value FROM metrics_latest l WHERE l.agent_id = a.id AND metric_type = 'cpu' AND metric_name = 'usage_percent' AND tags = '{}') AS cpu_percent,
  (SELECT value FROM metrics_latest l WHERE l.agent_id = a.id AND metric_type = 'memory' AND metric_name = 'usage_percent' AND tags = '{}') AS memory_percent,
  (SELECT max(usage_percent) FROM disk_metrics d WHERE d.agent_id = a.id AND $__timeFilter(d.time)) AS disk_percent
FROM agents a
ORDER BY a.name`,
  },
  { title: 'CPU usage by host', unit: 'percent', max: 100, sql: narrowSeries({ type: 'cpu', names: ['usage_percent'], by: 'agent', agg: 'avg' }) },
  { title: 'Memory usage by host', unit: 'percent', max: 100, sql: narrowSeries({ type: 'memory', names: ['usage_percent'], by: 'agent', agg: 'avg' }) },
  {
    title: 'Fullest disk by host', unit: 'percent', max: 100,
    sql: wideSeries({ raw: 'disk_metrics', hourly: 'disk_metrics_1h', key: ['agent_id'], perAgent: false, fields: [{ as: 'usage_percent', field: 'usage_percent', kind: 'max' }] }),
  },
  {
    title: 'Network throughput by host', unit: 'Bps',
    description: 'Received and sent bytes per second of every interface of every host.',
    sql: wideSeries({
      raw: 'network_metrics', hourly: 'network_metrics_1h', key: ['agent_id', 'interface'], perAgent: false,
      fields: [{ as: 'received', field: 'bytes_recv_per_sec' }, { as: 'sent', field: 'bytes_sent_per_sec' }],
    }),
  },
  {
    title: 'Top talkers', type: 'table', unit: 'Bps', w: 24,
    description: 'Host interfaces with the most traffic (received + sent, average over the range).',
    sql: `SELECT max(t) AS "time", (SELECT name FROM agents WHERE id = agent_id) AS agent, interface,
  sum(recv) / sum(n) AS received_bps, sum(sent) / sum(n) AS sent_bps, (sum(recv) + sum(sent)) / sum(n) AS total_bps
FROM (
  SELECT time AS t, agent_id, interface, bytes_recv_per_sec AS recv, bytes_sent_per_sec AS sent, 1 AS n FROM network_metrics
  WHERE $__interval_ms < ${HOUR_MS} AND $__timeFilter(time)
  UNION ALL
  SELECT bucket, agent_id, interface, bytes_recv_per_sec_avg * count, bytes_sent_per_sec_avg * count, count FROM network_metrics_1h
  WHERE $__interval_ms >= ${HOUR_MS} AND $__timeFilter(bucket)
) AS r
GROUP BY agent_id, interface
ORDER BY total_bps DESC NULLS LAST
LIMIT 10`,
  },
])

const host = dashboard('hostpulse-host', 'Host detail', 'One host ($agent): CPU, load, memory, swap, disks, network, processes and logs.', [
  {
    title: 'CPU breakdown', unit: 'percent', stack: true, max: 100,
    sql: narrowSeries({ type: 'cpu', names: ['user', 'nice', 'system', 'iowait', 'irq', 'softirq', 'steal'], by: 'metric_name', agg: 'avg' }),
  },
  { title: 'Load average', unit: 'short', sql: narrowSeries({ type: 'load', names: ['load1', 'load5', 'load15'], by: 'metric_name', agg: 'avg' }) },
  {
    title: 'Memory', unit: 'bytes',
    sql: narrowSeries({ type: 'memory', names: ['total_bytes', 'used_bytes', 'cached_bytes', 'buffers_bytes', 'available_bytes'], by: 'metric_name', agg: 'avg' }),
  },
  { title: 'Swap', unit: 'bytes', sql: narrowSeries({ type: 'swap', names: ['total_bytes', 'used_bytes'], by: 'metric_name', agg: 'avg' }) },
  {
    title: 'Disk use per mount', unit: 'percent', max: 100,
    sql: wideSeries({ raw: 'disk_metrics', hourly: 'disk_metrics_1h', key: ['mount_point'], perAgent: true, fields: [{ as: 'usage_percent', field: 'usage_percent' }] }),
  },
  {
    title: 'Inodes per mount', unit: 'percent', max: 100,
    sql: wideSeries({ raw: 'disk_metrics', hourly: 'disk_metrics_1h', key: ['mount_point'], perAgent: true, fields: [{ as: 'inodes_percent', field: 'inodes_percent' }] }),
  },
  {
    title: 'Disk I/O per mount', unit: 'Bps',
    sql: wideSeries({
      raw: 'disk_metrics', hourly: 'disk_metrics_1h', key: ['mount_point'], perAgent: true,
      fields: [{ as: 'read', field: 'read_bytes_per_sec' }, { as: 'write', field: 'write_bytes_per_sec' }],
    }),
  },
  {
    title: 'Disk utilisation per mount', unit: 'percent', max: 100,
    sql: wideSeries({ raw: 'disk_metrics', hourly: 'disk_metrics_1h', key: ['mount_point'], perAgent: true, fields: [{ as: 'io_util_percent', field: 'io_util_percent' }] }),
  },
  {
    title: 'Network per interface', unit: 'Bps',
    sql: wideSeries({
      raw: 'network_metrics', hourly: 'network_metrics_1h', key: ['interface'], perAgent: true,
      fields: [{ as: 'received', field: 'bytes_recv_per_sec' }, { as: 'sent', field: 'bytes_sent_per_sec' }],
    }),
  },
  {
    title: 'Network errors and drops per interface', unit: 'short',
    description: 'New errors and dropped packets in each interval (increase of the interface counters).',
    sql: wideSeries({
      raw: 'network_metrics', hourly: 'network_metrics_1h', key: ['interface'], perAgent: true,
      fields: [
        { as: 'errors_in', field: 'errors_in', kind: 'increase' }, { as: 'errors_out', field: 'errors_out', kind: 'increase' },
        { as: 'drop_in', field: 'drop_in', kind: 'increase' }, { as: 'drop_out', field: 'drop_out', kind: 'increase' },
      ],
    }),
  },
  {
    title: 'Top processes over the range', type: 'table', unit: 'none', w: 24, h: 10,
    description: 'By average CPU over the selected range (processes with the same name together).',
    sql: `SELECT max(t) AS "time", name, sum(cpu) / sum(n) AS cpu_percent_avg, max(cpu_max) AS cpu_percent_max,
  sum(mem) / sum(n) AS memory_bytes_avg, max(mem_max) AS memory_bytes_max
FROM (
  SELECT time AS t, name, cpu_percent AS cpu, cpu_percent AS cpu_max, memory_bytes AS mem, memory_bytes AS mem_max, 1 AS n FROM process_metrics
  WHERE $__interval_ms < ${HOUR_MS} AND $__timeFilter(time) AND ${AGENT}
  UNION ALL
  SELECT bucket, name, cpu_percent_avg * count, cpu_percent_max, memory_bytes_avg * count, memory_bytes_max, count FROM process_metrics_1h
  WHERE $__interval_ms >= ${HOUR_MS} AND $__timeFilter(bucket) AND ${AGENT}
) AS r
GROUP BY name
ORDER BY cpu_percent_avg DESC
LIMIT 15`,
  },
  {
    title: 'Log lines by level', unit: 'short', w: 24, h: 6, stack: true, bars: true, overrides: levelColours,
    description: 'Log lines the host shipped in each interval, per level.',
    sql: logLevels,
  },
  {
    title: 'Logs', type: 'logs', unit: 'none', w: 24, h: 14,
    description: `The newest ${LOG_PANEL_LIMIT} log lines of the host in the range, newest first (level and source in each line's details).`,
    sql: logLines,
  },
], [agentVariable])

const processes = dashboard('hostpulse-processes', 'Processes', 'Top processes of one host ($agent) by CPU and memory over time, and the process count.', [
  { title: 'Top processes by CPU', unit: 'percent', sql: topProcessSeries('cpu_percent', 5) },
  { title: 'Top processes by memory', unit: 'bytes', sql: topProcessSeries('memory_bytes', 5) },
  {
    title: 'Process count', unit: 'short', w: 24,
    description: 'Processes running at each collection (raw snapshots: there is no aggregate of them).',
    sql: `SELECT time_bucket('$__interval', time) AS "time", avg(total_processes) AS processes
FROM process_snapshots
WHERE $__timeFilter(time) AND ${AGENT}
GROUP BY 1
ORDER BY 1`,
  },
], [agentVariable])

// ---------------------------------------------------------------- custom metrics
// What the ecosystem's writers stored: influx.* (line protocol), prom.* (remote write), otel.* (OTLP). One
// metric of one host at a time ($metric), one series per tag set, at the resolution $__interval calls for.

const CUSTOM_TYPES = ['influx', 'prom', 'otel'].map((t) => `'${t}'`).join(', ')

const metricVariable = {
  name: 'metric', label: 'Metric', type: 'query', datasource: DATASOURCE,
  query: `SELECT DISTINCT metric_type || '.' || metric_name FROM metrics_latest WHERE metric_type IN (${CUSTOM_TYPES}) AND ${AGENT} ORDER BY 1`,
  definition: 'influx.*, prom.* and otel.* metrics of $agent',
  refresh: 1, sort: 1, multi: false, includeAll: false, current: {}, options: [], hide: 0,
}

/** `$metric` split as the series endpoint splits it: `<type>.<name>` at the first dot (constants the planner folds). */
const METRIC = `metric_type = split_part('$metric', '.', 1) AND metric_name = substr('$metric', strpos('$metric', '.') + 1)`

/** One series per tag set of $metric, labelled `k=v k2=v2` (or the metric's name when untagged); exact averages. */
function customSeries(): string {
  const levels: [string, string, string][] = [
    ['metrics', `$__interval_ms < ${MINUTE_MS}`, 'time AS t, tags AS k, value AS s, 1 AS n'],
    ['metrics_1m', `$__interval_ms >= ${MINUTE_MS} AND $__interval_ms < ${HOUR_MS}`, 'bucket, tags, sum, count'],
    ['metrics_1h', `$__interval_ms >= ${HOUR_MS} AND $__interval_ms < ${DAY_MS}`, 'bucket, tags, sum, count'],
    ['metrics_1d', `$__interval_ms >= ${DAY_MS}`, 'bucket, tags, sum, count'],
  ]
  const branches = levels.map(([rel, guard, cols]) =>
    `  SELECT ${cols} FROM ${rel}\n  WHERE ${guard} AND $__timeFilter(${rel === 'metrics' ? 'time' : 'bucket'}) AND ${METRIC} AND ${AGENT}`).join('\n  UNION ALL\n')
  const label = `COALESCE((SELECT string_agg(key || '=' || value, ' ' ORDER BY key) FROM jsonb_each_text(k)), '$metric')`
  return `SELECT time_bucket('$__interval', t) AS "time", ${label} AS metric, sum(s) / sum(n) AS value\nFROM (\n${branches}\n) AS r(t, k, s, n)\nGROUP BY 1, k\nORDER BY 1`
}

const custom = dashboard('hostpulse-custom', 'Custom metrics',
  'What Telegraf (influx.*), Prometheus remote write (prom.*) and OpenTelemetry (otel.*) wrote for one host ($agent): $metric over time, one series per tag set, and every such series\' newest value.', [
    { title: '$metric', unit: 'short', w: 24, h: 10, sql: customSeries() },
    {
      title: 'Newest values', type: 'table', unit: 'none', w: 24, h: 10,
      description: 'Every influx.*, prom.* and otel.* series of the host with its newest value.',
      sql: `SELECT time AS "time", metric_type || '.' || metric_name AS metric,
  COALESCE((SELECT string_agg(key || '=' || value, ' ' ORDER BY key) FROM jsonb_each_text(tags)), '') AS tags, value
FROM metrics_latest
WHERE metric_type IN (${CUSTOM_TYPES}) AND ${AGENT}
ORDER BY metric, tags
LIMIT 1000`,
    },
  ], [agentVariable, metricVariable])

// ---------------------------------------------------------------- alerts
// Grafana's role reads alert_rules, alert_events, alert_states and silences, never channels (secrets).

/** Severities worst first, for ordering and for one zero-filled series each. */
const SEVERITY_RANK = `CASE e.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END`

/** An acknowledgement that holds now (an expired one no longer mutes repeats). */
const ACKNOWLEDGED = `(e.acknowledged_at IS NOT NULL AND (e.ack_expires_at IS NULL OR e.ack_expires_at > now()))`

/** A silence in force matches the event: the SQL twin of services/alerting/silence-matching.ts. */
const SILENCED = `EXISTS (
    SELECT 1 FROM silences s
    WHERE s.org_id = e.org_id AND s.starts_at <= now() AND s.ends_at > now()
      AND ((s.matchers->>'rule_id') IS NULL OR (s.matchers->>'rule_id') = e.rule_id::text)
      AND ((s.matchers->>'rule') IS NULL OR (s.matchers->>'rule') = e.rule_name)
      AND ((s.matchers->>'agent') IS NULL OR (s.matchers->>'agent') IN (e.agent_name, e.agent_id::text))
      AND ((s.matchers->>'severity') IS NULL OR (s.matchers->>'severity') = e.severity)
      AND ((s.matchers->'labels') IS NULL OR (COALESCE(a.labels, '{}'::jsonb) || e.series_tags) @> (s.matchers->'labels')))`

const seconds = (...names: string[]) => names.map((name) => ({ matcher: { id: 'byName', options: name }, properties: [{ id: 'unit', value: 's' }] }))

/**
 * Events per severity in every interval of the range, zero-filled so a quiet interval shows as 0.
 * `overlaps`: events firing at some point of the interval; otherwise events that started in it.
 */
function eventsPerInterval(overlaps: boolean): string {
  const join = overlaps
    ? `e.started_at < b + '$__interval'::interval AND (e.resolved_at IS NULL OR e.resolved_at > b)`
    : `e.started_at >= b AND e.started_at < b + '$__interval'::interval`
  return `SELECT b AS "time", sev.name AS metric, count(e.id)::int AS value
FROM generate_series(time_bucket('$__interval', $__timeFrom()::timestamptz), $__timeTo()::timestamptz, '$__interval'::interval) AS b
CROSS JOIN (VALUES ('critical'), ('warning'), ('info')) AS sev(name)
LEFT JOIN alert_events e ON e.severity = sev.name AND ${join}
  AND e.started_at < $__timeTo()::timestamptz AND (e.resolved_at IS NULL OR e.resolved_at > $__timeFrom()::timestamptz)
GROUP BY 1, 2
ORDER BY 1`
}

const alerts = dashboard('hostpulse-alerts', 'Alerts', 'Alerts firing now, their history over the range, by rule and severity, and the latest events.', [
  {
    title: 'Firing now', type: 'table', unit: 'none', w: 24, h: 8,
    description: 'Every alert firing at this moment, worst first. Muted: acknowledged, or matched by a silence or maintenance window in force.',
    overrides: seconds('firing_for'),
    sql: `SELECT e.started_at AS "time", e.rule_name AS rule, e.agent_name AS agent, e.series_key AS series, e.severity,
  e.value, e.threshold, extract(epoch FROM now() - e.started_at)::bigint AS firing_for,
  CASE WHEN ${ACKNOWLEDGED} THEN 'acknowledged' WHEN ${SILENCED} THEN 'silenced' ELSE '' END AS muted,
  e.summary
FROM alert_events e
LEFT JOIN agents a ON a.id = e.agent_id
WHERE e.state = 'firing'
ORDER BY ${SEVERITY_RANK}, e.started_at DESC`,
  },
  {
    title: 'Alerts firing by severity', unit: 'short', stack: true,
    description: 'How many alerts were firing in each interval.',
    sql: eventsPerInterval(true),
  },
  {
    title: 'New alerts by severity', unit: 'short', stack: true, bars: true,
    description: 'Alert events that started in each interval.',
    sql: eventsPerInterval(false),
  },
  {
    title: 'Alerts by rule and severity', type: 'table', unit: 'none', w: 24, h: 8,
    description: 'Events that started in the range, per rule; time is the latest start. Mean time to resolve counts resolved events only.',
    overrides: seconds('mean_time_to_resolve'),
    sql: `SELECT max(e.started_at) AS "time", e.rule_name AS rule,
  count(*) FILTER (WHERE e.severity = 'critical')::int AS critical,
  count(*) FILTER (WHERE e.severity = 'warning')::int AS warning,
  count(*) FILTER (WHERE e.severity = 'info')::int AS info,
  count(*)::int AS total,
  count(*) FILTER (WHERE e.state = 'firing')::int AS firing_now,
  avg(extract(epoch FROM e.resolved_at - e.started_at)) FILTER (WHERE e.state = 'resolved') AS mean_time_to_resolve
FROM alert_events e
WHERE $__timeFilter(e.started_at)
GROUP BY e.rule_name
ORDER BY critical DESC, warning DESC, total DESC, rule`,
  },
  {
    title: 'Recent alert events', type: 'table', unit: 'none', w: 24, h: 10,
    description: 'The latest 100 events that started in the range, newest first.',
    overrides: seconds('duration'),
    sql: `SELECT e.started_at AS "time", e.resolved_at AS resolved, e.rule_name AS rule, e.agent_name AS agent, e.series_key AS series,
  e.severity, e.state, e.value, e.threshold,
  extract(epoch FROM COALESCE(e.resolved_at, now()) - e.started_at)::bigint AS duration,
  concat_ws(', ', CASE WHEN e.acknowledged_at IS NOT NULL THEN 'acknowledged' END,
    CASE WHEN e.resolved_by IS NOT NULL THEN 'resolved by hand' END) AS handled,
  e.summary
FROM alert_events e
WHERE $__timeFilter(e.started_at)
ORDER BY e.started_at DESC
LIMIT 100`,
  },
])

export const DASHBOARDS: Record<string, Dashboard> = {
  'fleet-overview.json': fleet,
  'host-detail.json': host,
  'processes.json': processes,
  'alerts.json': alerts,
  'custom-metrics.json': custom,
}

export const render = (d: Dashboard): string => JSON.stringify(d, null, 2) + '\n'

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(DASHBOARD_DIR, { recursive: true })
  for (const [file, d] of Object.entries(DASHBOARDS)) {
    writeFileSync(join(DASHBOARD_DIR, file), render(d))
    console.log(`wrote ${join(DASHBOARD_DIR, file)} (${d.panels.length} panels)`)
  }
}
