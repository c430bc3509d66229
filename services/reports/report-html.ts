// A performance report as one self-contained HTML document (inline styles and SVG, no scripts, nothing
// fetched), readable in a browser and printed to A4 by Chromium for PDFs. Every text from the data is
// escaped; every statistic carries its exact value in data-* attributes beside its formatted text.
import type { ReportContainer, ReportData } from './report-data.ts'
import type { FieldStats, HostField } from '../query/host-families.ts'
import type { TopProcess } from '../query/process-reads.ts'
import { escapeXml as esc, formatValue, lineChart, type ChartSeries } from './svg-chart.ts'

const STATS = ['min', 'max', 'avg', 'stddev', 'current', 'p50', 'p75', 'p90', 'p95', 'p97_5', 'p99', 'p100'] as const
const STAT_LABELS: Record<(typeof STATS)[number], string> = {
  min: 'min', max: 'max', avg: 'avg', stddev: 'stddev', current: 'current', p50: 'p50', p75: 'p75', p90: 'p90', p95: 'p95', p97_5: 'p97.5', p99: 'p99', p100: 'p100',
}
const CMDLINE_CHARS = 120
const SHORT_ID_CHARS = 12
const GIB = 1024 ** 3
const MINUTE = 60_000

const STYLE = `
@page { size: A4; margin: 12mm; }
body { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; margin: 0 auto; max-width: 760px; padding: 16px; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 24px 0 8px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
h2, h3, .container > p { break-after: avoid; page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; font-size: 11px; }
thead { display: table-header-group; }
th, td { border-bottom: 1px solid #eef0f3; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f9fafb; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
/* Twelve statistics side by side fit A4's width: small type, and a unit may go under its number. */
table.stats { font-size: 9px; }
table.stats th, table.stats td { padding: 2px 3px; }
table.stats td.num { white-space: normal; }
/* The command line takes the room the numbers leave; it breaks anywhere, so without a width it would get none. */
table.processes td:last-child { width: 36%; }
tr, figure { break-inside: avoid; page-break-inside: avoid; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dt { color: #6b7280; }
dd { margin: 0; }
figure { margin: 8px 0 16px; }
figcaption { font-size: 11px; color: #6b7280; }
svg.chart { display: block; max-width: 100%; height: auto; font-size: 10px; }
svg .chart-title { font-weight: 600; font-size: 11px; }
svg .tick, svg .legend { fill: #4b5563; }
svg .chart-empty { fill: #9ca3af; font-size: 12px; }
.no-data, .note { color: #6b7280; }
.no-data { font-size: 14px; padding: 8px 12px; background: #f9fafb; border-left: 3px solid #d97706; }
code { font-size: 10px; word-break: break-all; }
@media print { body { max-width: none; padding: 0; } }
`

const DASH = '—'

/** A string or finite number from loosely typed data (the inventory), else null. */
function known(v: unknown): string | null {
  if (typeof v === 'string') return v === '' ? null : v
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  return null
}

