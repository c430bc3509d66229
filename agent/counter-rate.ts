// Per-second rate of a kernel counter between two samples; shared by the disk and network collectors.

/**
 * Width of the kernel's counters: /proc/net/dev and /proc/diskstats print `unsigned long` (or u64), so a
 * 64-bit kernel's counters wrap at 2^64 and a 32-bit kernel's at 2^32.
 */
export const NATIVE_COUNTER_BITS: 32 | 64 = ['ia32', 'arm', 'mips', 'mipsel', 'ppc', 's390'].includes(process.arch) ? 32 : 64

/**
 * How much a counter grew between two samples, never negative:
 * - `current >= previous`: the plain difference.
 * - a wrap: the counter passed 2^bits and started again at 0. Taken to be a wrap when going forward
 *   around the ring (2^bits − previous + current) is the shorter way, i.e. less than half the range;
 *   that delta is exact.
 * - otherwise a reset (interface re-created, driver reloaded, machine rebooted): like Prometheus
 *   `rate()`/`increase()`, the counter is taken to have restarted at 0, so the growth is `current`.
 *   A reset on a 64-bit counter is never mistaken for a wrap, since no counter gets near 2^63.
 * Numbers are IEEE doubles: exact below 2^53, and near 2^64 a delta is off by at most 2048 of its units.
 */
export function counterDelta(previous: number, current: number, bits: 32 | 64 = NATIVE_COUNTER_BITS): number {
  if (!Number.isFinite(previous) || !Number.isFinite(current) || previous < 0 || current < 0) return 0
  if (current >= previous) return current - previous
  const range = 2 ** bits
  if (previous < range && current < range) {
    const wrapped = range - previous + current
    if (wrapped < range / 2) return wrapped
  }
  return current
}

/** Per-second rate of a counter (see counterDelta for wraps and resets); 0 when no time passed. */
export function counterRate(previous: number, current: number, elapsedSeconds: number, bits: 32 | 64 = NATIVE_COUNTER_BITS): number {
  if (!(elapsedSeconds > 0) || !Number.isFinite(elapsedSeconds)) return 0
  return counterDelta(previous, current, bits) / elapsedSeconds
}

/** Rounds to a fixed number of decimals so batches stay small and readable. */
export function round(value: number, decimals = 2): number {
  const f = 10 ** decimals
  return Math.round(value * f) / f
}
