// /api/v1/alerts: CRUD round trip as the issue's JSON, validation that names the field and stores
// nothing, roles, organizations that never see each other's rules, and rules-file rules the API won't change.
import t from 'tap'
import { sql } from 'kysely'
import { assertError, createOrgWithAdmin, startClient } from '../test-client.ts'
import { addUser } from '../query/query-helpers.ts'
import { addChannel, issueRule, recordingDb, ruleLockAt } from './evaluation-helpers.ts'
import { LOCK_NAMESPACE } from '../../services/alerting/evaluate-rule.ts'
import { retireRuleAlerts } from '../../services/alerting/rules-repository.ts'

const RULE_KEYS = ['agents', 'aggregation', 'annotations', 'channels', 'condition', 'created_at', 'description', 'enabled', 'for', 'group_wait',
  'id', 'interval', 'kind', 'labels', 'last_evaluated_at', 'last_evaluation_error', 'metric', 'name', 'notify_on_resolve', 'recovery_threshold',
  'repeat_interval', 'severity', 'source', 'tags', 'threshold', 'updated_at', 'warning_threshold', 'window']

t.test('alert rules API', async (t) => {
  const api = await startClient(t)
  const db = api.store.db
  const admin = api.adminToken
  const editor = await addUser(api, 'editor1', 'editor')
  const viewer = await addUser(api, 'viewer1', 'viewer')
  const otherOrg = await createOrgWithAdmin(api.store, 'other-org', 'other-admin', 'other-admin-password-1')
  const other = (await api.login('other-admin', 'other-admin-password-1')).token
  const call = (method: string, path: string, token: string, body?: unknown) => api.request(method, path, { token, body })
  const channelA = await addChannel(db, api.orgId, 'ops-slack')
  const channelB = await addChannel(db, api.orgId, 'ops-mail', false)
  const foreignChannel = await addChannel(db, otherOrg, 'their-hook')
  const ruleCount = async () => (await sql<{ n: number }>`select count(*)::int as n from alert_rules`.execute(db)).rows[0].n

  t.test('create the issue\'s rule, read it back, list it', async (t) => {
    const res = await call('POST', '/api/v1/alerts', admin, issueRule({ channels: [channelA, channelB] }))
    t.equal(res.status, 201, res.text)
    t.same(Object.keys(res.body).sort(), RULE_KEYS, 'every field, nothing else')
    t.match(res.body, {
      name: 'High CPU', kind: 'threshold', metric: 'cpu.usage_percent', aggregation: 'avg', window: '1m', condition: '>',
      threshold: 90, warning_threshold: 75, recovery_threshold: 85, for: '30s', severity: 'critical', agents: ['server-001'],
      labels: {}, tags: {}, channels: [channelA, channelB], repeat_interval: '1h', notify_on_resolve: true, enabled: true,
      annotations: { summary: 'CPU {{value}}% on {{agent}}' }, interval: '15s', group_wait: '10s', source: 'api',
      last_evaluated_at: null, last_evaluation_error: null, description: '',
    })
    const read = await api.get(`/api/v1/alerts/${res.body.id}`)
    t.equal(read.status, 200)
    t.same(read.body, res.body, 'GET returns what POST answered')
    const list = await api.get('/api/v1/alerts', viewer.token)
    t.equal(list.status, 200, 'viewers read')
    t.equal(list.body.total, 1)
    t.same(list.body.rules.map((r: any) => r.id), [res.body.id])
    const audit = await db.selectFrom('audit_log').select(['action', 'target_id']).where('action', '=', 'alert_rule.create').execute()
    t.same(audit, [{ action: 'alert_rule.create', target_id: res.body.id }], 'audited')
  })

  t.test('durations are echoed as strings, shortest exact unit; defaults filled in', async (t) => {
    const res = await call('POST', '/api/v1/alerts', editor.token, {
      name: 'Disk', metric: 'disk.usage_percent', threshold: 90, window: '60s', for: '90s', interval: '120s', group_wait: '0s', repeat_interval: '86400s',
    })
    t.equal(res.status, 201, res.text)
    t.match(res.body, { window: '1m', for: '90s', interval: '2m', group_wait: '0s', repeat_interval: '1d', aggregation: 'avg', condition: '>', severity: 'critical', enabled: true, notify_on_resolve: true, agents: [], channels: [] })
    const minimal = await call('POST', '/api/v1/alerts', editor.token, { name: 'Offline', metric: 'agent.offline', window: '60s' })
    t.equal(minimal.status, 201, minimal.text)
    t.match(minimal.body, { kind: 'agent_offline', for: '0s', repeat_interval: null, interval: '15s', group_wait: '10s', threshold: null })
    const absent = await call('POST', '/api/v1/alerts', editor.token, { name: 'nginx gone', metric: 'process.absent', tags: { name: 'nginx' }, window: '2m' })
    t.equal(absent.status, 201, absent.text)
    t.equal(absent.body.kind, 'process_absent')
    const noData = await call('POST', '/api/v1/alerts', editor.token, { name: 'silent memory', metric: 'memory.usage_percent', kind: 'no_data', window: '5m' })
    t.equal(noData.status, 201, noData.text)
    t.equal(noData.body.kind, 'no_data')
  })

  t.test('list filters and paging', async (t) => {
    await call('POST', '/api/v1/alerts', admin, { name: 'Warn only', metric: 'memory.usage_percent', threshold: 80, severity: 'warning', enabled: false })
    const disabled = await api.get('/api/v1/alerts?enabled=false')
    t.same(disabled.body.rules.map((r: any) => r.name), ['Warn only'])
    const warning = await api.get('/api/v1/alerts?severity=warning')
    t.same(warning.body.rules.map((r: any) => r.name), ['Warn only'])
    const all = await api.get('/api/v1/alerts')
    const page = await api.get('/api/v1/alerts?limit=2&offset=1')
    t.equal(page.body.total, all.body.total)
    t.same(page.body.rules.map((r: any) => r.id), all.body.rules.slice(1, 3).map((r: any) => r.id), 'offset and limit')
    assertError(t, await api.get('/api/v1/alerts?severity=loud'), 400, 'VALIDATION_ERROR', 'unknown severity')
    assertError(t, await api.get('/api/v1/alerts?limit=0'), 400, 'VALIDATION_ERROR', 'limit 0')
    assertError(t, await api.get('/api/v1/alerts?enabled=perhaps'), 400, 'VALIDATION_ERROR', 'enabled not a boolean')
  })

  t.test('validation: 400 naming the field, nothing stored', async (t) => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['unknown disk field', { metric: 'disk.nope' }, 'metric'],
      ['metric not <type>.<name>', { metric: 'cpu' }, 'metric'],
      ['metric with SQL in it', { metric: "cpu.x'; drop table alert_rules; --" }, 'metric'],
      ['missing threshold and warning threshold', { threshold: undefined, warning_threshold: undefined }, 'threshold'],
      ['null threshold and warning threshold', { threshold: null, warning_threshold: null }, 'threshold'],
      ['recovery threshold without threshold', { threshold: null }, 'recovery_threshold'],
      ['a channel of another organization', { channels: [channelA, foreignChannel] }, 'channels[1]'],
      ['a channel that does not exist', { channels: ['00000000-0000-0000-0000-000000000000'] }, 'channels[0]'],
      ['a channel id that is no uuid', { channels: [channelA, 'ops'] }, 'channels[1]'],
      ['duration in words', { window: '5 minutes' }, 'window'],
      ['duration below a second', { for: '500ms' }, 'for'],
      ['interval of zero', { interval: '0s' }, 'interval'],
      ['repeat interval too short', { repeat_interval: '1s' }, 'repeat_interval'],
      ['group wait too long', { group_wait: '2h' }, 'group_wait'],
      ['warning above critical with >', { warning_threshold: 95 }, 'warning_threshold'],
      ['warning below critical with <', { condition: '<', threshold: 10, warning_threshold: 5, recovery_threshold: null }, 'warning_threshold'],
      ['recovery above threshold with >', { recovery_threshold: 95 }, 'recovery_threshold'],
      ['recovery below threshold with <', { condition: '<', threshold: 10, warning_threshold: 20, recovery_threshold: 5 }, 'recovery_threshold'],
      ['warning with ==', { condition: '==', recovery_threshold: null }, 'warning_threshold'],
      ['unknown aggregation', { aggregation: 'median' }, 'aggregation'],
      ['unknown condition', { condition: '=>' }, 'condition'],
      ['unknown severity', { severity: 'page' }, 'severity'],
      ['unknown field', { colour: 'red' }, 'colour'],
      ['threshold as text', { threshold: 'ninety' }, 'threshold'],
      ['empty name', { name: '' }, 'name'],
      ['disk tag that is not a disk series tag', { metric: 'disk.usage_percent', tags: { interface: 'eth0' }, warning_threshold: null, recovery_threshold: null }, 'tags.interface'],
      ['agent.offline with a threshold', { metric: 'agent.offline', warning_threshold: null, recovery_threshold: null }, 'threshold'],
      ['process.absent without a name', { metric: 'process.absent', threshold: null, warning_threshold: null, recovery_threshold: null }, 'tags.name'],
      ['process.absent with another tag', { metric: 'process.absent', tags: { user: 'root' }, threshold: null, warning_threshold: null, recovery_threshold: null }, 'tags.user'],
      ['kind agent_offline on a cpu metric', { kind: 'agent_offline' }, 'kind'],
      ['kind threshold on agent.offline', { metric: 'agent.offline', kind: 'threshold', threshold: null, warning_threshold: null, recovery_threshold: null }, 'kind'],
      ['label with a bad name', { labels: { 'bad key!': 'x' } }, 'labels.bad key!'],
    ]
    const before = await ruleCount()
    for (const [name, override, field] of cases) {
      const body = issueRule({ name: `v-${name}`, agents: [], ...override })
      for (const [k, v] of Object.entries(override)) if (v === undefined) delete body[k]
      const res = await call('POST', '/api/v1/alerts', admin, body)
      assertError(t, res, 400, 'VALIDATION_ERROR', name)
      t.ok(res.body?.details && field in res.body.details, `${name}: details name ${field} (got ${JSON.stringify(res.body?.details)})`)
    }
    t.equal(await ruleCount(), before, 'no rule stored by a bad request')
  })

  t.test('a rule may have a warning threshold alone: it only warns', async (t) => {
    const res = await call('POST', '/api/v1/alerts', admin, issueRule({ name: 'Only a warning threshold', agents: [], threshold: undefined, recovery_threshold: null, warning_threshold: 80, condition: '==' }))
    t.equal(res.status, 201, JSON.stringify(res.body))
    t.match(res.body, { threshold: null, warning_threshold: 80, condition: '==' }, 'any condition: there is no second level to order against')
    t.equal((await call('DELETE', `/api/v1/alerts/${res.body.id}`, admin)).status, 204)
  })

  t.test('duplicate names are a conflict', async (t) => {
    const first = await call('POST', '/api/v1/alerts', admin, issueRule({ name: 'Dup' }))
    t.equal(first.status, 201)
    assertError(t, await call('POST', '/api/v1/alerts', admin, issueRule({ name: 'Dup' })), 409, 'CONFLICT', 'same name')
    const second = await call('POST', '/api/v1/alerts', admin, issueRule({ name: 'Dup 2' }))
    assertError(t, await call('PUT', `/api/v1/alerts/${second.body.id}`, admin, issueRule({ name: 'Dup' })), 409, 'CONFLICT', 'rename onto a taken name')
    const same = await call('PUT', `/api/v1/alerts/${second.body.id}`, admin, issueRule({ name: 'Dup 2', threshold: 95 }))
    t.equal(same.status, 200, 'keeping its own name is fine')
    // Another organization may use the name.
    t.equal((await call('POST', '/api/v1/alerts', other, issueRule({ name: 'Dup', agents: [] }))).status, 201)
  })

  t.test('PUT replaces the whole rule; DELETE removes it', async (t) => {
    const created = await call('POST', '/api/v1/alerts', admin, issueRule({ name: 'Replace me', channels: [channelA] }))
    const id = created.body.id
    const put = await call('PUT', `/api/v1/alerts/${id}`, editor.token, { name: 'Replaced', metric: 'memory.usage_percent', threshold: 95 })
    t.equal(put.status, 200, put.text)
    t.match(put.body, {
      id, name: 'Replaced', metric: 'memory.usage_percent', threshold: 95, warning_threshold: null, recovery_threshold: null,
      channels: [], agents: [], annotations: {}, for: '0s', repeat_interval: null, window: '1m',
    }, 'fields left out return to their defaults')
    t.same((await api.get(`/api/v1/alerts/${id}`)).body, put.body)
    const bad = await call('PUT', `/api/v1/alerts/${id}`, admin, { name: 'Replaced', metric: 'memory.usage_percent' })
    assertError(t, bad, 400, 'VALIDATION_ERROR', 'PUT validates too')
    t.same((await api.get(`/api/v1/alerts/${id}`)).body, put.body, 'a refused PUT changes nothing')
    t.equal((await call('DELETE', `/api/v1/alerts/${id}`, editor.token)).status, 204)
    assertError(t, await api.get(`/api/v1/alerts/${id}`), 404, 'NOT_FOUND', 'after delete')
    assertError(t, await call('DELETE', `/api/v1/alerts/${id}`, admin), 404, 'NOT_FOUND', 'second delete')
    const actions = (await db.selectFrom('audit_log').select('action').where('target_id', '=', id).orderBy('id').execute()).map((a) => a.action)
    t.same(actions, ['alert_rule.create', 'alert_rule.update', 'alert_rule.delete'])
  })

  t.test('roles: viewers read only; no token, no access', async (t) => {
    const created = await call('POST', '/api/v1/alerts', admin, issueRule({ name: 'Roles' }))
    const id = created.body.id
    t.equal((await api.get(`/api/v1/alerts/${id}`, viewer.token)).status, 200)
    assertError(t, await call('POST', '/api/v1/alerts', viewer.token, issueRule({ name: 'Nope' })), 403, 'FORBIDDEN', 'viewer POST')
    assertError(t, await call('PUT', `/api/v1/alerts/${id}`, viewer.token, issueRule({ name: 'Roles' })), 403, 'FORBIDDEN', 'viewer PUT')
    assertError(t, await call('DELETE', `/api/v1/alerts/${id}`, viewer.token), 403, 'FORBIDDEN', 'viewer DELETE')
    assertError(t, await api.request('GET', '/api/v1/alerts'), 401, 'UNAUTHORIZED', 'no token')
    assertError(t, await api.request('POST', '/api/v1/alerts', { body: issueRule({ name: 'anon' }) }), 401, 'UNAUTHORIZED', 'no token write')
    t.equal((await api.get(`/api/v1/alerts/${id}`)).body.name, 'Roles', 'unchanged')
  })

  t.test('organizations never see each other\'s rules', async (t) => {
    const mine = await call('POST', '/api/v1/alerts', admin, issueRule({ name: 'Private rule' }))
    const id = mine.body.id
    assertError(t, await api.get(`/api/v1/alerts/${id}`, other), 404, 'NOT_FOUND', 'foreign GET')
    assertError(t, await call('PUT', `/api/v1/alerts/${id}`, other, issueRule({ name: 'Stolen', agents: [] })), 404, 'NOT_FOUND', 'foreign PUT')
    assertError(t, await call('DELETE', `/api/v1/alerts/${id}`, other), 404, 'NOT_FOUND', 'foreign DELETE')
    const theirs = await api.get('/api/v1/alerts', other)
    t.notOk(theirs.body.rules.some((r: any) => r.id === id), 'not in their list')
    t.same((await api.get(`/api/v1/alerts/${id}`)).body, mine.body, 'unchanged')
    // (/api/v1/alerts/events is the event history's own route: it only must not be taken for a rule id.)
    t.ok((await api.get('/api/v1/alerts/events')).status < 500, 'GET /api/v1/alerts/events never a 5xx')
    for (const weird of ['not-a-uuid', 'eventsx', "1' or '1'='1", '00000000-0000-0000-0000-000000000000']) {
      const res = await api.get(`/api/v1/alerts/${encodeURIComponent(weird)}`)
      t.ok(res.status === 404 || res.status === 400, `GET /api/v1/alerts/${weird} → ${res.status}, never a 5xx`)
    }
    assertError(t, await call('DELETE', '/api/v1/alerts/not-a-uuid', admin), 404, 'NOT_FOUND', 'DELETE with a bad id')
  })

  t.test('rules from the rules file: readable, but PUT and DELETE answer 409', async (t) => {
    const row = await db.insertInto('alert_rules').values({
      org_id: api.orgId, name: 'From file', metric: 'cpu.usage_percent', threshold: 90, source: 'file', labels: '{}', tags: '{}', annotations: '{}',
    }).returning('id').executeTakeFirstOrThrow()
    const read = await api.get(`/api/v1/alerts/${row.id}`)
    t.equal(read.body.source, 'file')
    const put = await call('PUT', `/api/v1/alerts/${row.id}`, admin, issueRule({ name: 'From file' }))
    assertError(t, put, 409, 'CONFLICT', 'PUT a file rule')
    t.match(put.body.message, /rules file/)
    assertError(t, await call('DELETE', `/api/v1/alerts/${row.id}`, admin), 409, 'CONFLICT', 'DELETE a file rule')
    t.same((await api.get(`/api/v1/alerts/${row.id}`)).body, read.body, 'unchanged')
  })

  t.test('deleting or disabling a rule ends its firing alerts instead of leaving them open', async (t) => {
    const agent = await api.createAgent('server-001')
    const created = await call('POST', '/api/v1/alerts', admin, issueRule({ name: 'Retire me' }))
    const open = await db.insertInto('alert_events').values({
      org_id: api.orgId, rule_id: created.body.id, rule_name: 'Retire me', agent_id: agent.id, agent_name: agent.name,
      series_tags: '{}', severity: 'critical', state: 'firing', annotations: '{}', started_at: new Date(),
    }).returning('id').executeTakeFirstOrThrow()
    await db.insertInto('alert_states').values({
      rule_id: created.body.id, agent_id: agent.id, org_id: api.orgId, series_tags: '{}', state: 'firing', severity: 'critical', event_id: open.id,
    }).execute()
    const disabled = await call('PUT', `/api/v1/alerts/${created.body.id}`, admin, issueRule({ name: 'Retire me', enabled: false }))
    t.equal(disabled.status, 200)
    const ev = await db.selectFrom('alert_events').select(['state', 'resolve_comment']).where('id', '=', open.id).executeTakeFirstOrThrow()
    t.same(ev, { state: 'resolved', resolve_comment: 'rule changed' })
    t.equal((await db.selectFrom('alert_states').select('state').where('rule_id', '=', created.body.id).execute()).length, 0, 'states forgotten')
    t.equal((await call('DELETE', `/api/v1/alerts/${created.body.id}`, admin)).status, 204)
    t.equal((await db.selectFrom('alert_events').select('rule_name').where('id', '=', open.id).executeTakeFirstOrThrow()).rule_name, 'Retire me', 'history stays')
  })

  t.test('disabling, re-scoping or deleting a rule notifies the end of its notified alerts', async (t) => {
    const agent = await api.createAgent('retire-notify')
    const body = (overrides: Record<string, unknown> = {}) => issueRule({ name: 'Retire loudly', agents: ['retire-notify'], channels: [channelA, channelB], ...overrides })
    const created = await call('POST', '/api/v1/alerts', admin, body())
    const ruleId: string = created.body.id
    const fire = async (notified: boolean, seriesKey = '') => {
      const ev = await db.insertInto('alert_events').values({
        org_id: api.orgId, rule_id: ruleId, rule_name: 'Retire loudly', agent_id: agent.id, agent_name: agent.name, series_key: seriesKey,
        series_tags: '{}', severity: 'critical', state: 'firing', annotations: '{}', started_at: new Date(), last_notified_at: notified ? new Date() : null,
      }).returning('id').executeTakeFirstOrThrow()
      await db.insertInto('alert_states').values({
        rule_id: ruleId, agent_id: agent.id, series_key: seriesKey, org_id: api.orgId, series_tags: '{}', state: 'firing', severity: 'critical', event_id: ev.id,
      }).execute()
      return ev.id
    }
    const resolvedRows = (eventId: string) => db.selectFrom('alert_notifications').select(['channel_name', 'kind', 'status']).where('event_id', '=', eventId).where('kind', '=', 'resolved').execute()

    const notified = await fire(true)
    const unnoticed = await fire(false, 'core=1')
    t.equal((await call('PUT', `/api/v1/alerts/${ruleId}`, admin, body({ enabled: false }))).status, 200)
    t.same((await resolvedRows(notified)).map((n) => [n.channel_name, n.kind, n.status]), [['ops-slack', 'resolved', 'pending']], 'disabled: resolved to the enabled channel')
    t.same(await resolvedRows(unnoticed), [], 'never notified as firing: its end is not news either')

    t.equal((await call('PUT', `/api/v1/alerts/${ruleId}`, admin, body())).status, 200)
    const rescoped = await fire(true)
    t.equal((await call('PUT', `/api/v1/alerts/${ruleId}`, admin, body({ agents: ['someone-else'] }))).status, 200)
    t.equal((await resolvedRows(rescoped)).length, 1, 're-scoped: resolved queued')

    const deleted = await fire(true)
    t.equal((await call('DELETE', `/api/v1/alerts/${ruleId}`, admin)).status, 204)
    t.same((await resolvedRows(deleted)).map((n) => n.channel_name), ['ops-slack'], 'deleted: resolved queued before the rule went')

    const quiet = await call('POST', '/api/v1/alerts', admin, body({ name: 'Retire quietly', notify_on_resolve: false }))
    const quietEvent = await db.insertInto('alert_events').values({
      org_id: api.orgId, rule_id: quiet.body.id, rule_name: 'Retire quietly', agent_id: agent.id, agent_name: agent.name,
      series_tags: '{}', severity: 'critical', state: 'firing', annotations: '{}', started_at: new Date(), last_notified_at: new Date(),
    }).returning('id').executeTakeFirstOrThrow()
    t.equal((await call('DELETE', `/api/v1/alerts/${quiet.body.id}`, admin)).status, 204)
    t.same(await resolvedRows(quietEvent.id), [], 'notify_on_resolve false: nothing')
  })

  t.test('retiring a rule\'s alerts waits for its evaluation lock first', async (t) => {
    const created = await call('POST', '/api/v1/alerts', admin, issueRule({ name: 'Locked retire' }))
    const recorded = recordingDb(db)
    await recorded.db.transaction().execute((trx) => retireRuleAlerts(trx, created.body.id, 'test', new Date()))
    const lockAt = ruleLockAt(recorded.queries, LOCK_NAMESPACE, created.body.id)
    t.equal(lockAt, 0, 'the lock (the evaluator\'s two keys) comes before anything else')
  })
})