const text = (v: unknown) => esc(known(v) ?? DASH)
const utc = (d: Date | null) => (d ? `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC` : DASH)
const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`

/** "45 minutes", "24 hours", "36 hours 30 minutes", "7 days": hours up to two days, days beyond. */
function formatDuration(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / MINUTE))
  if (minutes < 60) return plural(minutes, 'minute')
  const hours = Math.floor(minutes / 60)
  const parts = hours < 48 ? [plural(hours, 'hour')] : [plural(Math.floor(hours / 24), 'day'), ...hours % 24 ? [plural(hours % 24, 'hour')] : []]
  if (minutes % 60) parts.push(plural(minutes % 60, 'minute'))
  return parts.join(' ')
}

/** The formatted number and the exact one, for the statistics table. */
function statCell(family: string, item: string, field: string, stat: string, value: number | null, unit: string): string {
  const exact = value === null ? '' : String(value)
  return `<td class="num" data-family="${esc(family)}" data-item="${esc(item)}" data-field="${esc(field)}" data-stat="${stat}" data-value="${esc(exact)}">${esc(formatValue(value, unit))}</td>`
}

interface StatsRow { item: string; field: string; unit: string; stats: FieldStats }

function statsTable(family: 'cpu' | 'memory' | 'disk' | 'network', rows: StatsRow[]): string {
  if (rows.length === 0) return '<p class="note">No data in this range.</p>'
  const itemHeader = family === 'disk' ? 'device' : family === 'network' ? 'interface' : null
  const head = `<tr>${itemHeader ? `<th>${itemHeader}</th>` : ''}<th>field</th>${STATS.map((s) => `<th class="num">${STAT_LABELS[s]}</th>`).join('')}</tr>`
  const body = rows.map((r) => `<tr>${itemHeader ? `<td>${esc(r.item)}</td>` : ''}<td>${esc(r.field)}${r.unit ? ` <span class="note">(${esc(r.unit)})</span>` : ''}</td>${
    STATS.map((s) => statCell(family, r.item, r.field, s, r.stats[s], r.unit)).join('')}</tr>`).join('')
  return `<table class="stats" data-family="${family}"><thead>${head}</thead><tbody>${body}</tbody></table>`
}

function figure(caption: string, svg: string): string {
  return `<figure>${svg}<figcaption>${esc(caption)}</figcaption></figure>`
}

function seriesOf(columns: Record<string, Array<number | null>>, fields: readonly string[]): ChartSeries[] {
  return fields.filter((f) => columns[f]).map((f) => ({ name: f, values: columns[f] }))
}

function section(id: string, title: string, content: string): string {
  return `<section id="${id}"><h2>${esc(title)}</h2>${content}</section>`
}

function inventorySection(d: ReportData): string {
  const inv = d.host.inventory
  const memory = typeof inv.memory_total_bytes === 'number' && Number.isFinite(inv.memory_total_bytes) ? `${(inv.memory_total_bytes / GIB).toFixed(1)} GiB` : null
  const rows: Array<[string, string | null]> = [
    ['Name', known(d.host.name)], ['Hostname', known(d.host.hostname)], ['IP address', known(d.host.ip_address)],
    ['Operating system', [d.host.os, d.host.os_version].filter(Boolean).join(' ') || null], ['Agent version', known(d.host.agent_version)],
    ['CPU model', known(inv.cpu_model)], ['CPU count', known(inv.cpu_cores ?? inv.cpu_count)], ['Memory', memory],
  ]
  // Cloud placement only where the agent knows it (most hosts are not in a cloud).
  for (const [label, key] of [['Cloud provider', 'cloud_provider'], ['Region', 'region'], ['Instance type', 'instance_type']] as const) {
    if (known(inv[key]) !== null) rows.push([label, known(inv[key])])
  }
  rows.push(['Last sample', d.host.last_metrics_at ? utc(d.host.last_metrics_at) : null])
  return section('inventory', 'Host', `<dl>${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v ?? DASH)}</dd>`).join('')}</dl>`)
}

function rangeSection(d: ReportData): string {
  return section('range', 'Time range', `<dl><dt>From</dt><dd>${utc(d.start)}</dd><dt>To</dt><dd>${utc(d.end)}</dd>`
    + `<dt>Duration</dt><dd>${formatDuration(d.end.getTime() - d.start.getTime())}</dd><dt>Generated</dt><dd>${utc(d.generatedAt)}</dd></dl>`)
}

