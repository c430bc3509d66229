// The CLI as a person runs it: through the bin launcher, in a child process.
import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { Value } from 'typebox/value'
import { IngestBatch } from '../../contract/ingest-batch.ts'
import { bufferedIds, IngestServer, tempDir, waitFor } from './ingest-server.ts'

const BIN = fileURLToPath(new URL('../../agent/bin.js', import.meta.url))

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs the CLI with a clean HOSTPULSE_* environment; `during` may signal it while it runs. */
function runCli(args: string[], env: Record<string, string> = {}, during?: (child: ReturnType<typeof spawn>, out: { stderr: string }) => Promise<void>): Promise<Run> {
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HOSTPULSE_')))
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...cleanEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const out = { stdout: '', stderr: '' }
  child.stdout!.setEncoding('utf8').on('data', d => { out.stdout += d })
  child.stderr!.setEncoding('utf8').on('data', d => { out.stderr += d })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  return (async () => {
    try {
      if (during) await during(child, out)
    } catch (err) {
      // A wait that failed must not leave the agent running (the file would hang until tap's timeout).
      child.kill('SIGKILL')
      await exited
      throw new Error(`${(err as Error).message}; agent stderr: ${out.stderr.slice(-2000)}`)
    }
    const code = await exited
    return { code, ...out }
  })()
}

t.test('--once prints one batch that validates against the wire contract', async t => {
  const r = await runCli(['--once'])
  t.equal(r.code, 0, r.stderr)
  const batch = JSON.parse(r.stdout)
  t.same([...Value.Errors(IngestBatch, batch)].slice(0, 5), [], 'no contract violations')
  t.ok(batch.metrics.some((m: { metric_type: string; metric_name: string }) => m.metric_type === 'cpu' && m.metric_name === 'usage_percent'),
    'two samples were taken, so CPU usage is there')
  t.ok(batch.processes.some((p: { pid: number }) => p.pid > 0))
})

t.test('--help exits 0 and lists the options', async t => {
  const r = await runCli(['--help'])
  t.equal(r.code, 0)
  for (const flag of ['--server', '--api-key', '--interval', '--data-dir', '--once', '--log-level']) t.match(r.stdout, flag)
})

t.test('bad invocations exit 2 with one line naming the cause and the fix', async t => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['--bogus'], {}, /^hostpulse-agent: Unknown option '--bogus'\. Run 'hostpulse-agent --help' for the options\.\n$/],
    [['--interval', 'soon', '--server', 'http://127.0.0.1:1', '--api-key', 'k'], {}, /"soon" is not a duration; write it like 10s/],
    [['--api-key', 'k'], {}, /no server given; pass --server http:\/\/HOST:PORT or set HOSTPULSE_SERVER/],
    [['--server', 'ftp://x'], { HOSTPULSE_API_KEY: 'k' }, /is not an http\(s\) URL/],
    [[], { HOSTPULSE_SERVER: 'http://127.0.0.1:1' }, /no API key given/],
    [['--once', '--log-level', 'loud'], {}, /log level "loud" is unknown; use one of debug, info, warn, error/],
  ]
  for (const [args, env, message] of cases) {
    const r = await runCli(args, env)
    t.equal(r.code, 2, args.join(' '))
    t.match(r.stderr, message)
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line, no stack trace')
  }
})

t.test('runs from env settings, delivers, and stops cleanly on SIGINT', async t => {
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  const dataDir = await tempDir(t)
  const r = await runCli([], { HOSTPULSE_SERVER: server.url, HOSTPULSE_API_KEY: 'env-key', HOSTPULSE_INTERVAL: '1s', HOSTPULSE_AGENT_DATA_DIR: dataDir },
    async child => {
      await waitFor(() => server.accepted.length >= 1, 'a batch from the CLI agent', 30_000)
      child.kill('SIGINT')
    })
  t.equal(r.code, 0, r.stderr)
  t.equal(server.requests[0].apiKey, 'env-key')
  t.match(r.stderr, /SIGINT received; stopping/)
  t.match(r.stderr, /agent stopped/)
})

t.test('SIGTERM during an outage leaves the batches on disk', async t => {
  const port = await IngestServer.freePort()
  const dataDir = await tempDir(t)
  const r = await runCli(['--server', `http://127.0.0.1:${port}`, '--api-key', 'k', '--interval', '1s', '--data-dir', dataDir], {},
    async child => {
      await waitFor(async () => (await bufferedIds(join(dataDir, 'buffer'))).length >= 1, 'a buffered batch', 30_000)
      child.kill('SIGTERM')
    })
  t.equal(r.code, 0, r.stderr)
  t.ok((await bufferedIds(join(dataDir, 'buffer'))).length >= 1)
  t.match(r.stderr, /kept in .* for the next start/)
})
