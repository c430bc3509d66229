// The real peer: Prometheus 2.42 from Debian scrapes prometheus-node-exporter (and a small target of this
// test's own) once a second and remote-writes to hostpulse, all on 127.0.0.1. A relay between them answers
// 503 to the first requests hostpulse stored (a lost answer, as after a timeout), so Prometheus retries
// them for real. Checked: its samples arrive and read back through the series endpoint exactly as Prometheus
// itself answers them; its retries store nothing twice; a series hostpulse refuses (a label value over 1,024
// characters, which Prometheus accepts) gets a 400 that Prometheus drops, and its queue moves on; a staleness marker is skipped; both of
// Prometheus's credential settings (authorization, basic_auth) name their agent; with an enrollment token each
// scraped instance becomes an agent of its own.
// Needs Debian's `prometheus` and `prometheus-node-exporter`: without them this fails, it does not skip.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { startClient } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'

const PROMETHEUS = '/usr/bin/prometheus'
const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter'
const enc = encodeURIComponent

async function freePort(): Promise<number> {
  const server = createNetServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A child process whose output is kept for failure messages, ended (by its pid) at teardown. */
function start(t: Test, command: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (chunk: Buffer) => { output = (output + chunk.toString()).slice(-20_000) }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  })
  return { child, output: () => output }
}

const readBody = (req: IncomingMessage) => new Promise<Buffer>((resolve, reject) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => resolve(Buffer.concat(chunks)))
  req.on('error', reject)
})

async function listen(t: Test, server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return (server.address() as { port: number }).port
}

/** What the relay saw of one request: hostpulse's answer, and what Prometheus was told. */
interface Relayed { at: number; status: number; told: number; rows: number; duplicates: number; skipped: number; rejected: number; text: string }

