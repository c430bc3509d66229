// Fuzzing the native API's account families (issue 15 part 5): auth; users, organizations and audit; agents
// and enrollment. FUZZ_RUNS generated requests per family (10,000 by default), see fuzz-harness.ts for what is
// generated and what must hold. The rest of the native API is in fuzz-native.test.ts (tap runs the files side
// by side, one API each).
import t from 'tap'
import { fuzzFamilies } from './fuzz-harness.ts'
import { fuzzWorld } from './fuzz-setup.ts'

const FAMILIES = ['auth', 'users, organizations, audit', 'agents and enrollment']

t.test('fuzzing the native API: accounts', { timeout: 1_800_000 }, async (t) => {
  const { api, setup, snapshot } = await fuzzWorld(t)
  const before = await snapshot()
  await fuzzFamilies(t, FAMILIES, api.app.registeredRoutes, setup)
  t.same(JSON.parse(await snapshot()), JSON.parse(before), 'no row kept aside changed')
  t.equal((await api.req('GET', '/api/v1/auth/me', { token: api.adminToken })).status, 200, 'the admin session still works')
})
