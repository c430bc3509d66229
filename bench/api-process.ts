// The API as operators run it (`npm start`, services/main.ts) in a child process on a fixed port, for the
// drills that kill it: started, stopped cleanly, or SIGKILLed, and started again on the same data.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

const MAIN = new URL('../services/main.ts', import.meta.url).pathname
export const DRILL_ADMIN = { username: 'admin', password: 'drill-password-1' }

/** A port free now on loopback (the API is restarted on it, so agents find it again). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface ApiProcess {
  child: ChildProcess
  url: string
  output(): string
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>
}

export async function startApi(port: number, env: Record<string, string>): Promise<ApiProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: {
      ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', HOSTPULSE_LOCAL_AGENT: 'false',
      ADMIN_USERNAME: DRILL_ADMIN.username, ADMIN_PASSWORD: DRILL_ADMIN.password, RATE_LIMIT_INGEST: '100000', RATE_LIMIT_WRITE: '100000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => { out += d })
  child.stderr!.on('data', (d) => { out += d })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const listening = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = out.match(/API listening on (http:\/\/127\.0\.0\.1:\d+)/)
      if (m) { clearInterval(timer); clearTimeout(limit); resolve(m[1]) }
    }, 50)
    const limit = setTimeout(() => { clearInterval(timer); child.kill('SIGKILL'); reject(new Error(`the API did not start within 120 s:\n${out}`)) }, 120_000)
    void exited.then((code) => { clearInterval(timer); clearTimeout(limit); reject(new Error(`the API exited (${code}) before listening:\n${out}`)) })
  })
  return { child, url: listening, output: () => out, exited }
}

export async function login(url: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(DRILL_ADMIN) })
  if (res.status !== 200) throw new Error(`login ${res.status}: ${await res.text()}`)
  return ((await res.json()) as { token: string }).token
}
