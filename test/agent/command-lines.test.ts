// What the agent sends of command lines: the table scrubbed by the collector's reporter (argv as /proc
// holds it), the executable-only and none modes on real processes, the agent's own key in any form,
// and the flags that choose them.
import t from 'tap'
import { spawn } from 'node:child_process'
import { commandLineReporter, DEFAULT_COMMAND_LINES, literalPatterns } from '../../agent/command-lines.ts'
import { parseCliOptions } from '../../agent/cli-options.ts'
import { ProcessCollector } from '../../agent/process.ts'
import { SCRUB_CASES } from '../contract/command-line-cases.ts'

const CTX = { bootTime: 0, memTotalBytes: 1 }

t.test('the table, from NUL-separated argv as /proc/[pid]/cmdline holds it', async (t) => {
  const report = commandLineReporter(DEFAULT_COMMAND_LINES)
  for (const [line, expected] of SCRUB_CASES) t.equal(report(`${line.split(' ').join('\0')}\0`), expected, line)
})

t.test('a real process: full (scrubbed), executable only, or nothing', async (t) => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', '--', '--token', 'tok-123', 'AWS_SECRET_ACCESS_KEY=abc'], { stdio: 'ignore' })
  t.teardown(() => { child.kill() })
  await new Promise((resolve) => setTimeout(resolve, 200))
  const seen = async (mode: 'full' | 'executable' | 'none') => {
    // selfPid -1: this test's own children are what it looks for, not helpers to hide.
    const items = await new ProcessCollector('/proc', -1, commandLineReporter({ mode, extraPatterns: [] })).collect(CTX)
    return items.find((p) => p.pid === child.pid)
  }
  t.equal((await seen('full'))?.cmdline, `${process.execPath} -e setTimeout(() => {}, 60000) -- --token *** AWS_SECRET_ACCESS_KEY=***`)
  t.equal((await seen('executable'))?.cmdline, process.execPath)
  const none = await seen('none')
  t.ok(none, 'the process is still listed')
  t.notOk(none && 'cmdline' in none, 'without a command line')
})

t.test('the agent\'s own key is hidden whatever option carries it', async (t) => {
  const key = 'not-a-hostpulse-shaped-key-0123'
  const report = commandLineReporter({ mode: 'full', extraPatterns: literalPatterns([key, undefined, 'short']) })
  t.equal(report(['agent', '-k', key].join('\0')), 'agent -k ***')
  t.equal(report(['agent', `--server=http://x/?k=${key}`].join('\0')), 'agent --server=http://x/?k=***')
  t.equal(report(['sh', '-c', 'x.y+z'].join('\0')), 'sh -c x.y+z', 'a literal is escaped, not a regex')
})

t.test('flags and environment: --cmdline, --scrub-pattern, and the warning for a key on the command line', async (t) => {
  const base = ['--server', 'http://127.0.0.1:1', '--data-dir', '/tmp/hostpulse-agent-test']
  const run = (args: string[], env: Record<string, string> = {}) => parseCliOptions([...base, ...args], { HOSTPULSE_API_KEY: 'hp_env', ...env })
  const def = run([])
  if (def.kind !== 'run') throw new Error('expected a run command')
  t.equal(def.commandLines.mode, 'full', 'full by default')
  t.same(def.warnings, [], 'a key from the environment: no warning')
  const fromFlags = run(['--cmdline', 'executable', '--scrub-pattern', '/corp-\\d+/i', '--scrub-pattern', 'x=\\w+', '--api-key', 'hp_flag'])
  if (fromFlags.kind !== 'run') throw new Error('expected a run command')
  t.equal(fromFlags.commandLines.mode, 'executable')
  t.equal(fromFlags.commandLines.extraPatterns.length, 2)
  t.equal(fromFlags.warnings.length, 1)
  t.match(fromFlags.warnings[0], /--api-key on the command line is visible to every user of this host.*HOSTPULSE_API_KEY/)
  const fromEnv = run([], { HOSTPULSE_CMDLINE: 'none', HOSTPULSE_SCRUB_PATTERN: 'corp-\\d+' })
  if (fromEnv.kind !== 'run') throw new Error('expected a run command')
  t.equal(fromEnv.commandLines.mode, 'none')
  t.equal(fromEnv.commandLines.extraPatterns.length, 1)
  t.throws(() => run(['--cmdline', 'some']), /--cmdline "some" is unknown; use one of full, executable, none/)
  t.throws(() => run(['--scrub-pattern', '(']), /--scrub-pattern \( is not usable: Invalid regular expression/)
  t.throws(() => run(['--scrub-pattern', 'a*']), /matches the empty string/)
})