t.test('Prometheus 2.42 remote-writes node_exporter\'s samples to hostpulse', async (t) => {
  for (const [binary, pkg] of [[PROMETHEUS, 'prometheus'], [NODE_EXPORTER, 'prometheus-node-exporter']]) {
    if (!existsSync(binary)) throw new Error(`${binary} is missing: install Debian's ${pkg} (apt-get install -y prometheus prometheus-node-exporter); this test needs the real peer and does not skip`)
  }
  const api = await startClient(t)
  const bearerAgent = await api.createAgent('prom-bearer')
  const basicAgent = await api.createAgent('prom-basic')
  const enrollment = await api.req('POST', '/api/v1/enrollment-tokens', { token: api.adminToken, body: { description: 'prometheus', auto_approve: true } })
  t.equal(enrollment.status, 201, enrollment.text)

  // hostpulse behind a relay that reports each answer and loses the first three answers of stored data.
  const relayed: Relayed[] = []
  let answersToLose = 3
  const relay = createServer(async (req, res) => {
    const body = await readBody(req)
    const headers: Record<string, string> = {}
    for (const h of ['authorization', 'content-type', 'content-encoding', 'x-prometheus-remote-write-version', 'user-agent']) {
      if (typeof req.headers[h] === 'string') headers[h] = req.headers[h] as string
    }
    const answer = await fetch(`${api.url}${req.url}`, { method: req.method, headers, body: new Uint8Array(body) })
    const text = await answer.text()
    const num = (h: string) => Number(answer.headers.get(h) ?? 0)
    const entry: Relayed = { at: Date.now(), status: answer.status, told: answer.status, rows: num('x-hostpulse-rows'), duplicates: num('x-hostpulse-duplicate-batches'),
      skipped: num('x-hostpulse-skipped-non-finite'), rejected: num('x-hostpulse-rejected-samples'), text }
    if (answer.status === 204 && entry.rows > 0 && req.headers.authorization?.startsWith('Bearer') && answersToLose > 0) {
      answersToLose--
      entry.told = 503
    }
    relayed.push(entry)
    res.writeHead(entry.told, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' })
    res.end(entry.told === 503 ? 'answer lost on purpose by the test relay' : text)
  })
  const relayPort = await listen(t, relay)

  // A target of the test's own: a series that disappears after three scrapes (Prometheus then writes a
  // staleness marker for it), and a series hostpulse refuses (a label value over 1,024 characters) in three.
  let scrapes = 0
  const target = createServer((_req, res) => {
    scrapes++
    const lines = ['# TYPE hostpulse_test_scrapes counter', `hostpulse_test_scrapes_total ${scrapes}`]
    if (scrapes <= 3) lines.push('hostpulse_test_flapping 1')
    if (scrapes >= 6 && scrapes <= 8) lines.push(`hostpulse_test_refused{long="${'x'.repeat(1100)}"} 1`)
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
    res.end(`${lines.join('\n')}\n`)
  })
  const targetPort = await listen(t, target)

  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-prometheus-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const exporterPort = await freePort()
  const exporter = start(t, NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${exporterPort}`, '--collector.disable-defaults',
    '--collector.cpu', '--collector.loadavg', '--collector.meminfo', '--collector.stat'])
  await waitFor(`node_exporter on 127.0.0.1:${exporterPort}`, async () => (await fetch(`http://127.0.0.1:${exporterPort}/metrics`).catch(() => undefined))?.ok, 15_000, 200)
    .catch((err) => { throw new Error(`${err.message}\n${exporter.output()}`) })

  const promPort = await freePort()
  const queue = `    queue_config: { min_backoff: 50ms, max_backoff: 500ms, batch_send_deadline: 1s, max_samples_per_send: 500 }
    metadata_config: { send_interval: 5s }`
  await writeFile(join(dir, 'prometheus.yml'), `global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: node
    static_configs: [{ targets: ['127.0.0.1:${exporterPort}'] }]
  - job_name: hostpulse-test
    static_configs: [{ targets: ['127.0.0.1:${targetPort}'] }]
remote_write:
  - url: http://127.0.0.1:${relayPort}/api/v1/write
    name: bearer
    authorization: { credentials: ${JSON.stringify(bearerAgent.api_key)} }
${queue}
  - url: http://127.0.0.1:${relayPort}/api/v1/write
    name: basic
    basic_auth: { username: prometheus, password: ${JSON.stringify(basicAgent.api_key)} }
    write_relabel_configs: [{ source_labels: [__name__], regex: 'up|node_load1', action: keep }]
${queue}
  - url: http://127.0.0.1:${relayPort}/api/v1/write
    name: enrolled
    basic_auth: { username: prometheus, password: ${JSON.stringify(enrollment.body.token)} }
    write_relabel_configs:
      - { source_labels: [__name__], regex: 'up|node_load1', action: keep }
      - { source_labels: [job], regex: node, target_label: instance, replacement: 'node-host:9100' }
      - { source_labels: [job], regex: hostpulse-test, target_label: instance, replacement: 'test-host:8080' }
${queue}
`)
  const prometheus = start(t, PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'])
  const promUrl = `http://127.0.0.1:${promPort}`
  const failed = (what: string) => (err: Error) => {
    const seen = relayed.map((r) => `${r.status}${r.told !== r.status ? `→${r.told}` : ''} rows=${r.rows} dup=${r.duplicates} skipped=${r.skipped}`)
    throw new Error(`${err.message} (${what})\nrelay saw ${relayed.length} requests: ${seen.slice(0, 30).join('; ')}\nprometheus log:\n${prometheus.output().slice(-4000)}`)
  }
  await waitFor('Prometheus to be ready', async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok, 30_000, 200).catch(failed('start'))

  const cpu = `cpu="0",mode="idle",job="node",instance="127.0.0.1:${exporterPort}"`
  // Seconds, not rows: a scrape late by a few milliseconds (x.999, then x+1.011 and x+1.999) puts two samples in
  // one second, and the comparison below is one point per second.
  const storedCpu = async () => (await sql<{ n: number }>`select count(distinct date_trunc('second', time))::int as n from metrics where agent_id = ${bearerAgent.id}::uuid
    and metric_type = 'prom' and metric_name = 'node_cpu_seconds_total' and tags @> ${JSON.stringify({ cpu: '0', mode: 'idle' })}::jsonb`.execute(api.store.db)).rows[0].n
  await waitFor('samples, retries, a refused sample and a staleness marker to reach hostpulse', async () => {
    const lost = relayed.findIndex((r) => r.told === 503)
    const refused = relayed.findIndex((r) => r.status === 400)
    return answersToLose === 0 && relayed.some((r, i) => i > lost && r.duplicates > 0)
      && refused >= 0 && relayed.some((r, i) => i > refused && r.rows > 0 && r.status === 204)
      && relayed.some((r) => r.skipped > 0) && await storedCpu() >= 10
  }, 120_000, 500).catch(failed('remote write'))

  t.test('every answer is one Prometheus handles: 204, or a 400 it drops; never a 5xx from hostpulse', async (t) => {
    const statuses = [...new Set(relayed.map((r) => r.status))].sort()
    t.same(statuses, [204, 400], `hostpulse answered ${JSON.stringify(statuses)}`)
    const refusals = relayed.filter((r) => r.status === 400)
    for (const r of refusals) t.match(r.text, /hostpulse_test_refused\{.*: label long must not have more than 1024 characters/, 'the 400 names the refused series')
    t.ok(relayed.filter((r) => r.status === 204 && r.rows > 0).length >= 5, 'requests with samples were stored')
  })

  t.test('its samples read back through the series endpoint exactly as Prometheus answers them', async (t) => {
    // Prometheus's own samples of one counter and one gauge over the last minute, beside hostpulse's.
    for (const selector of [`node_cpu_seconds_total{${cpu}}`, `up{job="node",instance="127.0.0.1:${exporterPort}"}`]) {
      const now = Date.now() / 1000
      const own = await (await fetch(`${promUrl}/api/v1/query?query=${enc(`${selector}[2m]`)}&time=${now}`)).json() as any
      t.equal(own.status, 'success', JSON.stringify(own).slice(0, 300))
      const samples: Array<[number, string]> = own.data.result[0].values
      const name = selector.slice(0, selector.indexOf('{'))
      const labels = Object.fromEntries([...selector.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
      const tags = Object.entries(labels).map(([k, v]) => `tags.${k}=${enc(v)}`).join('&')
      const start = new Date(Math.floor(samples[0][0]) * 1000).toISOString()
      const end = new Date((Math.floor(samples.at(-1)![0]) + 1) * 1000).toISOString()
      const res = await api.get(`/api/v1/metrics/series/prom-bearer?metric=prom.${name}&${tags}&start=${enc(start)}&end=${enc(end)}&step=1s&agg=last`)
      t.equal(res.status, 200, res.text.slice(0, 300))
      // One point per second: the last sample Prometheus has in that second, for every second hostpulse has
      // received so far (remote write trails the scrapes by a second or two).
      const expected = new Map<string, number>()
      for (const [ts, value] of samples) expected.set(new Date(Math.floor(ts) * 1000).toISOString(), Number(value))
      const got = new Map<string, number>(res.body.timestamps.map((ts: string, i: number) => [ts, res.body.values[i]]))
      const newest = res.body.timestamps.at(-1)
      const due = [...expected].filter(([ts]) => ts <= newest)
      t.ok(due.length >= 10, `${name}: ${due.length} seconds to compare`)
      t.same([...got], due, `${name}: every second's value exactly as Prometheus has it`)
    }
  })

  t.test('Prometheus\'s retries stored nothing twice; it counted them, and the refused sample as failed, not retried', async (t) => {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from (select 1 from metrics where agent_id in (${bearerAgent.id}::uuid, ${basicAgent.id}::uuid)
      group by agent_id, time, metric_name, tags having count(*) > 1) d`.execute(api.store.db)
    t.equal(rows[0].n, 0, 'no series has two rows at one instant')
    const own = await (await fetch(`${promUrl}/metrics`)).text()
    const counter = (name: string, queue: string) => Number(new RegExp(`^${name}\\{[^}]*remote_name="${queue}"[^}]*\\} (\\S+)$`, 'm').exec(own)?.[1] ?? NaN)
    t.ok(counter('prometheus_remote_storage_samples_retried_total', 'bearer') > 0, `Prometheus retried ${counter('prometheus_remote_storage_samples_retried_total', 'bearer')} samples`)
    t.ok(counter('prometheus_remote_storage_samples_failed_total', 'bearer') > 0, `Prometheus dropped ${counter('prometheus_remote_storage_samples_failed_total', 'bearer')} samples after the 400 (no endless retry)`)
    // Three scrapes carry the refused series: each 400 is one of them, never a re-send of a dropped batch.
    t.ok(relayed.filter((r) => r.status === 400).length <= 3, 'at most one refusal per scrape that carried the refused series')
  })

  t.test('a staleness marker is skipped, not stored', async (t) => {
    t.ok(relayed.some((r) => r.skipped > 0), 'hostpulse counted a skipped staleness marker')
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from metrics where agent_id = ${bearerAgent.id}::uuid and metric_name = 'hostpulse_test_flapping'`.execute(api.store.db)
    t.ok(rows[0].n >= 1 && rows[0].n <= 3, `the three real samples at most (${rows[0].n}), no NaN row`)
  })

  t.test('with an enrollment token each instance becomes an agent of its own, with its own samples', async (t) => {
    const agents = async () => (await sql<{ name: string; id: string; hostname: string }>`select name, id, hostname from agents
      where org_id = ${api.orgId}::uuid and name in ('node-host', 'test-host') order by name`.execute(api.store.db)).rows
    await waitFor('agents for node-host and test-host', async () => (await agents()).length === 2, 20_000, 200).catch(failed('enrollment'))
    const [node, test] = await agents()
    t.same([node.hostname, test.hostname], ['node-host', 'test-host'], 'registered under the instance\'s host')
    await waitFor('node_load1 under node-host', async () => (await sql<{ n: number }>`select count(*)::int as n from metrics
      where agent_id = ${node.id}::uuid and metric_name = 'node_load1'`.execute(api.store.db)).rows[0].n > 0, 20_000, 200).catch(failed('enrolled samples'))
    const names = async (id: string) => (await sql<{ name: string }>`select distinct metric_name as name from metrics where agent_id = ${id}::uuid order by 1`
      .execute(api.store.db)).rows.map((r) => r.name)
    t.same(await names(node.id), ['node_load1', 'up'], 'node-host: node_exporter\'s series')
    t.same(await names(test.id), ['up'], 'test-host: only its own target\'s')
  })

  t.test('basic_auth\'s password names its own agent, with write_relabel_configs applied', async (t) => {
    await waitFor('node_load1 for the basic_auth agent', async () => (await sql<{ n: number }>`select count(*)::int as n from metrics
      where agent_id = ${basicAgent.id}::uuid and metric_name = 'node_load1'`.execute(api.store.db)).rows[0].n > 0, 20_000, 200).catch(failed('basic_auth'))
    const { rows } = await sql<{ name: string }>`select distinct metric_name as name from metrics where agent_id = ${basicAgent.id}::uuid order by 1`.execute(api.store.db)
    t.same(rows.map((r) => r.name), ['node_load1', 'up'])
    const latest = await api.get(`/api/v1/metrics/series/prom-basic?metric=prom.node_load1&tags.instance=${enc(`127.0.0.1:${exporterPort}`)}&tags.job=node&start=${enc(new Date(Date.now() - 120_000).toISOString())}`)
    t.equal(latest.status, 200, latest.text.slice(0, 300))
    t.ok(latest.body.values.length > 0)
  })
})
