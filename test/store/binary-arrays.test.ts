// Array parameters in binary store exactly what the same arrays store sent as text: on the embedded engine,
// through pg over the wire, and on a real TimescaleDB server when TEST_DATABASE_URL is set (skipped otherwise,
// with the reason). Every element type ingest writes, NULLs, -0, extreme numbers, Unicode, times with offsets
// and fractions. What the encoder is not sure of (times PostgreSQL reads differently or refuses, other uuid
// spellings, NULs, numbers out of range) it declines, so those still go as text.
import t from 'tap'
import { sql } from 'kysely'
import { binaryArray, timestampMicros, type BinaryElementType } from '../../services/store/binary-arrays.ts'
import { bridgedServerBackend, embeddedBackend, realServerBackend } from './backends.ts'

const SAMPLES: Record<BinaryElementType, unknown[]> = {
  float8: [0, -0, 1.5, -2.25, 39.37, 0.1 + 0.2, 1e-300, -1.7976931348623157e308, Number.MIN_VALUE, 123456789.123456, null, 5e-324, 75.2],
  int4: [0, 1, -1, 2147483647, -2147483648, null, 603576],
  int8: [0, -1, 9007199254740991, -9007199254740991, 16_000_000_000, null, 2n ** 62n, -(2n ** 63n)],
  text: ['', 'postgres', '/usr/bin/node --max-old-space-size=4096 server.js', 'ünïcødé ✓ 日本語 🚀', 'quote " backslash \\ comma , brace {}', null, 'NULL', ' spaced '],
  uuid: ['a1b2c3d4-0000-4000-8000-000000000000', 'A1B2C3D4-EEEE-4000-8000-ABCDEFABCDEF', null, '00000000-0000-0000-0000-000000000000'],
  bool: [true, false, null],
  timestamptz: ['2026-12-05T10:00:00Z', '2026-12-05T10:00:00.123Z', '2026-12-05T10:00:00.123456Z', '2026-12-05T10:00:00.5+05:30',
    '2026-12-05t23:59:59.999999-09:30', '1969-12-31T23:59:59.999999Z', '2000-01-01T00:00:00Z', '2024-02-29T12:00:00+00:00',
    '1999-12-31T23:59:59.000001Z', null, new Date('2026-12-05T10:00:00.007Z'), '9999-12-31T23:59:59Z', '0100-01-01T00:00:00Z'],
}

for (const makeBackend of [embeddedBackend, bridgedServerBackend, realServerBackend]) {
  const backend = await makeBackend()
  t.test(`${backend.name}: binary arrays store what text arrays store`, { skip: backend.skip }, async (t) => {
    t.teardown(() => backend.dispose())
    const store = await backend.open()
    t.teardown(() => store.close())
    await sql`set timezone = 'UTC'`.execute(store.db)
    for (const [type, values] of Object.entries(SAMPLES) as Array<[BinaryElementType, unknown[]]>) {
      const binary = binaryArray(type, values)
      t.ok(binary, `${type}: every sample is encoded`)
      // Compared as the engine's own text output of each element (float8 at full precision), and their count.
      const read = async (param: unknown) => (await sql<{ out: Array<string | null>, n: number }>`
        select array_agg(case when x is null then null else x::text end order by i) as out, count(*)::int as n
        from unnest(${param}::${sql.raw(type)}[]) with ordinality as u(x, i)`.execute(store.db)).rows[0]
      const asText = await read(type === 'int8' ? values.map((v) => typeof v === 'bigint' ? String(v) : v) : values)
      const asBinary = await read(binary)
      t.equal(asBinary.n, values.length, `${type}: as many elements`)
      t.same(asBinary.out, asText.out, `${type}: the same values as the text path`)
    }
    // -0 is sent as 0, as the text path does.
    const zero = await sql<{ s: string }>`select (${binaryArray('float8', [-0])}::float8[])[1]::text as s`.execute(store.db)
    t.equal(zero.rows[0].s, '0')
    // A stored row reads back the same whichever way it was sent.
    await sql`create temporary table bin_probe (at timestamptz, v float8, id uuid, name text)`.execute(store.db)
    const rows = { at: ['2026-12-05T10:00:00.123Z', '2026-12-05T11:00:00+01:00'], v: [39.37, 75.2], id: ['a1b2c3d4-0000-4000-8000-000000000000', 'a1b2c3d4-0000-4000-8000-000000000001'], name: ['a', 'b'] }
    await sql`insert into bin_probe select * from unnest(${binaryArray('timestamptz', rows.at)}::timestamptz[], ${binaryArray('float8', rows.v)}::float8[],
      ${binaryArray('uuid', rows.id)}::uuid[], ${binaryArray('text', rows.name)}::text[])`.execute(store.db)
    await sql`insert into bin_probe select * from unnest(${rows.at}::timestamptz[], ${rows.v}::float8[], ${rows.id}::uuid[], ${rows.name}::text[])`.execute(store.db)
    const stored = await sql<{ same: number }>`select count(*)::int as same from (select at, v, id, name from bin_probe group by 1, 2, 3, 4 having count(*) = 2) s`.execute(store.db)
    t.equal(stored.rows[0].same, 2, 'both rows stored twice, identically')
  })
}

t.test('what the encoder declines goes as text', async (t) => {
  const declined: Array<[BinaryElementType, unknown[]]> = [
    ['timestamptz', ['2026-12-05 10:00:00']], // no T and no offset: PostgreSQL reads it in its session time zone
    ['timestamptz', ['2026-12-05T10:00:00']], // no offset
    ['timestamptz', ['2026-02-30T10:00:00Z']], // no such day: PostgreSQL refuses it
    ['timestamptz', ['2026-12-05T24:00:00Z']],
    ['timestamptz', ['2026-12-05T10:00:60Z']], // a leap second
    ['timestamptz', ['2026-12-05T10:00:00.1234567Z']], // PostgreSQL rounds past microseconds
    ['timestamptz', ['0050-01-01T00:00:00Z']],
    ['timestamptz', ['2026-12-05T10:00:00+16:00']],
    ['timestamptz', [1_733_392_800_000]], // a number
    ['timestamptz', [new Date(Number.NaN)]],
    ['uuid', ['a1b2c3d400004000800000000000000']],
    ['uuid', ['{a1b2c3d4-0000-4000-8000-000000000000}']],
    ['text', ['a\u0000b']],
    ['text', [42]],
    ['int4', [2147483648]],
    ['int4', [1.5]],
    ['int8', [2 ** 53]],
    ['int8', [2n ** 63n]],
    ['int8', ['12']],
    ['float8', ['1.5']],
    ['bool', ['true']],
    ['float8', []],
  ]
    // Named through JSON so the NUL case puts no NUL byte in the TAP output (CI greps it as text).
  for (const [type, values] of declined) t.equal(binaryArray(type, values), undefined, `${type} ${JSON.stringify(values[0], (_k, v) => typeof v === 'bigint' ? `${v}n` : v)}`)
  t.equal(timestampMicros('2026-12-05T10:00:00.5+05:30'), BigInt(Date.parse('2026-12-05T04:30:00.5Z')) * 1000n)
  t.equal(timestampMicros('1969-12-31T23:59:59.999999Z'), -1n)
})
