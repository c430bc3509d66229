// Seed 004 §5, performance reports, end to end on the embedded TimescaleDB and a real HTTP server: asked
// (202), generated in the background (pending → generating → completed), listed, followed, downloaded
// only with a token of the report's organization; the HTML parsed (every section, the statistics table
// equal to the stats endpoint's numbers for the same range, the top processes, the alert, the containers);
// a PDF printed by Debian's Chromium, its first page rendered by pdftoppm and found not blank; a collector
// without data says so; a PDF without Chromium fails and says what is missing; an interrupted report is
// marked failed by the next start; old reports go with their files; a report past its time limit fails.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { sql } from 'kysely'
import { createOrgWithAdmin, makeBatch, metric, minutesAgo, network, proc, startClient, type Reply, type TestClient } from '../../test-client.ts'
import { waitFor } from '../../wait-for.ts'
import { ReportRunner, DEFAULT_REPORT_RUNNER, INTERRUPTED_MESSAGE } from '../../../services/reports/report-runner.ts'
import { findChromium } from '../../../services/reports/pdf-printer.ts'

const run = promisify(execFile)
const MIB = 1024 * 1024
const STATS = ['min', 'max', 'avg', 'stddev', 'current', 'p50', 'p75', 'p90', 'p95', 'p97_5', 'p99', 'p100']

function assertPerfError(t: Test, res: Reply, status: number, error: string, msg: string) {
  t.equal(res.status, status, `${msg}: status ${status} (${res.text.slice(0, 200)})`)
  t.equal(res.body?.error, error, `${msg}: ${error}`)
  t.type(res.body?.message, 'string', `${msg}: a message`)
  t.ok(res.body?.details && typeof res.body.details === 'object', `${msg}: details`)
}

/** Ten minutes of a host with CPU, memory, one disk, one interface, processes and a container. */
async function ingestHost(api: TestClient, key: string, now: number) {
  for (let i = 0; i < 10; i++) {
    await api.ingestOk(key, makeBatch({
      time: minutesAgo(10 - i, now), disks: [],
      metrics: [
        metric('cpu', 'user', 20 + i * 3), metric('cpu', 'system', 5 + (i % 3)), metric('cpu', 'idle', 70 - i * 3), metric('cpu', 'iowait', 0.5 * i),
        metric('memory', 'used_bytes', (4000 + i * 10) * MIB), metric('memory', 'available_bytes', 12000 * MIB), metric('memory', 'usage_percent', 25 + i),
        metric('memory', 'total_bytes', 16 * 1024 * MIB), metric('memory', 'cached_bytes', 2000 * MIB), metric('memory', 'buffers_bytes', 100 * MIB),
        metric('diskio', 'read_bytes_per_sec', 1000 * (i + 1), { tags: { device: 'sda' } }), metric('diskio', 'write_bytes_per_sec', 500 * (i + 2), { tags: { device: 'sda' } }),
        metric('diskio', 'read_ops_per_sec', 10 + i, { tags: { device: 'sda' } }), metric('diskio', 'write_ops_per_sec', 5 + i, { tags: { device: 'sda' } }),
        metric('diskio', 'io_util_percent', 3 + i, { tags: { device: 'sda' } }),
      ],
      networks: [network('eth0', { bytes_recv_per_sec: 1e5 + i * 1000, bytes_sent_per_sec: 5e4 + i * 10, packets_recv_per_sec: 100 + i, packets_sent_per_sec: 50 })],
      processes: [proc(1, 'systemd'), proc(4242, 'postgres', { cpu_percent: 30 + i, memory_bytes: 900 * MIB, cmdline: 'postgres -D /var/lib/<pg>' }),
        proc(777, 'node', { cpu_percent: 5, memory_bytes: 300 * MIB })],
      containers: [{ id: 'c0ffee'.padEnd(64, '0'), name: 'web-nginx', image: 'nginx:1.27', state: 'running', cpu_percent: 4 + i, memory_bytes: 256 * MIB, memory_percent: 1.5, rx_bytes: 1024 * i, tx_bytes: 512 * i }],
    }))
  }
}