function chartsSection(d: ReportData): string {
  if (d.empty) return section('charts', 'Charts', '<p class="note">No charts: no samples in this range.</p>')
  const f = d.fields
  const unitOf = (fields: Record<string, HostField>, key: string) => fields[key]?.unit ?? ''
  const parts = [
    figure('CPU time by state', lineChart({ title: 'CPU', unit: '%', timestamps: d.cpu.timestamps, series: seriesOf(d.cpu.columns, Object.keys(f.cpu)) })),
    figure('Memory', lineChart({ title: 'Memory', unit: unitOf(f.memory, 'used'), timestamps: d.memory.timestamps, series: seriesOf(d.memory.columns, ['used', 'available', 'cached', 'buffers']) })),
    figure('Memory used', lineChart({ title: 'Memory used', unit: unitOf(f.memory, 'percent_used'), timestamps: d.memory.timestamps, series: seriesOf(d.memory.columns, ['percent_used']) })),
  ]
  for (const disk of d.disk.items) {
    parts.push(figure(`Disk ${disk.name}: throughput`, lineChart({ title: `Disk ${disk.name}`, unit: unitOf(f.disk, 'read_bytes'), timestamps: d.disk.timestamps, series: seriesOf(disk.columns, ['read_bytes', 'write_bytes']) })),
      figure(`Disk ${disk.name}: operations`, lineChart({ title: `Disk ${disk.name} operations`, unit: unitOf(f.disk, 'read_ops'), timestamps: d.disk.timestamps, series: seriesOf(disk.columns, ['read_ops', 'write_ops']) })))
  }
  for (const nic of d.network.items) {
    parts.push(figure(`Interface ${nic.name}: traffic`, lineChart({ title: `Interface ${nic.name}`, unit: unitOf(f.network, 'rx_bytes'), timestamps: d.network.timestamps, series: seriesOf(nic.columns, ['rx_bytes', 'tx_bytes']) })))
  }
  if (d.disk.items.length === 0) parts.push('<p class="note">No disk I/O in this range.</p>')
  if (d.network.items.length === 0) parts.push('<p class="note">No network traffic in this range.</p>')
  return section('charts', 'Charts', parts.join(''))
}

function statsSection(d: ReportData): string {
  if (d.empty) return section('stats', 'Statistics', '<p class="note">No statistics: no samples in this range.</p>')
  const f = d.fields
  const flat = (family: 'cpu' | 'memory'): StatsRow[] => Object.entries(d.stats[family] ?? {}).map(([field, stats]) => ({ item: '', field, unit: f[family][field]?.unit ?? '', stats }))
  const nested = (family: 'disk' | 'network'): StatsRow[] => Object.entries(d.stats[family] ?? {}).flatMap(([item, fields]) =>
    Object.entries(fields).map(([field, stats]) => ({ item, field, unit: f[family][field]?.unit ?? '', stats })))
  return section('stats', 'Statistics', '<p class="note">Over the range: minimum, maximum, mean, standard deviation, the newest value and percentiles.</p>'
    + `<h3>CPU</h3>${statsTable('cpu', flat('cpu'))}<h3>Memory</h3>${statsTable('memory', flat('memory'))}`
    + `<h3>Disks</h3>${statsTable('disk', nested('disk'))}<h3>Network</h3>${statsTable('network', nested('network'))}`)
}

function processTable(title: string, rows: TopProcess[]): string {
  if (rows.length === 0) return `<h3>${esc(title)}</h3><p class="note">No process snapshots in this range.</p>`
  const body = rows.map((p) => {
    const cmd = p.cmdline ?? ''
    const chars = Array.from(cmd)
    const short = chars.length > CMDLINE_CHARS ? `${chars.slice(0, CMDLINE_CHARS).join('')}…` : cmd
    return `<tr><td>${esc(p.name)}</td><td class="num">${esc(formatValue(p.avg_cpu_percent, '%'))}</td><td class="num">${esc(formatValue(p.max_cpu_percent, '%'))}</td>`
      + `<td class="num">${esc(formatValue(p.avg_memory_bytes, 'B'))}</td><td class="num">${esc(formatValue(p.max_memory_bytes, 'B'))}</td><td class="num">${text(p.samples)}</td>`
      + `<td>${text(p.username)}</td><td class="num">${text(p.last_pid)}</td><td><code title="${esc(cmd)}">${text(short)}</code></td></tr>`
  }).join('')
  return `<h3>${esc(title)}</h3><table class="processes"><thead><tr><th>name</th><th class="num">avg CPU</th><th class="num">max CPU</th><th class="num">avg memory</th>`
    + `<th class="num">max memory</th><th class="num">samples</th><th>user</th><th class="num">last pid</th><th>command line</th></tr></thead><tbody>${body}</tbody></table>`
}

