// services/logs/log-reads.ts against the real embedded store: lines ingested through POST /api/v1/ingest
// (and a few inserted with microsecond times), read back by filter, by keyset cursor and by page, and
// never across organizations.
import t from 'tap'
import { sql } from 'kysely'
import { createOrgWithAdmin, makeBatch, minutesAgo, startClient } from '../test-client.ts'
import { DomainError } from '../../services/errors/domain-error.ts'
import { getLog, likeSubstring, listLogs, listLogsPage, type LogFilter, type LogRow } from '../../services/logs/log-reads.ts'
import type { LogLevel } from '../../services/store/database.ts'

/** A LogItem (the contract's static type of `level` is unusable: a mapped union). */
type Line = { source: string; level: LogLevel; message: string; fields?: Record<string, unknown> }

const line = (message: string, extra: Partial<Line> = {}): Line => ({ source: 'app', level: 'info', message, ...extra })
/** The DomainError kind `p` rejects with, or 'resolved'. */
async function failure(p: Promise<unknown>): Promise<{ kind: string; details?: Record<string, unknown> }> {
  try { await p } catch (err) { return err instanceof DomainError ? { kind: err.kind, details: err.details } : { kind: String(err) } }
  return { kind: 'resolved' }
}
const batch = (time: string, logs: Line[]) => makeBatch({ time, metrics: [], disks: [], networks: [], processes: [], logs: logs as never })

