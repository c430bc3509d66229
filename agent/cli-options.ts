// Command-line flags, environment variables and an optional config file, validated into one options object.
// Precedence: flag, then environment, then the config file (same KEY=VALUE lines as systemd's EnvironmentFile).
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { KEY_FILE } from './enrollment.ts'
import { LOG_LEVELS, type LogLevel } from './logger.ts'
import { DEFAULT_HOST_PATHS, type HostPaths } from './host-paths.ts'
import { COMMAND_LINE_MODES, type CommandLineMode, type CommandLinePolicy } from './command-lines.ts'
import { parseScrubPattern } from '../contract/command-line-secrets.ts'
import type { LogShippingOptions } from './logs/log-collector.ts'
import type { HostPlacement } from './inventory.ts'

export const USAGE = `Usage: hostpulse-agent [options]

Collects host metrics every interval and sends them to a hostpulse server.

Options:
  --server URL            server base URL, e.g. http://127.0.0.1:8080   (env HOSTPULSE_SERVER)
  --config FILE           read HOSTPULSE_* settings from FILE, KEY=VALUE per line, as systemd's
                          EnvironmentFile (env HOSTPULSE_AGENT_CONFIG); flags and environment win.
                          The place for the key: HOSTPULSE_API_KEY=hp_… in a file only root reads
  --api-key KEY           API key created on the server                 (env HOSTPULSE_API_KEY)
                          prefer the environment or --config: a command line is visible to every
                          user of the host
  --enroll-token TOKEN    instead of a key: register this host with the server, wait for approval,
                          and keep the key it receives in the data dir  (env HOSTPULSE_ENROLL_TOKEN)
  --interval DURATION     time between batches: 10s, 1m                 (env HOSTPULSE_INTERVAL, default 10s;
                          the server's agent configuration may change it)
  --data-dir DIR          unsent batches, refused batches and an enrolled key
                          (env HOSTPULSE_AGENT_DATA_DIR, default $XDG_STATE_HOME/hostpulse-agent
                          or ~/.local/state/hostpulse-agent)
  --buffer-max-size SIZE  disk buffer bound: 100MiB, 1GiB               (env HOSTPULSE_BUFFER_MAX_SIZE, default 100MiB)
  --buffer-max-age AGE    drop buffered batches older than this: 24h, 7d (env HOSTPULSE_BUFFER_MAX_AGE, default 7d)
                          when a bound is hit the oldest batches go first, and the log says how many
  --cmdline MODE          what of each process's command line is sent: full (scrubbed of
                          passwords, tokens and keys), executable (argv[0] only) or none
                                                                        (env HOSTPULSE_CMDLINE, default full)
  --scrub-pattern REGEX   also replace what matches REGEX (or /REGEX/i) in command lines with ***;
                          repeatable                                    (env HOSTPULSE_SCRUB_PATTERN, one)
  --log-level LEVEL       debug, info, warn or error                    (env HOSTPULSE_LOG_LEVEL, default info)
  --log-file PATH         ship the lines of this file (followed from its end, through rotation);
                          repeatable                                    (env HOSTPULSE_LOG_FILES, comma-separated)
  --no-journal            do not ship the systemd journal (shipped by default when journalctl exists;
                                                                        env HOSTPULSE_LOG_JOURNAL=false)
  --log-max-lines N       log lines per batch at most; more wait for the next one
                                                                        (env HOSTPULSE_LOG_MAX_LINES, default 1000)
  --log-max-bytes SIZE    log message bytes per batch at most          (env HOSTPULSE_LOG_MAX_BYTES, default 256KiB)
  --host-proc DIR         the host's /proc when running in a container  (env HOSTPULSE_HOST_PROC, default /proc)
  --host-sys DIR          the host's /sys                               (env HOSTPULSE_HOST_SYS, default /sys)
  --host-root DIR         the host's / (filesystems are read from the host's mount table and measured
                          under DIR; mount it with rslave propagation) (env HOSTPULSE_HOST_ROOT, default /)
  --region NAME           cloud region the host runs in: eu-west-1      (env HOSTPULSE_REGION)
  --instance-type NAME    its instance type: m5.large; on AWS read from DMI when not given
                                                                        (env HOSTPULSE_INSTANCE_TYPE)
  --once                  collect one batch, print it as JSON, send nothing
  -h, --help              show this help
`

