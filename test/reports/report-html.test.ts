// The performance report's HTML (services/reports/report-html.ts) and its SVG charts (svg-chart.ts) on
// hand-built report data, no database: a complete, self-contained document; its sections in order; hostile
// texts escaped everywhere; every statistic in exactly one cell whose data-value is String() of the number;
// charts with gaps, dots and "No data"; an empty range; containers asked for or not.
import t from 'tap'
import { renderReportHtml } from '../../services/reports/report-html.ts'
import { formatValue, lineChart } from '../../services/reports/svg-chart.ts'
import type { ReportContainer, ReportData } from '../../services/reports/report-data.ts'
import { CPU_FIELDS, DISK_FIELDS, MEMORY_FIELDS, NETWORK_FIELDS, type FieldStats, type HostStats } from '../../services/query/host-families.ts'
import type { TopProcess } from '../../services/query/process-reads.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const END = new Date('2025-03-10T12:00:00Z')
const STATS = ['min', 'max', 'avg', 'stddev', 'current', 'p50', 'p75', 'p90', 'p95', 'p97_5', 'p99', 'p100'] as const
const HEADERS = ['min', 'max', 'avg', 'stddev', 'current', 'p50', 'p75', 'p90', 'p95', 'p97.5', 'p99', 'p100']
const SCRIPT = '<script>alert(1)</script>'
const QUOTE = '" onload="x'
const HOSTILE = `${SCRIPT}${QUOTE}`
const DISK = `sd"a<&'`

// ── a tiny HTML reader: start tags with their (double-quoted, entity-decoded) attributes ─────────────

interface Tag { name: string; attrs: Record<string, string>; index: number; end: number }

const decode = (s: string) => s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!)

