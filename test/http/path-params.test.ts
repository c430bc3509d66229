// Path parameters: the longest valid agent name works in every agent route; an over-long or badly
// encoded path segment is a 4xx in the error format, never the router's own body.
import t from 'tap'
import { assertError, makeBatch, metric, startClient } from '../test-client.ts'

t.test('path parameters', async (t) => {
  const api = await startClient(t)
  const name = `a${'b'.repeat(127)}`
  const agent = await api.createAgent(name)
  t.equal((await api.ingest(agent.api_key, makeBatch({ metrics: [metric('cpu', 'usage_percent', 12)] }))).status, 202)

  const byName = await api.get(`/api/v1/agents/${name}`)
  t.equal(byName.status, 200, 'a 128-character agent name (the longest allowed) is found')
  t.equal(byName.body.id, agent.id)
  const latest = await api.get(`/api/v1/metrics/latest/${name}`)
  t.equal(latest.status, 200, 'and its metrics read')
  t.equal(latest.body.metrics?.[0]?.value, 12)

  const long = await api.get(`/api/v1/agents/${'x'.repeat(600)}`)
  assertError(t, long, 414, 'URI_TOO_LONG', 'a 600-character segment:')
  t.notMatch(long.text, 'xxxxxxxxxx', 'the answer does not echo the path')
  assertError(t, await api.get('/api/v1/agents/%E0%A4%A'), 400, 'BAD_REQUEST', 'bad percent-encoding:')
})
