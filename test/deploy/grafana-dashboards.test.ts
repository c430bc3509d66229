// Every panel query of every provisioned dashboard, expanded as Grafana expands it, runs against an embedded
// TimescaleDB filled through the real ingest path, as Grafana's read-only role, at four resolutions (raw
// rows, metrics_1m, the hourly aggregates, metrics_1d) and returns a time column and its value columns.
// The Alerts dashboard reads alert history seeded the way the evaluator and the events API leave it; the
// host dashboard's log panels read log lines that rode the agents' batches.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'kysely'
import { writeBatches } from '../../services/ingest/write-batches.ts'
import { LOG_LEVELS, type IngestBatch, type LogItem } from '../../contract/ingest-batch.ts'
import { DASHBOARDS, DASHBOARD_DIR, LOG_PANEL_LIMIT, render, type Dashboard } from '../../grafana/build-dashboards.ts'
import { openTestStore } from '../test-client.ts'
import type { Store } from '../../services/store/open-store.ts'
import { expandGrafanaMacros, intervalText } from './grafana-macros.ts'

const GRAFANA = join(import.meta.dirname, '..', '..', 'grafana')

/** The value columns each panel must return (time series also return `time` and `metric`). */
const EXPECTED: Record<string, string[]> = {
  'hostpulse-fleet/Agents': ['time', 'agent', 'hostname', 'os', 'status', 'cpu_percent', 'memory_percent', 'disk_percent'],
  'hostpulse-fleet/CPU usage by host': ['time', 'metric', 'value'],
  'hostpulse-fleet/Memory usage by host': ['time', 'metric', 'value'],
  'hostpulse-fleet/Fullest disk by host': ['time', 'metric', 'usage_percent'],
  'hostpulse-fleet/Network throughput by host': ['time', 'metric', 'received', 'sent'],
  'hostpulse-fleet/Top talkers': ['time', 'agent', 'interface', 'received_bps', 'sent_bps', 'total_bps'],
  'hostpulse-host/CPU breakdown': ['time', 'metric', 'value'],
  'hostpulse-host/Load average': ['time', 'metric', 'value'],
  'hostpulse-host/Memory': ['time', 'metric', 'value'],
  'hostpulse-host/Swap': ['time', 'metric', 'value'],
  'hostpulse-host/Disk use per mount': ['time', 'metric', 'usage_percent'],
  'hostpulse-host/Inodes per mount': ['time', 'metric', 'inodes_percent'],
  'hostpulse-host/Disk I/O per mount': ['time', 'metric', 'read', 'write'],
  'hostpulse-host/Disk utilisation per mount': ['time', 'metric', 'io_util_percent'],
  'hostpulse-host/Network per interface': ['time', 'metric', 'received', 'sent'],
  'hostpulse-host/Network errors and drops per interface': ['time', 'metric', 'errors_in', 'errors_out', 'drop_in', 'drop_out'],
  'hostpulse-host/Top processes over the range': ['time', 'name', 'cpu_percent_avg', 'cpu_percent_max', 'memory_bytes_avg', 'memory_bytes_max'],
  'hostpulse-host/Log lines by level': ['time', 'metric', 'value'],
  // Grafana's logs visualization: the first time column, the first text column as the line, `level`, `id`.
  'hostpulse-host/Logs': ['time', 'message', 'level', 'source', 'id'],
  'hostpulse-processes/Top processes by CPU': ['time', 'metric', 'value'],
  'hostpulse-processes/Top processes by memory': ['time', 'metric', 'value'],
  'hostpulse-processes/Process count': ['time', 'processes'],
  'hostpulse-alerts/Firing now': ['time', 'rule', 'agent', 'series', 'severity', 'value', 'threshold', 'firing_for', 'muted', 'summary'],
  'hostpulse-alerts/Alerts firing by severity': ['time', 'metric', 'value'],
  'hostpulse-alerts/New alerts by severity': ['time', 'metric', 'value'],
  'hostpulse-alerts/Alerts by rule and severity': ['time', 'rule', 'critical', 'warning', 'info', 'total', 'firing_now', 'mean_time_to_resolve'],
  'hostpulse-custom/$metric': ['time', 'metric', 'value'],
  'hostpulse-custom/Newest values': ['time', 'metric', 'tags', 'value'],
  'hostpulse-alerts/Recent alert events': ['time', 'resolved', 'rule', 'agent', 'series', 'severity', 'state', 'value', 'threshold', 'duration', 'handled', 'summary'],
}

