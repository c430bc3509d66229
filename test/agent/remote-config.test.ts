// The server's agent configuration, applied without a restart; a server without the endpoint changes nothing.
import t, { type Test } from 'tap'
import type { IngestBatch } from '../../contract/ingest-batch.ts'
import { defaultSettings } from '../../agent/collection-settings.ts'
import { mergeRemoteConfig } from '../../agent/remote-config.ts'
import { startAgent, type AgentOptions } from '../../agent/run-agent.ts'
import { IngestServer, logRecorder, tempDir, waitFor } from './ingest-server.ts'

const CONFIG = '/api/v1/agents/self/config'
const hostDetails = async () => ({ os: 'TestOS', agent_version: 't', arch: 'x64', cpu_model: 'm', cpu_cores: 1 })

async function setup(t: Test, extra: Partial<AgentOptions> & { dataDir: string }) {
  const server = await new IngestServer(await IngestServer.freePort()).start()
  t.teardown(() => server.stop())
  const received: IngestBatch[] = []
  server.respond = batches => { received.push(...batches); return { status: 202 } }
  const { lines, log } = logRecorder()
  const start = () => startAgent({
    serverUrl: server.url, apiKey: 'cfg-key', log, intervalMs: 3_600_000, configRefreshMs: 150,
    backoff: { baseMs: 50, capMs: 200 }, collector: { hostDetails }, ...extra,
  }).then(agent => { t.teardown(() => agent.stop()); return agent })
  return { server, received, lines, start }
}

t.test('interval, families and process limit from the server apply without a restart', async t => {
  const { server, received, lines, start } = await setup(t, { dataDir: await tempDir(t) })
  let config: object = { interval_seconds: 1, collect: { processes: false, containers: false, sessions: false } }
  server.other = req => (req.url === CONFIG ? { status: 200, body: config } : { status: 404 })
  const agent = await start()
  t.equal(server.otherRequests[0].headers['x-api-key'], 'cfg-key', 'fetched with the agent key')
  t.equal(agent.settings.intervalMs, 1000, 'fetched before the first tick')

  await waitFor(() => received.length >= 3, 'three batches at the server\'s 1 s interval', 20_000)
  // Ticks keep a fixed schedule, so one late collection makes one gap short and the next long: the span of two
  // intervals says the rate, each gap only that it is not the local hour.
  const gaps = server.arrivals.slice(1, 3).map((at, i) => at - server.arrivals[i])
  for (const gap of gaps) t.ok(gap < 10_000, `batches ${gap} ms apart, not the local hour`)
  t.ok(server.arrivals[2] - server.arrivals[0] >= 1000, `three batches over ${server.arrivals[2] - server.arrivals[0]} ms: two 1 s intervals, not faster`)
  for (const b of received) {
    t.equal(b.processes, undefined, 'processes switched off: not sent')
    t.equal(b.containers, undefined)
    t.equal(b.sessions, undefined)
    t.ok(b.disks && b.networks && b.metrics!.some(m => m.metric_type === 'cpu'), 'the other families still are')
  }

  config = { interval_seconds: 1, collect: { processes: true }, max_processes: 3 }
  const before = received.length
  await waitFor(() => received.slice(before).some(b => b.processes !== undefined), 'a batch with processes again', 6000)
  const withProcs = received.slice(before).find(b => b.processes !== undefined)!
  t.equal(withProcs.processes!.length, 3, 'only the top 3 processes')
  t.match(lines.join('\n'), /info configuration changed: every 1 s, all families, top 3 processes/)

  config = { interval_seconds: 0.01, collect: { gpu: true }, max_processes: -1 }
  await waitFor(() => lines.some(l => l.startsWith('warn server configuration: ignored')), 'the bad values to be reported')
  t.match(lines.join('\n'), /interval_seconds 0\.01 is outside 1\.\.3600; collect\.gpu is not a metric family .*; max_processes -1 is not a whole number >= 0/)
  // Refreshes run one after another: once two more requests came, at least one more refresh of the same bad
  // values was answered and handled.
  const asked = server.otherRequests.length
  await waitFor(() => server.otherRequests.length >= asked + 2, 'more refreshes of the same configuration', 10_000)
  t.equal(lines.filter(l => l.startsWith('warn server configuration')).length, 1, 'said once, not at every refresh')
  t.equal(agent.settings.intervalMs, 3_600_000, 'a rejected value falls back to the local setting, never half-applied')
})

t.test('a server without the config endpoint (404): local settings, nothing logged above debug', async t => {
  const { server, received, lines, start } = await setup(t, { dataDir: await tempDir(t) })
  const agent = await start()
  await agent.collectNow()
  // A couple of refreshes, waited for: refreshes run one after another, so by the third request the second
  // one's 404 has been handled (and would have logged, were it going to).
  const configRequests = () => server.otherRequests.filter(r => r.url === CONFIG).length
  await waitFor(() => configRequests() >= 3, 'two refreshes after the start', 10_000)
  t.ok(configRequests() >= 2, 'asked at start and again later')
  t.same(agent.settings, defaultSettings(3_600_000))
  t.ok(received[0].processes && received[0].containers && received[0].sessions, 'everything collected')
  // Besides the start line, only the host's own one-time note may appear: processes whose disk I/O this
  // agent may not read (pid 1 in a container, other users' without root), which has nothing to do with config.
  t.same(lines.filter(l => !l.startsWith('debug') && !l.startsWith('info agent started') && !l.startsWith('info per-process disk I/O')), [], 'quiet')
})

t.test('merge rules', async t => {
  const local = defaultSettings(10_000)
  t.same(mergeRemoteConfig(local, {}).settings, local, 'an empty config changes nothing')
  const { settings } = mergeRemoteConfig(local, { interval_seconds: 30, collect: { disk: false }, max_processes: 0 })
  t.equal(settings.intervalMs, 30_000)
  t.equal(settings.collect.disk, false)
  t.equal(settings.collect.cpu, true, 'families not named keep the local choice')
  t.equal(settings.maxProcesses, 0)
  t.equal(local.collect.disk, true, 'the local settings are not modified')
})
