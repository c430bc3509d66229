// Per-second rate of a kernel counter between two samples; shared by the disk and network collectors.

/**
 * Rate of a monotonically increasing counter. A counter that went backwards (interface reset,
 * 32-bit wrap, driver reload) yields 0 for that sample: a guess would be worse than a gap.
 */
export function counterRate(previous: number, current: number, elapsedSeconds: number): number {
  if (!(elapsedSeconds > 0) || !Number.isFinite(previous) || !Number.isFinite(current)) return 0
  if (current < previous) return 0
  return (current - previous) / elapsedSeconds
}

/** Rounds to a fixed number of decimals so batches stay small and readable. */
export function round(value: number, decimals = 2): number {
  const f = 10 ** decimals
  return Math.round(value * f) / f
}