/** Ranges and the interval Grafana would pick for them; each lands on a different relation. */
const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const RESOLUTIONS = [
  { name: 'raw rows (1h range)', range: HOUR, intervalMs: 10_000 },
  { name: 'minute aggregates (24h range)', range: DAY, intervalMs: 2 * MINUTE },
  { name: 'hourly aggregates (30d range)', range: 30 * DAY, intervalMs: HOUR },
  { name: 'daily aggregates (90d range)', range: 90 * DAY, intervalMs: DAY },
]

const AGENTS = ['web-01', 'db-01', 'cache-01']

/**
 * The log lines of batch `i` of agent `seed`: one per batch, levels in turn, and every fourth batch a second
 * line at the same instant (lines that tie on time). Messages name the host, so a line shows whose it is.
 */
function logsAt(i: number, seed: number): LogItem[] {
  const lines: LogItem[] = [{ source: i % 2 ? 'nginx' : 'journal', level: LOG_LEVELS[(i + seed) % LOG_LEVELS.length], message: `host-${seed} line ${i}`, fields: { i } }]
  if (i % 4 === 0) lines.push({ source: 'kernel', level: 'warning', message: `host-${seed} kernel ${i}` })
  return lines
}

interface SeededLog { agent: string; time: number; message: string; level: string; source: string }

function batchAt(time: number, i: number, seed: number): IngestBatch {
  const wave = (base: number, amp: number) => Math.max(0, base + amp * Math.sin(i / 7 + seed))
  const m = (metric_type: string, metric_name: string, value: number, tags: Record<string, string> = {}) => ({ metric_type, metric_name, value, tags })
  const mem = 8 * 1024 ** 3
  return {
    batch_id: randomUUID(),
    time: new Date(time).toISOString(),
    host: { hostname: `host-${seed}.example.com`, ip_address: `10.0.0.${seed}`, os: 'Debian', os_version: '12', agent_version: '0.1.0' },
    metrics: [
      m('cpu', 'usage_percent', wave(40, 30)), m('cpu', 'usage_percent', wave(50, 30), { core: '0' }),
      m('cpu', 'user', wave(25, 15)), m('cpu', 'system', wave(8, 4)), m('cpu', 'iowait', wave(3, 2)), m('cpu', 'steal', 0.2),
      m('cpu', 'nice', 0.1), m('cpu', 'irq', 0.3), m('cpu', 'softirq', 0.4), m('cpu', 'idle', wave(60, 20)),
      m('load', 'load1', wave(1.5, 1)), m('load', 'load5', wave(1.2, 0.5)), m('load', 'load15', wave(1, 0.2)),
      m('memory', 'total_bytes', mem), m('memory', 'used_bytes', wave(mem / 2, mem / 4)), m('memory', 'available_bytes', wave(mem / 2, mem / 4)),
      m('memory', 'cached_bytes', mem / 8), m('memory', 'buffers_bytes', mem / 32), m('memory', 'usage_percent', wave(50, 25)),
      m('swap', 'total_bytes', 2 * 1024 ** 3), m('swap', 'used_bytes', wave(1e8, 5e7)), m('swap', 'usage_percent', wave(5, 2)),
      // What Telegraf and Prometheus would write (the custom metrics dashboard).
      m('influx', 'cpu_usage_idle', wave(90, 5), { cpu: 'cpu0', host: 'h' }), m('influx', 'cpu_usage_idle', wave(80, 5), { cpu: 'cpu1', host: 'h' }),
      m('prom', 'node_load1', wave(1, 0.5), { job: 'node' }),
    ],
    disks: ['/', '/var'].map((mount, d) => ({
      device: `/dev/sda${d + 1}`, mount_point: mount, filesystem: 'ext4', total_bytes: 100e9, used_bytes: Math.round(wave(40e9, 10e9)),
      available_bytes: Math.round(100e9 - wave(40e9, 10e9)), usage_percent: wave(40, 10), inodes_total: 6_000_000, inodes_used: 300_000,
      inodes_percent: 5, read_bytes_per_sec: wave(2e6, 1e6), write_bytes_per_sec: wave(1e6, 5e5), read_ops_per_sec: wave(50, 20),
      write_ops_per_sec: wave(30, 10), io_util_percent: wave(10, 5),
    })),
    networks: ['eth0', 'lo'].map((iface, n) => ({
      interface: iface, bytes_sent: 1e9 + i * 1e6, bytes_recv: 2e9 + i * 2e6, packets_sent: 1e6 + i * 1000, packets_recv: 2e6 + i * 2000,
      errors_in: i * n, errors_out: Math.floor(i / 3), drop_in: i, drop_out: 0, is_up: true,
      bytes_sent_per_sec: wave(5e5, 2e5), bytes_recv_per_sec: wave(1e6, 4e5), packets_sent_per_sec: 400, packets_recv_per_sec: 800,
    })),
    processes: [
      { pid: 100 + seed, parent_pid: 1, name: 'postgres', cmdline: 'postgres -D /data', username: 'postgres', status: 'sleeping', cpu_percent: wave(20, 10), memory_bytes: 512e6, memory_percent: 6, num_threads: 4 },
      { pid: 200 + seed, parent_pid: 1, name: 'node', cmdline: 'node server.js', username: 'app', status: 'running', cpu_percent: wave(35, 20), memory_bytes: 300e6, memory_percent: 4, num_threads: 11 },
      { pid: 300 + seed, parent_pid: 1, name: 'nginx', cmdline: 'nginx: worker', username: 'www-data', status: 'sleeping', cpu_percent: wave(2, 1), memory_bytes: 20e6, memory_percent: 0.3, num_threads: 1 },
      { pid: 301 + seed, parent_pid: 1, name: 'nginx', cmdline: 'nginx: worker', username: 'www-data', status: 'sleeping', cpu_percent: wave(2, 1), memory_bytes: 21e6, memory_percent: 0.3, num_threads: 1 },
    ],
    logs: logsAt(i, seed),
  }
}

