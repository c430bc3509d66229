// The range, disk and network listings build their rows' JSON in Node from one string per column (the
// database escapes text, Node joins the pieces). Rows written straight into the tables with everything that
// could break that (quotes, backslashes, the separator's own control character, new lines, non-Latin text,
// times with microseconds, extreme and non-finite floats, NULLs) must come back exactly as the database holds
// them, one page or many. On the embedded engine, and on a real TimescaleDB server when TEST_DATABASE_URL is set.
import t, { type Test } from 'tap'
import { sql } from 'kysely'
import { startClient, unique } from '../test-client.ts'
import { walkListing } from './query-helpers.ts'
import { onEachBackend } from '../store/backends.ts'
import type { Store } from '../../services/store/open-store.ts'

const NASTY = ['quote " in it', 'back\\slash', 'unit\u001fseparator', 'record\u001eseparator', 'new\nline\ttab', 'ünïcødé ✓ 日本 🚀', '', ',{"time":"']

async function exactListings(t: Test, store: Store) {
  const api = await startClient(t, {}, store)
  const agent = await api.createAgent(unique('odd'))
  const base = Date.parse('2026-11-30T10:00:00Z')
  // Ingest stores whole milliseconds; times with microseconds (written here straight into the table) are
  // listed as toISOString writes them, cut, not rounded, on an agent of their own (a cursor or next_end in
  // milliseconds cannot page between two rows of one millisecond).
  const times = ['2026-11-30T10:00:00.000Z', '2026-11-30T10:00:01.999Z', '2026-11-30T10:00:02.123Z']
  const values = [0.1 + 0.2, -0, 1e-300, 1.7976931348623157e308, -123456789.125, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]
  for (const [i, time] of times.entries()) {
    for (const [j, text] of NASTY.entries()) {
      await sql`insert into metrics (time, org_id, agent_id, metric_type, metric_name, value, tags)
        values (${time}::timestamptz, ${api.orgId}, ${agent.id}, ${`type ${text}`}, ${`name ${j} ${text}`}, ${String(values[(i + j) % values.length])}::float8,
                ${JSON.stringify({ [`k ${text}`]: text, n: String(j) })}::jsonb)`.execute(api.store.db)
      await sql`insert into disk_metrics (time, org_id, agent_id, device, mount_point, filesystem, total_bytes, used_bytes, available_bytes, usage_percent, inodes_total, read_bytes_per_sec)
        values (${time}::timestamptz, ${api.orgId}, ${agent.id}, ${`/dev/${text}`}, ${`/mnt/${j}/${text}`}, ${j % 2 ? null : text}, ${9007199254740991 - j}, ${j}, 0, ${values[j % 5]}, ${j % 3 ? null : 42}, ${j % 2 ? 1.5 : null})`.execute(api.store.db)
      await sql`insert into network_metrics (time, org_id, agent_id, interface, bytes_sent, bytes_recv, packets_sent, packets_recv, errors_in, errors_out, drop_in, drop_out, is_up, bytes_sent_per_sec)
        values (${time}::timestamptz, ${api.orgId}, ${agent.id}, ${`if${j} ${text}`}, ${j}, ${2 ** 53 - 1}, 0, 0, 0, 0, 0, 0, ${j % 2 === 0}, ${j % 2 ? null : values[j % 5]})`.execute(api.store.db)
    }
  }
  const range = `start=${encodeURIComponent(new Date(base - 60_000).toISOString())}&end=${encodeURIComponent(new Date(base + 60_000).toISOString())}`
  const asJson = (v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v) // to_json writes NaN and ±Infinity as strings
  const expected = async (table: 'metrics' | 'disk_metrics' | 'network_metrics', order: string) => {
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(table)} where agent_id = ${agent.id} order by time desc, ${sql.raw(order)}`.execute(api.store.db)
    return rows.map(({ org_id: _o, agent_id: _a, time, ...rest }) => ({
      time: (time as Date).toISOString(), agent_id: agent.name,
      ...Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, asJson(typeof v === 'string' && /^-?\d+$/.test(v) && k.endsWith('bytes') ? Number(v) : v)])),
    }))
  }

  for (const [path, table, order] of [
    ['range', 'metrics', 'metric_type, metric_name, tags'],
    ['disk', 'disk_metrics', 'mount_point'],
    ['network', 'network_metrics', 'interface'],
  ] as const) {
    const want = await expected(table, order)
    t.equal(want.length, times.length * NASTY.length, `${path}: every row written`)
    const one = await api.get(`/api/v1/metrics/${path}/${agent.name}?${range}&limit=1000`)
    t.equal(one.status, 200, one.text)
    t.same(one.body.metrics, want, `${path}: one page, every field exactly as stored`)
    for (const limit of [1, 5]) {
      const { rows } = await walkListing(t, api, `/api/v1/metrics/${path}/${agent.name}`, Object.fromEntries(new URLSearchParams(range)), limit)
      t.same(rows, want, `${path}: pages of ${limit}, the same rows in the same order`)
    }
  }
  const micro = await api.createAgent(unique('micro'))
  for (const time of ['2026-11-30T10:00:00.000500Z', '2026-11-30T10:00:01.999999Z']) {
    await sql`insert into metrics (time, org_id, agent_id, metric_type, metric_name, value) values (${time}::timestamptz, ${api.orgId}, ${micro.id}, 'cpu', 'usage_percent', 1)`.execute(api.store.db)
  }
  const cut = await api.get(`/api/v1/metrics/range/${micro.name}?${range}`)
  t.same(cut.body.metrics.map((m: any) => m.time), ['2026-11-30T10:00:01.999Z', '2026-11-30T10:00:00.000Z'], 'microseconds are cut, not rounded')

  const metrics = (await api.get(`/api/v1/metrics/range/${agent.name}?${range}&limit=1000`)).body.metrics
  t.ok(metrics.some((m: any) => m.value === 'NaN') && metrics.some((m: any) => m.value === '-Infinity'), 'NaN and infinities travel as strings, as to_json writes them')
}

t.test('listings answer exactly what the database holds, whatever the text', (t) => onEachBackend(t, exactListings))