t.test('log reads', async (t) => {
  const api = await startClient(t)
  const db = api.store.db
  const web = await api.createAgent('web-01')
  const dbHost = await api.createAgent('db-01')
  const otherOrg = await createOrgWithAdmin(api.store, 'other-org', 'other-admin', 'other-password-1')
  const otherToken = (await api.login('other-admin', 'other-password-1')).token
  const stranger = await api.createAgent('web-01', otherToken)
  const now = Date.now()
  const at = (m: number) => minutesAgo(m, now)

  await api.ingestOk(web.api_key, [
    batch(at(30), [line('service started'), line('Disk nearly FULL', { level: 'warning', source: '/var/log/syslog' })]),
    batch(at(20), [line('connection refused', { level: 'error' }), line('100% done'), line('file_name.txt written'), line('filexname.txt written')]),
    batch(at(10), [line('panic: out of memory', { level: 'critical', source: 'kernel', fields: { pid: 42 } }), line('debug detail', { level: 'debug' }), line('a notice', { level: 'notice' })]),
  ])
  await api.ingestOk(dbHost.api_key, batch(at(15), [line('checkpoint complete', { source: 'postgres' }), line('back\\slash path c:\\temp')]))
  await api.ingestOk(stranger.api_key, batch(at(12), [line('service started'), line('the other organization', { level: 'critical' })]))

  const window = { orgId: api.orgId, start: new Date(now - 3_600_000), end: new Date(now + 60_000) }
  const messages = (rows: LogRow[]) => rows.map((r) => r.message)
  const all = async (f: Partial<LogFilter>) => messages((await listLogs(db, { ...window, ...f, limit: 1000 })).logs)

  t.test('filters: agent, level and more severe, source, text', async (t) => {
    t.equal((await all({})).length, 11, 'every line of the organization, none of the other one')
    t.notOk((await all({})).includes('the other organization'))
    t.same(await all({ agentId: dbHost.id }), ['back\\slash path c:\\temp', 'checkpoint complete'], 'one agent, newest first, then by id descending')
    t.same(new Set(await all({ level: 'warning' })), new Set(['Disk nearly FULL', 'connection refused', 'panic: out of memory']), 'warning, error, critical')
    t.same(await all({ level: 'critical' }), ['panic: out of memory'])
    t.equal((await all({ level: 'debug' })).length, 11, 'debug is every level')
    t.same(await all({ source: 'kernel' }), ['panic: out of memory'])
    t.same(await all({ q: 'full' }), ['Disk nearly FULL'], 'case-insensitive')
    t.same(await all({ q: 'SERVICE' }), ['service started'], 'the other organization\'s "service started" stays out')
    t.same(await all({ q: '%' }), ['100% done'], '% matches itself only')
    t.same(await all({ q: 'file_name' }), ['file_name.txt written'], '_ matches itself only')
    t.same(await all({ q: '\\' }), ['back\\slash path c:\\temp'], 'a backslash matches itself')
    t.same(await all({ q: 'eX', agentId: web.id, level: 'info', source: 'app' }), ['filexname.txt written'], 'filters combine')
    t.same(await all({ start: new Date(Date.parse(at(20))), end: new Date(Date.parse(at(10))) }).then((m) => m.length), 6, '[start, end): the 10-minute batch is out, the 20-minute one in')
    t.equal(likeSubstring('a%b_c\\'), '%a\\%b\\_c\\\\%')
  })

  t.test('a line: by id in its organization, not_found otherwise', async (t) => {
    const [panic] = (await listLogs(db, { ...window, q: 'panic', limit: 1 })).logs
    t.same(Object.keys(panic).sort(), ['agent_id', 'fields', 'id', 'level', 'message', 'source', 'time'])
    t.type(panic.id, 'number')
    t.ok(panic.time instanceof Date)
    t.same(panic.fields, { pid: 42 })
    t.same(await getLog(db, api.orgId, panic.id), panic)
    const [theirs] = (await listLogs(db, { ...window, orgId: otherOrg, limit: 1 })).logs
    t.equal(theirs.message, 'the other organization', 'the other organization reads its own')
    for (const id of [theirs.id, 987654321, -1, 0, 2 ** 60]) {
      t.equal((await failure(getLog(db, api.orgId, id))).kind, 'not_found', `id ${id} is not found`)
    }
  })

  t.test('cursor: 53 lines over ties and microsecond times, walked 7 at a time, none lost or repeated', async (t) => {
    const agent = await api.createAgent('cursor-host')
    const base = Date.parse(at(5))
    // Ties on one millisecond, and times apart by microseconds only (a millisecond cursor would skip some).
    const times = Array.from({ length: 53 }, (_, i) => `${new Date(base - Math.floor(i / 4) * 1000).toISOString().slice(0, 23)}${String([0, 0, 250, 750][i % 4]).padStart(3, '0')}Z`)
    await sql`insert into logs (time, org_id, agent_id, source, level, message)
      select t, ${api.orgId}::uuid, ${agent.id}::uuid, 'cursor', 'info', m
      from unnest(${times}::timestamptz[], ${times.map((_, i) => `line ${i}`)}::text[]) as u(t, m)`.execute(db)
    const expected = messages((await listLogs(db, { ...window, agentId: agent.id, limit: 1000 })).logs)
    t.equal(expected.length, 53)
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await listLogs(db, { ...window, agentId: agent.id, limit: 7, cursor })
      t.ok(page.logs.length <= 7)
      seen.push(...messages(page.logs))
      cursor = page.next_cursor
      pages++
    } while (cursor && pages < 20)
    t.equal(pages, 8, '7 full pages and one of 4')
    t.same(seen, expected, 'the walk equals the one-page listing')
    const { rows } = await sql<{ message: string }>`select message from logs where agent_id = ${agent.id} order by time desc, id desc`.execute(db)
    t.same(seen, rows.map((r) => r.message), 'ordered by the stored time to the microsecond, then id')
    const exact = await listLogs(db, { ...window, agentId: agent.id, limit: 53 })
    t.equal(exact.next_cursor, undefined, 'a page that ends exactly at the last line has no next cursor')
  })

  t.test('page: offsets and a total, the same order as the cursor', async (t) => {
    const everything = await listLogs(db, { ...window, limit: 1000 })
    const total = everything.logs.length
    const pages: LogRow[] = []
    for (let offset = 0; offset < total; offset += 10) {
      const page = await listLogsPage(db, { ...window, limit: 10, offset })
      t.equal(page.total, total)
      pages.push(...page.logs)
    }
    t.same(pages.map((r) => r.id), everything.logs.map((r) => r.id))
    t.same(await listLogsPage(db, { ...window, level: 'error', limit: 10, offset: 0 }).then((p) => [p.total, messages(p.logs)]),
      [2, ['panic: out of memory', 'connection refused']])
    t.same((await listLogsPage(db, { ...window, limit: 10, offset: 10_000 })).logs, [], 'past the end: an empty page')
  })

  t.test('bounds and bad cursors', async (t) => {
    t.ok((await listLogs(db, { ...window, limit: 1_000_000 })).logs.length <= 1000)
    for (const cursor of ['garbage', Buffer.from('{"t":"2024-01-01","id":1}').toString('base64url'), Buffer.from('{"t":"2024-01-01T00:00:00.000000Z","id":"1"}').toString('base64url')]) {
      t.same(await failure(listLogs(db, { ...window, limit: 10, cursor })), { kind: 'invalid', details: { cursor: ['is malformed'] } }, `cursor ${cursor} is invalid`)
    }
  })
})