const panelsOf = (d: Dashboard) => d.panels

/**
 * Alert history for the Alerts dashboard, as the evaluator and the events API leave it: two rules, events
 * resolved over the last 90 days (one per relation's range) and three firing now, one acknowledged and
 * one under a maintenance window. Returns the ids of the firing events by what mutes them.
 */
async function seedAlerts(db: Store['db'], orgId: string, now: number) {
  const agents = await db.selectFrom('agents').select(['id', 'name']).where('org_id', '=', orgId).orderBy('name').execute()
  const [cache, dbHost, web] = agents
  await db.updateTable('agents').set({ labels: JSON.stringify({ env: 'prod' }) }).where('id', '=', dbHost.id).execute()
  const rule = (name: string, metric: string) => db.insertInto('alert_rules').values({ org_id: orgId, name, metric, threshold: 90, labels: '{}', tags: '{}', annotations: '{}' })
    .returning(['id', 'name']).executeTakeFirstOrThrow()
  const cpu = await rule('High CPU', 'cpu.usage_percent')
  const disk = await rule('Disk full', 'disk.usage_percent')
  const event = (r: { id: string; name: string }, agent: { id: string; name: string }, severity: 'info' | 'warning' | 'critical', startedAgo: number, resolvedAgo: number | null, extra: Record<string, unknown> = {}) =>
    db.insertInto('alert_events').values({
      org_id: orgId, rule_id: r.id, rule_name: r.name, agent_id: agent.id, agent_name: agent.name, severity, state: resolvedAgo === null ? 'firing' : 'resolved',
      value: 95, threshold: 90, summary: `${r.name} on ${agent.name}`, series_tags: '{}', annotations: '{}',
      started_at: new Date(now - startedAgo), resolved_at: resolvedAgo === null ? null : new Date(now - resolvedAgo), ...extra,
    }).returning('id').executeTakeFirstOrThrow()
  for (const [i, ago] of [20 * MINUTE, 3 * HOUR, 2 * DAY, 20 * DAY, 60 * DAY].entries()) {
    await event(i % 2 ? disk : cpu, [cache, dbHost, web][i % 3], (['critical', 'warning', 'info'] as const)[i % 3], ago, ago - 10 * MINUTE)
  }
  const plain = await event(cpu, web, 'critical', 30 * MINUTE, null)
  const acked = await event(disk, cache, 'warning', 40 * MINUTE, null, { acknowledged_at: new Date(now - 5 * MINUTE), ack_expires_at: new Date(now + HOUR) })
  const silenced = await event(cpu, dbHost, 'info', 50 * MINUTE, null, { series_key: 'core0', series_tags: JSON.stringify({ core: '0' }) })
  await db.insertInto('alert_states').values({ rule_id: cpu.id, agent_id: web.id, org_id: orgId, series_tags: '{}', state: 'firing', severity: 'critical', event_id: plain.id }).execute()
  await db.insertInto('silences').values({
    org_id: orgId, kind: 'maintenance', matchers: JSON.stringify({ labels: { env: 'prod', core: '0' } }), starts_at: new Date(now - HOUR), ends_at: new Date(now + HOUR),
  }).execute()
  return { plain: plain.id, acked: acked.id, silenced: silenced.id }
}