/** The report's statistics cells: data-family/-item/-field/-stat → data-value. */
function statCells(html: string): Map<string, string> {
  const cells = new Map<string, string>()
  for (const m of html.matchAll(/<td\b([^>]*\bdata-stat="[^"]*"[^>]*)>/g)) {
    const attr = (name: string) => m[1].match(new RegExp(`\\b${name}="([^"]*)"`))?.[1] ?? ''
    cells.set([attr('data-family'), attr('data-item'), attr('data-field'), attr('data-stat')].join('/'), attr('data-value'))
  }
  return cells
}

async function waitForReport(api: TestClient, id: number, token = api.adminToken): Promise<any> {
  let last: any
  await waitFor(`report ${id} finished`, async () => {
    last = (await api.get(`/api/v1/reports/${id}/`, token)).body
    return last.status === 'completed' || last.status === 'failed'
  }, 90_000, 250)
  return last
}

t.test('reports (seed 004 §5)', { timeout: 300_000 }, async (t) => {
  const api = await startClient(t, { reports: { pollMs: 200 } })
  const now = Date.now()
  const web = await api.createAgent('report-web')
  await ingestHost(api, web.api_key, now)
  const empty = await api.createAgent('report-empty')
  const collectors = (await api.get('/dashboard/api/collectors/')).body as Array<{ id: number; name: string }>
  const webId = collectors.find((c) => c.name === 'report-web')!.id
  const emptyId = collectors.find((c) => c.name === 'report-empty')!.id
  // An alert that fired and resolved inside the range, and one of another host.
  for (const [agent, summary] of [[web, 'CPU 97.5% on report-web <b>hot</b>'], [empty, 'not this host']] as const) {
    await api.store.db.insertInto('alert_events').values({
      org_id: api.orgId, rule_id: null, rule_name: 'cpu-high', agent_id: agent.id, agent_name: agent.name, series_key: '', series_tags: '{}',
      severity: 'critical', state: 'resolved', value: 97.5, threshold: 90, summary, annotations: '{}',
      started_at: new Date(now - 6 * 60_000), resolved_at: new Date(now - 4 * 60_000), notification_count: 0, last_notified_at: null,
    }).execute()
  }

  let html = ''
  await t.test('an HTML report: 202 pending, then completed, listed, and its file', async (t) => {
    const asked = await api.post('/api/v1/reports/generate/', { collector_id: webId, format: 'html', time_range_hours: 1, include_containers: true }, { token: api.adminToken })
    t.equal(asked.status, 202, asked.text)
    t.same(Object.keys(asked.body).sort(), ['collector_id', 'created_at', 'format', 'id', 'name', 'status'])
    t.equal(asked.body.status, 'pending')
    t.equal(asked.body.collector_id, webId)
    t.match(asked.body.name, /^Performance Report - report-web - \d{4}-\d{2}-\d{2}$/)
    t.match(asked.body.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
    const report = await waitForReport(api, asked.body.id)
    t.equal(report.status, 'completed', `completed: ${report.error_message}`)
    t.same(Object.keys(report).sort(), ['collector_id', 'collector_name', 'completed_at', 'created_at', 'error_message', 'file_size_bytes', 'file_url', 'format', 'id', 'name', 'status', 'time_range_hours'])
    t.equal(report.collector_name, 'report-web')
    t.equal(report.time_range_hours, 1)
    t.equal(report.error_message, null)
    t.match(report.file_url, new RegExp(`^/media/reports/report_${report.id}_\\d{8}\\.html$`))
    const list = (await api.get('/api/v1/reports/')).body
    t.same(list.find((r: { id: number }) => r.id === report.id), report, 'the list shows it as GET /{id}/ does')

    const file = await fetch(api.url + report.file_url, { headers: { authorization: `Bearer ${api.adminToken}` } })
    t.equal(file.status, 200)
    t.match(file.headers.get('content-type'), /^text\/html/)
    t.match(file.headers.get('content-security-policy'), /sandbox/, 'served sandboxed: never a page of this site')
    const bytes = new Uint8Array(await file.arrayBuffer())
    t.equal(bytes.byteLength, report.file_size_bytes, 'file_size_bytes is the true size')
    html = new TextDecoder().decode(bytes)
    assertPerfError(t, await api.get(report.file_url, ''), 401, 'UNAUTHORIZED', 'the file without a token')
    assertPerfError(t, await api.get(report.file_url.replace(/_(\d+)_/, '_999999_')), 404, 'NOT_FOUND', 'a file that is not there')
  })

  await t.test('the HTML holds every section; its statistics are the stats endpoint\'s', async (t) => {
    let at = -1
    for (const id of ['inventory', 'range', 'charts', 'stats', 'top-processes', 'alerts', 'containers']) {
      const i = html.indexOf(`<section id="${id}"`)
      t.ok(i > at, `section #${id} present, in order`)
      at = i
    }
    t.notMatch(html, /<script|<link|@import|https?:\/\//i, 'self-contained: no scripts, nothing fetched')
    t.ok((html.match(/<svg\b/g) ?? []).length >= 4, 'SVG charts of CPU, memory, disk and network')
    t.match(html, /report-web/, 'the host')
    t.match(html, /postgres/, 'the top processes')
    t.match(html, /postgres -D \/var\/lib\/&lt;pg&gt;/, 'a command line escaped')
    t.match(html, /CPU 97\.5% on report-web &lt;b&gt;hot&lt;\/b&gt;/, 'the alert in the range, escaped')
    t.notMatch(html, /not this host/, 'not another host\'s alert')
    t.match(html, /web-nginx/, 'the container')
    t.notMatch(html, /id="no-data"/)

    const stats = (await api.get(`/dashboard/api/collectors/${webId}/stats/?hours=1`)).body
    const cells = statCells(html)
    let compared = 0
    for (const family of ['cpu', 'memory']) {
      for (const [field, s] of Object.entries<Record<string, number | null>>(stats[family])) {
        for (const stat of STATS) {
          t.equal(cells.get(`${family}//${field}/${stat}`), s[stat] === null ? '' : String(s[stat]), `${family}.${field} ${stat}`)
          compared++
        }
      }
    }
    for (const [family, item] of [['disk', 'sda'], ['network', 'eth0']]) {
      t.ok(stats[family][item], `the stats endpoint has ${family} ${item}`)
      for (const [field, s] of Object.entries<Record<string, number | null>>(stats[family][item] ?? {})) {
        for (const stat of STATS) {
          t.equal(cells.get(`${family}/${item}/${field}/${stat}`), s[stat] === null ? '' : String(s[stat]), `${family} ${item}.${field} ${stat}`)
          compared++
        }
      }
    }
    t.ok(compared >= 200, `${compared} numbers compared`)
    t.equal(cells.get('cpu//user/max'), '47', 'control: the newest user CPU is the maximum, 20 + 9 × 3')
  })

  await t.test('a collector without data: completed, and the report says so', async (t) => {
    const asked = await api.post('/api/v1/reports/generate/', { collector_id: emptyId, time_range_hours: 24, include_containers: false }, { token: api.adminToken })
    t.equal(asked.status, 202)
    t.equal(asked.body.format, 'html', 'html by default')
    const report = await waitForReport(api, asked.body.id)
    t.equal(report.status, 'completed', `${report.error_message}`)
    t.equal(report.time_range_hours, 24, '24 hours by default')
    const text = await (await fetch(api.url + report.file_url, { headers: { authorization: `Bearer ${api.adminToken}` } })).text()
    t.match(text, /id="no-data"/, 'a no-data notice')
    t.notMatch(text, /<section id="containers"/, 'no containers section when they were left out')
  })

  await t.test('a PDF printed by Chromium, its first page not blank', async (t) => {
    if (!(await findChromium())) {
      t.fail('no Chromium at /usr/bin/chromium: apt-get install chromium poppler-utils (.ci/run does it)')
      return
    }
    const asked = await api.post('/api/v1/reports/generate/', { collector_id: webId, format: 'pdf', time_range_hours: 1, include_containers: true }, { token: api.adminToken })
    t.equal(asked.status, 202)
    const report = await waitForReport(api, asked.body.id)
    t.equal(report.status, 'completed', `completed: ${report.error_message}`)
    t.match(report.file_url, /\.pdf$/)
    const file = await fetch(api.url + report.file_url, { headers: { authorization: `Bearer ${api.adminToken}` } })
    t.equal(file.headers.get('content-type'), 'application/pdf')
    const pdf = Buffer.from(await file.arrayBuffer())
    t.equal(pdf.byteLength, report.file_size_bytes)
    t.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-')
    const dir = await mkdtemp(join(tmpdir(), 'report-pdf-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    await writeFile(join(dir, 'r.pdf'), pdf)
    // The first page in grey at 40 dpi (a PGM: header, then one byte per pixel).
    await run('pdftoppm', ['-f', '1', '-l', '1', '-r', '40', '-gray', join(dir, 'r.pdf'), join(dir, 'page')])
    const pgm = await readFile(join(dir, 'page-1.pgm')).catch(() => readFile(join(dir, 'page-01.pgm')))
    const header = pgm.subarray(0, 64).toString('latin1').match(/^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/)!
    t.ok(header, 'a PGM page')
    const pixels = pgm.subarray(header[0].length)
    const dark = pixels.filter((p) => p < 200).length
    t.ok(dark / pixels.length > 0.01, `the first page is not blank: ${(100 * dark / pixels.length).toFixed(1)} % of its pixels are dark`)
  })

  await t.test('another organization cannot list, read or download', async (t) => {
    await createOrgWithAdmin(api.store, 'reports-other', 'reports-other', 'other-password-1')
    const other = (await api.post('/api/v1/auth/token/', { username: 'reports-other', password: 'other-password-1' })).body.access
    const mine = (await api.get('/api/v1/reports/')).body
    t.ok(mine.length >= 2, 'control: the owner sees its reports')
    t.same((await api.get('/api/v1/reports/', other)).body, [], 'an empty list')
    for (const r of mine) {
      assertPerfError(t, await api.get(`/api/v1/reports/${r.id}/`, other), 404, 'NOT_FOUND', `report ${r.id}`)
      if (r.file_url) assertPerfError(t, await api.get(r.file_url, other), 404, 'NOT_FOUND', `file ${r.file_url}`)
    }
    assertPerfError(t, await api.post('/api/v1/reports/generate/', { collector_id: webId }, { token: other }), 422, 'VALIDATION_ERROR', 'a report of another organization\'s collector')
  })

  await t.test('bad requests: 422 in the document\'s format, nothing asked', async (t) => {
    const before = (await api.get('/api/v1/reports/')).body.length
    const bad = await api.post('/api/v1/reports/generate/', { collector_id: webId, format: 'docx', time_range_hours: 5, include_containers: 'maybe' }, { token: api.adminToken })
    assertPerfError(t, bad, 422, 'VALIDATION_ERROR', 'bad fields')
    t.same(Object.keys(bad.body.details).sort(), ['format', 'include_containers', 'time_range_hours'], 'every bad field named')
    assertPerfError(t, await api.post('/api/v1/reports/generate/', {}, { token: api.adminToken }), 422, 'VALIDATION_ERROR', 'no collector')
    assertPerfError(t, await api.post('/api/v1/reports/generate/', { collector_id: 999_999 }, { token: api.adminToken }), 422, 'VALIDATION_ERROR', 'an unknown collector')
    assertPerfError(t, await api.post('/api/v1/reports/generate/', { collector_id: webId, extra: 1 }, { token: api.adminToken }), 422, 'VALIDATION_ERROR', 'an unknown field')
    assertPerfError(t, await api.get('/api/v1/reports/abc/'), 404, 'NOT_FOUND', 'a report id that is not a number')
    t.equal((await api.get('/api/v1/reports/')).body.length, before, 'no report was asked')
  })
})

t.test('without Chromium a PDF report fails and names what is missing; HTML still works', async (t) => {
  const api = await startClient(t, { reports: { pollMs: 200, chromiumPath: '/nonexistent/chromium' } })
  const agent = await api.createAgent('no-chromium')
  await api.ingestOk(agent.api_key, makeBatch({ metrics: [metric('cpu', 'user', 10)] }))
  const id = (await api.get('/dashboard/api/collectors/')).body[0].id
  const pdf = await waitForReport(api, (await api.post('/api/v1/reports/generate/', { collector_id: id, format: 'pdf', time_range_hours: 1 }, { token: api.adminToken })).body.id)
  t.equal(pdf.status, 'failed')
  t.match(pdf.error_message, /Chromium.*\/nonexistent\/chromium.*REPORT_CHROMIUM_PATH/, pdf.error_message)
  t.equal(pdf.file_url, null)
  t.equal(pdf.file_size_bytes, null)
  const htmlReport = await waitForReport(api, (await api.post('/api/v1/reports/generate/', { collector_id: id, format: 'html', time_range_hours: 1 }, { token: api.adminToken })).body.id)
  t.equal(htmlReport.status, 'completed', 'HTML needs no Chromium')
})

t.test('the runner: interrupted reports fail at the next start, old ones are deleted with their files, a slow one times out', async (t) => {
  // This app asks; the runners below (each a restart of the instance) generate.
  const api = await startClient(t, { reports: { run: false } })
  const db = api.store.db
  const agent = await api.createAgent('runner-host')
  await api.ingestOk(agent.api_key, makeBatch({ metrics: [metric('cpu', 'user', 10)] }))
  const id = (await api.get('/dashboard/api/collectors/')).body[0].id
  const ask = async () => (await api.post('/api/v1/reports/generate/', { collector_id: id, time_range_hours: 1 }, { token: api.adminToken })).body.id as number
  const status = async (reportId: number) => (await api.get(`/api/v1/reports/${reportId}/`)).body

  // A report an instance was generating when it was killed: its heartbeat stopped a minute ago.
  const interrupted = await ask()
  await db.updateTable('reports').set({ status: 'generating', claimed_by: 'a-killed-instance', heartbeat_at: new Date(Date.now() - 60_000) }).where('id', '=', interrupted).execute()
  // A completed report past the retention, with its file.
  const old = await ask()
  const runner = new ReportRunner(db, api.app.log, { ...DEFAULT_REPORT_RUNNER, chromiumPath: undefined, pollMs: 100, retentionDays: 30 })
  runner.start()
  await waitFor('the old report completed', async () => (await status(old)).status === 'completed', 30_000)
  await runner.stop()
  t.equal((await status(interrupted)).status, 'failed', 'the interrupted report failed at the start')
  t.equal((await status(interrupted)).error_message, INTERRUPTED_MESSAGE)
  t.equal((await status(old)).status, 'completed')
  await sql`update reports set created_at = now() - interval '31 days' where id = ${old}`.execute(db)
  const fileCount = async () => Number((await sql<{ n: number }>`select count(*)::int as n from report_files where report_id = ${old}`.execute(db)).rows[0].n)
  t.equal(await fileCount(), 1, 'control: its file is stored')
  const sweeper = new ReportRunner(db, api.app.log, { ...DEFAULT_REPORT_RUNNER, chromiumPath: undefined })
  await sweeper.sweep()
  t.equal((await api.get(`/api/v1/reports/${old}/`)).status, 404, 'a report past its retention is gone')
  t.equal(await fileCount(), 0, 'and its file with it')
  t.equal((await status(interrupted)).status, 'failed', 'a recent failed report stays')

  // A report that cannot finish in its time: the PDF printer is a script that never exits.
  const dir = await mkdtemp(join(tmpdir(), 'slow-chromium-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const slow = join(dir, 'chromium')
  await writeFile(slow, '#!/bin/sh\nsleep 60\n', { mode: 0o755 })
  const pdf = (await api.post('/api/v1/reports/generate/', { collector_id: id, format: 'pdf', time_range_hours: 1 }, { token: api.adminToken })).body.id as number
  const timed = new ReportRunner(db, api.app.log, { ...DEFAULT_REPORT_RUNNER, chromiumPath: slow, pollMs: 100, timeoutMs: 3000 })
  const started = Date.now()
  timed.start()
  await waitFor('the slow report failed', async () => (await status(pdf)).status === 'failed', 30_000)
  await timed.stop()
  t.ok(Date.now() - started < 15_000, `stopped after ${Date.now() - started} ms`)
  t.match((await status(pdf)).error_message, /3 s/, (await status(pdf)).error_message)
})