/** A mistake in how the agent was invoked: shown as one line, exit code 2. */
export class UsageError extends Error {}

export type CliCommand =
  | { kind: 'help' }
  | { kind: 'once'; logLevel: LogLevel; paths: HostPaths; commandLines: CommandLinePolicy; placement: HostPlacement | undefined }
  | {
    kind: 'run'; serverUrl: string; apiKey: string | undefined; enrollToken: string | undefined
    intervalMs: number; dataDir: string; logLevel: LogLevel; bufferMaxBytes: number; bufferMaxAgeMs: number
    paths: HostPaths; commandLines: CommandLinePolicy; logs: LogShippingOptions; placement: HostPlacement | undefined
    /** Said once at start: things that work but should be done otherwise. */
    warnings: string[]
  }

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** "10s", "500ms", "1.5m", "2h", "7d"; a bare number means seconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text)
  if (!m) throw new UsageError(`"${text}" is not a duration; write it like 10s, 500ms or 1m`)
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's'])
}

const SIZE_UNITS: Record<string, number> = {
  b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3,
}

/** "100MiB", "1GB", "512k"; a bare number means bytes. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  const unit = SIZE_UNITS[(m?.[2] || 'b').toLowerCase()]
  if (!m || unit === undefined) throw new UsageError(`"${text}" is not a size; write it like 100MiB, 1GB or 512k`)
  return Math.round(Number(m[1]) * unit)
}

/** KEY=VALUE lines; `#` comments, blank lines, optional quotes and a leading `export` are allowed. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line)
    if (!m) continue
    let value = m[2]
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1)
    out[m[1]] = value
  }
  return out
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
        'enroll-token': { type: 'string' },
        interval: { type: 'string' },
        'data-dir': { type: 'string' },
        'buffer-max-size': { type: 'string' },
        'buffer-max-age': { type: 'string' },
        config: { type: 'string' },
        'log-level': { type: 'string' },
        'host-proc': { type: 'string' },
        'host-sys': { type: 'string' },
        'host-root': { type: 'string' },
        cmdline: { type: 'string' },
        'scrub-pattern': { type: 'string', multiple: true },
        'log-file': { type: 'string', multiple: true },
        'no-journal': { type: 'boolean' },
        'log-max-lines': { type: 'string' },
        'log-max-bytes': { type: 'string' },
        region: { type: 'string' },
        'instance-type': { type: 'string' },
        once: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    // parseArgs messages are already one clear sentence ("Unknown option '--x'...").
    throw new UsageError((err as Error).message.split('\n')[0].replace(/\.$/, ''))
  }
  if (values.help) return { kind: 'help' }
  const configPath = values.config ?? env.HOSTPULSE_AGENT_CONFIG
  if (configPath) {
    let text: string
    try {
      text = readFileSync(configPath, 'utf8')
    } catch (err) {
      throw new UsageError(`cannot read config file ${configPath} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the path and its permissions`)
    }
    env = { ...parseEnvFile(text), ...env }
  }

  const logLevel = (values['log-level'] ?? env.HOSTPULSE_LOG_LEVEL ?? 'info') as LogLevel
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`log level "${logLevel}" is unknown; use one of ${LOG_LEVELS.join(', ')}`)
  const paths = hostPaths(values['host-proc'] ?? env.HOSTPULSE_HOST_PROC, values['host-sys'] ?? env.HOSTPULSE_HOST_SYS, values['host-root'] ?? env.HOSTPULSE_HOST_ROOT)
  const commandLines = commandLinePolicy(values.cmdline ?? env.HOSTPULSE_CMDLINE, values['scrub-pattern'] ?? (env.HOSTPULSE_SCRUB_PATTERN ? [env.HOSTPULSE_SCRUB_PATTERN] : []))
  const placement = hostPlacement(values.region ?? env.HOSTPULSE_REGION, values['instance-type'] ?? env.HOSTPULSE_INSTANCE_TYPE)
  if (values.once) return { kind: 'once', logLevel, paths, commandLines, placement }

  const serverUrl = values.server ?? env.HOSTPULSE_SERVER
  if (!serverUrl) throw new UsageError('no server given; pass --server http://HOST:PORT or set HOSTPULSE_SERVER')
  try {
    const url = new URL(serverUrl)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error()
  } catch {
    throw new UsageError(`server "${serverUrl}" is not an http(s) URL; write it like http://127.0.0.1:8080`)
  }
  const apiKey = values['api-key'] ?? env.HOSTPULSE_API_KEY ?? undefined
  const enrollToken = values['enroll-token'] ?? env.HOSTPULSE_ENROLL_TOKEN ?? undefined
  const intervalText = values.interval ?? env.HOSTPULSE_INTERVAL
  const intervalMs = intervalText === undefined ? 10_000 : parseDuration(intervalText)
  if (intervalMs < 1000) throw new UsageError(`interval ${intervalText} is below 1s; collection costs CPU, use 1s or more`)
  const dataDir = values['data-dir'] ?? env.HOSTPULSE_AGENT_DATA_DIR ?? defaultDataDir(env)
  // No key and no token is fine only if an earlier enrollment stored one.
  if (!apiKey && !enrollToken && !existsSync(join(dataDir, KEY_FILE))) {
    throw new UsageError('no API key given; set HOSTPULSE_API_KEY in the environment or a --config file (create a key on the server), or register this host with --enroll-token TOKEN')
  }
  const sizeText = values['buffer-max-size'] ?? env.HOSTPULSE_BUFFER_MAX_SIZE
  const bufferMaxBytes = sizeText === undefined ? 100 * 1024 ** 2 : parseSize(sizeText)
  if (bufferMaxBytes < 64 * 1024) throw new UsageError(`buffer size ${sizeText} is below 64KiB; one batch can be bigger than that`)
  const ageText = values['buffer-max-age'] ?? env.HOSTPULSE_BUFFER_MAX_AGE
  const bufferMaxAgeMs = ageText === undefined ? 7 * 86_400_000 : parseDuration(ageText)
  if (bufferMaxAgeMs < 60_000) throw new UsageError(`buffer age ${ageText} is below 1m; use something like 24h or 7d`)
  const logs = logShipping(values['log-file'], values['no-journal'], values['log-max-lines'], values['log-max-bytes'], env)
  const warnings = (['api-key', 'enroll-token'] as const).filter((flag) => values[flag] !== undefined).map((flag) => {
    const variable = flag === 'api-key' ? 'HOSTPULSE_API_KEY' : 'HOSTPULSE_ENROLL_TOKEN'
    return `--${flag} on the command line is visible to every user of this host (ps, /proc) and, before scrubbing, to process lists; set ${variable} in the environment or in a --config file readable only by the agent's user instead`
  })
  return {
    kind: 'run', serverUrl, apiKey: apiKey || undefined, enrollToken: enrollToken || undefined, intervalMs, dataDir, logLevel,
    bufferMaxBytes, bufferMaxAgeMs, paths, commandLines, logs, warnings, placement,
  }
}

/** Region and instance type as given; blank counts as not given (an empty HOSTPULSE_REGION= line in a config file). */
function hostPlacement(region: string | undefined, instanceType: string | undefined): HostPlacement | undefined {
  const placement: HostPlacement = {}
  const given = [['region', '--region', 'HOSTPULSE_REGION', region], ['instance_type', '--instance-type', 'HOSTPULSE_INSTANCE_TYPE', instanceType]] as const
  for (const [field, flag, variable, text] of given) {
    const value = text?.trim()
    if (!value) continue
    if (value.length > 64) throw new UsageError(`${flag} / ${variable} is ${value.length} characters long, over the 64 the server keeps; give the provider's name, like eu-west-1 or m5.large`)
    placement[field] = value
  }
  return Object.keys(placement).length > 0 ? placement : undefined
}

