// The server's own pass over what agents send: command lines are scrubbed of credentials before anything
// is stored, published or evaluated, whoever sent them (hostpulse's agent scrubs too; other clients may not).
import { scrubCommandLine } from '../../contract/command-line-secrets.ts'
import type { IngestBatch } from '../../contract/ingest-batch.ts'

/** Metric tags that carry a command line (Telegraf's procstat `cmdline` tag, for one). */
const COMMAND_LINE_TAGS = new Set(['cmdline', 'command_line', 'commandline', 'command', 'cmd', 'args'])

/** Scrubs in place (the batches are the request's own) and returns them. */
export function scrubBatches(batches: IngestBatch[], extra: readonly RegExp[] = []): IngestBatch[] {
  for (const batch of batches) {
    for (const p of batch.processes ?? []) if (p.cmdline) p.cmdline = scrubCommandLine(p.cmdline, extra)
    for (const m of batch.metrics ?? []) {
      if (!m.tags) continue
      for (const key of Object.keys(m.tags)) if (COMMAND_LINE_TAGS.has(key.toLowerCase())) m.tags[key] = scrubCommandLine(m.tags[key], extra)
    }
  }
  return batches
}
