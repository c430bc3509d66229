// A benchmark's HTTP client in a process of its own, as a browser or Grafana is: it times `runs` sequential
// GETs of each path (after 3 warm-ups) and prints the milliseconds as JSON on stdout.
//   tsx bench/http-client.ts '<{"base","token","runs","cases":[{"name","path"}]}>'
const { base, token, runs, cases } = JSON.parse(process.argv[2] ?? '{}') as {
  base: string; token: string; runs: number; cases: Array<{ name: string; path: string }>
}
const out: Record<string, number[]> = {}
for (const c of cases) {
  const times: number[] = []
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now()
    const r = await fetch(base + c.path, { headers: { authorization: `Bearer ${token}` } })
    if (r.status !== 200) throw new Error(`${c.path} answered ${r.status}: ${await r.text()}`)
    await r.json()
    if (i >= 3) times.push(performance.now() - t0)
  }
  out[c.name] = times
}
process.stdout.write(JSON.stringify(out))