/** What each Alerts panel says about the alerts seedAlerts left (run as Grafana's role). */
async function checkAlertsPanels(t: Test, asGrafana: (query: string) => Promise<{ rows: Record<string, any>[] }>, now: number) {
  const panel = (title: string) => DASHBOARDS['alerts.json'].panels.find((p) => p.title === title)!.targets[0].rawSql
  const run = async (title: string, range: number, intervalMs: number) =>
    (await asGrafana(expandGrafanaMacros(panel(title), { from: new Date(now - range), to: new Date(now + MINUTE), intervalMs, variables: {} }))).rows

  const firing = await run('Firing now', HOUR, 10_000)
  t.same(firing.map((r) => [r.rule, r.agent, r.severity, r.muted]), [
    ['High CPU', 'web-01', 'critical', ''], ['Disk full', 'cache-01', 'warning', 'acknowledged'], ['High CPU', 'db-01', 'info', 'silenced'],
  ], 'Firing now: worst first; acknowledged and silenced (agent labels with series tags) told apart')
  t.ok(firing.every((r) => r.firing_for >= 30 * 60 - 5), 'Firing now: firing for as long as since it started')

  const byRule = await run('Alerts by rule and severity', 30 * DAY, HOUR)
  t.same(byRule.map((r) => [r.rule, r.critical, r.warning, r.info, r.total, r.firing_now]), [
    ['High CPU', 2, 0, 2, 4, 2], ['Disk full', 1, 2, 0, 3, 1],
  ], 'By rule and severity over 30 days (the 60-day-old event is outside)')
  t.equal(Math.round(byRule[0].mean_time_to_resolve), 600, 'mean time to resolve of the resolved ones')

  const firingOverTime = await run('Alerts firing by severity', HOUR, 10 * MINUTE)
  const last = Math.max(...firingOverTime.map((r) => new Date(r.time).getTime()))
  const latest = firingOverTime.filter((r) => new Date(r.time).getTime() === last)
  t.same(Object.fromEntries(latest.map((r) => [r.metric, r.value])), { critical: 1, warning: 1, info: 1 }, 'the last interval counts the three firing now')
  const started = await run('New alerts by severity', HOUR, 10 * MINUTE)
  t.equal(started.reduce((n, r) => n + r.value, 0), 4, 'four events started in the last hour')

  const recent = await run('Recent alert events', 3 * DAY, HOUR)
  t.equal(recent.length, 6, 'Recent: the events that started in the range')
  t.same(recent.map((r) => r.handled).filter(Boolean), ['acknowledged'])
}

