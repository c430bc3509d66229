// Alert events through the real API on a real embedded TimescaleDB: the history with every filter and
// keyset pagination, one event with its delivery log (no secrets), acknowledge / unacknowledge / resolve
// with their 409s and validation errors, the lifecycle row and resolved notifications a resolve leaves
// behind, the hostpulse_alerts notice, roles, and other organizations' events staying invisible.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import { assertError, createOrgWithAdmin, startClient, type TestClient } from '../test-client.ts'
import { addUser } from '../query/query-helpers.ts'
import type { AlertSeverity } from '../../services/store/database.ts'

const HOUR = 3_600_000
const EVENT_KEYS = [
  'ack_comment', 'ack_expires_at', 'acknowledged', 'acknowledged_at', 'acknowledged_by', 'acknowledged_by_name', 'agent_id', 'agent_name',
  'annotations', 'duration_seconds', 'id', 'last_notified_at', 'metric', 'notification_count', 'resolve_comment', 'resolved_at', 'resolved_by',
  'resolved_by_name', 'rule_id', 'rule_name', 'series_key', 'series_tags', 'severity', 'started_at', 'state', 'summary', 'threshold', 'value',
]

interface EventSeed {
  orgId?: string; ruleId: string | null; ruleName: string; agentId: string | null; agentName: string; severity?: AlertSeverity
  state?: 'firing' | 'resolved'; startedAt: Date; resolvedAt?: Date | null; seriesKey?: string; seriesTags?: Record<string, string>
  ackAt?: Date | null; ackExpiresAt?: Date | null; summary?: string
  /** Whether the firing was notified (default yes): the evaluator's mark on the event and its lifecycle row. */
  notified?: boolean
}

/** Inserts an event (and, while firing, its lifecycle row) the way the evaluator leaves them. */
async function seedEvent(api: TestClient, s: EventSeed): Promise<string> {
  const orgId = s.orgId ?? api.orgId
  const state = s.state ?? 'firing'
  const row = await api.store.db.insertInto('alert_events').values({
    org_id: orgId, rule_id: s.ruleId, rule_name: s.ruleName, agent_id: s.agentId, agent_name: s.agentName,
    series_key: s.seriesKey ?? '', series_tags: JSON.stringify(s.seriesTags ?? {}), severity: s.severity ?? 'critical', state,
    value: 97.5, threshold: 90, summary: s.summary ?? `CPU 97.5% on ${s.agentName}`, annotations: JSON.stringify({ runbook: 'https://wiki/cpu' }),
    started_at: s.startedAt, resolved_at: s.resolvedAt ?? (state === 'resolved' ? new Date(s.startedAt.getTime() + 60_000) : null),
    acknowledged_at: s.ackAt ?? null, ack_expires_at: s.ackExpiresAt ?? null,
    notification_count: s.notified === false ? 0 : 1, last_notified_at: s.notified === false ? null : s.startedAt,
  }).returning('id').executeTakeFirstOrThrow()
  if (state === 'firing' && s.ruleId && s.agentId) {
    await api.store.db.insertInto('alert_states').values({
      rule_id: s.ruleId, agent_id: s.agentId, series_key: s.seriesKey ?? '', org_id: orgId, series_tags: JSON.stringify(s.seriesTags ?? {}),
      state: 'firing', severity: s.severity ?? 'critical', value: 97.5, pending_since: s.startedAt, firing_since: s.startedAt,
      last_notified_at: s.notified === false ? null : s.startedAt, event_id: row.id,
    }).onConflict((oc) => oc.columns(['rule_id', 'agent_id', 'series_key']).doUpdateSet({ event_id: row.id, state: 'firing' })).execute()
  }
  return row.id
}

async function seedRule(api: TestClient, name: string, fields: { channels?: string[]; notifyOnResolve?: boolean; groupWait?: number; orgId?: string } = {}) {
  return api.store.db.insertInto('alert_rules').values({
    org_id: fields.orgId ?? api.orgId, name, metric: 'cpu.usage_percent', threshold: 90, channels: fields.channels ?? [],
    notify_on_resolve: fields.notifyOnResolve ?? true, group_wait_seconds: fields.groupWait ?? 10, labels: '{}', tags: '{}', annotations: '{}',
  }).returning(['id', 'name']).executeTakeFirstOrThrow()
}

