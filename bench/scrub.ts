// The cost of scrubbing command lines, on this machine's own processes (/proc/*/cmdline) plus a share with
// credentials, against the load a fleet puts on the server: 1,000 agents × 300 processes every 10 s.
import { readdirSync, readFileSync } from 'node:fs'
import { scrubCommandLine } from '../contract/command-line-secrets.ts'

const FLEET_LINES_PER_SECOND = (1000 * 300) / 10
const SECRET_SHAPES = ['--password hunter2', 'PGPASSWORD=s3cret', 'mysql -uroot -pSecret', 'postgres://app:pw@db/x', '--token=abc.def']

const own: string[] = []
for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
  try { own.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replaceAll('\0', ' ')) } catch { /* exited */ }
}
const lines = Array.from({ length: 200_000 }, (_, i) => own[i % own.length] + (i % 10 === 0 ? ` ${SECRET_SHAPES[i % SECRET_SHAPES.length]}` : ''))
const rounds: number[] = []
for (let round = 0; round < 7; round++) {
  const started = process.hrtime.bigint()
  let chars = 0
  for (const line of lines) chars += scrubCommandLine(line).length
  rounds.push(Number(process.hrtime.bigint() - started) / lines.length)
  if (chars === 0) throw new Error('nothing scrubbed')
}
rounds.sort((a, b) => a - b)
const nsPerLine = rounds[Math.floor(rounds.length / 2)]
const linesPerSecond = 1e9 / nsPerLine
console.log(`command lines: ${own.length} distinct from this host, ${lines.length.toLocaleString('en')} per round (10 % with a credential), 7 rounds`)
console.log(`scrub: median ${nsPerLine.toFixed(0)} ns per line (min ${rounds[0].toFixed(0)}, max ${rounds[rounds.length - 1].toFixed(0)}) = ${Math.round(linesPerSecond).toLocaleString('en')} lines/s on one core`)
console.log(`fleet load (1,000 agents × 300 processes / 10 s = ${FLEET_LINES_PER_SECOND.toLocaleString('en')} lines/s): ${(FLEET_LINES_PER_SECOND / linesPerSecond * 100).toFixed(1)} % of one core (ratio ${(linesPerSecond / FLEET_LINES_PER_SECOND).toFixed(1)}× the load)`)