/** Log shipping: files from the flags (or the comma list), the journal unless turned off, the per-batch bounds. */
function logShipping(files: string[] | undefined, noJournal: boolean | undefined, linesText: string | undefined, bytesText: string | undefined,
  env: NodeJS.ProcessEnv): LogShippingOptions {
  const paths = files ?? (env.HOSTPULSE_LOG_FILES ?? '').split(',').map((f) => f.trim()).filter(Boolean)
  const journalText = (env.HOSTPULSE_LOG_JOURNAL ?? 'true').toLowerCase()
  if (!['true', 'false', '1', '0', 'yes', 'no'].includes(journalText)) throw new UsageError(`HOSTPULSE_LOG_JOURNAL "${env.HOSTPULSE_LOG_JOURNAL}" is not true or false`)
  const journal = !noJournal && ['true', '1', 'yes'].includes(journalText)
  const lines = linesText ?? env.HOSTPULSE_LOG_MAX_LINES
  const maxLines = lines === undefined ? 1000 : Number(lines)
  // The wire contract takes 5000 log lines per batch.
  if (!Number.isInteger(maxLines) || maxLines < 1 || maxLines > 5000) throw new UsageError(`log max lines "${lines}" is not a whole number from 1 to 5000`)
  const bytes = bytesText ?? env.HOSTPULSE_LOG_MAX_BYTES
  const maxBytes = bytes === undefined ? 256 * 1024 : parseSize(bytes)
  if (maxBytes < 16 * 1024 || maxBytes > 16 * 1024 ** 2) throw new UsageError(`log max bytes ${bytes} is outside 16KiB..16MiB (one line can be 16KiB)`)
  return { files: paths, journal, maxLines, maxBytes }
}