async function seedChannel(api: TestClient, name: string, enabled = true) {
  return api.store.db.insertInto('notification_channels').values({
    org_id: api.orgId, name, type: 'slack', enabled, config: JSON.stringify({ webhook_url: `https://hooks.slack.com/services/T0/B0/${name}-secret-token` }),
  }).returning(['id', 'name']).executeTakeFirstOrThrow()
}

/** Strings and JSON values that have broken APIs: SQL, sizes, unicode, NUL, lone surrogates, type confusion. */
const HOSTILE = [
  "' OR '1'='1", "1; DROP TABLE alert_events; --", '%27', '../../etc/passwd', 'x'.repeat(100_000), '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u202e', 'nul\u0000byte', '\ud800',
  ' ', '', '-1', '1e309', 'NaN', 'null', '00000000-0000-0000-0000-000000000000', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '*', '%', '_',
]
const JSON_VALUES: unknown[] = [0, -1, 1e308, true, null, [], ['a'], {}, { $ne: null }, [[[[]]]]]
/** Percent-encoded; a lone surrogate (no UTF-8 form) goes as the invalid bytes of one. */
const enc = (s: string) => { try { return encodeURIComponent(s) } catch { return '%ED%A0%80' } }

const ids = (res: { body: { events: Array<{ id: string }> } }) => res.body.events.map((e) => e.id)

/** Polls `check` until it returns a value, or fails after `ms`. */
async function waitFor<T>(t: Test, what: string, check: () => T | undefined, ms = 5000): Promise<T | undefined> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = check()
    if (v !== undefined) return v
    if (Date.now() > deadline) { t.fail(`timed out waiting for ${what}`); return undefined }
    await new Promise((r) => setTimeout(r, 20))
  }
}

