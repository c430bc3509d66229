// npm run bench:drills — the long crash and outage drills (issue 15 part 3); their CI-sized versions are in
// test/drills/. Each ends with "generated = stored, once" and prints its timings.
//   crash (always): the API (`npm start`, embedded) SIGKILLed under a fleet, down, restarted on its data.
//     --agents N (300)  --interval S (10)  --before S (60)  --down S (30)  --after S (60)
//   outage (with --database-url, a TimescaleDB server): the database unreachable under a fleet.
//     --outage-agents N (100)  --outage S (60)  --grace S (90, as ALERT_ABSENCE_GRACE's default)
//   --only crash|outage runs one of them.
import { fmt, say } from './fleet-data.ts'
import { runCrashDrill } from './crash-drill.ts'
import { runOutageDrill, type Probe } from './outage-drill.ts'

const argOf = (name: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const num = (name: string, fallback: number) => Number(argOf(name) ?? fallback)
const ONLY = argOf('only')
const DATABASE_URL = argOf('database-url') ?? process.env.DATABASE_URL
const INTERVAL_MS = num('interval', 10) * 1000
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL')
let failed = false

if (ONLY !== 'outage') {
  const agents = num('agents', 300)
  say(`hostpulse drill: crash — ${fmt(agents)} agents every ${INTERVAL_MS / 1000} s, the API SIGKILLed after ${num('before', 60)} s, down ${num('down', 30)} s, then ${num('after', 60)} s more`)
  const r = await runCrashDrill({
    agents, intervalMs: INTERVAL_MS, beforeMs: num('before', 60) * 1000, downMs: num('down', 30) * 1000, afterMs: num('after', 60) * 1000,
    progress: (line) => say(`  ${line}`),
  })
  const ok = r.killedExitCode === null && r.drained && r.account.lost === 0 && r.account.duplicatedRows === 0 && r.setAside === 0 && r.cleanExitCode === 0
  failed ||= !ok
  say(`crash: ${verdict(ok)} — ${fmt(r.account.generated)} batches generated (${fmt(r.generatedBeforeKill)} before the kill), ${fmt(r.account.stored)} stored, `
    + `lost ${fmt(r.account.lost)}, duplicated rows ${fmt(r.account.duplicatedRows)}, set aside ${r.setAside}; ${r.bufferingWhileDown} agents buffering at the restart; `
    + `restart (recovery included) ${seconds(r.restartMs)}, every buffer empty ${seconds(r.catchUpMs)} after it`)
}

if (ONLY !== 'crash') {
  if (!DATABASE_URL) {
    say('outage: skipped — needs a TimescaleDB server: --database-url postgres://… (or DATABASE_URL)')
  } else {
    const agents = num('outage-agents', 100)
    const outageMs = num('outage', 60) * 1000
    const graceMs = num('grace', 90) * 1000
    say(`hostpulse drill: outage — ${fmt(agents)} agents every ${INTERVAL_MS / 1000} s, the database unreachable for ${outageMs / 1000} s, absence grace ${graceMs / 1000} s`)
    const r = await runOutageDrill({ serverUrl: DATABASE_URL, agents, intervalMs: INTERVAL_MS, outageMs, graceMs, progress: (line) => say(`  ${line}`) })
    const probes = Object.keys(r.statuses) as Probe[]
    const all503 = probes.every((p) => r.statuses[p].slice(2).every((c) => c === 503))
    const ok = all503 && r.faults.length === 0 && r.drained && r.offlineEvents.length === 0 && JSON.stringify(r.firingAfter) === JSON.stringify(r.firingBefore)
      && r.account.lost === 0 && r.account.duplicatedRows === 0 && r.setAside === 0
    failed ||= !ok
    for (const p of probes) {
      const counts = r.statuses[p].reduce<Record<number, number>>((m, c) => ({ ...m, [c]: (m[c] ?? 0) + 1 }), {})
      say(`  ${p}: ${Object.entries(counts).map(([c, n]) => `${n}× ${c}`).join(', ')}; slowest ${Math.round(r.slowestMs[p])} ms`)
    }
    say(`outage: ${verdict(ok)} — ${r.faults.length} malformed 503s; alerts before ${JSON.stringify(r.firingBefore)}, after ${JSON.stringify(r.firingAfter)}, agent.offline ${r.offlineEvents.length} events; `
      + `/ready 200 ${seconds(r.readyAfterMs)} and every buffer empty ${seconds(r.caughtUpAfterMs)} after the return (at most ${r.maxBuffering} agents buffering); `
      + `${fmt(r.account.generated)} batches generated, ${fmt(r.account.stored)} stored, lost ${fmt(r.account.lost)}, duplicated rows ${fmt(r.account.duplicatedRows)}`)
  }
}
if (failed) process.exitCode = 1
