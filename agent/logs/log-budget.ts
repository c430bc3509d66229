// What one collection may ship of log lines: a log storm waits for later collections instead of
// crowding the metrics out of a batch.

export const DEFAULT_MAX_LINES = 1000
export const DEFAULT_MAX_BYTES = 256 * 1024

export class LogBudget {
  lines = 0
  bytes = 0

  constructor(readonly maxLines = DEFAULT_MAX_LINES, readonly maxBytes = DEFAULT_MAX_BYTES) {}

  /** Room for one more line of `bytes`? The first line always fits, so one longer than the budget still moves. */
  take(bytes: number): boolean {
    if (this.lines >= this.maxLines) return false
    if (this.lines > 0 && this.bytes + bytes > this.maxBytes) return false
    this.lines++
    this.bytes += bytes
    return true
  }

  get spent(): boolean { return this.lines >= this.maxLines || this.bytes >= this.maxBytes }
}
