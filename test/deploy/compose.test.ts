// The deployment files, checked without a Docker engine: docker-compose validates the compose file,
// README's "Run with Docker" names only services that exist, the health checks ask for routes the API
// has, and the Dockerfiles have the structure we promise (multi-stage, non-root, HEALTHCHECK).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { listenApp, openTestStore, request } from '../test-client.ts'
import { AGENT_NODE_FLAGS } from '../../agent/v8-flags.js'

const ROOT = join(import.meta.dirname, '..', '..')
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8')

/** The variables docker-compose.yml refuses to start without (`${VAR:?...}`), set to placeholders. */
const REQUIRED_ENV = {
  POSTGRES_PASSWORD: 'compose-test-password', JWT_SECRET: 'compose-test-secret-compose-test-secret',
  ADMIN_PASSWORD: 'compose-test-admin', GRAFANA_DB_PASSWORD: 'compose-test-grafana', GF_SECURITY_ADMIN_PASSWORD: 'compose-test-gf',
}

function dockerCompose(args: string[], env: Record<string, string>) {
  // An empty env file, so a developer's .env neither hides a missing variable nor breaks the test.
  const dir = mkdtempSync(join(tmpdir(), 'hostpulse-compose-'))
  const envFile = join(dir, 'empty.env')
  writeFileSync(envFile, '')
  try {
    return spawnSync('docker-compose', ['--env-file', envFile, '-f', join(ROOT, 'docker-compose.yml'), ...args],
      { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const hasDockerCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0
const NO_COMPOSE = 'docker-compose is not installed: run `apt-get install -y docker-compose` (Debian; .ci/run installs it). ' +
  'It validates docker-compose.yml without a Docker engine.'

t.test('docker-compose validates the compose file', async (t) => {
  if (!hasDockerCompose) return t.fail(NO_COMPOSE)
  const ok = dockerCompose(['config', '-q'], REQUIRED_ENV)
  t.equal(ok.status, 0, `docker-compose config -q passes${ok.stderr ? `: ${ok.stderr}` : ''}`)
  for (const name of Object.keys(REQUIRED_ENV)) {
    const without = { ...REQUIRED_ENV } as Record<string, string>
    delete without[name]
    const res = dockerCompose(['config', '-q'], without)
    t.not(res.status, 0, `without ${name} the file is refused`)
    t.match(res.stderr, name, `and the message names ${name}`)
  }
})

t.test('the services: the five of the stack, and every one README names', async (t) => {
  if (!hasDockerCompose) return t.fail(NO_COMPOSE)
  const res = dockerCompose(['config', '--services'], REQUIRED_ENV)
  t.equal(res.status, 0, 'docker-compose lists the services')
  const services = new Set(res.stdout.split('\n').map((s) => s.trim()).filter(Boolean))
  t.same([...services].sort(), ['agent', 'api', 'grafana', 'mailpit', 'timescaledb'], 'the stack')

  const readme = read('README.md')
  const section = /^## Run with Docker\n([\s\S]*?)(?=^## )/m.exec(readme + '\n## ')?.[1]
  if (!section) return t.fail('README.md has no "## Run with Docker" section')
  const named = new Set<string>()
  for (const m of section.matchAll(/^\s*[-*] `([a-z][\w-]*)`/gm)) named.add(m[1])
  for (const m of section.matchAll(/docker-compose ((?:up|start|stop|restart|logs|ps|build|pull|rm)\b[^\n#]*)/g)) {
    for (const word of m[1].split(/\s+/).slice(1)) if (/^[a-z][\w-]*$/.test(word)) named.add(word)
  }
  t.ok(named.size > 0, 'README names services')
  for (const name of named) t.ok(services.has(name), `README names "${name}", a service of docker-compose.yml`)
  for (const name of services) t.ok(named.has(name), `README describes the service "${name}"`)
})

t.test('the compose file mounts what the services need', async (t) => {
  const compose = read('docker-compose.yml')
  t.match(compose, /image: timescale\/timescaledb:latest-pg17/, 'TimescaleDB on PostgreSQL 17')
  t.match(compose, /\.\/grafana\/provisioning:\/etc\/grafana\/provisioning:ro/, 'Grafana provisioning, read-only')
  t.match(compose, /\.\/grafana\/dashboards:\/etc\/grafana\/dashboards:ro/, 'the dashboards, read-only')
  t.match(read('grafana/provisioning/dashboards/hostpulse.yaml'), /path: \/etc\/grafana\/dashboards\n/, 'the provider reads where they are mounted')
  for (const mount of ['/proc:/host/proc:ro', '/sys:/host/sys:ro', '/:/host/root:ro']) t.ok(compose.includes(mount), `agent: ${mount}`)
  t.match(compose, /pid: host/, 'agent sees the host processes')
})

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  return text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => { const [op, ...rest] = l.split(/\s+/); return { op: op.toUpperCase(), args: rest.join(' ') } })
}

for (const file of ['Dockerfile', 'agent/Dockerfile']) {
  t.test(`${file}: multi-stage, non-root, with a HEALTHCHECK`, async (t) => {
    const ins = instructions(read(file))
    const froms = ins.map((x, i) => ({ ...x, i })).filter((x) => x.op === 'FROM')
    t.ok(froms.length >= 2, 'multi-stage (at least two FROM)')
    const stages = froms.slice(0, -1).map((f) => /\bAS\s+(\S+)/i.exec(f.args)?.[1])
    t.ok(stages.every(Boolean), 'every build stage is named')
    const final = ins.slice(froms[froms.length - 1].i)
    for (const copy of final.filter((x) => x.op === 'COPY' && x.args.includes('--from='))) {
      t.ok(stages.includes(/--from=(\S+)/.exec(copy.args)![1]), `COPY ${copy.args} takes from a named stage`)
    }
    t.ok(final.some((x) => x.op === 'COPY' && x.args.includes('--from=')), 'the final stage copies from a build stage')
    const users = final.filter((x) => x.op === 'USER')
    t.ok(users.length > 0, 'the final stage sets a USER')
    const user = users[users.length - 1]?.args.split(':')[0]
    t.ok(user && user !== 'root' && user !== '0', `runs as a non-root user (${user})`)
    t.ok(final.some((x) => x.op === 'HEALTHCHECK' && /CMD/.test(x.args)), 'HEALTHCHECK in the final stage')
    t.ok(final.some((x) => x.op === 'CMD' || x.op === 'ENTRYPOINT'), 'a CMD')
  })
}

t.test('the agent image runs the bundle built by npm run build:agent', async (t) => {
  const text = read('agent/Dockerfile')
  const pkg = JSON.parse(read('package.json'))
  t.ok(pkg.scripts['build:agent'], 'package.json has build:agent')
  t.match(text, /RUN npm run build:agent/, 'the build stage bundles the agent')
  t.equal(pkg.scripts['build:agent'], 'node agent/build.js', 'build:agent runs the bundler script')
  t.equal(pkg.scripts.prepare, 'node agent/build.js', 'and npm install does too (prepare), so every start runs the bundle')
  t.equal(pkg.scripts.agent, `node ${AGENT_NODE_FLAGS.join(' ')} agent/bin.js`, 'npm run agent starts the launcher, which runs the bundle')
  t.match(read('agent/build.js'), /join\(root, 'agent', 'dist', 'hostpulse-agent\.js'\)/, 'the bundle is where the image copies it from')
  t.match(text, /npm ci [^\n]*--ignore-scripts/, 'npm ci before the sources are copied skips prepare (it runs once they are)')
  t.match(text, /COPY --from=build \/src\/agent\/dist\/hostpulse-agent\.js/, 'the runtime stage copies the bundle')
  t.match(text, /CMD \["node", "--max-semi-space-size=2", "agent\/bin\.js"\]/, 'and runs the launcher')
})

t.test('every launcher we ship starts node with the agent\'s start-up flags (V8 takes them only at start)', async (t) => {
  t.same(AGENT_NODE_FLAGS, ['--max-semi-space-size=2'])
  const flags = AGENT_NODE_FLAGS.join(' ')
  t.equal(JSON.parse(read('package.json')).scripts.agent, `node ${flags} agent/bin.js`, 'npm run agent')
  t.match(read('agent/hostpulse-agent.service'), new RegExp(`^ExecStart=/usr/bin/node ${flags} /opt/hostpulse-agent/bin\\.js$`, 'm'), 'the systemd unit')
  t.match(read('agent/Dockerfile'), new RegExp(`^CMD \\["node", ${AGENT_NODE_FLAGS.map((f) => `"${f}"`).join(', ')}, "agent/bin\\.js"\\]$`, 'm'), 'the image')

  // And the flag does what it is there for: V8 heeds it given at start, not when set later.
  const newSpace = (args: string[]) => {
    const res = spawnSync(process.execPath, [...args, '-e', `
      const v8 = require('node:v8'); ${args.length === 0 ? `v8.setFlagsFromString('${flags}');` : ''}
      const keep = []; for (let i = 0; i < 400; i++) { const a = Array.from({ length: 2000 }, (_, j) => ({ j })); if (i % 40 === 0) keep.push(a) }
      console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)`], { encoding: 'utf8' })
    return Number(res.stdout.trim())
  }
  const atStart = newSpace(AGENT_NODE_FLAGS)
  const later = newSpace([])
  t.ok(atStart <= 4 * 1024 * 1024, `given at start: the young generation holds ${(atStart / 1048576).toFixed(1)} MiB`)
  t.ok(later > atStart, `set after start it does nothing: ${(later / 1048576).toFixed(1)} MiB`)
})

t.test('the health checks ask for routes the API answers', async (t) => {
  const paths = new Set<string>()
  const compose = read('docker-compose.yml')
  const apiBlock = /^ {2}api:\n([\s\S]*?)(?=^ {2}\w)/m.exec(compose)?.[1] ?? ''
  for (const m of apiBlock.matchAll(/http:\/\/127\.0\.0\.1:8080(\/[\w/-]*)/g)) paths.add(m[1])
  t.ok(paths.has('/ready'), 'the compose healthcheck of api asks /ready')
  for (const m of read('Dockerfile').matchAll(/\+'(\/[\w/-]*)'/g)) paths.add(m[1])
  for (const m of read('agent/Dockerfile').matchAll(/\+'(\/[\w/-]*)'/g)) paths.add(m[1])
  t.ok(paths.size >= 2, `health check paths found: ${[...paths].join(', ')}`)

  const store = await openTestStore(t)
  const { app, url } = await listenApp(t, store)
  for (const path of paths) {
    t.ok(app.hasRoute({ method: 'GET', url: path }), `GET ${path} is a route`)
    const res = await request(url, 'GET', path)
    t.equal(res.status, 200, `GET ${path} answers 200`)
  }
})
