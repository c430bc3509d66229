// Fuzzing the native API's route families (issue 15 part 5): FUZZ_RUNS generated requests per family (10,000
// by default), see fuzz-harness.ts for what is generated and what must hold. The account families
// (fuzz-accounts.test.ts), the agent-facing writers with the live streams, and the compatibility faces have
// files of their own (tap runs them side by side).
import t from 'tap'
import { fuzzFamilies } from './fuzz-harness.ts'
import { fuzzWorld } from './fuzz-setup.ts'

const FAMILIES = ['processes', 'traffic', 'metrics', 'alerting', 'dashboards, logs', 'service']

t.test('fuzzing the native API', { timeout: 1_800_000 }, async (t) => {
  const { api, setup, snapshot } = await fuzzWorld(t)
  const before = await snapshot()
  await fuzzFamilies(t, FAMILIES, api.app.registeredRoutes, setup)
  t.same(JSON.parse(await snapshot()), JSON.parse(before), 'no row kept aside changed')
  t.equal((await api.req('GET', '/api/v1/auth/me', { token: api.adminToken })).status, 200, 'the admin session still works')
})
