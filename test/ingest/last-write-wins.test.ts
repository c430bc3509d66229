// InfluxDB's rule for the ecosystem's writers, on every backend here: one point per series (type, name, tags
// in any order) and instant, the last write wins. A point re-sent with another value replaces the stored one,
// in raw rows, statistics, the latest value and a compressed chunk alike; other series and other instants are
// untouched; the agent's own ingest keeps every row it is sent (its batch ids already make retries harmless).
// Runs on the embedded engine, and on a real TimescaleDB server when TEST_DATABASE_URL is set.
import t, { type Test } from 'tap'
import { sql } from 'kysely'
import { makeBatch, metric, startClient, unique } from '../test-client.ts'
import { onEachBackend } from '../store/backends.ts'
import type { Store } from '../../services/store/open-store.ts'
import { send as write } from './influx-helpers.ts'

const enc = encodeURIComponent
const iso = (ms: number) => new Date(ms).toISOString()

async function lastWriteWins(t: Test, store: Store) {
  const api = await startClient(t, {}, store)
  const agent = await api.createAgent(unique('lww-host'))
  const key = { authorization: `Token ${agent.api_key}` }
  const at = Math.floor(Date.now() / 1000) * 1000 - 300_000
  const ns = (ms: number) => `${BigInt(ms) * 1_000_000n}`
  const stored = async (name: string) => (await sql<{ time: Date; value: number; tags: Record<string, string> }>`
    select time, value, tags from metrics where agent_id = ${agent.id}::uuid and metric_type = 'influx' and metric_name = ${name}
    order by time, tags::text, value`.execute(store.db)).rows.map((r) => `${r.time.toISOString()} ${JSON.stringify(r.tags)}=${r.value}`)
  const ok = async (body: string) => {
    const res = await write(api, body, { query: '?precision=ns', headers: key })
    t.equal(res.status, 204, `204 for ${body.split('\n')[0]} (${res.text})`)
  }

  await t.test('a point written again with another value replaces the first (InfluxDB: values 10 then 20 → one point, 20)', async (t) => {
    await ok(`cpu,host=a,dc=x usage=10 ${ns(at)}`)
    await ok(`cpu,dc=x,host=a usage=20 ${ns(at)}`) // the same tags, in another order
    t.same(await stored('cpu_usage'), [`${iso(at)} {"dc":"x","host":"a"}=20`], 'one row, the last value')
    const stats = await api.get(`/api/v1/metrics/stats/${agent.name}?metric=influx.cpu_usage&tags.host=a&tags.dc=x&start=${enc(iso(at - 1000))}&end=${enc(iso(at + 1000))}`)
    t.equal(stats.status, 200, stats.text)
    t.equal(stats.body.count, 1, 'statistics count the point once')
    t.equal(stats.body.avg, 20, 'and average the last value')
    const series = await api.get(`/api/v1/metrics/series/${agent.name}?metric=influx.cpu_usage&tags.host=a&tags.dc=x&start=${enc(iso(at - 1000))}&end=${enc(iso(at + 1000))}&step=1s`)
    t.same(series.body.values, [20], 'the series endpoint answers the last value')
    const latest = await sql<{ value: number }>`select value from metrics_latest where agent_id = ${agent.id}::uuid and metric_name = 'cpu_usage'`.execute(store.db)
    t.same(latest.rows.map((r) => r.value), [20], 'and so does the latest value')
  })

  await t.test('other series and other instants are kept', async (t) => {
    await ok([`mem,host=a used=1 ${ns(at)}`, `mem,host=b used=2 ${ns(at)}`, `mem,host=a used=3 ${ns(at + 1)}`, `mem,host=a used=4 ${ns(at + 1000)}`].join('\n'))
    await ok(`mem,host=a used=5 ${ns(at)}`)
    t.same(await stored('mem_used'), [
      `${iso(at)} {"host":"a"}=5`, `${iso(at)} {"host":"b"}=2`, `${iso(at + 1)} {"host":"a"}=3`, `${iso(at + 1000)} {"host":"a"}=4`,
    ], 'only host=a at that millisecond was replaced')
    // Sub-millisecond digits are dropped, so two nanosecond times in one millisecond name one point.
    await ok(`mem,host=c used=6 ${ns(at)}\nmem,host=c used=7 ${BigInt(at) * 1_000_000n + 999_999n}`)
    t.same((await stored('mem_used')).filter((r) => r.includes('"c"')), [`${iso(at)} {"host":"c"}=7`], 'one point per millisecond, the later line')
  })

  await t.test('a point in a compressed chunk is replaced too', async (t) => {
    const old = at - 10 * 86_400_000
    await ok(`disk,path=/ used_percent=40 ${ns(old)}`)
    const { rows } = await sql<{ chunk: string }>`select c::text as chunk from show_chunks('metrics', older_than => interval '9 days') c`.execute(store.db)
    for (const { chunk } of rows) await sql`select compress_chunk(${chunk}::regclass, if_not_compressed => true)`.execute(store.db)
    const compressed = await sql<{ n: number }>`select count(*)::int as n from timescaledb_information.chunks
      where hypertable_name = 'metrics' and is_compressed and range_start <= ${iso(old)}::timestamptz and range_end > ${iso(old)}::timestamptz`.execute(store.db)
    t.equal(compressed.rows[0].n, 1, 'the old point\'s chunk is compressed')
    await ok(`disk,path=/ used_percent=55 ${ns(old)}`)
    t.same(await stored('disk_used_percent'), [`${iso(old)} {"path":"/"}=55`], 'replaced inside the compressed chunk')
  })

  await t.test('the agent\'s own ingest is not last-write-wins: each batch it sends is kept', async (t) => {
    const time = iso(at + 5000)
    await api.ingestOk(agent.api_key, [makeBatch({ time, metrics: [metric('influx', 'own_v', 1)] })])
    await api.ingestOk(agent.api_key, [makeBatch({ time, metrics: [metric('influx', 'own_v', 2)] })])
    t.same(await stored('own_v'), [`${time} {}=1`, `${time} {}=2`], 'two batches, two rows')
  })
}

await onEachBackend(t, lastWriteWins)
