// Saved dashboards: CRUD round trip, user scope private to its owner, organization scope readable by
// viewers (who cannot write), invisible to other organizations, and layouts validated field by field.
import t from 'tap'
import { assertError, createOrgWithAdmin, startClient } from '../test-client.ts'
import { addUser } from '../query/query-helpers.ts'

const layout = (metric = 'cpu.usage_percent') => ({
  panels: [
    { id: 'p1', title: 'CPU', type: 'timeseries', metric, agg: 'avg', agents: ['server-001'], unit: '%', grid: { x: 0, y: 0, w: 6, h: 4 } },
    { title: 'Root disk', type: 'gauge', metric: 'disk.usage_percent', tags: { mount_point: '/' } },
  ],
  time_range: '24h',
  refresh_interval_seconds: 30,
})
const DASHBOARD_KEYS = ['created_at', 'description', 'id', 'layout', 'name', 'owner_id', 'scope', 'updated_at']

t.test('dashboards', async (t) => {
  const api = await startClient(t)
  const admin = api.adminToken
  const editor1 = await addUser(api, 'editor1', 'editor')
  const editor2 = await addUser(api, 'editor2', 'editor')
  const viewer = await addUser(api, 'viewer1', 'viewer')
  const otherOrg = await createOrgWithAdmin(api.store, 'other-org', 'other-admin', 'other-admin-password-1')
  const other = (await api.login('other-admin', 'other-admin-password-1')).token
  t.ok(otherOrg)
  const call = (method: string, path: string, token: string, body?: unknown) => api.request(method, path, { token, body })

  t.test('CRUD round trip', async (t) => {
    const created = await call('POST', '/api/v1/dashboards', admin, { name: 'Fleet', description: 'all hosts', layout: layout() })
    t.equal(created.status, 201)
    t.same(Object.keys(created.body).sort(), DASHBOARD_KEYS)
    t.equal(created.body.scope, 'organization', 'default scope')
    t.same(created.body.layout, layout(), 'layout stored as sent')
    t.match(created.body.created_at, /Z$/)
    const id = created.body.id
    const read = await api.get(`/api/v1/dashboards/${id}`)
    t.same(read.body, created.body)
    const list = await api.get('/api/v1/dashboards')
    t.equal(list.status, 200)
    t.same(list.body.dashboards.map((d: any) => d.id), [id])
    t.equal(list.body.count, 1)

    const next = { ...layout('memory.usage_percent'), time_range: '7d' }
    const put = await call('PUT', `/api/v1/dashboards/${id}`, editor1.token, { name: 'Fleet v2', layout: next })
    t.equal(put.status, 200, 'an editor may replace an organization dashboard')
    t.same([put.body.name, put.body.layout, put.body.description], ['Fleet v2', next, ''])
    t.ok(Date.parse(put.body.updated_at) >= Date.parse(created.body.updated_at))
    t.same((await api.get(`/api/v1/dashboards/${id}`)).body.layout, next, 'the update is stored')

    const del = await call('DELETE', `/api/v1/dashboards/${id}`, admin)
    t.equal(del.status, 204)
    assertError(t, await api.get(`/api/v1/dashboards/${id}`), 404, 'NOT_FOUND', 'after delete')
    assertError(t, await call('DELETE', `/api/v1/dashboards/${id}`, admin), 404, 'NOT_FOUND', 'second delete')
    assertError(t, await call('PUT', `/api/v1/dashboards/${id}`, admin, { name: 'x', layout: layout() }), 404, 'NOT_FOUND', 'put after delete')
  })

  t.test('a user-scope dashboard is invisible (404) to every other user of the organization', async (t) => {
    const mine = await call('POST', '/api/v1/dashboards', editor1.token, { name: 'Mine', scope: 'user', layout: layout() })
    t.equal(mine.status, 201)
    t.equal(mine.body.owner_id, editor1.id)
    const id = mine.body.id
    t.equal((await api.get(`/api/v1/dashboards/${id}`, editor1.token)).status, 200, 'its owner reads it')
    for (const [who, token] of [['editor2', editor2.token], ['viewer', viewer.token], ['admin', admin]] as const) {
      assertError(t, await api.get(`/api/v1/dashboards/${id}`, token), 404, 'NOT_FOUND', `${who} GET`)
      t.notOk((await api.get('/api/v1/dashboards', token)).body.dashboards.some((d: any) => d.id === id), `${who}: not listed`)
    }
    assertError(t, await call('PUT', `/api/v1/dashboards/${id}`, editor2.token, { name: 'hijack', layout: layout() }), 404, 'NOT_FOUND', 'editor2 PUT')
    assertError(t, await call('DELETE', `/api/v1/dashboards/${id}`, editor2.token), 404, 'NOT_FOUND', 'editor2 DELETE')
    t.equal((await api.get(`/api/v1/dashboards/${id}`, editor1.token)).body.name, 'Mine', 'untouched')
    t.equal((await call('DELETE', `/api/v1/dashboards/${id}`, editor1.token)).status, 204, 'its owner deletes it')
  })

  t.test('organization scope: a viewer reads it but cannot create, update or delete (403)', async (t) => {
    const shared = await call('POST', '/api/v1/dashboards', editor1.token, { name: 'Shared', scope: 'organization', layout: layout() })
    const id = shared.body.id
    t.equal((await api.get(`/api/v1/dashboards/${id}`, viewer.token)).status, 200)
    t.ok((await api.get('/api/v1/dashboards', viewer.token)).body.dashboards.some((d: any) => d.id === id), 'listed for the viewer')
    t.equal((await api.get(`/api/v1/dashboards/${id}`, editor2.token)).status, 200, 'and for another editor')
    assertError(t, await call('POST', '/api/v1/dashboards', viewer.token, { name: 'v', layout: layout() }), 403, 'FORBIDDEN', 'viewer POST')
    assertError(t, await call('PUT', `/api/v1/dashboards/${id}`, viewer.token, { name: 'v', layout: layout() }), 403, 'FORBIDDEN', 'viewer PUT')
    assertError(t, await call('DELETE', `/api/v1/dashboards/${id}`, viewer.token), 403, 'FORBIDDEN', 'viewer DELETE')
    t.equal((await api.get(`/api/v1/dashboards/${id}`)).body.name, 'Shared', 'unchanged')

    t.test('another organization gets 404 for it, even its admin', async (t) => {
      assertError(t, await api.get(`/api/v1/dashboards/${id}`, other), 404, 'NOT_FOUND', 'other org GET')
      assertError(t, await call('PUT', `/api/v1/dashboards/${id}`, other, { name: 'x', layout: layout() }), 404, 'NOT_FOUND', 'other org PUT')
      assertError(t, await call('DELETE', `/api/v1/dashboards/${id}`, other), 404, 'NOT_FOUND', 'other org DELETE')
      t.same((await api.get('/api/v1/dashboards', other)).body.dashboards, [], 'other org lists none')
      t.equal((await api.get(`/api/v1/dashboards/${id}`)).status, 200, 'still there')
    })
  })

  t.test('invalid bodies → 400 naming the field', async (t) => {
    const bad = (mutate: (l: any) => void) => { const l: any = layout(); mutate(l); return l }
    const cases: Array<[string, unknown, string]> = [
      ['unknown panel type', { name: 'x', layout: bad((l) => { l.panels[0].type = 'pie3d' }) }, 'layout.panels[0].type'],
      ['bad metric', { name: 'x', layout: bad((l) => { l.panels[1].metric = 'CPU usage' }) }, 'layout.panels[1].metric'],
      ['metric without a type', { name: 'x', layout: bad((l) => { l.panels[0].metric = 'usage_percent' }) }, 'layout.panels[0].metric'],
      ['unknown panel field', { name: 'x', layout: bad((l) => { l.panels[0].colour = 'red' }) }, 'layout.panels[0].colour'],
      ['panel without a title', { name: 'x', layout: bad((l) => { delete l.panels[0].title }) }, 'layout.panels[0].title'],
      ['bad agg', { name: 'x', layout: bad((l) => { l.panels[0].agg = 'median' }) }, 'layout.panels[0].agg'],
      ['bad time range', { name: 'x', layout: bad((l) => { l.time_range = '2y' }) }, 'layout.time_range'],
      ['refresh too fast', { name: 'x', layout: bad((l) => { l.refresh_interval_seconds = 1 }) }, 'layout.refresh_interval_seconds'],
      ['no layout', { name: 'x' }, 'layout'],
      ['no name', { layout: layout() }, 'name'],
      ['bad scope', { name: 'x', scope: 'team', layout: layout() }, 'scope'],
      ['unknown top-level field', { name: 'x', layout: layout(), owner_id: 'someone' }, 'owner_id'],
    ]
    for (const [what, body, field] of cases) {
      for (const [method, path] of [['POST', '/api/v1/dashboards']] as const) {
        const res = await call(method, path, admin, body)
        assertError(t, res, 400, 'VALIDATION_ERROR', `${method} ${what}`)
        t.ok(res.body?.details && field in res.body.details, `${what}: details name ${field} (${JSON.stringify(res.body?.details)})`)
      }
    }
    const keep = await call('POST', '/api/v1/dashboards', admin, { name: 'Keep', layout: layout() })
    const put = await call('PUT', `/api/v1/dashboards/${keep.body.id}`, admin, { name: 'Keep', layout: bad((l) => { l.panels[0].type = 'pie3d' }) })
    assertError(t, put, 400, 'VALIDATION_ERROR', 'PUT unknown panel type')
    t.ok(put.body?.details?.['layout.panels[0].type'], 'PUT names layout.panels[0].type')
    t.same((await api.get(`/api/v1/dashboards/${keep.body.id}`)).body.layout, layout(), 'a refused update changes nothing')
    const notUuid = await api.get('/api/v1/dashboards/not-a-uuid')
    assertError(t, notUuid, 404, 'NOT_FOUND', 'id not a uuid: as unknown as any other, the same on every route')
  })
})
