// `hostpulse-agent` / `npm run agent`: parses flags, then runs the agent until SIGINT/SIGTERM.
import { BatchCollector } from './collect-batch.ts'
import { parseCliOptions, UsageError, USAGE, type CliCommand } from './cli-options.ts'
import { collectHostDetails, hostDetailsInChild } from './inventory.ts'
import { stderrLog } from './logger.ts'
import { startAgent, type RunningAgent } from './run-agent.ts'

const NAME = 'hostpulse-agent'

async function main(argv: string[]): Promise<number> {
  // Hidden: the agent runs itself with this flag to read the OS/hardware inventory in a throwaway process.
  if (argv.length === 1 && argv[0] === '--host-details') {
    process.stdout.write(JSON.stringify(await collectHostDetails()) + '\n')
    return 0
  }
  let cmd: CliCommand
  try {
    cmd = parseCliOptions(argv, process.env)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`${NAME}: ${err.message}. Run '${NAME} --help' for the options.\n`)
    return 2
  }

  if (cmd.kind === 'help') {
    process.stdout.write(USAGE)
    return 0
  }

  const log = stderrLog(cmd.logLevel)
  if (cmd.kind === 'once') {
    const collector = new BatchCollector(log, { paths: cmd.paths, placement: cmd.placement, commandLines: cmd.commandLines })
    await collector.collect()
    // Rates and CPU % need two samples; one second apart is what `top` would show.
    await new Promise(resolve => setTimeout(resolve, 1000))
    process.stdout.write(JSON.stringify(await collector.collect(), null, 2) + '\n')
    return 0
  }

  for (const warning of cmd.warnings) log('warn', warning)
  // Signals are handled from the start: a pending enrollment must stop as cleanly as a running agent.
  const starting = new AbortController()
  let agent: RunningAgent | undefined
  let stopRequested: ((signal: string) => void) | undefined
  const stoppedBySignal = new Promise<void>(resolve => {
    stopRequested = (signal: string) => {
      log('info', `${signal} received; stopping (press Ctrl-C again to quit at once)`)
      process.once('SIGINT', () => process.exit(130))
      starting.abort()
      if (agent) void agent.stop().then(resolve)
      else resolve()
    }
    process.once('SIGINT', stopRequested)
    process.once('SIGTERM', stopRequested)
  })
  try {
    // The same entry point this process was started with (bin.js, the bundle, or cli.ts under tsx).
    const self: [string, ...string[]] = [process.execPath, ...process.execArgv, process.argv[1]]
    agent = await startAgent({ ...cmd, log, signal: starting.signal, collector: { hostDetails: hostDetailsInChild(self), paths: cmd.paths, placement: cmd.placement, commandLines: cmd.commandLines } })
  } catch (err) {
    if (starting.signal.aborted) return 0
    process.stderr.write(`${NAME}: cannot start: ${(err as Error).message}\n`)
    return 1
  }
  if (starting.signal.aborted) await agent.stop()
  await stoppedBySignal
  return 0
}

main(process.argv.slice(2)).then(
  code => { process.exitCode = code },
  err => {
    process.stderr.write(`${NAME}: ${(err as Error).message}\n`)
    process.exitCode = 1
  },
)