t.test('alert events', async (t) => {
  const api = await startClient(t)
  const admin = api.adminToken
  const editor = await addUser(api, 'events-editor', 'editor')
  const viewer = await addUser(api, 'events-viewer', 'viewer')
  const otherOrgId = await createOrgWithAdmin(api.store, 'events-other-org', 'events-other-admin', 'events-other-password-1')
  const other = (await api.login('events-other-admin', 'events-other-password-1')).token
  const call = (method: string, path: string, token: string, body?: unknown) => api.request(method, path, { token, body })

  const web = await api.createAgent('web-1', admin, { labels: { env: 'prod', team: 'web' } })
  const db1 = await api.createAgent('db-1', admin, { labels: { env: 'prod' } })
  const slack = await seedChannel(api, 'ops-slack')
  const pager = await seedChannel(api, 'pager')
  const off = await seedChannel(api, 'disabled-channel', false)
  const cpu = await seedRule(api, 'High CPU', { channels: [slack.id, pager.id, off.id], notifyOnResolve: true, groupWait: 30 })
  const diskRule = await seedRule(api, 'Disk full', { channels: [slack.id], notifyOnResolve: false })
  const otherAgent = await api.store.db.insertInto('agents').values({ org_id: otherOrgId, name: 'web-1', labels: '{}' }).returning('id').executeTakeFirstOrThrow()
  const otherRule = await seedRule(api, 'High CPU', { orgId: otherOrgId })

  const now = Date.now()
  const at = (hoursAgo: number) => new Date(now - hoursAgo * HOUR)
  // A fleet's history: firing and resolved events of two rules on two agents, one of a deleted agent.
  const e = {
    cpuWebFiring: await seedEvent(api, { ruleId: cpu.id, ruleName: cpu.name, agentId: web.id, agentName: 'web-1', startedAt: at(1) }),
    cpuDbResolved: await seedEvent(api, { ruleId: cpu.id, ruleName: cpu.name, agentId: db1.id, agentName: 'db-1', state: 'resolved', startedAt: at(5), resolvedAt: at(4) }),
    diskWebWarning: await seedEvent(api, { ruleId: diskRule.id, ruleName: diskRule.name, agentId: web.id, agentName: 'web-1', severity: 'warning', startedAt: at(2), seriesKey: '/var', seriesTags: { mount_point: '/var' } }),
    diskDbInfo: await seedEvent(api, { ruleId: diskRule.id, ruleName: diskRule.name, agentId: db1.id, agentName: 'db-1', severity: 'info', state: 'resolved', startedAt: at(30), resolvedAt: at(29) }),
    goneAgent: await seedEvent(api, { ruleId: cpu.id, ruleName: cpu.name, agentId: null, agentName: 'gone-1', state: 'resolved', startedAt: at(48), resolvedAt: at(47) }),
    ackExpired: await seedEvent(api, { ruleId: cpu.id, ruleName: cpu.name, agentId: db1.id, agentName: 'db-1', severity: 'warning', startedAt: at(3), seriesKey: 'core0', ackAt: at(2.5), ackExpiresAt: at(0.5) }),
  }
  const foreign = await seedEvent(api, { orgId: otherOrgId, ruleId: otherRule.id, ruleName: 'High CPU', agentId: otherAgent.id, agentName: 'web-1', startedAt: at(1.5) })

  t.test('the history: newest first, every field, only this organization', async (t) => {
    const res = await api.get('/api/v1/alerts/events')
    t.equal(res.status, 200)
    t.same(ids(res), [e.cpuWebFiring, e.diskWebWarning, e.ackExpired, e.cpuDbResolved, e.diskDbInfo, e.goneAgent], 'newest first, no foreign event')
    t.equal(res.body.count, 6)
    t.notOk('next_cursor' in res.body, 'one page: no next_cursor')
    const first = res.body.events[0]
    t.same(Object.keys(first).sort(), EVENT_KEYS)
    t.match(first, { rule_id: cpu.id, rule_name: 'High CPU', agent_id: web.id, agent_name: 'web-1', state: 'firing', severity: 'critical', value: 97.5, threshold: 90, acknowledged: false, resolved_at: null, metric: 'cpu.usage_percent' })
    t.ok(first.duration_seconds >= 3599 && first.duration_seconds <= 3700, `a firing event lasts until now (${first.duration_seconds}s)`)
    const resolved = res.body.events.find((x: any) => x.id === e.cpuDbResolved)
    t.equal(resolved.duration_seconds, 3600, 'a resolved one until it resolved')
    t.equal(res.body.events.find((x: any) => x.id === e.ackExpired).acknowledged, false, 'an expired acknowledgement no longer holds')
    const foreignList = await api.get('/api/v1/alerts/events', other)
    t.same(ids(foreignList), [foreign], 'the other organization sees only its own')
  })

  t.test('filters', async (t) => {
    const q = async (query: string) => ids(await api.get(`/api/v1/alerts/events?${query}`))
    t.same(await q('state=firing'), [e.cpuWebFiring, e.diskWebWarning, e.ackExpired])
    t.same(await q('state=resolved'), [e.cpuDbResolved, e.diskDbInfo, e.goneAgent])
    t.same(await q('severity=warning'), [e.diskWebWarning, e.ackExpired])
    t.same(await q('severity=info,warning'), [e.diskWebWarning, e.ackExpired, e.diskDbInfo], 'several severities')
    t.same(await q('agent=web-1'), [e.cpuWebFiring, e.diskWebWarning], 'agent by name')
    t.same(await q(`agent=${db1.id}`), [e.ackExpired, e.cpuDbResolved, e.diskDbInfo], 'agent by id')
    t.same(await q('agent=gone-1'), [e.goneAgent], 'a deleted agent\'s history by its name')
    t.same(await q('agent=nobody'), [], 'an unknown agent: nothing')
    t.same(await q(`agent=${otherAgent.id}`), [], 'another organization\'s agent: nothing')
    t.same(await q('rule=Disk%20full'), [e.diskWebWarning, e.diskDbInfo], 'rule by name')
    t.same(await q(`rule=${cpu.id}`), [e.cpuWebFiring, e.ackExpired, e.cpuDbResolved, e.goneAgent], 'rule by id')
    t.same(await q(`rule=${otherRule.id}`), [], 'another organization\'s rule: nothing')
    t.same(await q('rule=High%20CPU&agent=db-1&state=firing'), [e.ackExpired], 'filters combine')
    const iso = (d: Date) => encodeURIComponent(d.toISOString())
    // Overlap: still firing at or resolved after start, started before end.
    t.same(await q(`start=${iso(at(4.5))}`), [e.cpuWebFiring, e.diskWebWarning, e.ackExpired, e.cpuDbResolved], 'start: events alive after it')
    t.same(await q(`end=${iso(at(4.5))}`), [e.cpuDbResolved, e.diskDbInfo, e.goneAgent], 'end: events that started before it')
    t.same(await q(`start=${iso(at(6))}&end=${iso(at(2.5))}`), [e.ackExpired, e.cpuDbResolved], 'a window')
    t.same(await q('acknowledged=false&state=firing'), [e.cpuWebFiring, e.diskWebWarning, e.ackExpired], 'expired acks are not acknowledged')
    t.same(await q('acknowledged=true'), [])
  })

  t.test('bad filters are 400s naming the parameter', async (t) => {
    const cases: Array<[string, string]> = [
      ['severity=fatal', 'severity'], ['severity=critical,,bogus', 'severity'], ['state=open', 'state'], ['start=yesterday', 'start'],
      ['end=2026-02-30T00:00:00Z', 'end'], [`start=${encodeURIComponent(new Date().toISOString())}&end=2020-01-01T00:00:00Z`, 'start'],
      ['start=0000-01-01T00:00:00Z', 'start'], ['limit=0', 'limit'], ['limit=ten', 'limit'], ['cursor=not-a-cursor', 'cursor'], ['acknowledged=maybe', 'acknowledged'],
      ['sevrity=critical', 'sevrity'], [`agent=${'x'.repeat(129)}`, 'agent'],
    ]
    for (const [query, field] of cases) {
      const res = await api.get(`/api/v1/alerts/events?${query}`)
      assertError(t, res, 400, 'VALIDATION_ERROR', query)
      t.ok(res.body.details?.[field], `${query}: details name ${field} (${JSON.stringify(res.body.details)})`)
    }
  })

  t.test('keyset pagination: every event once, in order, ties broken by id', async (t) => {
    const org = await createOrgWithAdmin(api.store, 'paging-org', 'paging-admin', 'paging-password-1')
    const token = (await api.login('paging-admin', 'paging-password-1')).token
    const base = Date.now() - 10 * HOUR
    const seeded: Array<{ id: string; t: number }> = []
    // 23 events, several sharing one start time, one a microsecond apart from another.
    for (let i = 0; i < 23; i++) {
      const startedAt = new Date(base + Math.floor(i / 4) * 60_000)
      seeded.push({ id: await seedEvent(api, { orgId: org, ruleId: null, ruleName: 'r', agentId: null, agentName: `a${i}`, state: 'resolved', startedAt }), t: startedAt.getTime() })
    }
    await api.store.db.updateTable('alert_events').set({ started_at: new Date(base + 10 * 60_000).toISOString().replace('Z', '') + '001+00' as never })
      .where('id', '=', seeded[22].id).execute()
    const walked: string[] = []
    const sizes: number[] = []
    let cursor: string | undefined
    for (let page = 0; page < 20; page++) {
      const res = await api.get(`/api/v1/alerts/events?limit=5${cursor ? `&cursor=${cursor}` : ''}`, token)
      t.equal(res.status, 200)
      walked.push(...ids(res))
      sizes.push(res.body.count)
      cursor = res.body.next_cursor
      if (!cursor) break
    }
    t.same(sizes, [5, 5, 5, 5, 3], 'full pages, then the rest, then no cursor')
    t.equal(new Set(walked).size, 23, 'no event twice')
    const rows = await api.store.db.selectFrom('alert_events').select(['id']).where('org_id', '=', org).orderBy('started_at', 'desc').orderBy('id', 'desc').execute()
    t.same(walked, rows.map((r) => r.id), 'the order of (started_at desc, id desc)')
    const exact = await api.get('/api/v1/alerts/events?limit=23', token)
    t.notOk('next_cursor' in exact.body, 'a page that holds exactly the rest has no next_cursor')
    const foreignCursor = Buffer.from(JSON.stringify({ id: foreign })).toString('base64url')
    t.same(ids(await api.get(`/api/v1/alerts/events?cursor=${foreignCursor}`, token)), [], 'another organization\'s event as cursor: nothing')
  })

  t.test('one event with its delivery log, never a channel secret', async (t) => {
    await api.store.db.insertInto('alert_notifications').values([
      { org_id: api.orgId, event_id: e.cpuWebFiring, rule_id: cpu.id, channel_id: slack.id, channel_name: slack.name, kind: 'firing', status: 'delivered', attempts: 1, group_key: 'g1', delivered_at: at(0.9) },
      {
        org_id: api.orgId, event_id: e.cpuWebFiring, rule_id: cpu.id, channel_id: pager.id, channel_name: pager.name, kind: 'firing', status: 'failed', attempts: 5, group_key: 'g2',
        last_error: 'POST https://hooks.slack.com/services/T0/B0/pager-secret-token answered 500',
      },
    ]).execute()
    const res = await api.get(`/api/v1/alerts/events/${e.cpuWebFiring}`, viewer.token)
    t.equal(res.status, 200, 'a viewer reads it')
    t.same(Object.keys(res.body).sort(), [...EVENT_KEYS, 'notifications'].sort())
    t.equal(res.body.notifications.length, 2)
    t.match(res.body.notifications[0], { channel_id: slack.id, channel_name: 'ops-slack', channel_type: 'slack', kind: 'firing', status: 'delivered', attempts: 1, last_error: null })
    t.match(res.body.notifications[1], { channel_name: 'pager', status: 'failed', attempts: 5 })
    t.same(Object.keys(res.body.notifications[0]).sort(),
      ['attempts', 'channel_id', 'channel_name', 'channel_type', 'created_at', 'delivered_at', 'id', 'kind', 'last_error', 'next_attempt_at', 'status'])
    t.notMatch(res.text, /secret-token|hooks\.slack\.com|webhook_url/, 'no webhook URL, not even inside a delivery error')
    t.match(res.body.notifications[1].last_error, /\[url redacted\] answered 500/)

    assertError(t, await api.get(`/api/v1/alerts/events/${randomUUID()}`), 404, 'NOT_FOUND', 'unknown id')
    assertError(t, await api.get('/api/v1/alerts/events/not-a-uuid'), 404, 'NOT_FOUND', 'malformed id: as unknown as any other, the same on every route')
  })

  t.test('another organization\'s event: 404 for every route, and nothing changes', async (t) => {
    const before = await api.store.db.selectFrom('alert_events').selectAll().where('id', '=', foreign).executeTakeFirstOrThrow()
    for (const [method, path, body] of [
      ['GET', `/api/v1/alerts/events/${foreign}`, undefined], ['POST', `/api/v1/alerts/events/${foreign}/ack`, { comment: 'x' }],
      ['DELETE', `/api/v1/alerts/events/${foreign}/ack`, undefined], ['POST', `/api/v1/alerts/events/${foreign}/resolve`, {}],
    ] as const) {
      const res = await call(method, path, admin, body)
      assertError(t, res, 404, 'NOT_FOUND', `${method} ${path}`)
      t.notMatch(res.text, /High CPU|web-1/, 'the answer tells nothing about it')
    }
    t.same(await api.store.db.selectFrom('alert_events').selectAll().where('id', '=', foreign).executeTakeFirstOrThrow(), before, 'unchanged')
  })

  t.test('a viewer cannot acknowledge, unacknowledge or resolve', async (t) => {
    const before = await api.store.db.selectFrom('alert_events').selectAll().where('id', '=', e.cpuWebFiring).executeTakeFirstOrThrow()
    assertError(t, await call('POST', `/api/v1/alerts/events/${e.cpuWebFiring}/ack`, viewer.token, {}), 403, 'FORBIDDEN', 'viewer ack')
    assertError(t, await call('DELETE', `/api/v1/alerts/events/${e.cpuWebFiring}/ack`, viewer.token), 403, 'FORBIDDEN', 'viewer unack')
    assertError(t, await call('POST', `/api/v1/alerts/events/${e.cpuWebFiring}/resolve`, viewer.token, {}), 403, 'FORBIDDEN', 'viewer resolve')
    t.same(await api.store.db.selectFrom('alert_events').selectAll().where('id', '=', e.cpuWebFiring).executeTakeFirstOrThrow(), before, 'unchanged')
    t.equal((await api.get('/api/v1/alerts/events/summary', viewer.token)).status, 200, 'a viewer reads the summary')
  })

  t.test('acknowledge: who, when, comment, expiry; again replaces; unacknowledge clears', async (t) => {
    const path = `/api/v1/alerts/events/${e.diskWebWarning}/ack`
    const before = Date.now()
    const res = await call('POST', path, editor.token, { comment: 'looking into it', expires_in: '2h' })
    t.equal(res.status, 200)
    t.match(res.body, { id: e.diskWebWarning, acknowledged: true, acknowledged_by: editor.id, acknowledged_by_name: 'events-editor', ack_comment: 'looking into it', state: 'firing' })
    const expiry = Date.parse(res.body.ack_expires_at)
    t.ok(expiry >= before + 2 * HOUR && expiry <= Date.now() + 2 * HOUR, 'expires two hours from now')
    t.ok(Date.parse(res.body.acknowledged_at) >= before - 1000, 'acknowledged now')
    const stored = await api.store.db.selectFrom('alert_events').select(['acknowledged_by', 'ack_expires_at', 'ack_comment']).where('id', '=', e.diskWebWarning).executeTakeFirstOrThrow()
    t.same([stored.acknowledged_by, stored.ack_expires_at?.toISOString(), stored.ack_comment], [editor.id, res.body.ack_expires_at, 'looking into it'], 'stored for the evaluator')
    t.same(ids(await api.get('/api/v1/alerts/events?acknowledged=true')), [e.diskWebWarning], 'listed as acknowledged')

    const until = new Date(Date.now() + 3 * 86_400_000).toISOString()
    const again = await call('POST', path, admin, { expires_at: until, comment: '  ' })
    t.equal(again.status, 200, 're-acknowledging updates')
    t.match(again.body, { acknowledged_by_name: 'admin', ack_comment: null, ack_expires_at: until }, 'an empty comment box is no comment')

    const bare = await api.request('POST', path, { token: admin })
    t.equal(bare.status, 200, 'no body at all: acknowledged without expiry')
    t.equal(bare.body.ack_expires_at, null)

    const back = await call('DELETE', path, editor.token)
    t.equal(back.status, 200)
    t.match(back.body, { acknowledged: false, acknowledged_at: null, acknowledged_by: null, ack_comment: null, ack_expires_at: null })

    const audit = await api.store.db.selectFrom('audit_log').select(['action', 'actor_name', 'target_id', 'details'])
      .where('target_id', '=', e.diskWebWarning).orderBy('id').execute()
    t.same(audit.map((a) => [a.action, a.actor_name, a.details.acknowledged]), [
      ['alert.acknowledge', 'events-editor', true], ['alert.acknowledge', 'admin', true], ['alert.acknowledge', 'admin', true], ['alert.acknowledge', 'events-editor', false],
    ], 'each one audited')
    t.equal(audit[0].details.rule, 'Disk full')
    t.notMatch(JSON.stringify(audit), /looking into it/, 'comments stay out of the audit log')
  })

  t.test('acknowledge: bad bodies are 400s naming the field, and change nothing', async (t) => {
    const path = `/api/v1/alerts/events/${e.cpuWebFiring}/ack`
    const snapshot = () => api.store.db.selectFrom('alert_events').selectAll().where('id', '=', e.cpuWebFiring).executeTakeFirstOrThrow()
    const before = await snapshot()
    const cases: Array<[unknown, string]> = [
      [{ expires_in: '2h', expires_at: new Date(Date.now() + HOUR).toISOString() }, 'expires_at'],
      [{ expires_in: 'soon' }, 'expires_in'], [{ expires_in: '0s' }, 'expires_in'], [{ expires_in: '400d' }, 'expires_in'],
      // Past what a Date holds (once a 500): refused before any Date is built.
      [{ expires_in: '115740740741d' }, 'expires_in'], [{ expires_in: `${'9'.repeat(40)}w` }, 'expires_in'], [{ expires_in: '100000000w' }, 'expires_in'],
      [{ expires_at: '2020-01-01T00:00:00Z' }, 'expires_at'], [{ expires_at: 'tomorrow' }, 'expires_at'],
      [{ expires_at: new Date(Date.now() + 400 * 86_400_000).toISOString() }, 'expires_at'],
      [{ comment: 'x'.repeat(2001) }, 'comment'], [{ comment: { text: 'x' } }, 'comment'], [{ ack: true }, 'ack'], [[], '(body)'],
    ]
    for (const [body, field] of cases) {
      const res = await call('POST', path, admin, body)
      assertError(t, res, 400, 'VALIDATION_ERROR', JSON.stringify(body).slice(0, 60))
      t.ok(res.body.details?.[field], `names ${field}: ${JSON.stringify(res.body.details)}`)
    }
    t.same(await snapshot(), before, 'unchanged')
  })

  t.test('resolve: the event, its lifecycle row, resolved notifications, the announcement, in one go', async (t) => {
    const heard: string[] = []
    const unlisten = await api.store.listen('hostpulse_alerts', (payload) => heard.push(payload))
    t.teardown(unlisten)
    const before = Date.now()
    const res = await call('POST', `/api/v1/alerts/events/${e.cpuWebFiring}/resolve`, editor.token, { comment: 'rebooted' })
    t.equal(res.status, 200)
    t.match(res.body, { id: e.cpuWebFiring, state: 'resolved', resolved_by: editor.id, resolved_by_name: 'events-editor', resolve_comment: 'rebooted' })
    const resolvedAt = Date.parse(res.body.resolved_at)
    t.ok(resolvedAt >= before - 1000 && resolvedAt <= Date.now(), 'resolved now')

    const state = await api.store.db.selectFrom('alert_states').selectAll().where('rule_id', '=', cpu.id).where('agent_id', '=', web.id).executeTakeFirstOrThrow()
    t.match(state, { state: 'inactive', pending_since: null, firing_since: null, event_id: null }, 'the lifecycle starts over')

    const queued = await api.store.db.selectFrom('alert_notifications').selectAll().where('event_id', '=', e.cpuWebFiring).where('kind', '=', 'resolved').orderBy('channel_name').execute()
    t.same(queued.map((n) => [n.channel_name, n.status, n.attempts]), [['ops-slack', 'pending', 0], ['pager', 'pending', 0]], 'one per enabled channel of the rule')
    const wait = queued[0].next_attempt_at.getTime() - resolvedAt
    t.ok(wait >= 29_000 && wait <= 31_000, `sent after the rule's group_wait (${wait} ms)`)

    const payload = await waitFor(t, 'the hostpulse_alerts notification', () => heard.map((h) => JSON.parse(h)).find((p) => p.event_id === e.cpuWebFiring))
    t.same(payload, {
      org_id: api.orgId, event_id: e.cpuWebFiring, rule_id: cpu.id, rule_name: 'High CPU', agent_id: web.id, agent_name: 'web-1',
      severity: 'critical', state: 'resolved', value: 97.5, summary: 'CPU 97.5% on web-1', started_at: at(1).toISOString(), resolved_at: res.body.resolved_at,
    }, 'announced with every field')

    assertError(t, await call('POST', `/api/v1/alerts/events/${e.cpuWebFiring}/resolve`, admin, {}), 409, 'CONFLICT', 'resolving again')
    assertError(t, await call('POST', `/api/v1/alerts/events/${e.cpuWebFiring}/ack`, admin, {}), 409, 'CONFLICT', 'acknowledging a resolved event')
    assertError(t, await call('DELETE', `/api/v1/alerts/events/${e.cpuWebFiring}/ack`, admin), 409, 'CONFLICT', 'unacknowledging a resolved event')
    t.equal((await api.store.db.selectFrom('alert_notifications').select('id').where('event_id', '=', e.cpuWebFiring).where('kind', '=', 'resolved').execute()).length, 2, 'no second round of notifications')
    const audit = await api.store.db.selectFrom('audit_log').select(['action', 'actor_id', 'details']).where('target_id', '=', e.cpuWebFiring).where('action', '=', 'alert.resolve').execute()
    t.same(audit.map((a) => [a.actor_id, a.details.resolved_notifications]), [[editor.id, 2]], 'audited once')
  })

  t.test('resolve: no notifications when the rule does not ask, a silence mutes the alert, or the firing was never notified', async (t) => {
    const res = await call('POST', `/api/v1/alerts/events/${e.diskWebWarning}/resolve`, admin)
    t.equal(res.status, 200, 'no body needed')
    t.equal((await api.store.db.selectFrom('alert_notifications').select('id').where('event_id', '=', e.diskWebWarning).execute()).length, 0, 'notify_on_resolve is off')
    const disk = await api.store.db.selectFrom('alert_states').select(['state', 'event_id']).where('rule_id', '=', diskRule.id).where('agent_id', '=', web.id).executeTakeFirstOrThrow()
    t.same(disk, { state: 'inactive', event_id: null })

    const muted = await seedEvent(api, { ruleId: cpu.id, ruleName: cpu.name, agentId: db1.id, agentName: 'db-1', startedAt: at(0.2), seriesKey: 'core1' })
    await api.store.db.insertInto('silences').values({
      org_id: api.orgId, matchers: JSON.stringify({ agent: 'db-1', labels: { env: 'prod' } }), starts_at: at(1), ends_at: at(-1), comment: 'maintenance',
    }).execute()
    t.equal((await call('POST', `/api/v1/alerts/events/${muted}/resolve`, admin, {})).status, 200)
    t.equal((await api.store.db.selectFrom('alert_notifications').select('id').where('event_id', '=', muted).execute()).length, 0, 'silenced: nothing queued')

    const unheard = await seedEvent(api, { ruleId: cpu.id, ruleName: cpu.name, agentId: web.id, agentName: 'web-1', startedAt: at(0.1), seriesKey: 'core2', notified: false })
    t.equal((await call('POST', `/api/v1/alerts/events/${unheard}/resolve`, admin, {})).status, 200)
    t.equal((await api.store.db.selectFrom('alert_notifications').select('id').where('event_id', '=', unheard).execute()).length, 0, 'never notified firing: no resolved either')
  })

  t.test('resolve leaves a lifecycle row that already moved on to a newer event alone', async (t) => {
    const older = await seedEvent(api, { ruleId: diskRule.id, ruleName: diskRule.name, agentId: db1.id, agentName: 'db-1', startedAt: at(6), seriesKey: '/' })
    const newer = await seedEvent(api, { ruleId: diskRule.id, ruleName: diskRule.name, agentId: db1.id, agentName: 'db-1', startedAt: at(0.1), seriesKey: '/' })
    t.equal((await call('POST', `/api/v1/alerts/events/${older}/resolve`, admin, {})).status, 200)
    const row = await api.store.db.selectFrom('alert_states').select(['state', 'event_id']).where('rule_id', '=', diskRule.id).where('agent_id', '=', db1.id).where('series_key', '=', '/').executeTakeFirstOrThrow()
    t.same(row, { state: 'firing', event_id: newer }, 'still firing for the newer event')
  })

  t.test('hostile input in every parameter and body field: never a 5xx, never a change', async (t) => {
    const snapshot = () => api.store.db.selectFrom('alert_events').selectAll().where('org_id', '=', api.orgId).orderBy('id').execute()
    const before = await snapshot()
    const target = e.diskDbInfo // resolved: a write that got through would still change nothing but a 409
    const failures: string[] = []
    const send = async (label: string, method: string, path: string, body?: unknown) => {
      const res = await call(method, path, admin, body)
      if (res.status >= 500 || (res.status >= 400 && typeof res.body?.error !== 'string')) failures.push(`${label}: ${res.status} ${res.text.slice(0, 120)}`)
    }
    for (const s of HOSTILE) {
      const v = enc(s)
      for (const q of ['state', 'severity', 'agent', 'rule', 'acknowledged', 'start', 'end', 'limit', 'cursor']) await send(`query ${q}`, 'GET', `/api/v1/alerts/events?${q}=${v}`)
      for (const [method, suffix] of [['GET', ''], ['POST', '/ack'], ['DELETE', '/ack'], ['POST', '/resolve']]) {
        await send(`param ${method} ${suffix}`, method, `/api/v1/alerts/events/${v}${suffix}`, method === 'POST' ? {} : undefined)
      }
    }
    for (const value of [...HOSTILE, ...JSON_VALUES]) {
      for (const field of ['comment', 'expires_in', 'expires_at']) await send(`ack ${field}`, 'POST', `/api/v1/alerts/events/${target}/ack`, { [field]: value })
      await send('resolve comment', 'POST', `/api/v1/alerts/events/${target}/resolve`, { comment: value })
    }
    t.same(failures, [], 'every refusal is a 4xx in the error format')
    t.same(await snapshot(), before, 'no event changed')
  })

  t.test('summary: firing by severity, acknowledged, active silences', async (t) => {
    await call('POST', `/api/v1/alerts/events/${e.ackExpired}/ack`, admin, { expires_in: '1h' })
    const res = await api.get('/api/v1/alerts/events/summary')
    t.equal(res.status, 200)
    const firing = await api.store.db.selectFrom('alert_events').select(['severity']).where('org_id', '=', api.orgId).where('state', '=', 'firing').execute()
    const count = (s: string) => firing.filter((f) => f.severity === s).length
    t.same(res.body, {
      firing: { info: count('info'), warning: count('warning'), critical: count('critical'), total: firing.length },
      acknowledged: 1, active_silences: 1,
    })
    t.same((await api.get('/api/v1/alerts/events/summary', other)).body, { firing: { info: 0, warning: 0, critical: 1, total: 1 }, acknowledged: 0, active_silences: 0 }, 'per organization')
  })
})
