// Containers through a stand-in Docker Engine API: a real HTTP server on a unix socket, answering with fixture JSON.
import t, { type Test } from 'tap'
import { createServer, type Server } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Value } from 'typebox/value'
import { ContainerItem } from '../../contract/ingest-batch.ts'
import { BatchCollector } from '../../agent/collect-batch.ts'
import { ContainerCollector, engineSockets } from '../../agent/containers.ts'
import { logRecorder, tempDir } from './ingest-server.ts'

const fixture = (name: string) => readFileSync(new URL(`./fixtures/docker/${name}`, import.meta.url), 'utf8')
const WEB_ID = '8dfafdbc3a40a1b2c3d4e5f60718293a4b5c6d7e8f9012345678901234567890'

/** Answers like dockerd: GET /containers/json and GET /containers/{id}/stats, one stats fixture per call in turn. */
async function fakeEngine(t: Test, socketPath: string, opts: { failList?: boolean } = {}) {
  const paths: string[] = []
  const statsFiles = ['stats-web-1.json', 'stats-web-2.json']
  let statsCall = 0
  const server: Server = createServer((req, res) => {
    paths.push(req.url ?? '')
    const url = new URL(req.url ?? '/', 'http://docker')
    res.setHeader('content-type', 'application/json')
    res.setHeader('api-version', '1.45')
    if (url.pathname === '/containers/json') {
      if (opts.failList) return void res.writeHead(500).end('{"message":"engine starting"}')
      return void res.end(fixture('containers-json.json'))
    }
    const m = /^\/containers\/([0-9a-f]+)\/stats$/.exec(url.pathname)
    if (m && m[1] === WEB_ID) return void res.end(fixture(statsFiles[Math.min(statsCall++, statsFiles.length - 1)]))
    res.writeHead(404).end(JSON.stringify({ message: `No such container: ${m?.[1]}` }))
  })
  await new Promise<void>(r => server.listen(socketPath, r))
  t.teardown(() => new Promise(r => server.close(r)))
  return { paths }
}


t.test('cpu %, memory and network from the Engine API, as `docker stats` computes them', async t => {
  const socket = join(await tempDir(t), 'docker.sock')
  const engine = await fakeEngine(t, socket)
  const collector = new ContainerCollector({ sockets: [join(socket, 'missing.sock'), socket] })

  const first = await collector.collect()
  t.equal(first.length, 2, 'running and exited containers are listed')
  const [web, job] = first
  t.same(web, {
    id: '8dfafdbc3a40', name: 'web', image: 'nginx:1.25', state: 'running',
    // precpu in the answer: 0.5 s of CPU in 2 s of host CPU time on 2 CPUs
    cpu_percent: 50,
    memory_bytes: 209715200 - 52428800, // usage minus inactive_file (cgroup v2)
    memory_limit_bytes: 1073741824,
    memory_percent: 14.65,
    rx_bytes: 1000500, tx_bytes: 250100, // summed over interfaces
  })
  t.same(job, { id: 'f00dcafe0000', name: 'batch-job', image: 'python:3.12-slim', state: 'exited' }, 'no stats asked for a stopped container')
  t.ok(engine.paths.some(p => p.startsWith(`/containers/${WEB_ID}/stats?`) && p.includes('stream=false')), 'one-shot stats, not a stream')
  t.notOk(engine.paths.some(p => p.includes('f00dcafe')), 'no stats call for the exited one')

  const second = await collector.collect()
  // The engine sent no precpu this time (one-shot): the agent's own previous sample is used.
  t.equal(second[0].cpu_percent, 50, '5 s of CPU in 20 s of host CPU time on 2 CPUs')
  t.equal(second[0].memory_bytes, 314572800 - 104857600, 'cgroup v1: usage minus total_inactive_file')
  t.equal(second[0].memory_percent, 19.53)
  for (const item of [...first, ...second]) t.same([...Value.Errors(ContainerItem, item)], [], `${item.name} matches the contract`)
})

t.test('containers reach the batch through BatchCollector', async t => {
  const socket = join(await tempDir(t), 'podman.sock')
  await fakeEngine(t, socket)
  const c = new BatchCollector(() => {}, { containers: { sockets: [socket] } })
  const batch = await c.collect()
  t.equal(batch.containers?.length, 2)
  t.equal(batch.metrics!.find(m => m.metric_type === 'containers' && m.metric_name === 'count')?.value, 2)
  const off = await c.collect({ collect: { cpu: true, memory: true, disk: true, network: true, processes: true, sessions: true, containers: false } })
  t.equal(off.containers, undefined, 'a family switched off is not sent')
})

t.test('no socket: nothing, quietly; an engine that fails: nothing, said once', async t => {
  const dir = await tempDir(t)
  const { lines, log } = logRecorder()
  t.same(await new ContainerCollector({ sockets: [join(dir, 'none.sock')], log }).collect(), [])
  t.same(lines, [], 'no socket is not worth a log line')

  const socket = join(dir, 'broken.sock')
  await fakeEngine(t, socket, { failList: true })
  const broken = new ContainerCollector({ sockets: [socket], log })
  t.same(await broken.collect(), [])
  t.same(await broken.collect(), [])
  t.equal(lines.length, 1, 'one line for two failures')
  t.match(lines[0], /info containers: the engine at .*broken\.sock did not answer \(HTTP 500/)
})

t.test('socket candidates: DOCKER_HOST first, then Docker and Podman defaults', async t => {
  t.same(engineSockets({ DOCKER_HOST: 'unix:///srv/docker.sock', XDG_RUNTIME_DIR: '/run/user/1000' }),
    ['/srv/docker.sock', '/var/run/docker.sock', '/run/user/1000/podman/podman.sock', '/run/podman/podman.sock'])
  t.same(engineSockets({ DOCKER_HOST: 'tcp://10.0.0.1:2375' }), ['/var/run/docker.sock', '/run/podman/podman.sock'], 'never a TCP engine')
})
