// Bad input never reaches the database as a 5xx: NUL characters, sessions and containers stored,
// batch ids deduplicated per agent (one agent's ids never shadow another's).
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { assertError, makeBatch, metric, minutesAgo, rowCounts, startClient } from '../test-client.ts'

t.test('hardening', async (t) => {
  const api = await startClient(t)
  const a = await api.createAgent('hard-a')
  const b = await api.createAgent('hard-b')

  t.test('a NUL character anywhere is a 400 naming the field, and nothing is stored', async (t) => {
    const before = await rowCounts(api.store)
    const bad = makeBatch({ metrics: [metric('cpu', 'usage_percent', 1, { tags: { core: 'a\u0000b' } })] })
    const res = await api.ingest(a.api_key, bad)
    assertError(t, res, 400, 'VALIDATION_ERROR')
    t.same(Object.keys(res.body.details), ['metrics[0].tags.core'])
    const proc = makeBatch({ processes: [{ pid: 1, name: 'init', cmdline: '/sbin/init\u0000splash', cpu_percent: 0, memory_bytes: 1, memory_percent: 0 }] })
    const res2 = await api.ingest(a.api_key, proc)
    assertError(t, res2, 400, 'VALIDATION_ERROR')
    t.same(Object.keys(res2.body.details), ['processes[0].cmdline'])
    const res3 = await api.get(`/api/v1/metrics/latest/${encodeURIComponent('x\u0000y')}`)
    assertError(t, res3, 400, 'VALIDATION_ERROR')
    // In a key too; and a NUL anywhere is named before a lone surrogate met earlier in the request.
    const res4 = await api.ingest(a.api_key, makeBatch({ metrics: [metric('cpu', 'usage_percent', 1, { tags: { 'co\u0000re': 'a' } })] }))
    assertError(t, res4, 400, 'VALIDATION_ERROR')
    t.same(res4.body.details, { 'metrics[0].tags.co\u0000re': ['must not contain NUL (\\u0000) characters'] })
    const res5 = await api.ingest(a.api_key, makeBatch({ metrics: [metric('cpu', 'usage_percent', 1, { tags: { core: '\ud800' } }), metric('cpu', 'x', 1, { tags: { core: '\u0000' } })] }))
    assertError(t, res5, 400, 'VALIDATION_ERROR')
    t.same(res5.body.details, { 'metrics[1].tags.core': ['must not contain NUL (\\u0000) characters'] })
    t.same(await rowCounts(api.store), before)
  })

  t.test('a lone surrogate is a 400 naming the field, a key shown with it replaced', async (t) => {
    const before = await rowCounts(api.store)
    const res = await api.ingest(a.api_key, makeBatch({ metrics: [metric('cpu', 'usage_percent', 1), metric('cpu', 'usage_percent', 2, { tags: { core: 'a\udc00' } })] }))
    assertError(t, res, 400, 'VALIDATION_ERROR')
    t.same(res.body.details, { 'metrics[1].tags.core': ['contains an unpaired UTF-16 surrogate (not valid Unicode text)'] })
    const res2 = await api.ingest(a.api_key, makeBatch({ metrics: [metric('cpu', 'usage_percent', 1, { tags: { 'x\ud800y': '1' } })] }))
    t.same(res2.body.details, { 'metrics[0].tags.x?y': ['contains an unpaired UTF-16 surrogate (not valid Unicode text)'] })
    const c = await api.createAgent('hard-c') // hard-a's and hard-b's rows are counted below
    const pair = await api.ingest(c.api_key, makeBatch({ metrics: [metric('cpu', 'usage_percent', 3, { tags: { core: '\ud83d\ude00' } })] }))
    t.equal(pair.status, 202, 'a surrogate pair is text like any other')
    const after = await rowCounts(api.store)
    t.equal(after.metrics, before.metrics + 1, 'only the good batch stored')
  })

  t.test('the same batch id from two agents is stored for each', async (t) => {
    const id = randomUUID()
    const first = await api.ingest(a.api_key, makeBatch({ batch_id: id, metrics: [metric('cpu', 'usage_percent', 10)] }))
    const second = await api.ingest(b.api_key, makeBatch({ batch_id: id, metrics: [metric('cpu', 'usage_percent', 20)] }))
    t.equal(first.status, 202)
    t.equal(second.status, 202)
    t.equal(second.body.accepted_batches, 1, "another agent's id does not shadow this one")
    const { rows } = await sql<{ name: string; value: number }>`select a.name, m.value from metrics m join agents a on a.id = m.agent_id
      where a.id in (${a.id}, ${b.id}) order by a.name`.execute(api.store.db)
    t.same(rows, [{ name: 'hard-a', value: 10 }, { name: 'hard-b', value: 20 }])
  })

  t.test('sessions, containers and inventory are stored', async (t) => {
    const login = minutesAgo(60)
    const res = await api.ingest(a.api_key, makeBatch({
      metrics: [], disks: [], networks: [], processes: [],
      host: { hostname: 'h1', cpu_model: 'EPYC', cpu_cores: 8, cloud_provider: 'hetzner', ip_addresses: ['10.0.0.1'] },
      sessions: [{ user: 'alice', terminal: 'pts/0', host: '192.0.2.9', pid: 4242, login_time: login }],
      containers: [{ id: 'c0ffee', name: 'web', image: 'nginx:1.27', state: 'running', cpu_percent: 3.5, memory_bytes: 1048576, rx_bytes: 10, tx_bytes: 20 }],
    }))
    t.equal(res.status, 202)
    t.same(res.body.rows, { metrics: 0, disks: 0, networks: 0, processes: 0, sessions: 1, containers: 1, logs: 0 })
    const { rows: [s] } = await sql<Record<string, unknown>>`select username, terminal, host, pid, login_time from user_sessions
      where agent_id = ${a.id}`.execute(api.store.db)
    t.same(s, { username: 'alice', terminal: 'pts/0', host: '192.0.2.9', pid: 4242, login_time: new Date(login) })
    const { rows: [c] } = await sql<Record<string, unknown>>`select container_id, name, image, state, cpu_percent, memory_bytes, rx_bytes
      from container_metrics where agent_id = ${a.id}`.execute(api.store.db)
    t.same(c, { container_id: 'c0ffee', name: 'web', image: 'nginx:1.27', state: 'running', cpu_percent: 3.5, memory_bytes: 1048576, rx_bytes: 10 })
    const { rows: [agent] } = await sql<{ inventory: Record<string, unknown> }>`select inventory from agents where id = ${a.id}`.execute(api.store.db)
    t.match(agent.inventory, { cpu_model: 'EPYC', cpu_cores: 8, cloud_provider: 'hetzner', ip_addresses: ['10.0.0.1'] })
  })

  t.test('latest stays the newest value when an older batch is replayed after a newer one', async (t) => {
    const c = await api.createAgent('hard-latest')
    t.equal((await api.ingest(c.api_key, makeBatch({ time: minutesAgo(1), metrics: [metric('cpu', 'usage_percent', 2)], disks: [], networks: [], processes: [] }))).status, 202)
    t.equal((await api.ingest(c.api_key, makeBatch({ time: minutesAgo(5), metrics: [metric('cpu', 'usage_percent', 1)], disks: [], networks: [], processes: [] }))).status, 202)
    const latest = await api.get('/api/v1/metrics/latest/hard-latest')
    t.same(latest.body.metrics.map((m: { value: number }) => m.value), [2])
    const range = await api.get('/api/v1/metrics/range/hard-latest')
    t.equal(range.body.count, 2, 'both samples are stored')
  })
})
