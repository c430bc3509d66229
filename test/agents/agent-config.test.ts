// The server's say over an agent's collection: set by an editor, read by the agent with its key, applied by
// the real agent code.
import t from 'tap'
import { assertError, startClient } from '../test-client.ts'
import { fetchRemoteConfig, mergeRemoteConfig } from '../../agent/remote-config.ts'
import { ALL_FAMILIES, type CollectionSettings } from '../../agent/collection-settings.ts'

t.test('agent configuration', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('cfg-a')
  const other = await api.createAgent('cfg-b')
  const self = (key: string) => api.request('GET', '/api/v1/agents/self/config', { headers: { 'x-api-key': key } })

  t.test('empty until set: the agent keeps its own flags', async (t) => {
    const res = await self(agent.api_key)
    t.equal(res.status, 200)
    t.same(res.body, {})
  })

  t.test('an editor sets it; only that agent sees it; the real agent applies it', async (t) => {
    const config = { interval_seconds: 30, collect: { processes: false, containers: false }, max_processes: 50 }
    const put = await api.request('PUT', '/api/v1/agents/cfg-a/config', { body: config, token: api.adminToken })
    t.equal(put.status, 200)
    t.same(put.body, config)
    t.same((await self(agent.api_key)).body, config)
    t.same((await self(other.api_key)).body, {}, 'another agent keeps its own')
    t.same((await api.get('/api/v1/agents/cfg-a/config')).body, config)

    const answer = await fetchRemoteConfig({ serverUrl: api.url, apiKey: agent.api_key, timeoutMs: 5000 })
    t.equal(answer.kind, 'config')
    if (answer.kind !== 'config') return
    const local: CollectionSettings = { intervalMs: 10_000, collect: { ...ALL_FAMILIES }, maxProcesses: undefined }
    const { settings, problems } = mergeRemoteConfig(local, answer.config)
    t.same(problems, [])
    t.equal(settings.intervalMs, 30_000)
    t.equal(settings.collect.processes, false)
    t.equal(settings.collect.cpu, true, 'a family the server does not name keeps its local setting')
    t.equal(settings.maxProcesses, 50)
  })

  t.test('bad settings are a 400 naming the field, and change nothing', async (t) => {
    const before = (await self(agent.api_key)).body
    assertError(t, await api.request('PUT', '/api/v1/agents/cfg-a/config', { body: { interval_seconds: 0 }, token: api.adminToken }), 400, 'VALIDATION_ERROR')
    const res = await api.request('PUT', '/api/v1/agents/cfg-a/config', { body: { collect: { gpu: true } }, token: api.adminToken })
    assertError(t, res, 400, 'VALIDATION_ERROR')
    t.match(res.body.message, /gpu/)
    t.same((await self(agent.api_key)).body, before)
  })

  t.test('keys and names', async (t) => {
    assertError(t, await self('hp_not-a-key'), 401, 'UNAUTHORIZED')
    assertError(t, await api.request('GET', '/api/v1/agents/self/config'), 401, 'UNAUTHORIZED')
    assertError(t, await api.get('/api/v1/agents/nope/config'), 404, 'NOT_FOUND')
  })
})
