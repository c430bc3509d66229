// Fuzzing the compatibility faces (issue 15 part 5): seeds 000 and 002 (process monitors), 001 and 003 (agent
// management) and 004 (PerfAnalysis), FUZZ_RUNS generated requests per family, each refusal in the face's
// own error format (see fuzz-harness.ts).
import t from 'tap'
import { fuzzFamilies } from './fuzz-harness.ts'
import { fuzzWorld } from './fuzz-setup.ts'

t.test('fuzzing the compatibility faces', { timeout: 1_800_000 }, async (t) => {
  const { api, setup, snapshot } = await fuzzWorld(t)
  const before = await snapshot()
  await fuzzFamilies(t, ['seeds 000 and 002', 'seeds 001 and 003', 'seed 004'], api.app.registeredRoutes, setup)
  t.same(JSON.parse(await snapshot()), JSON.parse(before), 'no row kept aside changed')
})
