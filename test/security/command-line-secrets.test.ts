// No secret leaves a host in a command line. The real agent, started the way README once told people to
// (`--api-key` on its command line), reports this machine through a recording relay to a real server;
// a process started with `--password` runs beside it. Neither secret appears in what the agent sends, what
// the server stores, what the API, the live stream and the web page show, or what Grafana's panels return.
// A client that does not scrub (a raw ingest body) is scrubbed by the server with the same rules.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:http'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { sql } from 'kysely'
import { chromium } from 'playwright-core'
import { ADMIN, makeBatch, proc, startClient } from '../test-client.ts'
import { connectWs } from '../live/live-helpers.ts'
import { tempDir } from '../agent/ingest-server.ts'
import { waitFor } from '../wait-for.ts'
import { DASHBOARDS } from '../../grafana/build-dashboards.ts'
import { expandGrafanaMacros } from '../deploy/grafana-macros.ts'
import { SCRUB_CASES } from '../contract/command-line-cases.ts'

const BIN = fileURLToPath(new URL('../../agent/bin.js', import.meta.url))
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']
const PASSWORD = `hunter2-${process.pid}-neighbour`

/** A process that sits still with a password on its command line, as `mysqld --password …` would. */
function neighbour(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)', '--', '--password', PASSWORD, 'end'], { stdio: 'ignore' })
}

/** Forwards to the server and keeps every request body: what the agent really sent. */
async function recordingRelay(target: string): Promise<{ url: string; bodies: string[]; close(): Promise<void> }> {
  const bodies: string[] = []
  const server = createServer(async (req, res) => {
    let body = ''
    for await (const chunk of req) body += chunk
    bodies.push(body)
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k))) as Record<string, string>
    const answer = await fetch(target + req.url, { method: req.method, headers, body: req.method === 'GET' ? undefined : body })
    res.writeHead(answer.status, Object.fromEntries(answer.headers))
    res.end(Buffer.from(await answer.arrayBuffer()))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, bodies, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

