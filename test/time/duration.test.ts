// Durations as operators write them: exact milliseconds, and a clear refusal of anything past what a
// Date can hold (a huge number once became Infinity or an Invalid Date and a 500 in a caller).
import t from 'tap'
import { DurationTooLongError, MAX_DURATION_MS, durationToInterval, parseDuration } from '../../services/time/duration.ts'

const thrown = (f: () => unknown): unknown => { try { f() } catch (err) { return err } }

t.test('units in milliseconds', async (t) => {
  t.same(['250ms', '30s', '5m', '2h', '30d', '2w', ' 1h '].map(parseDuration), [250, 30_000, 300_000, 7_200_000, 2_592_000_000, 1_209_600_000, 3_600_000])
  t.equal(durationToInterval('30d'), '30 days')
})

t.test('not a duration: RangeError naming the text', async (t) => {
  for (const text of ['', 'soon', '5', '-5m', '1.5h', '5 m', '5y']) t.throws(() => parseDuration(text), { name: 'RangeError', message: /not a duration/ }, JSON.stringify(text))
})

t.test('absurd lengths are refused, never Infinity or an Invalid Date', async (t) => {
  for (const text of ['115740740741d', `${'9'.repeat(400)}d`, '100000000w', `${'9'.repeat(20)}ms`]) {
    t.ok(thrown(() => parseDuration(text)) instanceof DurationTooLongError, text)
    t.ok(thrown(() => durationToInterval(text)) instanceof DurationTooLongError, `${text} as an interval`)
  }
  const longest = parseDuration('999999w') // the longest agent key expiry its schema lets through
  t.ok(longest <= MAX_DURATION_MS, 'long but sane durations still parse')
  t.ok(Number.isFinite(new Date(Date.now() + MAX_DURATION_MS).getTime()), 'now + the longest duration is a valid Date')
})
