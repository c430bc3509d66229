// The line protocol parser and the point → batch mapping, as tables: no database, no server.
import t from 'tap'
import { normalizeName, parseLineProtocol, type FieldValue } from '../../services/ingest/line-protocol.ts'
import { pointsToBatches } from '../../services/ingest/line-protocol-batches.ts'

const f = (value: number) => ({ kind: 'float', value }) as FieldValue
const i = (value: number) => ({ kind: 'integer', value }) as FieldValue
const u = (value: number) => ({ kind: 'unsigned', value }) as FieldValue
const b = (value: boolean) => ({ kind: 'boolean', value }) as FieldValue
const s = (value: string) => ({ kind: 'string', value }) as FieldValue

const VALID: Array<[string, { measurement: string; tags?: Record<string, string>; fields: Record<string, FieldValue>; ts?: bigint | null }]> = [
  ['cpu value=1', { measurement: 'cpu', fields: { value: f(1) } }],
  ['cpu,host=a,region=eu usage_idle=98.5,usage_user=1.25 1700000000000000000',
    { measurement: 'cpu', tags: { host: 'a', region: 'eu' }, fields: { usage_idle: f(98.5), usage_user: f(1.25) }, ts: 1700000000000000000n }],
  ['m v=-1.5e3,w=.5,x=+2,y=3.', { measurement: 'm', fields: { v: f(-1500), w: f(0.5), x: f(2), y: f(3) } }],
  ['m n=42i,neg=-7i', { measurement: 'm', fields: { n: i(42), neg: i(-7) } }],
  // ±2^53 is the largest magnitude a float8 holds exactly: still stored as sent.
  ['m big=9007199254740992i,low=-9007199254740992i,ubig=9007199254740992u', { measurement: 'm', fields: {
    big: i(9007199254740992), low: i(-9007199254740992), ubig: u(9007199254740992) } }],
  // Past 2^53 as a float is the sender's choice of rounding: accepted.
  ['m big=9007199254740993', { measurement: 'm', fields: { big: f(9007199254740992) } }],
  ['m c=42u', { measurement: 'm', fields: { c: u(42) } }],
  ['m a=t,b=T,c=true,d=True,e=TRUE,g=f,h=F,i=false,j=False,k=FALSE', { measurement: 'm', fields: {
    a: b(true), b: b(true), c: b(true), d: b(true), e: b(true), g: b(false), h: b(false), i: b(false), j: b(false), k: b(false) } }],
  ['my\\ measure\\,ment,tag\\ key=tag\\,val\\=ue field\\=key=1', { measurement: 'my measure,ment', tags: { 'tag key': 'tag,val=ue' }, fields: { 'field=key': f(1) } }],
  ['m msg="hello, \\"world\\" \\\\ a=b c",v=2i', { measurement: 'm', fields: { msg: s('hello, "world" \\ a=b c'), v: i(2) } }],
  ['m path="C:\\temp"', { measurement: 'm', fields: { path: s('C:\\temp') } }],
  ['weird\\x,k=v\\q v=1', { measurement: 'weird\\x', tags: { k: 'v\\q' }, fields: { v: f(1) } }],
  ['m v=1 -1000', { measurement: 'm', fields: { v: f(1) }, ts: -1000n }],
  ['  m v=1 5  ', { measurement: 'm', fields: { v: f(1) }, ts: 5n }],
  ['m v=1,v=2', { measurement: 'm', fields: { v: f(2) } }],
  ['m e="" ', { measurement: 'm', fields: { e: s('') } }],
]

t.test('valid lines parse into measurement, tags, fields and timestamp', async (t) => {
  for (const [line, want] of VALID) {
    const { points, errors } = parseLineProtocol(line)
    t.same(errors, [], `${line}: no errors`)
    t.equal(points.length, 1, `${line}: one point`)
    t.equal(points[0]?.measurement, want.measurement, `${line}: measurement`)
    t.same(points[0]?.tags, want.tags ?? {}, `${line}: tags`)
    t.same(points[0]?.fields, want.fields, `${line}: fields`)
    t.equal(points[0]?.timestampNs, want.ts ?? null, `${line}: timestamp`)
  }
})

const INVALID: Array<[string, RegExp]> = [
  ['cpu', /no field set/],
  ['cpu ', /field key is empty/],
  ['cpu,host=a', /no field set/],
  ['cpu,host= v=1', /value of tag "host" is empty/],
  ['cpu,=a v=1', /tag key is empty/],
  ['cpu,host v=1', /after tag key "host"/],
  [',host=a v=1', /measurement is empty/],
  ['cpu v=', /field "v" has no value/],
  ['cpu v', /after field key "v"/],
  ['cpu v=abc', /not a number/],
  ['cpu v=1.2.3', /not a number/],
  ['cpu v=1i2', /not a number/],
  ['cpu v=-1u', /not a number/],
  ['cpu v=99999999999999999999i', /int64 range/],
  ['cpu v=9007199254740993i', /field "v" \(9007199254740993i\) is beyond ±2\^53 .*float8/],
  ['cpu v=-9007199254740993i', /beyond ±2\^53/],
  ['cpu v=9223372036854775807i', /beyond ±2\^53/],
  ['cpu v=9007199254740993u', /field "v" \(9007199254740993u\) is beyond ±2\^53/],
  ['cpu v=18446744073709551616u', /uint64 range/],
  ['cpu v=1e999', /float64 range/],
  ['cpu v=NaN', /not a number/],
  ['cpu v=Inf', /not a number/],
  ['cpu v="open', /no closing quote/],
  ['cpu v=1 12:00', /timestamp is not an integer/],
  ['cpu v=1 1.5', /timestamp is not an integer/],
  ['cpu v=1 1 2', /timestamp is not an integer/],
  ['cpu v=1,', /field key is empty/],
  ['cpu v=1,,w=2', /field key is empty/],
  ['cpu\u0000 v=1', /NUL/],
]

