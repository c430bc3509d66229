// A benchmark's HTTP client in a process of its own, as a browser or Grafana is: it times `runs` sequential
// GETs of each path (after 3 warm-ups) over one keep-alive connection, each reply read whole and parsed as
// JSON, and prints the milliseconds as JSON on stdout, twice over:
//   fresh — the cases in order from the process's start, so the first case also carries the client's own
//           warm-up (a new Node process is slow for its first twenty or so requests, until the JIT has
//           compiled its HTTP code: BENCHMARKS.md, issue 16);
//   warm  — the same cases again in the same process, as a long-lived client (a browser tab, Grafana) asks.
// With `"client": "fetch"` it asks through Node's fetch (undici and web streams) instead of node:http.
//   tsx bench/http-client.ts '<{"base","token","runs","cases":[{"name","path"}],"client"?}>'
import { Agent, request } from 'node:http'

const { base, token, runs, cases, client = 'http' } = JSON.parse(process.argv[2] ?? '{}') as {
  base: string; token: string; runs: number; cases: Array<{ name: string; path: string }>; client?: 'http' | 'fetch'
}
const agent = new Agent({ keepAlive: true, maxSockets: 1 })

/** One GET through node:http: the status and the body's text. */
function get(path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(base + path, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

async function fetched(path: string): Promise<{ status: number; text: string }> {
  const r = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } })
  return { status: r.status, text: await r.text() }
}

async function pass(): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {}
  for (const c of cases) {
    const times: number[] = []
    for (let i = 0; i < runs + 3; i++) {
      const t0 = performance.now()
      const { status, text } = await (client === 'fetch' ? fetched(c.path) : get(c.path))
      if (status !== 200) throw new Error(`${c.path} answered ${status}: ${text}`)
      JSON.parse(text)
      if (i >= 3) times.push(performance.now() - t0)
    }
    out[c.name] = times
  }
  return out
}

const fresh = await pass()
const warm = await pass()
agent.destroy()
process.stdout.write(JSON.stringify({ fresh, warm }))