/** What the host dashboard's log panels say about the lines the agents shipped (run as Grafana's role). */
async function checkLogPanels(t: Test, asGrafana: (query: string) => Promise<{ rows: Record<string, any>[] }>, now: number, seeded: SeededLog[]) {
  const panel = (title: string) => DASHBOARDS['host-detail.json'].panels.find((p) => p.title === title)!.targets[0].rawSql
  const to = now + MINUTE
  const run = async (title: string, agent: string, range: number, intervalMs: number) =>
    (await asGrafana(expandGrafanaMacros(panel(title), { from: new Date(now - range), to: new Date(to), intervalMs, variables: { agent } }))).rows
  const linesOf = (agent: string, range: number) => seeded.filter((l) => l.agent === agent && l.time >= now - range && l.time <= to)
  const ms = (v: unknown) => new Date(v as string | Date).getTime()

  // The last hour of db-01: every line of it, newest first, lines of one instant by id (newest stored first).
  const hour = await run('Logs', 'db-01', HOUR, 10_000)
  const expected = linesOf('db-01', HOUR)
  t.equal(hour.length, expected.length, `Logs (1h): all ${expected.length} lines of db-01 in the range`)
  t.same(hour.map((r) => r.message).sort(), expected.map((l) => l.message).sort(), 'Logs (1h): exactly db-01\'s lines')
  const byMessage = new Map(expected.map((l) => [l.message, l]))
  t.ok(hour.every((r) => byMessage.get(r.message)?.level === r.level && byMessage.get(r.message)?.source === r.source && byMessage.get(r.message)?.time === ms(r.time)),
    'Logs (1h): each line with its own time, level and source')
  const newestFirst = hour.every((r, i) => i === 0 || ms(hour[i - 1].time) > ms(r.time) || (ms(hour[i - 1].time) === ms(r.time) && Number(hour[i - 1].id) > Number(r.id)))
  t.ok(newestFirst, 'Logs (1h): newest first, ties on time by id descending')
  t.ok(hour.some((r, i) => i > 0 && ms(hour[i - 1].time) === ms(r.time)), 'Logs (1h): the range has lines that tie on time (the order above covers them)')

  // 90 days hold more lines than the panel shows: the newest LOG_PANEL_LIMIT of them.
  const all = linesOf('db-01', 90 * DAY).map((l) => l.time).sort((a, b) => b - a)
  t.ok(all.length > LOG_PANEL_LIMIT, `90 days of db-01 hold ${all.length} lines, more than the limit`)
  const quarter = await run('Logs', 'db-01', 90 * DAY, DAY)
  t.equal(quarter.length, LOG_PANEL_LIMIT, `Logs (90d): limited to ${LOG_PANEL_LIMIT} lines`)
  t.same(quarter.map((r) => ms(r.time)), all.slice(0, LOG_PANEL_LIMIT), 'Logs (90d): the newest ones, newest first')

  // $agent picks the host; a name no agent has shows nothing.
  const web = await run('Logs', 'web-01', HOUR, 10_000)
  t.equal(web.length, linesOf('web-01', HOUR).length, 'Logs: $agent = web-01 shows web-01\'s lines')
  t.ok(web.length > 0 && web.every((r) => r.message.startsWith('host-1 ')), 'Logs: only web-01\'s lines')
  t.same(await run('Logs', 'no-such-host', HOUR, 10_000), [], 'Logs: an unknown $agent shows no line')
  t.same(await run('Log lines by level', 'no-such-host', HOUR, 10_000), [], 'Log lines by level: an unknown $agent counts nothing')

  // Counts per interval and level, as Grafana buckets them (time_bucket aligns these intervals to the epoch).
  for (const [name, range, intervalMs] of [['24h by 10 minutes', DAY, 10 * MINUTE], ['90d by day', 90 * DAY, DAY]] as const) {
    for (const agent of ['db-01', 'cache-01']) {
      const rows = await run('Log lines by level', agent, range, intervalMs)
      const want = new Map<string, number>()
      for (const l of linesOf(agent, range)) {
        const key = `${Math.floor(l.time / intervalMs) * intervalMs} ${l.level}`
        want.set(key, (want.get(key) ?? 0) + 1)
      }
      const got = new Map(rows.map((r) => [`${ms(r.time)} ${r.metric}`, r.value]))
      t.same(Object.fromEntries(got), Object.fromEntries(want), `Log lines by level (${agent}, ${name}): the count of every interval and level`)
      t.ok(rows.every((r) => typeof r.value === 'number'), `Log lines by level (${agent}, ${name}): counts are numbers`)
      const rank = (level: string) => ['critical', 'error', 'warning', 'notice', 'info', 'debug'].indexOf(level)
      t.ok(rows.every((r, i) => i === 0 || ms(rows[i - 1].time) < ms(r.time) || (ms(rows[i - 1].time) === ms(r.time) && rank(rows[i - 1].metric) < rank(r.metric))),
        `Log lines by level (${agent}, ${name}): by time, then worst level first`)
    }
  }
  const levels = await run('Log lines by level', 'db-01', 90 * DAY, DAY)
  t.same(new Set(levels.map((r) => r.metric)), new Set(LOG_LEVELS), 'Log lines by level: every level the agents sent has a series')
}

t.test('the committed dashboard JSON is what grafana/build-dashboards.ts generates', async (t) => {
  const files = readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json')).sort()
  t.same(files, Object.keys(DASHBOARDS).sort(), 'one file per generated dashboard, no strays')
  for (const [file, d] of Object.entries(DASHBOARDS)) {
    t.equal(readFileSync(join(DASHBOARD_DIR, file), 'utf8'), render(d), `${file} is up to date (run: npx tsx grafana/build-dashboards.ts)`)
  }
})