t.test('invalid lines are reported with their number and a reason', async (t) => {
  for (const [line, reason] of INVALID) {
    const { points, errors } = parseLineProtocol(`# comment\n\nok v=1\n${line}\n`)
    t.equal(points.length, 1, `${JSON.stringify(line)}: the good line still parses`)
    t.equal(errors.length, 1, `${JSON.stringify(line)}: one error`)
    t.equal(errors[0]?.line, 4, `${JSON.stringify(line)}: on line 4`)
    t.match(errors[0]?.message, reason, `${JSON.stringify(line)}: ${reason}`)
  }
})

t.test('comments, blank lines and CRLF', async (t) => {
  const { points, errors } = parseLineProtocol('# a comment\r\n\r\n   \r\n  # indented comment\r\ncpu v=1 10\r\n')
  t.same(errors, [])
  t.equal(points.length, 1)
  t.equal(points[0].line, 5)
  t.equal(points[0].timestampNs, 10n)
})

t.test('precision scales timestamps to nanoseconds', async (t) => {
  for (const [precision, ts, ns] of [['ns', '1700000000123456789', 1700000000123456789n], ['us', '1700000000123456', 1700000000123456000n],
    ['ms', '1700000000123', 1700000000123000000n], ['s', '1700000000', 1700000000000000000n],
    ['m', '28333333', 28333333n * 60_000_000_000n], ['h', '472222', 472222n * 3_600_000_000_000n]] as const) {
    t.equal(parseLineProtocol(`m v=1 ${ts}`, precision).points[0].timestampNs, ns, precision)
  }
})

t.test('names are normalized to the metrics table patterns', async (t) => {
  const table: Array<[string, string]> = [
    ['cpu', 'cpu'], ['CPU.Usage-Idle', 'cpu_usage_idle'], ['_internal', '_internal'], ['9lives', '9lives'],
    ['my measure,ment', 'my_measure_ment'], ['Bytes/Sec', 'bytes_sec'], ['überlast', '_berlast'],
  ]
  for (const [name, want] of table) t.equal(normalizeName(name), want, `${name} → ${want}`)
})

t.test('points become one batch per timestamp; strings skipped; future and oversized refused', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  let n = 0
  const id = () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`
  const body = [
    'cpu,host=a usage=1.5,up=true,note="x" 1767225600000000000',
    'mem,host=a used=2i 1767225600000999999', // same millisecond as line 1
    'disk free=3u 1767225599000000000',
    'nots note="only strings" 1767225599000000000',
    'now v=1',
  ].join('\n')
  const out = pointsToBatches(parseLineProtocol(body).points, now, id)
  t.same(out.errors, [])
  t.equal(out.rows, 5)
  t.equal(out.skippedFields, 2)
  t.same(out.batches.map((b) => [b.time, b.metrics!.map((m) => `${m.metric_type}.${m.metric_name}=${m.value}`)]), [
    ['2026-01-01T00:00:00.000Z', ['influx.cpu_usage=1.5', 'influx.cpu_up=1', 'influx.mem_used=2', 'influx.now_v=1']],
    ['2025-12-31T23:59:59.000Z', ['influx.disk_free=3']],
  ])
  t.same(out.batches[0].metrics![0].tags, { host: 'a' })
  t.equal(new Set(out.batches.map((b) => b.batch_id)).size, 2, 'a fresh batch id each')

  const same = pointsToBatches(parseLineProtocol('m,a=1,b=2 v=1 5000000\nm,b=2,a=1 v=2 5999999\nm,a=1 v=3 5000000').points, now, id)
  t.same(same.batches.map((b) => b.metrics!.map((m) => m.value)), [[2, 3]], 'the same series at the same millisecond: the later line wins')
  t.equal(same.rows, 2)

  const bad = pointsToBatches(parseLineProtocol([
    `m v=1 ${BigInt(now + 10 * 60_000) * 1_000_000n}`,
    `m v=1 ${BigInt(now + 60_000) * 1_000_000n}`,
    `m,${Array.from({ length: 40 }, (_, k) => `t${k}=v`).join(',')} v=1`,
    `m v=1e301`,
    `m ${'x'.repeat(200)}=1`,
  ].join('\n')).points, now, id)
  t.same(bad.errors.map((e) => e.line), [1, 3, 4, 5])
  t.match(bad.errors[0].message, /more than 5 minutes in the future/)
  t.match(bad.errors[1].message, /tags/)
  t.match(bad.errors[2].message, /value/)
  t.match(bad.errors[3].message, /make a name of 202 characters/)
})
