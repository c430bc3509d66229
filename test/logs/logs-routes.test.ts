// GET /api/v1/logs over HTTP: any role reads its organization's lines, newest first, filtered and paged by
// cursor; the default window is the last 24 hours; bad parameters are 400s in the native format and
// another organization's agent is a 404.
import t from 'tap'
import { assertError, createOrgWithAdmin, makeBatch, minutesAgo, startClient } from '../test-client.ts'
import type { LogLevel } from '../../services/store/database.ts'

/** A LogItem (the contract's static type of `level` is unusable: a mapped union). */
type Line = { source: string; level: LogLevel; message: string; fields?: Record<string, unknown> }

const enc = encodeURIComponent
const line = (message: string, extra: Partial<Line> = {}): Line => ({ source: 'app', level: 'info', message, ...extra })
const batch = (time: string, logs: Line[]) => makeBatch({ time, metrics: [], disks: [], networks: [], processes: [], logs: logs as never })

t.test('GET /api/v1/logs', async (t) => {
  const api = await startClient(t)
  const web = await api.createAgent('web-01')
  const other = await api.createAgent('db-01')
  await createOrgWithAdmin(api.store, 'other-org', 'other-admin', 'other-password-1')
  const otherToken = (await api.login('other-admin', 'other-password-1')).token
  const stranger = await api.createAgent('stranger-01', otherToken)
  const viewer = await api.user('viewer')
  const now = Date.now()

  // 25 lines one minute apart on web-01 (k = 25 … 1 minutes ago), one 25 hours ago, one on db-01.
  await api.ingestOk(web.api_key, Array.from({ length: 25 }, (_, i) => batch(minutesAgo(25 - i, now),
    [line(`request ${25 - i} served`, { level: i % 5 === 0 ? 'error' : 'info', source: i % 2 ? '/var/log/app.log' : 'nginx', fields: { n: 25 - i } })])))
  await api.ingestOk(web.api_key, batch(minutesAgo(25 * 60, now), [line('yesterday\'s news', { level: 'error' })]))
  await api.ingestOk(other.api_key, batch(minutesAgo(3, now), [line('checkpoint complete')]))
  await api.ingestOk(stranger.api_key, batch(minutesAgo(3, now), [line('secret of another organization', { level: 'critical' })]))

  t.test('one agent, newest first, in the native shape; a viewer may read', async (t) => {
    const res = await api.get('/api/v1/logs?agent=web-01', viewer.token)
    t.equal(res.status, 200, res.text.slice(0, 300))
    t.same(Object.keys(res.body).sort(), ['agent', 'count', 'end', 'logs', 'start'])
    t.equal(res.body.agent, 'web-01')
    t.equal(res.body.count, 25, 'the default window is the last 24 hours: yesterday\'s line is out')
    t.equal(Date.parse(res.body.end) - Date.parse(res.body.start), 86_400_000)
    const first = res.body.logs[0]
    t.same(Object.keys(first).sort(), ['agent_id', 'agent_name', 'fields', 'id', 'level', 'message', 'source', 'time'])
    t.match(first, { agent_id: web.id, agent_name: 'web-01', message: 'request 1 served', fields: { n: 1 }, time: minutesAgo(1, now) })
    t.type(first.id, 'number')
    t.ok(res.body.logs.every((l: any, i: number, all: any[]) => i === 0 || l.time <= all[i - 1].time), 'newest first')
    const byUuid = await api.get(`/api/v1/logs?agent=${web.id}&limit=3`)
    t.same(byUuid.body.logs.map((l: any) => l.message), ['request 1 served', 'request 2 served', 'request 3 served'], 'by uuid too')
  })

  t.test('the whole organization when no agent is named, never another one', async (t) => {
    const res = await api.get('/api/v1/logs?limit=1000')
    t.equal(res.status, 200)
    t.equal(res.body.agent, null)
    t.equal(res.body.count, 26)
    t.same(res.body.logs.find((l: any) => l.message === 'checkpoint complete')?.agent_name, 'db-01')
    t.notOk(res.body.logs.some((l: any) => l.message.includes('another organization')))
    const theirs = await api.get('/api/v1/logs', otherToken)
    t.same(theirs.body.logs.map((l: any) => l.message), ['secret of another organization'])
  })

  t.test('filters: level and more severe, text, source, range', async (t) => {
    const errors = await api.get(`/api/v1/logs?agent=web-01&level=error&start=${enc(minutesAgo(48 * 60, now))}`)
    t.equal(errors.body.count, 6, 'five errors today and yesterday\'s')
    t.ok(errors.body.logs.every((l: any) => l.level === 'error'))
    t.same((await api.get('/api/v1/logs?agent=web-01&q=REQUEST%2012%20')).body.logs.map((l: any) => l.message), ['request 12 served'])
    t.equal((await api.get(`/api/v1/logs?agent=web-01&source=${enc('/var/log/app.log')}`)).body.count, 12)
    const range = await api.get(`/api/v1/logs?agent=web-01&start=${enc(minutesAgo(10, now))}&end=${enc(minutesAgo(5, now))}`)
    t.same(range.body.logs.map((l: any) => l.fields.n), [6, 7, 8, 9, 10], '[start, end)')
  })

  t.test('cursor pagination: every line once', async (t) => {
    const seen: number[] = []
    let next = ''
    let pages = 0
    do {
      const res = await api.get(`/api/v1/logs?agent=web-01&limit=4${next ? `&cursor=${enc(next)}` : ''}`)
      t.equal(res.status, 200)
      seen.push(...res.body.logs.map((l: any) => l.fields.n))
      next = res.body.next_cursor ?? ''
      pages++
    } while (next && pages < 20)
    t.equal(pages, 7)
    t.same(seen, Array.from({ length: 25 }, (_, i) => i + 1))
  })

  t.test('bad input is a 400 in the native format, never a 500', async (t) => {
    const bad: Array<[string, string]> = [
      ['level=fatal', 'level'], ['start=yesterday', 'start'], ['end=2024-02-30T00:00:00Z', 'end'],
      [`start=${enc(minutesAgo(1, now))}&end=${enc(minutesAgo(2, now))}`, 'start'], ['limit=0', 'limit'], ['limit=ten', 'limit'],
      ['cursor=not-a-cursor', 'cursor'], [`q=${'x'.repeat(300)}`, 'q'], ['agent=', 'agent'], ['source=', 'source'], ['q=%00', 'q'],
    ]
    for (const [query, field] of bad) {
      const res = await api.get(`/api/v1/logs?agent=web-01&${query}`)
      assertError(t, res, 400, 'VALIDATION_ERROR', query)
      t.ok(JSON.stringify(res.body.details ?? {}).includes(field), `${query} names ${field}: ${res.text.slice(0, 200)}`)
    }
    t.equal((await api.get('/api/v1/logs?agent=web-01&limit=5000')).status, 200, 'a limit above 1000 is capped, not refused')
  })

  t.test('another organization\'s agent is a 404, as is an unknown one; no token is a 401', async (t) => {
    assertError(t, await api.get('/api/v1/logs?agent=stranger-01'), 404, 'NOT_FOUND')
    assertError(t, await api.get(`/api/v1/logs?agent=${stranger.id}`), 404, 'NOT_FOUND')
    assertError(t, await api.get('/api/v1/logs?agent=nobody'), 404, 'NOT_FOUND')
    assertError(t, await api.get('/api/v1/logs', ''), 401, 'UNAUTHORIZED')
  })
})
