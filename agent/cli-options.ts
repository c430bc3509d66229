// Command-line flags and environment fallbacks for the agent CLI, validated into one options object.
import { homedir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { LOG_LEVELS, type LogLevel } from './logger.ts'

export const USAGE = `Usage: hostpulse-agent [options]

Collects host metrics every interval and sends them to a hostpulse server.

Options:
  --server URL        server base URL, e.g. http://127.0.0.1:8080   (env HOSTPULSE_SERVER)
  --api-key KEY       API key created on the server                 (env HOSTPULSE_API_KEY)
  --interval DURATION time between batches: 500ms, 10s, 1m          (env HOSTPULSE_INTERVAL, default 10s)
  --data-dir DIR      where unsent batches are buffered             (env HOSTPULSE_AGENT_DATA_DIR,
                      default $XDG_STATE_HOME/hostpulse-agent or ~/.local/state/hostpulse-agent)
  --log-level LEVEL   debug, info, warn or error                    (env HOSTPULSE_LOG_LEVEL, default info)
  --once              collect one batch, print it as JSON, send nothing
  -h, --help          show this help
`

/** A mistake in how the agent was invoked: shown as one line, exit code 2. */
export class UsageError extends Error {}

export type CliCommand =
  | { kind: 'help' }
  | { kind: 'once'; logLevel: LogLevel }
  | { kind: 'run'; serverUrl: string; apiKey: string; intervalMs: number; dataDir: string; logLevel: LogLevel }

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** "10s", "500ms", "1.5m", "2h"; a bare number means seconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text)
  if (!m) throw new UsageError(`"${text}" is not a duration; write it like 10s, 500ms or 1m`)
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's'])
}

export function defaultDataDir(env: NodeJS.ProcessEnv): string {
  const stateHome = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state')
  return join(stateHome, 'hostpulse-agent')
}

export function parseCliOptions(argv: string[], env: NodeJS.ProcessEnv): CliCommand {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        server: { type: 'string' },
        'api-key': { type: 'string' },
        interval: { type: 'string' },
        'data-dir': { type: 'string' },
        'log-level': { type: 'string' },
        once: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    // parseArgs messages are already one clear sentence ("Unknown option '--x'...").
    throw new UsageError((err as Error).message.split('\n')[0].replace(/\.$/, ''))
  }
  if (values.help) return { kind: 'help' }

  const logLevel = (values['log-level'] ?? env.HOSTPULSE_LOG_LEVEL ?? 'info') as LogLevel
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`log level "${logLevel}" is unknown; use one of ${LOG_LEVELS.join(', ')}`)
  if (values.once) return { kind: 'once', logLevel }

  const serverUrl = values.server ?? env.HOSTPULSE_SERVER
  if (!serverUrl) throw new UsageError('no server given; pass --server http://HOST:PORT or set HOSTPULSE_SERVER')
  try {
    const url = new URL(serverUrl)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error()
  } catch {
    throw new UsageError(`server "${serverUrl}" is not an http(s) URL; write it like http://127.0.0.1:8080`)
  }
  const apiKey = values['api-key'] ?? env.HOSTPULSE_API_KEY
  if (!apiKey) throw new UsageError('no API key given; pass --api-key KEY or set HOSTPULSE_API_KEY (create a key on the server)')
  const intervalText = values.interval ?? env.HOSTPULSE_INTERVAL
  const intervalMs = intervalText === undefined ? 10_000 : parseDuration(intervalText)
  if (intervalMs < 1000) throw new UsageError(`interval ${intervalText} is below 1s; collection costs CPU, use 1s or more`)
  const dataDir = values['data-dir'] ?? env.HOSTPULSE_AGENT_DATA_DIR ?? defaultDataDir(env)
  return { kind: 'run', serverUrl, apiKey, intervalMs, dataDir, logLevel }
}
