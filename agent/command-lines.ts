// What the agent sends of each process's command line: everything scrubbed of credentials (the default),
// only the executable, or nothing. The agent's own key is hidden wherever it appears, whatever its form.
import { parseScrubPattern, scrubCommandLine } from '../contract/command-line-secrets.ts'

export const COMMAND_LINE_MODES = ['full', 'executable', 'none'] as const
export type CommandLineMode = (typeof COMMAND_LINE_MODES)[number]

export interface CommandLinePolicy {
  mode: CommandLineMode
  /** The operator's own patterns (--scrub-pattern), on top of the built-in rules. */
  extraPatterns: readonly RegExp[]
}

export const DEFAULT_COMMAND_LINES: CommandLinePolicy = { mode: 'full', extraPatterns: [] }

/** Literal secrets (the agent's key) as patterns, so a form no rule knows still hides them. */
export function literalPatterns(secrets: ReadonlyArray<string | undefined>): RegExp[] {
  return secrets
    .filter((s): s is string => typeof s === 'string' && s.length >= 8)
    .map((s) => parseScrubPattern(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')))
}

/** argv as /proc/[pid]/cmdline holds it (NUL-separated) → what the batch carries; undefined sends none. */
export function commandLineReporter(policy: CommandLinePolicy): (rawArgv: string) => string | undefined {
  return (rawArgv) => {
    if (policy.mode === 'none') return undefined
    const argv = rawArgv.replace(/\0+$/, '').split('\0')
    if (policy.mode === 'executable') return argv[0].slice(0, 4096)
    // Cut after scrubbing: a cut must not leave half a secret where a rule can no longer see it.
    return scrubCommandLine(argv.join(' '), policy.extraPatterns).slice(0, 4096)
  }
}
