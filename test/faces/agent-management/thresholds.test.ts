// Seed 003's /api/thresholds/ over native alert rules: CRUD in DRF shapes, stored as the native rule the
// native API shows (and native threshold rules shown here), native settings kept by a PATCH, which native
// rules are not thresholds (not listed, 404), field errors as {"field": ["…"]} with nothing stored,
// roles, another organization's thresholds as 404, rules-file rules refused, audit entries.
import t from 'tap'
import { sql } from 'kysely'
import { createOrgWithAdmin, startClient } from '../../test-client.ts'

const KEYS = ['agent', 'agent_hostname', 'comparison', 'created_at', 'enabled', 'id', 'is_active', 'level', 'metric', 'metric_type', 'name',
  'notification_channels', 'source', 'threshold', 'updated_at', 'uuid']

t.test('seed 003 thresholds', async (t) => {
  const api = await startClient(t, { notify: { allowPrivateTargets: true } })
  const db = api.store.db
  const admin = api.adminToken
  const editor = await api.user('editor')
  const viewer = await api.user('viewer')
  const otherOrg = await createOrgWithAdmin(api.store, 'other-org', 'other-admin', 'other-admin-password-1')
  const other = (await api.login('other-admin', 'other-admin-password-1')).token
  const call = (method: string, path: string, token: string | undefined, body?: unknown) => api.req(method, path, { token, body })
  const ruleCount = async () => (await sql<{ n: number }>`select count(*)::int as n from alert_rules`.execute(db)).rows[0].n
  const numberOf = async (agentId: string) => (await db.selectFrom('agents').select('number').where('id', '=', agentId).executeTakeFirstOrThrow()).number

  const web1 = await api.createAgent('web-01')
  const web2 = await api.createAgent('web-02')
  const web1Number = await numberOf(web1.id)
  const web2Number = await numberOf(web2.id)
  const hook = await call('POST', '/api/notifications/', admin, { name: 'ops hook', channel_type: 'webhook', config: { url: 'http://127.0.0.1:9/hook' } })
  const mail = await call('POST', '/api/notifications/', admin, { name: 'ops mail', channel_type: 'email', config: { to: ['ops@example.com'], smtp: { host: '127.0.0.1', port: 2525 } } })
  const off = await call('POST', '/api/notifications/', admin, { name: 'muted hook', channel_type: 'webhook', is_active: false, config: { url: 'http://127.0.0.1:9/muted' } })
  t.equal(hook.status, 201, hook.text)
  t.equal(mail.status, 201, mail.text)
  t.equal(off.status, 201, off.text)

  let cpuId = 0
  let cpuUuid = ''
  let diskId = 0

  await t.test('create: a native rule with the seed\'s defaults; GET, and the native API shows the same rule', async (t) => {
    const res = await call('POST', '/api/thresholds/', admin, { metric_type: 'cpu', threshold: 90 })
    t.equal(res.status, 201, res.text)
    t.same(Object.keys(res.body).sort(), KEYS, 'every field, nothing else')
    t.match(res.body, {
      name: 'cpu > 90 (all agents)', agent: null, agent_hostname: null, metric_type: 'cpu', metric: 'cpu.usage_percent', threshold: 90,
      comparison: 'gt', level: 'critical', is_active: true, enabled: true, source: 'api',
    })
    t.same(res.body.notification_channels, [hook.body.id, mail.body.id], 'every enabled channel by default')
    t.type(res.body.id, 'number')
    cpuId = res.body.id
    cpuUuid = res.body.uuid

    const native = await call('GET', `/api/v1/alerts/${cpuUuid}`, viewer.token)
    t.equal(native.status, 200)
    t.match(native.body, {
      name: 'cpu > 90 (all agents)', kind: 'threshold', metric: 'cpu.usage_percent', aggregation: 'last', window: '1m', condition: '>', threshold: 90,
      warning_threshold: null, severity: 'critical', agents: [], tags: {}, labels: {}, enabled: true, channels: [hook.body.uuid, mail.body.uuid],
    })
    const nativeList = await call('GET', '/api/v1/alerts', viewer.token)
    t.same(nativeList.body.rules.map((r: any) => r.id), [cpuUuid], 'in the native list of rules')

    const read = await call('GET', `/api/thresholds/${cpuId}/`, viewer.token)
    t.equal(read.status, 200, 'viewers read')
    t.same(read.body, res.body, 'GET returns what POST answered')

    const full = await call('POST', '/api/thresholds/', editor.token, {
      name: 'Root disk', agent: web1Number, metric_type: 'disk', threshold: 85, comparison: '>=', level: 'high', is_active: false,
      notification_channels: [mail.body.id, mail.body.id],
    })
    t.equal(full.status, 201, `an editor may create: ${full.text}`)
    t.match(full.body, {
      name: 'Root disk', agent: web1Number, agent_hostname: 'web-01', metric_type: 'disk', metric: 'disk.usage_percent', threshold: 85,
      comparison: 'gte', level: 'critical', is_active: false, enabled: false, notification_channels: [mail.body.id],
    })
    diskId = full.body.id
    const nativeDisk = await call('GET', `/api/v1/alerts/${full.body.uuid}`, admin)
    t.match(nativeDisk.body, { metric: 'disk.usage_percent', condition: '>=', severity: 'critical', agents: [web1.id], enabled: false, channels: [mail.body.uuid] })

    const named = await call('POST', '/api/thresholds/', admin, { metric_type: 'memory', threshold: 80, comparison: 'lt', level: 'low', agent: web2Number, enabled: true })
    t.equal(named.status, 201, named.text)
    t.match(named.body, { name: 'memory < 80 on web-02', comparison: 'lt', level: 'info', metric: 'memory.usage_percent', agent: web2Number })
    const again = await call('POST', '/api/thresholds/', admin, { metric_type: 'cpu', threshold: 90 })
    t.equal(again.body.name, 'cpu > 90 (all agents) (2)', 'a default name already taken gets a suffix')
    t.equal((await call('DELETE', `/api/thresholds/${again.body.id}/`, admin)).status, 204)

    const audit = await db.selectFrom('audit_log').select(['action', 'target_id', 'details']).where('action', '=', 'alert_rule.create').orderBy('id').execute()
    t.equal(audit.length, 4, 'audited as natively')
    t.match(audit[0], { target_id: cpuUuid, details: { name: 'cpu > 90 (all agents)', metric: 'cpu.usage_percent' } })
  })

  await t.test('list: paginated, filtered; native threshold rules show, other rules do not', async (t) => {
    const nativeMemory = await call('POST', '/api/v1/alerts', admin, {
      name: 'Memory native', metric: 'memory.usage_percent', threshold: 95, condition: '>', for: '5m', repeat_interval: '1h', severity: 'warning',
      agents: ['web-02'], annotations: { summary: 'memory {{value}}' },
    })
    t.equal(nativeMemory.status, 201, nativeMemory.text)
    const hidden = []
    for (const body of [
      { name: 'network', metric: 'network.rx_bytes_per_sec', threshold: 1e9 },
      { name: 'two levels', metric: 'cpu.usage_percent', threshold: 95, warning_threshold: 80 },
      { name: 'root only', metric: 'disk.usage_percent', tags: { mount_point: '/' }, threshold: 95 },
      { name: 'by label', metric: 'cpu.usage_percent', labels: { env: 'prod' }, threshold: 95 },
      { name: 'two agents', metric: 'cpu.usage_percent', agents: ['web-01', 'web-02'], threshold: 95 },
      { name: 'a core', metric: 'cpu.usage_percent', tags: { core: '0' }, threshold: 95 },
      { name: 'offline', metric: 'agent.offline', window: '1m' },
      { name: 'gone agent', metric: 'cpu.usage_percent', agents: ['no-such-agent'], threshold: 95 },
    ]) {
      const res = await call('POST', '/api/v1/alerts', admin, body)
      t.equal(res.status, 201, `native ${body.name}: ${res.text}`)
      hidden.push(res.body.id as string)
    }
    const list = await call('GET', '/api/thresholds/', viewer.token)
    t.equal(list.status, 200)
    t.same(Object.keys(list.body).sort(), ['count', 'next', 'previous', 'results'])
    t.equal(list.body.count, 4, 'three made here, one native; the others are not thresholds')
    const names = list.body.results.map((r: any) => r.name)
    t.same(names, ['cpu > 90 (all agents)', 'Root disk', 'memory < 80 on web-02', 'Memory native'], 'oldest first')
    const memory = list.body.results[3]
    t.match(memory, { uuid: nativeMemory.body.id, metric_type: 'memory', threshold: 95, comparison: 'gt', level: 'warning', agent: web2Number, agent_hostname: 'web-02', notification_channels: [] })

    for (const uuid of hidden) {
      const number = (await db.selectFrom('alert_rules').select('number').where('id', '=', uuid).executeTakeFirstOrThrow()).number
      const res = await call('GET', `/api/thresholds/${number}/`, admin)
      t.equal(res.status, 404, `rule ${number} is not a threshold: 404`)
      t.same(Object.keys(res.body), ['detail'])
    }

    const page1 = await call('GET', '/api/thresholds/?page_size=3', admin)
    t.equal(page1.body.count, 4)
    t.equal(page1.body.results.length, 3)
    t.equal(page1.body.next, `${api.url}/api/thresholds/?page_size=3&page=2`)
    t.equal(page1.body.previous, null)
    const page2 = await call('GET', '/api/thresholds/?page_size=3&page=2', admin)
    t.same(page2.body.results.map((r: any) => r.name), ['Memory native'])
    t.equal(page2.body.next, null)
    t.equal(page2.body.previous, `${api.url}/api/thresholds/?page_size=3&page=1`)

    t.same((await call('GET', `/api/thresholds/?agent=${web2Number}`, admin)).body.results.map((r: any) => r.name), ['memory < 80 on web-02', 'Memory native'])
    t.same((await call('GET', '/api/thresholds/?metric_type=disk', admin)).body.results.map((r: any) => r.id), [diskId])
    t.same((await call('GET', '/api/thresholds/?is_active=false', admin)).body.results.map((r: any) => r.id), [diskId])
    t.equal((await call('GET', '/api/thresholds/?is_active=True', admin)).body.count, 3)
    const bad = await call('GET', '/api/thresholds/?metric_type=network', admin)
    t.equal(bad.status, 400)
    t.ok(Array.isArray(bad.body.metric_type))
  })

  await t.test('PATCH and PUT change the given fields over the stored rule; native settings stay', async (t) => {
    const memory = (await call('GET', '/api/thresholds/?agent=' + web2Number, admin)).body.results[1]
    const patched = await call('PATCH', `/api/thresholds/${memory.id}/`, editor.token, { threshold: 70, level: 'critical' })
    t.equal(patched.status, 200, patched.text)
    t.match(patched.body, { id: memory.id, threshold: 70, level: 'critical', agent: web2Number, name: 'Memory native' })
    const native = await call('GET', `/api/v1/alerts/${memory.uuid}`, admin)
    t.match(native.body, {
      threshold: 70, severity: 'critical', for: '5m', repeat_interval: '1h', aggregation: 'avg', agents: ['web-02'],
      annotations: { summary: 'memory {{value}}' },
    }, 'for, repeat, aggregation, annotations and the agent as written kept')

    // A client sends the whole object back, read-only fields included, with its changes (DRF ignores those).
    const shown = (await call('GET', `/api/thresholds/${cpuId}/`, admin)).body
    const put = await call('PUT', `/api/thresholds/${cpuId}/`, admin, { ...shown, threshold: 92.5, comparison: 'gte', agent: web1Number, notification_channels: [hook.body.id] })
    t.equal(put.status, 200, put.text)
    t.match(put.body, { id: cpuId, uuid: cpuUuid, threshold: 92.5, comparison: 'gte', agent: web1Number, agent_hostname: 'web-01', notification_channels: [hook.body.id], name: 'cpu > 90 (all agents)' })
    const nativeCpu = await call('GET', `/api/v1/alerts/${cpuUuid}`, admin)
    t.match(nativeCpu.body, { threshold: 92.5, condition: '>=', agents: [web1.id], channels: [hook.body.uuid] })

    const toAll = await call('PATCH', `/api/thresholds/${cpuId}/`, admin, { agent: null, is_active: false })
    t.match(toAll.body, { agent: null, agent_hostname: null, is_active: false, enabled: false })
    t.same((await call('GET', `/api/v1/alerts/${cpuUuid}`, admin)).body.agents, [])
    t.equal((await call('PATCH', `/api/thresholds/${cpuId}/`, admin, { enabled: true })).body.is_active, true, 'enabled is is_active')

    const audit = await db.selectFrom('audit_log').select(['target_id']).where('action', '=', 'alert_rule.update').execute()
    t.equal(audit.length, 4, 'each update audited as natively')
  })

  await t.test('field errors as {"field": ["…"]}; nothing stored or changed', async (t) => {
    const before = await ruleCount()
    const cases: Array<[string, unknown, string]> = [
      ['no metric_type', { threshold: 5 }, 'metric_type'],
      ['no threshold', { metric_type: 'cpu' }, 'threshold'],
      ['an unknown metric type', { metric_type: 'network', threshold: 5 }, 'metric_type'],
      ['threshold not a number', { metric_type: 'cpu', threshold: 'high' }, 'threshold'],
      ['threshold null', { metric_type: 'cpu', threshold: null }, 'threshold'],
      ['is_active null', { metric_type: 'cpu', threshold: 5, is_active: null }, 'is_active'],
      ['an unknown comparison', { metric_type: 'cpu', threshold: 5, comparison: 'between' }, 'comparison'],
      ['an unknown level', { metric_type: 'cpu', threshold: 5, level: 'apocalyptic' }, 'level'],
      ['an agent nobody has', { metric_type: 'cpu', threshold: 5, agent: 999999 }, 'agent'],
      ['an agent that is no integer', { metric_type: 'cpu', threshold: 5, agent: 'web-01' }, 'agent'],
      ['a channel nobody has', { metric_type: 'cpu', threshold: 5, notification_channels: [999999] }, 'notification_channels'],
      ['is_active and enabled disagree', { metric_type: 'cpu', threshold: 5, is_active: true, enabled: false }, 'is_active'],
      ['a taken name', { metric_type: 'cpu', threshold: 5, name: 'Root disk' }, 'name'],
      ['a blank name', { metric_type: 'cpu', threshold: 5, name: '  ' }, 'name'],
    ]
    for (const [what, body, field] of cases) {
      const res = await call('POST', '/api/thresholds/', admin, body)
      t.equal(res.status, 400, `${what}: 400 (${res.text})`)
      t.ok(Array.isArray(res.body?.[field]) && typeof res.body[field][0] === 'string', `${what}: {"${field}": ["…"]}`)
    }
    t.same((await call('POST', '/api/thresholds/', admin, { threshold: 5 })).body, { metric_type: ['This field is required.'] }, "Django's words")
    t.same((await call('POST', '/api/thresholds/', admin, { metric_type: 'cpu', threshold: null })).body, { threshold: ['This field may not be null.'] }, 'null is no 0')
    t.same((await call('POST', '/api/thresholds/', admin, { metric_type: 'cpu', threshold: 5, agent: 999999 })).body, { agent: ['Invalid pk "999999" - object does not exist.'] })
    t.equal(await ruleCount(), before, 'nothing stored')

    const stored = (await call('GET', `/api/thresholds/${diskId}/`, admin)).body
    for (const [what, method, body] of [
      ['PUT without threshold', 'PUT', { metric_type: 'disk' }],
      ['PATCH with a bad comparison', 'PATCH', { comparison: 'about' }],
      ['PATCH onto a taken name', 'PATCH', { name: 'Memory native' }],
      ['PATCH with an agent nobody has', 'PATCH', { agent: 424242 }],
    ] as const) {
      const res = await call(method, `/api/thresholds/${diskId}/`, admin, body)
      t.equal(res.status, 400, `${what}: 400 (${res.text})`)
    }
    t.same((await call('GET', `/api/thresholds/${diskId}/`, admin)).body, stored, 'unchanged')
  })

  await t.test('roles and authentication: {"detail"}', async (t) => {
    const before = await ruleCount()
    for (const [method, path, body] of [
      ['POST', '/api/thresholds/', { metric_type: 'cpu', threshold: 1 }],
      ['PUT', `/api/thresholds/${diskId}/`, { metric_type: 'cpu', threshold: 1 }],
      ['PATCH', `/api/thresholds/${diskId}/`, { threshold: 1 }],
      ['DELETE', `/api/thresholds/${diskId}/`, undefined],
    ] as const) {
      const res = await call(method, path, viewer.token, body)
      t.equal(res.status, 403, `viewer ${method}: 403`)
      t.same(Object.keys(res.body), ['detail'])
      const anon = await call(method, path, undefined, body)
      t.equal(anon.status, 401, `no token ${method}: 401`)
      t.same(Object.keys(anon.body), ['detail'])
    }
    for (const path of ['/api/thresholds/', `/api/thresholds/${diskId}/`]) t.equal((await call('GET', path, undefined)).status, 401)
    t.equal(await ruleCount(), before)
    t.equal((await call('GET', `/api/thresholds/${diskId}/`, admin)).body.threshold, 85, 'unchanged')
  })

  await t.test('404: numbers nobody has, uuids, another organization\'s thresholds; rules-file rules are 409', async (t) => {
    const theirs = await db.insertInto('alert_rules').values({
      org_id: otherOrg, name: 'their cpu', metric: 'cpu.usage_percent', threshold: 50, warning_threshold: null, recovery_threshold: null,
      repeat_interval_seconds: null, created_by: null, tags: '{}', labels: '{}', annotations: '{}',
    }).returning(['id', 'number']).executeTakeFirstOrThrow()
    for (const id of ['999999', cpuUuid, 'cpu', '0', '-1', String(theirs.number)]) {
      for (const [method, body] of [['GET', undefined], ['PATCH', { threshold: 1 }], ['PUT', { metric_type: 'cpu', threshold: 1 }], ['DELETE', undefined]] as const) {
        const res = await call(method, `/api/thresholds/${id}/`, admin, body)
        t.equal(res.status, 404, `${method} ${id}: 404`)
        t.same(Object.keys(res.body ?? {}), ['detail'])
      }
    }
    t.equal((await call('GET', `/api/thresholds/${cpuId}/`, other)).status, 404, 'the other organization does not see ours')
    t.same((await call('GET', '/api/thresholds/', other)).body.results.map((r: any) => r.id), [theirs.number], 'and lists its own')
    t.equal((await db.selectFrom('alert_rules').select('threshold').where('id', '=', theirs.id).executeTakeFirstOrThrow()).threshold, 50, 'theirs untouched')

    const fileRule = await db.insertInto('alert_rules').values({
      org_id: api.orgId, name: 'from the file', metric: 'memory.usage_percent', threshold: 99, warning_threshold: null, recovery_threshold: null,
      repeat_interval_seconds: null, created_by: null, tags: '{}', labels: '{}', annotations: '{}', source: 'file',
    }).returning(['number']).executeTakeFirstOrThrow()
    const read = await call('GET', `/api/thresholds/${fileRule.number}/`, admin)
    t.match(read.body, { source: 'file', threshold: 99 }, 'listed, read-only')
    for (const [method, body] of [['PATCH', { threshold: 1 }], ['DELETE', undefined]] as const) {
      const res = await call(method, `/api/thresholds/${fileRule.number}/`, admin, body)
      t.equal(res.status, 409, `${method} of a rules-file rule: 409`)
      t.match(res.body, { detail: /rules file/ })
    }
  })

  await t.test('DELETE removes the native rule', async (t) => {
    const disk = (await call('GET', `/api/thresholds/${diskId}/`, admin)).body
    const res = await call('DELETE', `/api/thresholds/${diskId}/`, editor.token)
    t.equal(res.status, 204)
    t.equal(res.text, '')
    t.equal((await call('GET', `/api/thresholds/${diskId}/`, admin)).status, 404)
    t.equal((await call('GET', `/api/v1/alerts/${disk.uuid}`, admin)).status, 404, 'gone natively')
    const audit = await db.selectFrom('audit_log').select(['target_id']).where('action', '=', 'alert_rule.delete').orderBy('id').execute()
    t.same(audit.map((a) => a.target_id).slice(-1), [disk.uuid], 'audited')
  })
})