t.test('the agent key given on the command line and a neighbour\'s password are nowhere', { timeout: 180_000 }, async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('keyed-host')
  const key = agent.api_key
  const relay = await recordingRelay(api.url)
  t.teardown(() => relay.close())
  const other = neighbour()
  t.teardown(() => { other.kill() })

  const dataDir = await tempDir(t)
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HOSTPULSE_')))
  const child = spawn(process.execPath, [BIN, '--server', relay.url, '--api-key', key, '--interval', '1s', '--data-dir', dataDir],
    { env: cleanEnv, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d) => { stderr += d })
  t.teardown(() => { child.kill('SIGTERM') })

  // Two snapshots that hold both the agent and the neighbour.
  const rowsWith = async (like: string) => (await sql<{ n: number }>`select count(*)::int as n from process_metrics
    where agent_id = ${agent.id} and cmdline like ${like}`.execute(api.store.db)).rows[0].n
  await waitFor('two snapshots with the agent and its neighbour', async () => (await rowsWith(`%--password ***%`)) >= 2 && (await rowsWith(`%--api-key ***%`)) >= 2, 60_000)
  t.match(stderr, /--api-key on the command line is visible to every user of this host/, 'the agent warns about its key on the command line')
  t.equal(stderr.split('--api-key on the command line').length - 1, 1, 'once')

  t.test('what the agent sent', async (t) => {
    const sent = relay.bodies.join('\n')
    t.ok(sent.includes('"processes"'), 'process lists were sent')
    t.notOk(sent.includes(key), 'the key is in no request body')
    t.notOk(sent.includes(PASSWORD), 'the neighbour\'s password is in no request body')
    t.ok(sent.includes('--password *** end'), 'the neighbour\'s command line keeps its shape')
  })

  t.test('what the server stored', async (t) => {
    const leaked = await sql<{ n: number }>`select count(*)::int as n from process_metrics
      where cmdline like ${`%${key}%`} or cmdline like ${`%${PASSWORD}%`}`.execute(api.store.db)
    t.equal(leaked.rows[0].n, 0)
  })

  t.test('what the API answers', async (t) => {
    for (const path of [`/api/v1/agents/${agent.id}/processes`, `/api/v1/agents/${agent.id}/processes?q=api-key`,
      `/api/v1/processes/top/${agent.id}`, `/api/v1/metrics/process/${agent.id}?limit=1000`, `/api/v1/agents/${agent.id}`]) {
      const res = await api.get(path)
      t.equal(res.status, 200, path)
      t.notOk(res.text.includes(key), `${path}: no key`)
      t.notOk(res.text.includes(PASSWORD), `${path}: no password`)
    }
    const tree = await api.get(`/api/v1/agents/${agent.id}/processes?q=api-key`)
    t.match(tree.text, /--api-key \*\*\*/, 'the agent itself is listed, scrubbed')
  })

  t.test('what the live stream sends', async (t) => {
    const client = await connectWs(t, `${api.url.replace(/^http/, 'ws')}/ws/metrics/${agent.id}?token=${api.adminToken}`)
    await client.waitFor(() => true, 15_000)
    const seen = JSON.stringify(client.messages)
    t.notOk(seen.includes(key))
    t.notOk(seen.includes(PASSWORD))
    client.close()
  })

  t.test('what Grafana\'s panels return', async (t) => {
    const now = Date.now()
    let ran = 0
    for (const d of Object.values(DASHBOARDS)) {
      for (const p of d.panels) {
        for (const target of p.targets ?? []) {
          const query = expandGrafanaMacros(target.rawSql, { from: new Date(now - 3_600_000), to: new Date(now + 60_000), intervalMs: 10_000, variables: { agent: agent.name, metric: 'cpu.usage_percent' } })
          const result = await api.store.db.transaction().execute(async (trx) => {
            await sql`set local role hostpulse_grafana`.execute(trx)
            return sql.raw(query).execute(trx)
          })
          ran++
          const text = JSON.stringify(result.rows)
          t.notOk(text.includes(key) || text.includes(PASSWORD), `${d.title} / ${p.title}`)
        }
      }
    }
    t.ok(ran > 10, `${ran} panel queries ran`)
  })

  t.test('what the web page shows', { skip: existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install chromium)` }, async (t) => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    t.teardown(() => browser.close())
    const page = await browser.newPage()
    await page.goto(api.url + '/')
    await page.fill('#username', ADMIN.username)
    await page.fill('#password', ADMIN.password)
    await page.click('button[type=submit]')
    await page.locator('#fleet-table').waitFor()
    await page.goto(`${api.url}/#/hosts/${agent.name}`)
    await page.fill('#process-search', 'api-key')
    await waitFor('the agent in the process tree', async () => (await page.locator('#process-table').innerText()).includes('--api-key ***'), 15_000)
    const shown = await page.content()
    t.notOk(shown.includes(key), 'the key is not on the page')
    await page.fill('#process-search', 'password')
    await waitFor('the neighbour in the process tree', async () => (await page.locator('#process-table').innerText()).includes('--password ***'), 15_000)
    t.notOk((await page.content()).includes(PASSWORD), 'the password is not on the page')
  })
})

t.test('a client that does not scrub: the server stores every table line scrubbed', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('raw-client')
  const processes = SCRUB_CASES.map(([cmdline], i) => proc(i + 1, `p${i + 1}`, { cmdline }))
  const res = await api.ingest(agent.api_key, makeBatch({
    processes,
    metrics: [{ metric_type: 'procstat', metric_name: 'cpu_usage', value: 1, tags: { cmdline: 'mysqld --password=hunter2', pattern: 'mysqld' } }],
  }))
  t.equal(res.status, 202, res.text)
  const stored = await api.store.db.selectFrom('process_metrics').select(['pid', 'cmdline']).where('agent_id', '=', agent.id).orderBy('pid').execute()
  t.same(stored.map((r) => r.cmdline), SCRUB_CASES.map(([, scrubbed]) => scrubbed), 'each line as the table says')
  const tags = await api.store.db.selectFrom('metrics').select('tags').where('agent_id', '=', agent.id).where('metric_type', '=', 'procstat').execute()
  t.same(tags.map((r) => r.tags), [{ cmdline: 'mysqld --password=***', pattern: 'mysqld' }], 'a command line in a metric tag too')
})