function tags(html: string): Tag[] {
  const out: Tag[] = []
  for (const m of html.matchAll(/<([a-zA-Z][\w-]*)((?:\s+[^\s=>/"']+(?:="[^"]*")?)*)\s*\/?>/g)) {
    const attrs: Record<string, string> = {}
    for (const a of m[2].matchAll(/([^\s=>/"']+)(?:="([^"]*)")?/g)) attrs[a[1].toLowerCase()] = decode(a[2] ?? '')
    out.push({ name: m[1].toLowerCase(), attrs, index: m.index!, end: m.index! + m[0].length })
  }
  return out
}

/** The text of the element whose start tag is `tag`, up to its closing tag (no nesting of the same name). */
function textOf(html: string, tag: Tag): string {
  const close = html.indexOf(`</${tag.name}>`, tag.end)
  return decode(html.slice(tag.end, close).replace(/<[^>]*>/g, ''))
}

function sectionHtml(html: string, id: string): string {
  const start = html.indexOf(`<section id="${id}"`)
  return start < 0 ? '' : html.slice(start, html.indexOf('</section>', start) + '</section>'.length)
}

const statCells = (html: string) => tags(html).filter((x) => x.name === 'td' && 'data-stat' in x.attrs)

// ── report data built by hand ──────────────────────────────────────────────────────────────────────────

function fieldStats(base: number, overrides: Partial<FieldStats> = {}): FieldStats {
  const s = { count: 10 } as FieldStats
  STATS.forEach((k, i) => { s[k] = base + i * 1.25 })
  return { ...s, ...overrides }
}

function stats(): Partial<HostStats> {
  return {
    cpu: Object.fromEntries(Object.keys(CPU_FIELDS).map((f, i) => [f, fieldStats(i * 3)])),
    memory: {
      ...Object.fromEntries(Object.keys(MEMORY_FIELDS).map((f) => [f, fieldStats(4096)])),
      // Numbers whose shortest round-trip text is long or unusual, and a missing one.
      used: fieldStats(16384, { avg: 0.1 + 0.2, stddev: 1 / 3, min: 5e-7, max: 1e21, current: null, p50: -0 }),
    },
    disk: { [DISK]: Object.fromEntries(Object.keys(DISK_FIELDS).map((f) => [f, fieldStats(5 * 1024 ** 3)])) },
    network: {
      eth0: Object.fromEntries(Object.keys(NETWORK_FIELDS).map((f) => [f, fieldStats(1.5e6)])),
      eth1: Object.fromEntries(Object.keys(NETWORK_FIELDS).map((f) => [f, fieldStats(-2, { p99: null })])),
    },
  }
}

function timestamps(n: number, stepMs: number, end = END): Date[] {
  return Array.from({ length: n }, (_, i) => new Date(end.getTime() - (n - 1 - i) * stepMs))
}

function process(name: string, overrides: Partial<TopProcess> = {}): TopProcess {
  return {
    name, avg_cpu_percent: 12.5, max_cpu_percent: 80, avg_memory_bytes: 900 * 1024 * 1024, max_memory_bytes: 1.5 * 1024 ** 3,
    avg_memory_percent: 5, samples: 60, avg_io_bytes_per_sec: null, max_io_bytes_per_sec: null, avg_read_bytes_per_sec: null, avg_write_bytes_per_sec: null, cmdline: `/usr/bin/${name} --serve`, username: 'www-data', last_pid: 4242, last_seen: END, pid: null, started_at: null, first_seen: null, ...overrides,
  }
}

function container(i: number, name = `web-${i}`): ReportContainer {
  const ts = timestamps(6, 10 * 60_000)
  return {
    view: {
      id: i, container_id: `${'abcdef0123456789'.repeat(4)}`.replace(/^./, String(i)), name, image: 'nginx:1.27', status: 'running',
      created_at: new Date(END.getTime() - DAY), updated_at: END, cpu_percent: 4, memory_percent: 1.5, memory_usage_mb: 256, network_rx_bytes: 0, network_tx_bytes: 0,
    },
    series: {
      timestamps: ts, cpu_percent: [1, 2, null, 4, 5, 6], memory_percent: ts.map(() => 1.5), memory_usage_mb: ts.map((_, j) => 250 + j),
      network_rx_bytes: ts.map(() => 0), network_tx_bytes: ts.map(() => 0),
    },
  }
}

function reportData(overrides: Partial<ReportData> = {}): ReportData {
  const ts = timestamps(24, HOUR)
  const wave = (base: number, amp: number) => ts.map((_, i) => base + amp * Math.sin(i / 3))
  return {
    title: 'Performance Report - web-1 - 2025-03-10',
    host: {
      name: 'web-1', hostname: 'web-1.example.internal', ip_address: '10.0.0.7', os: 'Debian GNU/Linux', os_version: '12', agent_version: '1.4.0',
      last_metrics_at: new Date('2025-03-10T11:59:30Z'),
      inventory: { cpu_model: 'AMD EPYC 7B13', cpu_cores: 8, memory_total_bytes: 16 * 1024 ** 3, cloud_provider: 'gcp', region: 'europe-west1' },
    },
    start: new Date(END.getTime() - DAY), end: END, generatedAt: new Date('2025-03-10T12:00:05Z'),
    fields: { cpu: CPU_FIELDS, memory: MEMORY_FIELDS, disk: DISK_FIELDS, network: NETWORK_FIELDS },
    cpu: { timestamps: ts, columns: Object.fromEntries(Object.keys(CPU_FIELDS).map((f, i) => [f, wave(10 + i, 5)])) },
    memory: { timestamps: ts, columns: { used: wave(4000, 200), available: wave(12000, 100), cached: wave(2000, 10), buffers: wave(100, 1), percent_used: wave(25, 2) } },
    disk: { timestamps: ts, items: [{ name: DISK, columns: { read_bytes: wave(1e6, 5e5), write_bytes: wave(2e6, 1e5), read_ops: wave(100, 10), write_ops: wave(50, 5), utilization: wave(3, 1) } }] },
    network: {
      timestamps: ts,
      items: ['eth0', 'eth1'].map((name) => ({ name, columns: { rx_bytes: wave(1e5, 1e4), tx_bytes: wave(5e4, 1e3), rx_packets: wave(100, 1), tx_packets: wave(50, 1), utilization: ts.map(() => null) } })),
    },
    stats: stats(),
    topProcesses: { byCpu: [process('postgres'), process('node')], byMemory: [process('java')], resolution: 'raw' },
    alerts: [
      { rule_name: 'cpu-high', severity: 'critical', state: 'resolved', summary: 'CPU 97.5% on web-1', value: 97.5, threshold: 90, started_at: new Date(END.getTime() - 6 * HOUR), resolved_at: new Date(END.getTime() - 5 * HOUR) },
      { rule_name: 'disk-full', severity: 'warning', state: 'firing', summary: 'disk / at 91%', value: 91, threshold: 90, started_at: new Date(END.getTime() - HOUR), resolved_at: null },
    ],
    empty: false,
    ...overrides,
  }
}

// ── the document ───────────────────────────────────────────────────────────────────────────────────────

t.test('a complete document that fetches nothing and prints on A4', async (t) => {
  const html = renderReportHtml(reportData({ containers: { aggregate: aggregate(), items: [container(1)], total: 1 } }))
  t.match(html, /^<!doctype html><html lang="en"><head><meta charset="utf-8">/i, 'doctype and UTF-8 first')
  t.ok(html.endsWith('</body></html>'), 'closed')
  const title = tags(html).find((x) => x.name === 'title')!
  t.equal(textOf(html, title), 'Performance Report - web-1 - 2025-03-10', 'the <title> is data.title')
  t.notMatch(html, /<script/i, 'no script')
  t.notMatch(html, /<link/i, 'no link')
  t.notMatch(html, /@import/i, 'no @import')
  t.notMatch(html, /https?:/i, 'no http(s) URL anywhere (not even an SVG xmlns)')
  t.notMatch(html, /url\(/i, 'no url() in the styles')
  for (const tag of tags(html)) {
    for (const attr of ['src', 'href', 'action', 'xlink:href', 'srcset', 'poster', 'data']) {
      if (attr in tag.attrs) t.fail(`<${tag.name} ${attr}="${tag.attrs[attr]}">: the document fetches nothing`)
    }
  }
  t.equal(tags(html).filter((x) => x.name === 'style').length, 1, 'one inline <style>')
  t.match(html, /@page \{ size: A4; margin: 12mm; \}/, 'A4 with 12 mm margins')
  t.match(html, /tr, figure \{ break-inside: avoid;/, 'charts and table rows are not split across pages')
  t.equal(renderReportHtml(reportData()), renderReportHtml(reportData()), 'deterministic')
})

t.test('every section, with its heading, in order', async (t) => {
  const html = renderReportHtml(reportData({ containers: { aggregate: aggregate(), items: [container(1)], total: 1 } }))
  const ids = tags(html).filter((x) => x.name === 'section').map((x) => x.attrs.id)
  t.same(ids, ['inventory', 'range', 'charts', 'stats', 'top-processes', 'alerts', 'containers'])
  for (const id of ids) t.match(sectionHtml(html, id), new RegExp(`^<section id="${id}"><h2>[^<]+</h2>`), `#${id} starts with its <h2>`)
  t.notMatch(html, /id="no-data"/, 'no no-data notice when there is data')
})

t.test('the inventory and the range', async (t) => {
  const inventory = (data: ReportData) => {
    const html = sectionHtml(renderReportHtml(data), 'inventory')
    const all = tags(html)
    const dts = all.filter((x) => x.name === 'dt').map((x) => textOf(html, x))
    const dds = all.filter((x) => x.name === 'dd').map((x) => textOf(html, x))
    return Object.fromEntries(dts.map((k, i) => [k, dds[i]]))
  }
  t.same(inventory(reportData()), {
    Name: 'web-1', Hostname: 'web-1.example.internal', 'IP address': '10.0.0.7', 'Operating system': 'Debian GNU/Linux 12', 'Agent version': '1.4.0',
    'CPU model': 'AMD EPYC 7B13', 'CPU count': '8', Memory: '16.0 GiB', 'Cloud provider': 'gcp', Region: 'europe-west1', 'Last sample': '2025-03-10 11:59:30 UTC',
  })
  const bare = reportData()
  bare.host = { name: 'bare', hostname: null, ip_address: null, os: null, os_version: null, agent_version: null, last_metrics_at: null, inventory: { cpu_model: { nested: true } } }
  t.same(inventory(bare), {
    Name: 'bare', Hostname: '—', 'IP address': '—', 'Operating system': '—', 'Agent version': '—', 'CPU model': '—', 'CPU count': '—', Memory: '—', 'Last sample': '—',
  }, 'missing values are dashes; cloud placement only when known')

  const range = (start: Date, end: Date) => {
    const html = sectionHtml(renderReportHtml(reportData({ start, end })), 'range')
    return tags(html).filter((x) => x.name === 'dd').map((x) => textOf(html, x))
  }
  t.same(range(new Date(END.getTime() - DAY), END), ['2025-03-09 12:00:00 UTC', '2025-03-10 12:00:00 UTC', '24 hours', '2025-03-10 12:00:05 UTC'])
  t.equal(range(new Date(END.getTime() - 7 * DAY), END)[2], '7 days')
  t.equal(range(new Date(END.getTime() - HOUR), END)[2], '1 hour')
  t.equal(range(new Date(END.getTime() - 45 * 60_000), END)[2], '45 minutes')
  t.equal(range(new Date(END.getTime() - 90 * 60_000), END)[2], '1 hour 30 minutes')
  t.equal(range(new Date(END.getTime() - 30 * DAY - 6 * HOUR), END)[2], '30 days 6 hours')
})

t.test('hostile texts are escaped everywhere, in text and in attributes', async (t) => {
  const data = reportData({
    title: `Report ${HOSTILE}`,
    containers: { aggregate: aggregate(), items: [container(1, `c ${HOSTILE}`)], total: 1 },
  })
  data.host = { ...data.host, name: HOSTILE, hostname: HOSTILE, os: QUOTE, inventory: { ...data.host.inventory, cpu_model: HOSTILE, instance_type: SCRIPT } }
  data.topProcesses.byCpu = [process(HOSTILE, { cmdline: `${'x'.repeat(150)} ${HOSTILE}`, username: QUOTE })]
  data.topProcesses.byMemory = [process('short', { cmdline: `run ${HOSTILE}` })]
  data.topProcesses.resolution = `agg ${HOSTILE}`
  data.alerts = [{ ...data.alerts[0], rule_name: HOSTILE, severity: QUOTE, summary: `summary ${HOSTILE}` }]
  data.network.items[0].name = HOSTILE
  data.stats.network = { [HOSTILE]: data.stats.network!.eth0 }

  for (const html of [renderReportHtml(data), renderReportHtml({ ...data, empty: true })]) {
    t.notOk(html.includes(SCRIPT), 'no raw <script>')
    t.notOk(html.includes(QUOTE), 'no raw quote that would end an attribute')
    t.notOk(html.includes('<script'), 'no script tag at all')
    const all = tags(html)
    t.same(all.filter((x) => Object.keys(x.attrs).some((a) => a.startsWith('on'))).map((x) => x.name), [], 'no event handler attribute')
    t.same([...new Set(all.map((x) => x.name))].filter((n) => !['html', 'head', 'meta', 'title', 'style', 'body', 'h1', 'h2', 'h3', 'section', 'dl', 'dt', 'dd', 'p', 'figure', 'figcaption',
      'svg', 'text', 'rect', 'line', 'path', 'circle', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'span', 'code', 'div'].includes(n)), [], 'only the tags the renderer writes')
    t.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;&quot; onload=&quot;x'), 'the escaped form is there')
  }
  const html = renderReportHtml(data)
  t.equal(textOf(html, tags(html).find((x) => x.name === 'title')!), `Report ${HOSTILE}`, 'the title reads back as given')
  t.equal(textOf(html, tags(html).find((x) => x.name === 'h1')!), `Report ${HOSTILE}`)
  const inv = sectionHtml(html, 'inventory')
  t.ok(inv.includes(`<dd>${'&lt;script&gt;alert(1)&lt;/script&gt;&quot; onload=&quot;x'}</dd>`), 'the host name in the inventory')
  t.ok(inv.includes('<dd>&quot; onload=&quot;x 12</dd>'), 'the OS')

  const codes = tags(sectionHtml(html, 'top-processes')).filter((x) => x.name === 'code' && 'title' in x.attrs)
  t.equal(codes[0].attrs.title, `${'x'.repeat(150)} ${HOSTILE}`, 'the full command line in the title attribute, read back intact')
  t.equal(textOf(sectionHtml(html, 'top-processes'), codes[0]), `${'x'.repeat(120)}…`, 'the shown command line truncated to 120 characters')
  t.equal(codes[1].attrs.title, `run ${HOSTILE}`)
  t.equal(textOf(sectionHtml(html, 'top-processes'), codes[1]), `run ${HOSTILE}`, 'a short command line is whole')
  t.ok(sectionHtml(html, 'alerts').includes('summary &lt;script&gt;'), 'the alert summary')
  t.ok(sectionHtml(html, 'containers').includes('c &lt;script&gt;'), 'the container name')
  t.ok(sectionHtml(html, 'charts').includes('<title>Interface &lt;script&gt;'), 'an interface name in a chart title')
  const cells = statCells(html).filter((x) => x.attrs['data-family'] === 'network')
  t.ok(cells.length > 0 && cells.every((x) => x.attrs['data-item'] === HOSTILE), 'an interface name in data-item, read back intact')
})

t.test('every statistic is in exactly one cell, its data-value String() of the number', async (t) => {
  const data = reportData()
  const html = renderReportHtml(data)
  const cells = statCells(html)
  const expected: Array<{ family: string; item: string; field: string; stat: string; value: number | null; unit: string }> = []
  for (const family of ['cpu', 'memory'] as const) {
    for (const [field, s] of Object.entries(data.stats[family]!)) for (const stat of STATS) expected.push({ family, item: '', field, stat, value: s[stat], unit: data.fields[family][field].unit })
  }
  for (const family of ['disk', 'network'] as const) {
    for (const [item, fields] of Object.entries(data.stats[family]!)) {
      for (const [field, s] of Object.entries(fields)) for (const stat of STATS) expected.push({ family, item, field, stat, value: s[stat], unit: data.fields[family][field].unit })
    }
  }
  t.equal(expected.length, (7 + 5 + 5 + 4 * 2) * 12, 'the fixture holds every field')
  t.equal(cells.length, expected.length, 'one cell per statistic, no more')
  for (const e of expected) {
    const matching = cells.filter((c) => c.attrs['data-family'] === e.family && c.attrs['data-item'] === e.item && c.attrs['data-field'] === e.field && c.attrs['data-stat'] === e.stat)
    if (matching.length !== 1) { t.fail(`${e.family}/${e.item}/${e.field}/${e.stat}: ${matching.length} cells`); continue }
    const want = e.value === null ? '' : String(e.value)
    if (matching[0].attrs['data-value'] !== want) t.fail(`${e.family}/${e.item}/${e.field}/${e.stat}: data-value ${matching[0].attrs['data-value']}, want ${want}`)
    const shown = textOf(html, matching[0])
    if (e.value === null ? shown !== '—' : shown !== formatValue(e.value, e.unit)) t.fail(`${e.family}/${e.item}/${e.field}/${e.stat}: shows ${shown}`)
  }
  const cell = (family: string, item: string, field: string, stat: string) => cells.find((c) => c.attrs['data-family'] === family && c.attrs['data-item'] === item && c.attrs['data-field'] === field && c.attrs['data-stat'] === stat)!
  t.equal(cell('memory', '', 'used', 'avg').attrs['data-value'], '0.30000000000000004', 'the shortest round-trip text, not a rounded one')
  t.equal(cell('memory', '', 'used', 'stddev').attrs['data-value'], '0.3333333333333333')
  t.equal(cell('memory', '', 'used', 'min').attrs['data-value'], '5e-7')
  t.equal(cell('memory', '', 'used', 'max').attrs['data-value'], '1e+21')
  t.equal(cell('memory', '', 'used', 'p50').attrs['data-value'], '0', 'String(-0) is 0')
  t.equal(cell('memory', '', 'used', 'current').attrs['data-value'], '', 'null is empty')
  t.equal(textOf(html, cell('memory', '', 'used', 'current')), '—', 'and shown as a dash')
  t.equal(cell('disk', DISK, 'read_bytes', 'min').attrs['data-item'], DISK, 'a device name with quotes and markup, read back intact')
  // Formatted text: the field's unit, with a prefix, at a sensible precision.
  t.equal(textOf(html, cell('cpu', '', 'user', 'max')), '1.25 %')
  t.equal(textOf(html, cell('cpu', '', 'system', 'p100')), '16.8 %')
  t.equal(textOf(html, cell('memory', '', 'cached', 'min')), '4 GiB', 'MiB shown in GiB')
  t.equal(textOf(html, cell('disk', DISK, 'read_bytes', 'min')), '5 GiB/s')
  t.equal(textOf(html, cell('disk', DISK, 'read_ops', 'min')), '5.37G ops/s')
  t.equal(textOf(html, cell('network', 'eth0', 'rx_packets', 'min')), '1.5M packets/s')
  t.equal(textOf(html, cell('network', 'eth1', 'rx_bytes', 'min')), '-2 B/s')

  const stats = sectionHtml(html, 'stats')
  const tables = tags(stats).filter((x) => x.name === 'table')
  t.same(tables.map((x) => x.attrs['data-family']), ['cpu', 'memory', 'disk', 'network'], 'a table per family')
  for (const table of tables) {
    const body = stats.slice(table.end, stats.indexOf('</thead>', table.end))
    const headers = tags(body).filter((x) => x.name === 'th').map((x) => textOf(body, x))
    const leading = table.attrs['data-family'] === 'disk' ? ['device', 'field'] : table.attrs['data-family'] === 'network' ? ['interface', 'field'] : ['field']
    t.same(headers, [...leading, ...HEADERS], `${table.attrs['data-family']} headers`)
  }
})

t.test('charts', async (t) => {
  const ts = timestamps(5, 60_000)
  const d = (svg: string) => tags(svg).filter((x) => x.name === 'path').map((x) => x.attrs.d)

  await t.test('a self-contained, labelled SVG', async (t) => {
    const svg = lineChart({ title: 'CPU <b>', unit: '%', timestamps: ts, series: [{ name: 'user & "me"', values: [1, 2, 3, 4, 5] }] })
    t.match(svg, /^<svg role="img" [^>]*>/)
    t.ok(svg.endsWith('</svg>'))
    t.match(svg, /<title>CPU &lt;b&gt;<\/title>/, 'the escaped title')
    t.ok(svg.includes('>user &amp; &quot;me&quot;</text>'), 'the escaped legend')
    t.equal(d(svg).length, 1, 'one path per series')
    t.match(d(svg)[0], /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+){4}$/, 'one line through five points')
    t.notMatch(svg, /NaN|Infinity|undefined/)
    t.equal(svg, lineChart({ title: 'CPU <b>', unit: '%', timestamps: ts, series: [{ name: 'user & "me"', values: [1, 2, 3, 4, 5] }] }), 'deterministic')
    const labels = (kind: string) => tags(svg).filter((x) => x.attrs.class === kind).map((x) => textOf(svg, x))
    t.same(labels('tick value'), ['0 %', '1 %', '2 %', '3 %', '4 %', '5 %'], 'value ticks with the unit')
    t.same(labels('tick time'), ['11:56', '11:57', '11:58', '11:59', '12:00'], 'time ticks')
    t.same(labels('tick'), ['UTC'], 'said to be UTC')
    const names = lineChart({ title: 'many', unit: '%', timestamps: ts, series: Array.from({ length: 10 }, (_, i) => ({ name: `s${i}`, values: [i, i, i, i, i] })) })
    const strokes = tags(names).filter((x) => x.name === 'path').map((x) => x.attrs.stroke)
    t.equal(new Set(strokes.slice(0, 8)).size, 8, 'a palette of eight colours')
    t.equal(strokes[8], strokes[0], 'then it repeats')
  })

  await t.test('a gap where values are missing', async (t) => {
    const svg = lineChart({ title: 'gap', unit: '%', timestamps: ts, series: [{ name: 'a', values: [1, 2, null, 4, 5] }, { name: 'b', values: [null, 1, 2, 3, 4] }] })
    const [a, b] = d(svg)
    t.equal(a.match(/M/g)?.length, 2, `two M commands: ${a}`)
    t.equal(a.match(/L/g)?.length, 2, 'each piece a line')
    t.equal(b.match(/M/g)?.length, 1, 'a leading null is no gap')
    t.notMatch(svg, /<circle/, 'no dots: every piece has two points')
    const lone = lineChart({ title: 'lone', unit: '%', timestamps: ts, series: [{ name: 'a', values: [1, null, 3, null, 5] }] })
    t.equal(d(lone)[0].match(/M/g)?.length, 3, 'three separate points')
    t.equal(lone.match(/<circle/g)?.length, 3, 'each drawn as a dot')
  })

  await t.test('no data, one point, flat, negative and huge values', async (t) => {
    for (const empty of [
      lineChart({ title: 'none', unit: '%', timestamps: [], series: [{ name: 'a', values: [] }] }),
      lineChart({ title: 'nulls', unit: '%', timestamps: ts, series: [{ name: 'a', values: [null, null, null, null, null] }] }),
      lineChart({ title: 'no series', unit: '%', timestamps: ts, series: [] }),
    ]) {
      t.match(empty, /<text [^>]*class="chart-empty">No data in this range<\/text>/, 'the No data text')
      t.match(empty, /<rect [^>]*stroke=/, 'inside the chart frame')
      t.notMatch(empty, /<path|<circle/, 'and nothing drawn')
    }

    const one = lineChart({ title: 'one', unit: 'MiB', timestamps: [END], series: [{ name: 'a', values: [512] }] })
    t.equal(one.match(/<circle/g)?.length, 1, 'one point: a dot')
    t.notMatch(one, /NaN|Infinity/)
    t.ok(one.includes('>12:00:00</text>') || one.includes('>12:00</text>'), 'its time labelled')

    const flat = lineChart({ title: 'flat', unit: '%', timestamps: ts, series: [{ name: 'a', values: [7, 7, 7, 7, 7] }] })
    const ys = d(flat)[0].split(/[ML]/).filter(Boolean).map((p) => Number(p.split(',')[1]))
    t.equal(new Set(ys).size, 1, 'all equal values: one height')
    t.notMatch(flat, /NaN|Infinity/)
    const zero = lineChart({ title: 'zero', unit: '%', timestamps: ts, series: [{ name: 'a', values: [0, 0, 0, 0, 0] }] })
    t.notMatch(zero, /NaN|Infinity/, 'all zero')
    t.notMatch(zero, />-[\d.]+ %</, 'no negative tick for values that are all zero')

    const negative = lineChart({ title: 'neg', unit: 'B/s', timestamps: ts, series: [{ name: 'a', values: [-5000, -100, 0, 300, 2000] }] })
    const negLabels = tags(negative).filter((x) => /\btick\b/.test(x.attrs.class ?? '')).map((x) => textOf(negative, x))
    t.ok(negLabels.some((l) => /^-[\d.]+ KiB\/s$/.test(l)), `negative ticks: ${negLabels.join(', ')}`)
    const frame = tags(negative).find((x) => x.name === 'rect')!
    const top = Number(frame.attrs.y)
    const bottom = top + Number(frame.attrs.height)
    const points = d(negative)[0].split(/[ML]/).filter(Boolean).map((p) => Number(p.split(',')[1]))
    t.ok(points.every((y) => y >= top && y <= bottom), 'every point inside the frame')
    t.ok(points[0] > points[4], 'the lowest value lowest')

    const huge = (unit: string, v: number) => {
      const svg = lineChart({ title: 'huge', unit, timestamps: ts, series: [{ name: 'a', values: [0, v / 2, v, v / 3, v / 4] }] })
      t.notMatch(svg, /NaN|Infinity|e\+/, `${unit}: plain numbers`)
      return tags(svg).filter((x) => x.attrs.class === 'tick value').map((x) => textOf(svg, x))
    }
    t.same(huge('B/s', 5 * 1024 ** 4), ['0 B/s', '1 TiB/s', '2 TiB/s', '3 TiB/s', '4 TiB/s', '5 TiB/s'], 'bytes per second with binary prefixes, at round numbers of them')
    t.ok(huge('MiB', 3 * 1024 * 1024).some((l) => /TiB$/.test(l)), 'MiB grows to TiB')
    t.ok(huge('ops/s', 2e6).includes('2M ops/s'), 'operations with SI prefixes')
    t.ok(huge('pkt/s', 4e9).includes('4G pkt/s'), 'packets too')
    t.same(huge('%', 250), ['0 %', '50 %', '100 %', '150 %', '200 %', '250 %'], 'percent plain')
  })

  await t.test('time ticks readable for the span', async (t) => {
    const svgLabels = (span: number) => {
      const svg = lineChart({ title: 'span', unit: '%', timestamps: [new Date(END.getTime() - span), END], series: [{ name: 'a', values: [1, 2] }] })
      return tags(svg).filter((x) => x.attrs.class === 'tick time').map((x) => textOf(svg, x))
    }
    t.same(svgLabels(HOUR), ['11:00', '11:15', '11:30', '11:45', '12:00'], 'an hour: every 15 minutes')
    t.same(svgLabels(DAY), ['12:00', '18:00', '00:00', '06:00', '12:00'], 'a day: every 6 hours')
    t.same(svgLabels(7 * DAY), ['2025-03-05', '2025-03-07', '2025-03-09'], 'a week: dates')
    t.same(svgLabels(1.5 * DAY), ['03-09 00:00', '03-09 12:00', '03-10 00:00', '03-10 12:00'], 'a day and a half: day and time')
    t.same(svgLabels(2 * 60_000), ['11:58:00', '11:58:30', '11:59:00', '11:59:30', '12:00:00'], 'two minutes: seconds')
  })

  await t.test('the report\'s figures', async (t) => {
    const html = renderReportHtml(reportData())
    const charts = sectionHtml(html, 'charts')
    const figures = tags(charts).filter((x) => x.name === 'figcaption').map((x) => textOf(charts, x))
    t.same(figures, ['CPU time by state', 'Memory', 'Memory used', `Disk ${DISK}: throughput`, `Disk ${DISK}: operations`, 'Interface eth0: traffic', 'Interface eth1: traffic'])
    t.equal(charts.match(/<figure><svg role="img"/g)?.length, 7, 'each an SVG in a figure')
    const cpu = charts.slice(0, charts.indexOf('</figure>'))
    t.equal(cpu.match(/<path /g)?.length, 7, 'CPU: every CPU field a series')
    t.same(tags(cpu).filter((x) => x.attrs.class === 'legend').map((x) => textOf(cpu, x)), Object.keys(CPU_FIELDS))
  })
})

t.test('top processes and alerts', async (t) => {
  const html = renderReportHtml(reportData())
  const top = sectionHtml(html, 'top-processes')
  t.match(top, /computed from every process snapshot \(raw\)/, 'the resolution')
  t.equal(tags(top).filter((x) => x.name === 'table').length, 2, 'by CPU and by memory')
  const row = top.slice(top.indexOf('<tr><td>postgres'), top.indexOf('</tr>', top.indexOf('<tr><td>postgres')))
  t.same(tags(row).filter((x) => x.name === 'td').map((x) => textOf(row, x)),
    ['postgres', '12.5 %', '80 %', '900 MiB', '1.5 GiB', '60', 'www-data', '4242', '/usr/bin/postgres --serve'])
  const hourly = sectionHtml(renderReportHtml(reportData({ topProcesses: { byCpu: [], byMemory: [], resolution: 'process_metrics_1h' } })), 'top-processes')
  t.match(hourly, /computed from the aggregate <code>process_metrics_1h<\/code>/)
  t.equal(hourly.match(/No process snapshots in this range\./g)?.length, 2, 'empty: said for both tables')
  t.notMatch(hourly, /<table/)

  const alerts = sectionHtml(html, 'alerts')
  const rows = tags(alerts).filter((x) => x.name === 'tr').slice(1).map((tr) => {
    const r = alerts.slice(tr.end, alerts.indexOf('</tr>', tr.end))
    return tags(r).filter((x) => x.name === 'td').map((x) => textOf(r, x))
  })
  t.same(rows, [
    ['cpu-high', 'critical', 'resolved', '2025-03-10 06:00:00 UTC', '2025-03-10 07:00:00 UTC', '97.5', '90', 'CPU 97.5% on web-1'],
    ['disk-full', 'warning', 'firing', '2025-03-10 11:00:00 UTC', 'still firing', '91', '90', 'disk / at 91%'],
  ])
  const none = sectionHtml(renderReportHtml(reportData({ alerts: [] })), 'alerts')
  t.match(none, /No alerts in this range\./)
  t.notMatch(none, /<table/)
})

t.test('a range without samples', async (t) => {
  const data = reportData({
    empty: true,
    cpu: { timestamps: [], columns: {} }, memory: { timestamps: [], columns: {} }, disk: { timestamps: [], items: [] }, network: { timestamps: [], items: [] },
    stats: { cpu: Object.fromEntries(Object.keys(CPU_FIELDS).map((f) => [f, { ...fieldStats(0), ...Object.fromEntries(STATS.map((s) => [s, null])), count: 0 }])), memory: {}, disk: {}, network: {} },
    topProcesses: { byCpu: [], byMemory: [], resolution: 'raw' }, alerts: [],
  })
  const html = renderReportHtml(data)
  const notice = tags(html).find((x) => x.attrs.id === 'no-data')!
  t.ok(notice, '#no-data')
  t.equal(notice.name, 'p')
  t.equal(notice.attrs.class, 'no-data')
  t.equal(textOf(html, notice), 'web-1 sent no samples between 2025-03-09 12:00:00 UTC and 2025-03-10 12:00:00 UTC: there is nothing to chart or summarize for this range.')
  t.ok(html.indexOf('id="no-data"') > html.indexOf('<section id="range"'), 'after the range')
  t.ok(sectionHtml(html, 'inventory').includes('AMD EPYC 7B13'), 'the inventory still')
  t.ok(sectionHtml(html, 'range').includes('24 hours'), 'the range still')
  t.equal(statCells(html).length, 0, 'no statistics cells')
  t.notMatch(html, /<svg/, 'no empty charts')
  t.same(tags(html).filter((x) => x.name === 'section').map((x) => x.attrs.id), ['inventory', 'range', 'charts', 'stats', 'top-processes', 'alerts'], 'the sections, saying so')
})

function aggregate(): NonNullable<ReportData['containers']>['aggregate'] {
  const ts = timestamps(6, 10 * 60_000)
  return { total_containers: 25, running_containers: 21, timestamps: ts, total_cpu_percent: [10, 12, 11, null, 14, 15], total_memory_mb: ts.map((_, i) => 4096 + i * 10) }
}

t.test('containers', async (t) => {
  const without = renderReportHtml(reportData())
  t.notMatch(without, /id="containers"/, 'not asked: no section')
  t.notMatch(without, /Containers/)

  const items = [container(1), container(2, 'db')]
  const html = renderReportHtml(reportData({ containers: { aggregate: aggregate(), items, total: 25 } }))
  const section = sectionHtml(html, 'containers')
  t.match(section, /<p>25 containers in the range, 21 running now\.<\/p>/, 'the totals')
  t.same(tags(section).filter((x) => x.name === 'figcaption').map((x) => textOf(section, x)),
    ['All containers: CPU', 'All containers: memory', 'web-1: CPU', 'web-1: memory', 'db: CPU', 'db: memory'], 'totals, then a CPU and a memory chart per container')
  const parts = tags(section).filter((x) => x.name === 'div' && x.attrs.class === 'container')
  t.same(parts.map((x) => x.attrs['data-container-id']), ['1bcdef012345', '2bcdef012345'], 'the short ids: the first 12 characters')
  t.match(section, /image nginx:1\.27 · status running · id <code>1bcdef012345<\/code>/)
  t.notOk(section.includes(items[0].view.container_id), 'never the full id')
  const cpu = section.slice(section.indexOf('<figcaption>All containers: memory'), section.indexOf('<figcaption>web-1: CPU'))
  t.equal(tags(cpu).filter((x) => x.name === 'path')[0].attrs.d.match(/M/g)?.length, 2, 'a container\'s missing bucket is a gap')
  const more = tags(section).find((x) => x.attrs.id === 'containers-more')!
  t.equal(more.attrs['data-more'], '23')
  t.equal(textOf(section, more), '23 more containers are not charted one by one (they are in the totals).')
  t.ok(html.indexOf('<section id="containers"') > html.indexOf('<section id="alerts"'), 'the last section')

  const one = sectionHtml(renderReportHtml(reportData({ containers: { aggregate: aggregate(), items, total: 3 } })), 'containers')
  t.match(one, /1 more container is not charted/)
  const all = sectionHtml(renderReportHtml(reportData({ containers: { aggregate: aggregate(), items, total: 2 } })), 'containers')
  t.notMatch(all, /containers-more|more container/, 'all charted: no sentence')

  const none = sectionHtml(renderReportHtml(reportData({ containers: { aggregate: { total_containers: 0, running_containers: 0, timestamps: [], total_cpu_percent: [], total_memory_mb: [] }, items: [], total: 0 } })), 'containers')
  t.match(none, /^<section id="containers"><h2>Containers<\/h2><p class="note">No containers reported in this range\.<\/p><\/section>$/)
})
