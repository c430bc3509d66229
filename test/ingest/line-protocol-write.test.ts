// POST /api/v2/write and /write over real HTTP: a corpus of line protocol round-trips into queryable
// series; every precision of both APIs; a bad line costs only itself (InfluxDB 3's partial write), nothing is
// stored when every line is bad; integers past 2^53 are refused; body limits, in each API's error format.
import t from 'tap'
import { gzipSync } from 'node:zlib'
import { sql } from 'kysely'
import { rowCounts, startClient } from '../test-client.ts'
import { assertV1Error, assertV2Error, rowsOf, send as write, type Row } from './influx-helpers.ts'

const sortedTags = (tags: Record<string, string>) => JSON.stringify(Object.fromEntries(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : 1))))
const view = (r: Row) => `${r.time.toISOString()} ${r.metric_type}.${r.metric_name}${sortedTags(r.tags)}=${r.value}`

t.test('line protocol write', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('telegraf-host')
  const token = { authorization: `Token ${agent.api_key}` }
  // Whole seconds a few minutes ago, so every precision can name the same instant.
  const baseS = Math.floor(Date.now() / 1000) - 600
  const iso = (s: number, ms = 0) => new Date(s * 1000 + ms).toISOString()

  t.test('a corpus of valid lines round-trips into series', async (t) => {
    const corpus = [
      '# telegraf output, with comments and blank lines',
      '',
      `cpu,cpu=cpu-total,host=web-01 usage_idle=97.5,usage_user=1.25,usage_system=0.75 ${baseS}123456789`,
      `mem,host=web-01 used=8123456789i,available_percent=41.2,swap_free=0u ${baseS}000000000`,
      `system,host=web-01 load1=0.5,n_cpus=8i,uptime_format="3 days, 2:01",online=true,degraded=F ${baseS}000000000`,
      `disk\\ io,device=sda\\ 1,path=C:\\\\x,k\\=ey=v\\,al reads=12i,Write\\ Bytes=4096i,busy=t ${baseS}000000000`,
      `Docker.Container-Stats,name=db cpu.percent=3.5 ${baseS}500000000`,
      `net,interface=eth0 note="escaped \\"quote\\" and \\\\ backslash",bytes_recv=123u ${baseS}000000000`,
      `exp value=-1.5e3 ${baseS}000000000`,
    ].join('\n')
    const res = await write(api, corpus, { query: '?org=acme&bucket=telegraf&precision=ns', headers: token })
    t.equal(res.status, 204, `204 No Content (${res.text})`)
    t.equal(res.text, '', 'no body, like InfluxDB')
    t.equal(res.headers.get('x-hostpulse-points'), '7')
    t.equal(res.headers.get('x-hostpulse-rows'), '16')
    t.equal(res.headers.get('x-hostpulse-skipped-string-fields'), '2')
    const rows = (await rowsOf(api, agent.id)).map(view).sort()
    const at = iso(baseS)
    const diskTags = JSON.stringify({ 'device': 'sda 1', 'k=ey': 'v,al', 'path': 'C:\\\\x' })
    t.same(rows, [
      `${at} influx.disk_io_busy${diskTags}=1`,
      `${at} influx.disk_io_reads${diskTags}=12`,
      `${at} influx.disk_io_write_bytes${diskTags}=4096`,
      `${at} influx.exp_value{}=-1500`,
      `${at} influx.mem_available_percent{"host":"web-01"}=41.2`,
      `${at} influx.mem_swap_free{"host":"web-01"}=0`,
      `${at} influx.mem_used{"host":"web-01"}=8123456789`,
      `${at} influx.net_bytes_recv{"interface":"eth0"}=123`,
      `${at} influx.system_degraded{"host":"web-01"}=0`,
      `${at} influx.system_load1{"host":"web-01"}=0.5`,
      `${at} influx.system_n_cpus{"host":"web-01"}=8`,
      `${at} influx.system_online{"host":"web-01"}=1`,
      `${iso(baseS, 123)} influx.cpu_usage_idle{"cpu":"cpu-total","host":"web-01"}=97.5`,
      `${iso(baseS, 123)} influx.cpu_usage_system{"cpu":"cpu-total","host":"web-01"}=0.75`,
      `${iso(baseS, 123)} influx.cpu_usage_user{"cpu":"cpu-total","host":"web-01"}=1.25`,
      `${iso(baseS, 500)} influx.docker_container_stats_cpu_percent{"name":"db"}=3.5`,
    ], 'every numeric and boolean field is a row; names normalized; tags kept; ns truncated to ms')

    const range = await api.get(`/api/v1/metrics/range/${agent.id}?start=${iso(baseS - 60)}&end=${iso(baseS + 60)}&limit=100`)
    t.equal(range.status, 200)
    t.equal(range.body.count, 16, 'the query API reads them back')
    const load = range.body.metrics.find((m: any) => m.metric_type === 'influx' && m.metric_name === 'system_load1')
    t.same(load, { time: iso(baseS), agent_id: 'telegraf-host', metric_type: 'influx', metric_name: 'system_load1', value: 0.5, tags: { host: 'web-01' } })
    const latest = await sql<{ n: number }>`select count(*)::int as n from metrics_latest where agent_id = ${agent.id}::uuid`.execute(api.store.db)
    t.equal(latest.rows[0].n, 16, 'metrics_latest holds each series')
  })

  t.test('every precision of both APIs names the same instant', async (t) => {
    const a = await api.createAgent('precision-host')
    const key = { 'x-api-key': a.api_key }
    // Whole hours (and so minutes) for 1.x's m and h.
    const hourS = Math.floor(baseS / 3600) * 3600 - 3600
    const cases: Array<[string, string | undefined, string, string]> = [
      ['/api/v2/write', 'ns', `${baseS}250000000`, iso(baseS, 250)], ['/api/v2/write', 'us', `${baseS}250000`, iso(baseS, 250)],
      ['/api/v2/write', 'ms', `${baseS}250`, iso(baseS, 250)], ['/api/v2/write', 's', `${baseS}`, iso(baseS)],
      ['/api/v2/write', undefined, `${baseS}250999999`, iso(baseS, 250)],
      ['/write', 'n', `${baseS}250000000`, iso(baseS, 250)], ['/write', 'ns', `${baseS}250000000`, iso(baseS, 250)],
      ['/write', 'u', `${baseS}250000`, iso(baseS, 250)], ['/write', 'us', `${baseS}250000`, iso(baseS, 250)],
      ['/write', 'ms', `${baseS}250`, iso(baseS, 250)], ['/write', 's', `${baseS}`, iso(baseS)],
      ['/write', 'm', `${hourS / 60}`, iso(hourS)], ['/write', 'h', `${hourS / 3600}`, iso(hourS)],
      ['/write', undefined, `${baseS}250000001`, iso(baseS, 250)],
    ]
    const apiOf = (path: string) => (path === '/write' ? 'v1' : 'v2')
    for (const [path, precision, ts] of cases) {
      const res = await write(api, `prec,api=${apiOf(path)},p=${precision ?? 'default'} v=1i ${ts}`, { path, query: precision ? `?precision=${precision}` : '', headers: key })
      t.equal(res.status, 204, `${path} precision=${precision ?? '(default ns)'}: 204 (${res.text})`)
    }
    const stored = new Map((await rowsOf(api, a.id)).map((r) => [`${r.tags.api} ${r.tags.p}`, r.time.toISOString()]))
    for (const [path, precision, ts, want] of cases) {
      t.equal(stored.get(`${apiOf(path)} ${precision ?? 'default'}`), want, `${path} ${ts} at precision ${precision ?? 'ns'} is ${want} (sub-millisecond digits dropped)`)
    }
    const range = await api.get(`/api/v1/metrics/range/${a.id}?start=${iso(hourS - 60)}&end=${iso(baseS + 60)}&limit=100`)
    t.same(range.body.metrics.filter((m: any) => m.tags.p === 'h').map((m: any) => m.time), [iso(hourS)], 'the API reads the hour-precision point at its hour')

    const before = (await rowsOf(api, a.id)).length
    for (const bad of ['h', 'm', 'n', 'u', 'nanosecond', '']) {
      const res = await write(api, `prec v=1 ${baseS}`, { query: `?precision=${bad}`, headers: key })
      assertV2Error(t, res, 400, 'invalid', `v2 precision=${bad}:`)
      t.match(res.body?.message, 'is not accepted on /api/v2/write: use ns, us, ms or s', `v2 precision=${bad}: names the accepted values`)
    }
    for (const bad of ['x', 'sec', 'µs', 'H']) {
      const res = await write(api, `prec v=1 ${baseS}`, { path: '/write', query: `?precision=${encodeURIComponent(bad)}`, headers: key })
      assertV1Error(t, res, 400, `v1 precision=${bad}:`)
      t.match(res.body?.error, 'is not accepted on /write: use n, ns, u, us, ms, s, m or h', `v1 precision=${bad}: names the accepted values`)
    }
    t.equal((await rowsOf(api, a.id)).length, before, 'a refused precision stores nothing')
  })

  t.test('no timestamp means now; /write, Basic auth and gzip (Telegraf\'s default) work', async (t) => {
    const a = await api.createAgent('v1-host')
    const before = Date.now()
    const basic = `Basic ${Buffer.from(`telegraf:${a.api_key}`).toString('base64')}`
    const res = await write(api, gzipSync('up,via=v1 v=1\n'), { path: '/write', query: '?db=telegraf', headers: { authorization: basic, 'content-encoding': 'gzip' } })
    t.equal(res.status, 204, res.text)
    const [row] = await rowsOf(api, a.id)
    t.ok(row.time.getTime() >= before - 1000 && row.time.getTime() <= Date.now() + 1000, 'stamped with the time of arrival')
    const plain = await write(api, 'up,via=none v=2', { headers: { 'x-api-key': a.api_key, 'content-type': 'application/octet-stream' } })
    t.equal(plain.status, 204, 'any content type is read as line protocol')
  })

  t.test('a bad line costs only itself: good lines stored, bad ones listed (InfluxDB 3 partial write)', async (t) => {
    const a = await api.createAgent('partial-host')
    const futureNs = `${BigInt(Date.now() + 10 * 60_000) * 1_000_000n}`
    const body = [
      '# header',
      `good,n=1 v=1 ${baseS}000000000`,
      'bad,host= v=1',
      `good,n=2 v=2 ${baseS}000000000`,
      'cpu usage=abc',
      `later v=1 ${futureNs}`,
      'only_measurement',
      `${'m'.repeat(130)} v=1 ${baseS}000000000`,
      `tags,${Array.from({ length: 33 }, (_, k) => `t${k}=v`).join(',')} v=1 ${baseS}000000000`,
      `big n=9007199254740993i ${baseS}000000000`,
      `good,n=3 v=3,big=9007199254740992i,s="a string" ${baseS}000000000`,
    ].join('\n')
    const res = await write(api, body, { headers: { authorization: `Token ${a.api_key}` } })
    assertV2Error(t, res, 400, 'invalid', 'partial write:')
    t.same(res.body.data.map((d: any) => d.line_number), [3, 5, 6, 7, 8, 9, 10], 'every bad line, by number')
    t.equal(res.body.line, 3, 'line: the first rejected line (Telegraf logs it as line[3])')
    const reason = (n: number) => res.body.data.find((d: any) => d.line_number === n)
    t.same(reason(3), { original_line: 'bad,host= v=1', line_number: 3, error_message: 'value of tag "host" is empty at column 10' },
      'InfluxDB 3\'s entry: original_line, line_number, error_message')
    t.match(reason(5).error_message, /field "usage" is not a number/)
    t.match(reason(6).error_message, /more than 5 minutes in the future/)
    t.match(reason(7).error_message, /no field set/)
    t.match(reason(8).error_message, /measurement and field "v" make a name of 132 characters \(stored as influx.<measurement>_<field>; at most 128\)/)
    t.match(reason(9).error_message, /tags/)
    t.match(reason(10).error_message, /beyond ±2\^53/)
    t.match(res.body.message, /^partial write of line protocol occurred: 7 of 10 lines rejected, the other 3 stored; line 3: value of tag "host" is empty/)
    t.match(res.body.message, /line 10: integer value of field "n" \(9007199254740993i\) is beyond ±2\^53/, 'the message names the lines too: Telegraf logs the message')
    t.equal(res.headers.get('x-hostpulse-points'), '3', 'the counts of what was stored')
    t.equal(res.headers.get('x-hostpulse-rows'), '4')
    t.equal(res.headers.get('x-hostpulse-skipped-string-fields'), '1')
    t.same((await rowsOf(api, a.id)).map(view), [
      `${iso(baseS)} influx.good_big{"n":"3"}=9007199254740992`,
      `${iso(baseS)} influx.good_v{"n":"1"}=1`,
      `${iso(baseS)} influx.good_v{"n":"2"}=2`,
      `${iso(baseS)} influx.good_v{"n":"3"}=3`,
    ], 'the good lines are stored; 2^53 exactly')
    const range = await api.get(`/api/v1/metrics/range/${a.id}?start=${iso(baseS - 60)}&end=${iso(baseS + 60)}`)
    t.equal(range.body.count, 4, 'and readable through the API')

    const v1 = await write(api, `good,n=4 v=4 ${baseS}000000000\nbad v=\n`, { path: '/write', headers: { 'x-api-key': a.api_key } })
    assertV1Error(t, v1, 400, '1.x partial write:')
    t.match(v1.body.error, /^partial write of line protocol occurred: 1 of 2 lines rejected, the other 1 stored; line 2: field "v" has no value/,
      'the 1.x error says "partial write" (Telegraf\'s outputs.influxdb drops the batch instead of retrying it)')
    t.same(v1.body.data, [{ original_line: 'bad v=', line_number: 2, error_message: 'field "v" has no value' }])
    t.equal((await rowsOf(api, a.id)).length, 5, 'its good line is stored')
  })

  t.test('every line bad: 400 with the same details, nothing stored', async (t) => {
    const before = await rowCounts(api.store)
    const res = await write(api, 'cpu\n\ncpu v=x\nmem v=1 99999999999999999999', { headers: token })
    assertV2Error(t, res, 400, 'invalid', 'all bad:')
    t.match(res.body.message, /^no line was stored: all 3 lines were rejected; line 1: has no field set/)
    t.same(res.body.data.map((d: any) => [d.line_number, d.original_line]), [[1, 'cpu'], [3, 'cpu v=x'], [4, 'mem v=1 99999999999999999999']])
    const one = await write(api, 'x', { path: '/write', headers: token })
    assertV1Error(t, one, 400, '1.x, one bad line:')
    t.match(one.body.error, /^no line was stored: the only line was rejected; line 1: /)
    t.same(await rowCounts(api.store), before, 'nothing stored')

    const empty = await write(api, '# only a comment\n', { headers: token })
    assertV2Error(t, empty, 400, 'invalid', 'no lines:')
    t.match(empty.body.message, /writing requires points/)
    const many = await write(api, Array.from({ length: 150 }, (_, i) => `x${i}`).join('\n'), { headers: token })
    t.equal(many.body.data.length, 100, 'at most 100 lines listed, as InfluxDB 3')
    t.match(many.body.message, /all 150 lines were rejected; line 1: .*; and 140 more \(100 listed in data\)$/, '10 named in the message, the count of the rest')
    const long = await write(api, `${'y'.repeat(2000)} v=`, { headers: token })
    t.equal(long.body.data[0].original_line, `${'y'.repeat(512)}…`, 'a long line is cut')
  })

  t.test('one batch per timestamp in ingest_batches', async (t) => {
    const a = await api.createAgent('dedupe-host')
    const line = `again v=1 ${baseS}000000000`
    t.equal((await write(api, line, { headers: { 'x-api-key': a.api_key } })).status, 204)
    const batches = await sql<{ n: number }>`select count(*)::int as n from ingest_batches where agent_id = ${a.id}::uuid`.execute(api.store.db)
    t.equal(batches.rows[0].n, 1, 'one batch per timestamp')
  })

  t.test('bodies over 16 MiB and unknown encodings are refused, in each API\'s format', async (t) => {
    const line = `big v=1 ${baseS}000000000\n`
    const big = gzipSync(Buffer.from(line.repeat(Math.ceil((16 * 1024 * 1024 + 1) / line.length))))
    const res = await write(api, big, { headers: { ...token, 'content-encoding': 'gzip' } })
    assertV2Error(t, res, 413, 'request too large', 'decompressed over the limit:')
    const v1 = await write(api, big, { path: '/write', headers: { ...token, 'content-encoding': 'gzip' } })
    assertV1Error(t, v1, 413, '1.x, decompressed over the limit:')
    const br = await write(api, 'x v=1', { headers: { ...token, 'content-encoding': 'br' } })
    assertV2Error(t, br, 415, 'invalid', 'brotli:')
    t.match(br.body?.message, /send gzip or identity/)
  })
})