function processesSection(d: ReportData): string {
  const { resolution } = d.topProcesses
  const source = resolution === 'raw' ? 'every process snapshot (raw)' : `the aggregate <code>${esc(resolution)}</code>`
  return section('top-processes', 'Top processes', `<p class="note" data-resolution="${esc(resolution)}">Processes by name, ranked by their average over the range, computed from ${source}.</p>`
    + processTable('By CPU', d.topProcesses.byCpu) + processTable('By memory', d.topProcesses.byMemory))
}

function alertsSection(d: ReportData): string {
  if (d.alerts.length === 0) return section('alerts', 'Alerts', '<p class="note">No alerts in this range.</p>')
  const body = d.alerts.map((a) => `<tr><td>${esc(a.rule_name)}</td><td>${esc(a.severity)}</td><td>${esc(a.state)}</td><td>${utc(a.started_at)}</td>`
    + `<td>${a.resolved_at ? utc(a.resolved_at) : 'still firing'}</td><td class="num">${esc(formatValue(a.value, ''))}</td><td class="num">${esc(formatValue(a.threshold, ''))}</td>`
    + `<td>${esc(a.summary)}</td></tr>`).join('')
  return section('alerts', 'Alerts', '<table class="alerts"><thead><tr><th>rule</th><th>severity</th><th>state</th><th>started</th><th>resolved</th>'
    + `<th class="num">value</th><th class="num">threshold</th><th>summary</th></tr></thead><tbody>${body}</tbody></table>`)
}

function containerPart({ view, series }: ReportContainer): string {
  const shortId = view.container_id.slice(0, SHORT_ID_CHARS)
  return `<div class="container" data-container-id="${esc(shortId)}"><h3>${esc(view.name)}</h3>`
    + `<p class="note">image ${text(view.image)} · status ${text(view.status)} · id <code>${esc(shortId)}</code></p>`
    + figure(`${view.name}: CPU`, lineChart({ title: `${view.name} CPU`, unit: '%', timestamps: series.timestamps, series: [{ name: 'cpu_percent', values: series.cpu_percent }] }))
    + figure(`${view.name}: memory`, lineChart({ title: `${view.name} memory`, unit: 'MiB', timestamps: series.timestamps, series: [{ name: 'memory_usage_mb', values: series.memory_usage_mb }] }))
    + '</div>'
}

function containersSection(c: NonNullable<ReportData['containers']>): string {
  if (c.total === 0 && c.items.length === 0) return section('containers', 'Containers', '<p class="note">No containers reported in this range.</p>')
  const a = c.aggregate
  const parts = [`<p>${plural(a.total_containers, 'container')} in the range, ${a.running_containers} running now.</p>`,
    figure('All containers: CPU', lineChart({ title: 'Containers CPU', unit: '%', timestamps: a.timestamps, series: [{ name: 'total CPU', values: a.total_cpu_percent }] })),
    figure('All containers: memory', lineChart({ title: 'Containers memory', unit: 'MiB', timestamps: a.timestamps, series: [{ name: 'total memory', values: a.total_memory_mb }] })),
    ...c.items.map(containerPart)]
  const more = c.total - c.items.length
  if (more > 0) {
    parts.push(`<p class="note" id="containers-more" data-more="${more}">${more} more ${more === 1 ? 'container is' : 'containers are'} not charted one by one (they are in the totals).</p>`)
  }
  return section('containers', 'Containers', parts.join(''))
}

export function renderReportHtml(d: ReportData): string {
  const body = [
    `<h1>${esc(d.title)}</h1>`,
    inventorySection(d),
    rangeSection(d),
    ...d.empty ? [`<p class="no-data" id="no-data">${esc(d.host.name)} sent no samples between ${utc(d.start)} and ${utc(d.end)}: there is nothing to chart or summarize for this range.</p>`] : [],
    chartsSection(d),
    statsSection(d),
    processesSection(d),
    alertsSection(d),
    ...d.containers ? [containersSection(d.containers)] : [],
  ]
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">`
    + `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`
    + `<meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(d.title)}</title><style>${STYLE}</style></head>`
    + `<body>${body.join('\n')}</body></html>`
}
