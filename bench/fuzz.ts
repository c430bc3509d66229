// npx tsx bench/fuzz.ts [--runs 50000] [--seed N] — the fuzz tests (test/fuzz) at a larger size than
// `npm test` runs them (10,000 requests per family there, with a fixed seed): every route family, the writers and the live
// streams, FUZZ_RUNS generated requests each, with the same properties (no 5xx, no dropped connection, every
// refusal in the route's format, rows kept aside unchanged). Prints each family's statuses and time.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '50000' }, seed: { type: 'string' } } })
const seed = values.seed ?? String(Math.floor(Math.random() * 2 ** 31))
const files = readdirSync('test/fuzz').filter((f) => f.endsWith('.test.ts')).sort().map((f) => `test/fuzz/${f}`)
process.stdout.write(`hostpulse fuzz bench — ${values.runs} generated requests per route family, seed ${seed}, ${files.length} files\n`)
const started = performance.now()
const run = spawnSync('npx', ['tap', '--disable-coverage', '--timeout', '0', '-R', 'tap', ...files], {
  stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FUZZ_RUNS: values.runs, FUZZ_SEED: seed }, encoding: 'utf8', maxBuffer: 1 << 30,
})
const lines = run.stdout.split('\n').filter((l) => /no 5xx|frames on|not ok|Counterexample|# \{/.test(l))
for (const line of lines) process.stdout.write(`${line.trim()}\n`)
process.stdout.write(`\nsummary: ${run.status === 0 ? 'every property held' : 'FAILED (see above)'} in ${((performance.now() - started) / 60_000).toFixed(1)} min\n`)
process.exit(run.status ?? 1)