t.test('dashboard uids are unique and every datasource uid they name is provisioned', async (t) => {
  const provisioned = new Set<string>()
  const dsDir = join(GRAFANA, 'provisioning', 'datasources')
  for (const f of readdirSync(dsDir)) for (const m of readFileSync(join(dsDir, f), 'utf8').matchAll(/^\s*uid:\s*["']?([\w-]+)/gm)) provisioned.add(m[1])
  t.ok(provisioned.has('hostpulse-timescaledb'), 'the hostpulse datasource is provisioned')
  const dsText = readFileSync(join(dsDir, 'hostpulse.yaml'), 'utf8')
  for (const line of ['timescaledb: true', 'editable: false', 'user: hostpulse_grafana', 'password: $GRAFANA_DB_PASSWORD', 'postgresVersion: 1700']) {
    t.ok(dsText.includes(line), `datasource has ${line}`)
  }

  const uids = new Set<string>()
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : [])
  for (const file of walk(join(GRAFANA, 'dashboards'))) {
    const d = JSON.parse(readFileSync(file, 'utf8'))
    t.ok(d.uid && !uids.has(d.uid), `${file}: uid ${d.uid} is set and unique`)
    uids.add(d.uid)
    const named: string[] = []
    JSON.stringify(d, (key, value) => {
      if (key === 'datasource' && value && typeof value === 'object') named.push(value.uid)
      return value
    })
    t.ok(named.length > 0, `${d.title} names its datasource`)
    for (const uid of new Set(named)) t.ok(provisioned.has(uid), `${d.title}: datasource ${uid} is provisioned`)
    for (const p of d.panels) {
      t.ok(p.fieldConfig?.defaults?.unit, `${d.title} / ${p.title} sets a unit`)
      t.ok(EXPECTED[`${d.uid}/${p.title}`], `${d.title} / ${p.title} has expected columns in this test`)
    }
  }
})

t.test('every panel query returns rows with a time column and its value columns, at every resolution', async (t) => {
  const store = await openTestStore(t)
  const org = await store.db.insertInto('organizations').values({ name: 'grafana-test' }).returning('id').executeTakeFirstOrThrow()
  const now = Date.now()
  const seededLogs: SeededLog[] = []
  for (const [seed, name] of AGENTS.entries()) {
    const agent = await store.db.insertInto('agents').values({ org_id: org.id, name, labels: '{}' }).returning(['id', 'org_id']).executeTakeFirstOrThrow()
    // Every 30 s over the last hour (raw ranges), and every 2 h over the last 90 days (aggregates).
    const times = [...Array.from({ length: 120 }, (_, k) => now - k * 30_000), ...Array.from({ length: 12 * 90 }, (_, k) => now - HOUR - k * 2 * HOUR)]
    const batches = times.reverse().map((time, i) => batchAt(time, i, seed + 1))
    for (const b of batches) for (const l of b.logs ?? []) seededLogs.push({ agent: name, time: Date.parse(b.time), message: l.message, level: l.level, source: l.source })
    for (let i = 0; i < batches.length; i += 200) await writeBatches(store.db, agent, batches.slice(i, i + 200))
  }
  await seedAlerts(store.db, org.id, now)
  for (const view of ['metrics_1m', 'metrics_1h', 'metrics_1d', 'disk_metrics_1h', 'network_metrics_1h', 'process_metrics_1h']) {
    await sql`call refresh_continuous_aggregate(${view}::regclass, null, null)`.execute(store.db)
  }

  /** Runs as Grafana's read-only role, so a panel that reads what the role may not read fails here too. */
  const asGrafana = (query: string) => store.db.transaction().execute(async (trx) => {
    await sql`set local role hostpulse_grafana`.execute(trx)
    return sql.raw<Record<string, unknown>>(query).execute(trx)
  })

  const variable = await asGrafana('SELECT name FROM agents ORDER BY name')
  t.same(variable.rows.map((r) => r.name), [...AGENTS].sort(), 'the $agent variable query lists the agents')
  const metricVariable = (DASHBOARDS['custom-metrics.json'].templating.list as Array<{ name: string; query: string }>).find((v) => v.name === 'metric')!
  const metrics = await asGrafana(expandGrafanaMacros(metricVariable.query, { from: new Date(now - HOUR), to: new Date(now), intervalMs: MINUTE, variables: { agent: 'db-01' } }))
  t.same(metrics.rows.map((r) => Object.values(r)[0]), ['influx.cpu_usage_idle', 'prom.node_load1'], 'the $metric variable lists the host\'s influx.*, prom.* and otel.* metrics')

  for (const d of Object.values(DASHBOARDS)) {
    for (const p of panelsOf(d)) {
      for (const target of p.targets) {
        for (const res of RESOLUTIONS) {
          const label = `${d.title} / ${p.title} [${res.name}]`
          const query = expandGrafanaMacros(target.rawSql, {
            from: new Date(now - res.range), to: new Date(now + MINUTE), intervalMs: res.intervalMs, variables: { agent: 'db-01', metric: 'influx.cpu_usage_idle' },
          })
          const result = await asGrafana(query).catch((err: Error) => { t.fail(`${label}: ${err.message}\n${query}`); return undefined })
          if (!result) continue
          t.ok(result.rows.length > 0, `${label}: returns rows`)
          const columns = Object.keys(result.rows[0] ?? {})
          t.same(columns, EXPECTED[`${d.uid}/${p.title}`], `${label}: columns`)
          const times = result.rows.map((r) => new Date(r.time as string | Date).getTime())
          t.ok(times.every((x) => Number.isFinite(x)), `${label}: time is a timestamp in every row`)
          if (target.format === 'time_series') {
            t.ok(times.every((x, i) => i === 0 || times[i - 1] <= x), `${label}: ordered by time`)
            t.ok(times.every((x) => x >= now - res.range - res.intervalMs && x <= now + MINUTE), `${label}: inside the range`)
            const valueColumns = columns.filter((c) => c !== 'time' && c !== 'metric')
            t.ok(result.rows.some((r) => valueColumns.every((c) => typeof r[c] === 'number')), `${label}: numeric values`)
          }
          // Zero-filled alert counts return rows anyway: they must also count the seeded alerts.
          if (d.uid === 'hostpulse-alerts' && target.format === 'time_series') {
            t.ok(result.rows.some((r) => Number(r.value) > 0), `${label}: counts alerts`)
          }
        }
      }
    }
  }
  await checkAlertsPanels(t, asGrafana, now)
  await checkLogPanels(t, asGrafana, now, seededLogs)

  // The custom metric panel: one series per tag set, named by its tags, with the seeded values.
  const customPanel = panelsOf(DASHBOARDS['custom-metrics.json']).find((p) => p.title === '$metric')!
  const customRows = await asGrafana(expandGrafanaMacros(customPanel.targets[0].rawSql, {
    from: new Date(now - HOUR / 2), to: new Date(now + MINUTE), intervalMs: 1000, variables: { agent: 'db-01', metric: 'influx.cpu_usage_idle' },
  }))
  t.same([...new Set(customRows.rows.map((r) => r.metric))].sort(), ['cpu=cpu0 host=h', 'cpu=cpu1 host=h'], 'custom metric: a series per tag set, labelled by its tags')
  const seeded = await sql<{ n: number }>`select count(*)::int as n from metrics where metric_type = 'influx' and metric_name = 'cpu_usage_idle'
    and agent_id = (select id from agents where name = 'db-01') and time >= ${new Date(now - HOUR / 2).toISOString()}::timestamptz`.execute(store.db)
  t.equal(customRows.rows.length, seeded.rows[0].n, 'raw resolution: one point per stored row')
})

t.test('the macro expander refuses macros it does not know', async (t) => {
  const ctx = { from: new Date(0), to: new Date(1000), intervalMs: 60_000, variables: { agent: 'a' } }
  t.throws(() => expandGrafanaMacros('SELECT $__timeGroupAlias(time, 5m)', ctx), /\$__timeGroupAlias is not handled/)
  t.throws(() => expandGrafanaMacros('SELECT $__unixEpochFilter(t)', ctx), /not handled/)
  t.throws(() => expandGrafanaMacros("SELECT '$host'", ctx), /\$host has no value/)
  t.equal(expandGrafanaMacros("WHERE $__timeFilter(time) AND name = '${agent}' AND $__interval_ms > 0 -- $__interval", ctx),
    "WHERE time BETWEEN '1970-01-01T00:00:00.000Z' AND '1970-01-01T00:00:01.000Z' AND name = 'a' AND 60000 > 0 -- 1m")
  t.equal(intervalText(500), '500ms')
  t.equal(intervalText(7_200_000), '2h')
})
