// Both backends return the same JS values for the same data: int8 and numeric as numbers, timestamptz as
// Date, jsonb as objects, so the API's JSON does not depend on where the data lives.
import t from 'tap'
import { sql } from 'kysely'
import { bridgedServerBackend, embeddedBackend } from './backends.ts'

const probe = sql<Record<string, unknown>>`select
  9007199254740991::int8 as big, 42::int8 as small, count(*) as counted, 12.5::numeric as num, 1.25::float8 as dbl,
  7::int4 as int, '2024-01-30T10:30:00-05:00'::timestamptz as at, '{"core":"0"}'::jsonb as tags, true as flag,
  null::int8 as nothing, 'a1b2c3d4-0000-4000-8000-000000000000'::uuid as id`

const results: Record<string, unknown>[] = []
for (const makeBackend of [embeddedBackend, bridgedServerBackend]) {
  const backend = await makeBackend()
  t.test(backend.name, async (t) => {
    t.teardown(() => backend.dispose())
    const store = await backend.open()
    t.teardown(() => store.close())
    const { rows: [row] } = await probe.execute(store.db)
    t.same(row, {
      big: 9007199254740991, small: 42, counted: 1, num: 12.5, dbl: 1.25, int: 7, at: new Date('2024-01-30T15:30:00Z'),
      tags: { core: '0' }, flag: true, nothing: null, id: 'a1b2c3d4-0000-4000-8000-000000000000',
    })
    t.type(row.big, 'number')
    t.type(row.num, 'number')
    t.ok(row.at instanceof Date, 'timestamptz is a Date')
    results.push(row)
  })
}
t.test('identical JSON from both backends', async (t) => {
  t.equal(results.length, 2)
  t.equal(JSON.stringify(results[0]), JSON.stringify(results[1]))
})
