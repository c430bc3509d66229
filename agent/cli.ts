// `hostpulse-agent` / `npm run agent`: parses flags, then runs the agent until SIGINT/SIGTERM.
import { BatchCollector } from './collect-batch.ts'
import { parseCliOptions, UsageError, USAGE, type CliCommand } from './cli-options.ts'
import { stderrLog } from './logger.ts'
import { startAgent } from './run-agent.ts'

const NAME = 'hostpulse-agent'

async function main(argv: string[]): Promise<number> {
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
    const collector = new BatchCollector(log)
    await collector.collect()
    // Rates and CPU % need two samples; one second apart is what `top` would show.
    await new Promise(resolve => setTimeout(resolve, 1000))
    process.stdout.write(JSON.stringify(await collector.collect(), null, 2) + '\n')
    return 0
  }

  let agent
  try {
    agent = await startAgent({ ...cmd, log })
  } catch (err) {
    process.stderr.write(`${NAME}: cannot start: ${(err as Error).message}\n`)
    return 1
  }
  await new Promise<void>(resolve => {
    const onSignal = (signal: string) => {
      log('info', `${signal} received; stopping (press Ctrl-C again to quit at once)`)
      process.once('SIGINT', () => process.exit(130))
      void agent.stop().then(resolve)
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  })
  return 0
}

main(process.argv.slice(2)).then(
  code => { process.exitCode = code },
  err => {
    process.stderr.write(`${NAME}: ${(err as Error).message}\n`)
    process.exitCode = 1
  },
)
