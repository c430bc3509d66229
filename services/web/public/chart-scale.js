// A chart's y axis: where it starts and ends and where its ticks go. Pure (no DOM), so Node tests it.

/** Tick steps for byte axes: powers of two from 1 B, so ticks read 512 MiB, 1 GiB, 2 GiB rather than 4.66 GiB. */
const BINARY_STEPS = Array.from({ length: 7 * 10 }, (_, i) => 2 ** (i % 10) * 1024 ** Math.floor(i / 10))
const BYTE_UNITS = new Set(['bytes', 'byte-rate'])
/** Steps for plain numbers: 1, 2, 2.5 and 5 times a power of ten. */
const DECIMAL_STEPS = Array.from({ length: 24 }, (_, i) => [1, 2, 2.5, 5].map((m) => m * 10 ** (i - 8))).flat()
/** At most this many steps between the bottom and the top of an axis (about 40 px each at 200 px). */
const MAX_STEPS = 5

/**
 * The y axis: percent from 0 to 100 (or above, for a process on several cores), anything else from 0 (or
 * below, for negative values) up to the first round step above the data with 5 % headroom, so the top tick
 * is a labelled round number (12 GiB above 10 GiB of data, 1.50 above a load of 1.25).
 */
export function yScale(unit, min, max) {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) {
    return unit === 'percent' ? { bottom: 0, top: 100, step: 25 } : BYTE_UNITS.has(unit) ? { bottom: 0, top: 1, step: 1 } : { bottom: 0, top: 1, step: 0.25 }
  }
  if (unit === 'percent' && max <= 100 && min >= 0) return { bottom: 0, top: 100, step: 25 }
  const high = Math.max(max, 0) * 1.05
  const low = Math.min(min, 0) * 1.05
  const span = high - low || 1
  const steps = BYTE_UNITS.has(unit) ? BINARY_STEPS : DECIMAL_STEPS
  const step = steps.find((s) => Math.ceil(span / s) <= MAX_STEPS) ?? span / MAX_STEPS
  return { bottom: low < 0 ? -Math.ceil(-low / step) * step : 0, top: Math.max(step, Math.ceil(high / step) * step), step }
}

/** Every `step` from `min` to `max` (the range yScale chose, so both ends are steps). */
export function ySplits(min, max, step) {
  if (!(step > 0)) return [min, max]
  const out = []
  for (let v = min; v <= max + step * 1e-9; v += step) out.push(Math.round(v / step) * step)
  return out
}
