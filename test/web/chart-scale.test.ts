// The charts' y axes (services/web/public/chart-scale.js): the top is a round step above the data, so the
// top tick is labelled; byte axes step in powers of two; percent stays 0–100 unless a value is above it.
import t from 'tap'
// A browser module without types: imported by URL, so TypeScript takes it as it is.
const { yScale, ySplits } = await import(new URL('../../services/web/public/chart-scale.js', import.meta.url).href)

const GiB = 1024 ** 3
const ticks = (unit: string, min: number, max: number) => {
  const s = yScale(unit, min, max)
  return { ...s, ticks: ySplits(s.bottom, s.top, s.step) as number[] }
}

t.test('the top tick is a round step above the data, with room', async (t) => {
  t.same(ticks('bytes', 2 * GiB, 10 * GiB), { bottom: 0, top: 12 * GiB, step: 4 * GiB, ticks: [0, 4 * GiB, 8 * GiB, 12 * GiB] }, 'memory: 10 GiB under a 12 GiB tick')
  t.same(ticks('load', 0.7, 1.25), { bottom: 0, top: 1.5, step: 0.5, ticks: [0, 0.5, 1, 1.5] }, 'load 1.25 under 1.50')
  t.same(ticks('byte-rate', 300 * 1024, 1.5 * 1024 ** 2).ticks.map((v: number) => v / 1024), [0, 512, 1024, 1536, 2048], 'network in 512 KiB steps')
  t.equal(ticks('number', 0, 100).top, 125, 'a value on a round number still gets headroom above it')
})

t.test('every axis holds its data between labelled ends, whatever the data', async (t) => {
  for (const unit of ['bytes', 'byte-rate', 'number', 'load', 'rate', 'percent']) {
    for (const max of [0.001, 0.3, 1, 7, 99.9, 100, 250, 1e6, 3.3e9, 7.7e12]) {
      for (const min of [0, max / 3, -max / 2]) {
        const s = ticks(unit, min, max)
        if (!(s.top >= max && s.bottom <= Math.min(min, 0))) t.fail(`${unit} [${min}, ${max}] → [${s.bottom}, ${s.top}]`)
        if (s.ticks[0] !== s.bottom || Math.abs(s.ticks[s.ticks.length - 1] - s.top) > s.step * 1e-6) t.fail(`${unit} [${min}, ${max}]: the ends are not ticks (${s.ticks})`)
        if (s.ticks.length > 8) t.fail(`${unit} [${min}, ${max}]: ${s.ticks.length} ticks`)
      }
    }
  }
  t.pass('checked 180 axes')
})

t.test('percent, empty and byte edge cases', async (t) => {
  t.same(ticks('percent', 3, 88), { bottom: 0, top: 100, step: 25, ticks: [0, 25, 50, 75, 100] }, 'percent is 0–100')
  t.same(ticks('percent', 0, 250).top, 300, 'a process on several cores goes above 100')
  t.same(yScale('bytes', null, null), { bottom: 0, top: 1, step: 1 }, 'no data: 0 B and 1 B')
  t.same(yScale('load', null, null), { bottom: 0, top: 1, step: 0.25 }, 'no data, a number')
  t.same(ticks('bytes', 0, 0).ticks, [0, 1], 'all zero: 0 B and 1 B, no fractions of a byte')
})
