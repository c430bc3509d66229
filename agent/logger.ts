// The agent's one logging shape: the embedding process (API server or CLI) decides where lines go.

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
export type AgentLog = (level: LogLevel, msg: string) => void

/** Logger for the CLI: one line per message on stderr, so stdout stays clean for `--once` JSON. */
export function stderrLog(minLevel: LogLevel): AgentLog {
  const min = LOG_LEVELS.indexOf(minLevel)
  return (level, msg) => {
    if (LOG_LEVELS.indexOf(level) < min) return
    process.stderr.write(`${new Date().toISOString()} ${level.padEnd(5)} ${msg}\n`)
  }
}

export const silentLog: AgentLog = () => {}