function commandLinePolicy(mode: string | undefined, patterns: string[]): CommandLinePolicy {
  const chosen = (mode ?? 'full') as CommandLineMode
  if (!COMMAND_LINE_MODES.includes(chosen)) throw new UsageError(`--cmdline "${mode}" is unknown; use one of ${COMMAND_LINE_MODES.join(', ')}`)
  const extraPatterns = patterns.map((text) => {
    try {
      return parseScrubPattern(text)
    } catch (err) {
      throw new UsageError(`--scrub-pattern ${text} is not usable: ${(err as Error).message}`)
    }
  })
  return { mode: chosen, extraPatterns }
}

/** Each given directory must look like what it stands for, so a wrong mount fails at start, not as empty figures. */
function hostPaths(proc: string | undefined, sys: string | undefined, rootfs: string | undefined): HostPaths {
  const paths = { proc: proc || DEFAULT_HOST_PATHS.proc, sys: sys || DEFAULT_HOST_PATHS.sys, rootfs: rootfs || DEFAULT_HOST_PATHS.rootfs }
  if (!existsSync(join(paths.proc, 'stat'))) throw new UsageError(`${paths.proc} is not a proc filesystem (no ${join(paths.proc, 'stat')}); check --host-proc / HOSTPULSE_HOST_PROC`)
  if (!existsSync(join(paths.sys, 'block')) && !existsSync(join(paths.sys, 'class'))) throw new UsageError(`${paths.sys} is not a sysfs (no block/ or class/); check --host-sys / HOSTPULSE_HOST_SYS`)
  if (!existsSync(paths.rootfs)) throw new UsageError(`host root ${paths.rootfs} does not exist; check --host-root / HOSTPULSE_HOST_ROOT`)
  return paths
}
