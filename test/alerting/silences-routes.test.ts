// Silences and maintenance windows through the real API on a real embedded TimescaleDB: create, read,
// list with filters, change and end them; preview what matchers would mute; every validation rule as a 400 naming the field with nothing
// stored; roles; other organizations; the audit trail; and what is stored is what the evaluator's
// silence matching reads.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { assertError, createOrgWithAdmin, startClient } from '../test-client.ts'
import { addUser } from '../query/query-helpers.ts'
import { activeSilences, isSilenced } from '../../services/alerting/silence-matching.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const SILENCE_KEYS = ['comment', 'created_at', 'created_by', 'created_by_name', 'ends_at', 'id', 'kind', 'matchers', 'starts_at', 'status']
const iso = (ms: number) => new Date(ms).toISOString()
/** Strings and JSON values that have broken APIs: SQL, sizes, unicode, NUL, lone surrogates, type confusion. */
const HOSTILE = [
  "' OR '1'='1", "1; DROP TABLE silences; --", '%27', '../../etc/passwd', 'x'.repeat(100_000), '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u202e', 'nul\u0000byte', '\ud800',
  ' ', '', '-1', '1e309', 'NaN', 'null', '00000000-0000-0000-0000-000000000000', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '*', '%', '_',
]
const JSON_VALUES: unknown[] = [0, -1, 1e308, true, null, [], ['a'], {}, { $ne: null }, { '': '' }, [[[[]]]]]
/** Percent-encoded; a lone surrogate (no UTF-8 form) goes as the invalid bytes of one. */
const enc = (s: string) => { try { return encodeURIComponent(s) } catch { return '%ED%A0%80' } }

t.test('silences', async (t) => {
  const api = await startClient(t)
  const admin = api.adminToken
  const editor = await addUser(api, 'silence-editor', 'editor')
  const viewer = await addUser(api, 'silence-viewer', 'viewer')
  const otherOrgId = await createOrgWithAdmin(api.store, 'silence-other-org', 'silence-other-admin', 'silence-other-password-1')
  const other = (await api.login('silence-other-admin', 'silence-other-password-1')).token
  const call = (method: string, path: string, token: string, body?: unknown) => api.request(method, path, { token, body })
  const rule = await api.store.db.insertInto('alert_rules').values({ org_id: api.orgId, name: 'High CPU', metric: 'cpu.usage_percent', threshold: 90, labels: '{}', tags: '{}', annotations: '{}' })
    .returning('id').executeTakeFirstOrThrow()
  const foreignRule = await api.store.db.insertInto('alert_rules').values({ org_id: otherOrgId, name: 'High CPU', metric: 'cpu.usage_percent', threshold: 90, labels: '{}', tags: '{}', annotations: '{}' })
    .returning('id').executeTakeFirstOrThrow()
  const count = async () => Number((await api.store.db.selectFrom('silences').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)

  t.test('create, read, list, change; what is stored is what the evaluator matches', async (t) => {
    const before = Date.now()
    const created = await call('POST', '/api/v1/silences', editor.token, { matchers: { rule_id: rule.id.toUpperCase(), agent: 'web-1' }, duration: '2h', comment: 'deploying' })
    t.equal(created.status, 201)
    t.same(Object.keys(created.body).sort(), SILENCE_KEYS)
    const s = created.body
    t.match(s, { kind: 'silence', status: 'active', matchers: { rule_id: rule.id, agent: 'web-1' }, comment: 'deploying', created_by: editor.id, created_by_name: 'silence-editor' })
    const starts = Date.parse(s.starts_at)
    t.ok(starts >= before - 1000 && starts <= Date.now(), 'starts now by default')
    t.equal(Date.parse(s.ends_at) - starts, 2 * HOUR, 'duration counts from starts_at')
    t.same((await api.get(`/api/v1/silences/${s.id}`, viewer.token)).body, s, 'a viewer reads it')

    const silences = await activeSilences(api.store.db, api.orgId, new Date())
    t.same(silences.map((x) => x.id), [s.id], 'the evaluator finds it in force')
    const alert = { ruleId: rule.id, ruleName: 'High CPU', agentId: randomUUID(), agentName: 'web-1', severity: 'critical' as const, labels: {} }
    t.ok(isSilenced(silences, alert), 'and it mutes the alert it names (rule_id stored in canonical form)')
    t.notOk(isSilenced(silences, { ...alert, agentName: 'web-2' }), 'but not another agent\'s')

    const window = { starts_at: iso(Date.now() + DAY), ends_at: iso(Date.now() + DAY + 4 * HOUR) }
    const maintenance = await call('POST', '/api/v1/silences', admin, { kind: 'maintenance', matchers: { labels: { env: 'staging' } }, ...window })
    t.equal(maintenance.status, 201)
    t.match(maintenance.body, { kind: 'maintenance', status: 'pending', matchers: { labels: { env: 'staging' } }, comment: '', ...window })

    const list = await api.get('/api/v1/silences', viewer.token)
    t.equal(list.status, 200)
    t.same(list.body.silences.map((x: any) => x.id), [maintenance.body.id, s.id], 'latest start first')
    t.equal(list.body.count, 2)
    t.same((await api.get('/api/v1/silences?active=true')).body.silences.map((x: any) => x.id), [s.id])
    t.same((await api.get('/api/v1/silences?active=false')).body.silences.map((x: any) => x.id), [maintenance.body.id])
    t.same((await api.get('/api/v1/silences?kind=maintenance')).body.silences.map((x: any) => x.id), [maintenance.body.id])
    t.same((await api.get('/api/v1/silences?limit=1')).body.count, 1)

    const put = await call('PUT', `/api/v1/silences/${s.id}`, editor.token, { matchers: { severity: 'warning', rule: 'High CPU' }, ends_at: iso(starts + 6 * HOUR) })
    t.equal(put.status, 200)
    t.match(put.body, { id: s.id, kind: 'silence', comment: 'deploying', starts_at: s.starts_at, ends_at: iso(starts + 6 * HOUR), matchers: { severity: 'warning', rule: 'High CPU' } },
      'matchers and end replaced; kind, start and comment kept')
    t.notOk('agent' in put.body.matchers, 'the old matchers are gone')
    const moved = await call('PUT', `/api/v1/silences/${maintenance.body.id}`, admin, { matchers: { agent: 'db-1' }, starts_at: iso(Date.now() + 2 * DAY), duration: '1h', comment: 'moved' })
    t.match(moved.body, { kind: 'maintenance', status: 'pending', comment: 'moved', matchers: { agent: 'db-1' } })
  })

  t.test('bad bodies are 400s naming the field, and store nothing', async (t) => {
    const before = await count()
    const now = Date.now()
    const cases: Array<[unknown, string]> = [
      [{ duration: '1h' }, 'matchers'],
      [{ matchers: {}, duration: '1h' }, 'matchers'],
      [{ matchers: { labels: {} }, duration: '1h' }, 'matchers'],
      [{ matchers: { agent: 'a' } }, 'ends_at'],
      [{ matchers: { agent: 'a' }, duration: '1h', ends_at: iso(now + HOUR) }, 'duration'],
      [{ matchers: { agent: 'a' }, duration: 'a while' }, 'duration'],
      [{ matchers: { agent: 'a' }, duration: '0m' }, 'duration'],
      [{ matchers: { agent: 'a' }, duration: '400d' }, 'duration'],
      [{ matchers: { agent: 'a' }, starts_at: iso(now + 2 * HOUR), ends_at: iso(now + HOUR) }, 'ends_at'],
      [{ matchers: { agent: 'a' }, starts_at: iso(now - 2 * HOUR), ends_at: iso(now - HOUR) }, 'ends_at'],
      [{ matchers: { agent: 'a' }, ends_at: iso(now + 400 * DAY) }, 'ends_at'],
      [{ matchers: { agent: 'a' }, starts_at: iso(now + 400 * DAY), duration: '1h' }, 'starts_at'],
      [{ matchers: { agent: 'a' }, starts_at: 'now', duration: '1h' }, 'starts_at'],
      [{ matchers: { agent: 'a' }, ends_at: '2026-13-01T00:00:00Z' }, 'ends_at'],
      [{ matchers: { agent: 'a' }, ends_at: '0000-01-01T00:00:00Z' }, 'ends_at'],
      [{ matchers: { severity: 'fatal' }, duration: '1h' }, 'matchers.severity'],
      [{ matchers: { rule_id: 'High CPU' }, duration: '1h' }, 'matchers.rule_id'],
      [{ matchers: { rule_id: randomUUID() }, duration: '1h' }, 'matchers.rule_id'],
      [{ matchers: { rule_id: foreignRule.id }, duration: '1h' }, 'matchers.rule_id'],
      [{ matchers: { host: 'web-1' }, duration: '1h' }, 'matchers.host'],
      [{ matchers: { labels: { env: 5 } }, duration: '1h', kind: 'outage' }, 'kind'],
      [{ matchers: { agent: '' }, duration: '1h' }, 'matchers.agent'],
      [{ matchers: { agent: 'a' }, duration: '1h', comment: 'x'.repeat(2001) }, 'comment'],
      [{ matchers: { agent: 'a' }, duration: '1h', created_by: randomUUID() }, 'created_by'],
    ]
    for (const [body, field] of cases) {
      const res = await call('POST', '/api/v1/silences', admin, body)
      assertError(t, res, 400, 'VALIDATION_ERROR', JSON.stringify(body).slice(0, 80))
      t.ok(res.body.details?.[field], `names ${field}: ${JSON.stringify(res.body.details)}`)
    }
    const unknown = await call('POST', '/api/v1/silences', admin, { matchers: { rule_id: randomUUID() }, duration: '1h' })
    const foreign = await call('POST', '/api/v1/silences', admin, { matchers: { rule_id: foreignRule.id }, duration: '1h' })
    t.equal(foreign.body.message.replace(foreignRule.id, 'ID'), unknown.body.message.replace(/\([0-9a-f-]+\)/, '(ID)'), 'another organization\'s rule reads exactly like no rule')
    t.equal(await count(), before, 'nothing stored')

    const s = (await call('POST', '/api/v1/silences', admin, { matchers: { agent: 'keep' }, duration: '1h' })).body
    const stored = await api.get(`/api/v1/silences/${s.id}`)
    for (const body of [{ matchers: {} , duration: '1h' }, { matchers: { agent: 'x' }, ends_at: iso(Date.now() - HOUR) }, { matchers: { agent: 'x' } }]) {
      assertError(t, await call('PUT', `/api/v1/silences/${s.id}`, admin, body), 400, 'VALIDATION_ERROR', `PUT ${JSON.stringify(body)}`)
    }
    t.same((await api.get(`/api/v1/silences/${s.id}`)).body, stored.body, 'a refused PUT changes nothing')
    for (const q of ['active=maybe', 'kind=outage', 'limit=0', 'status=active']) {
      assertError(t, await api.get(`/api/v1/silences?${q}`), 400, 'VALIDATION_ERROR', q)
    }
    assertError(t, await api.get('/api/v1/silences/not-a-uuid'), 404, 'NOT_FOUND', 'malformed id: as unknown as any other, the same on every route')
  })

  t.test('DELETE ends an active silence now and keeps it; removes a pending one; 409 once expired', async (t) => {
    const s = (await call('POST', '/api/v1/silences', admin, { matchers: { agent: 'web-9' }, duration: '3h' })).body
    const before = Date.now()
    const del = await call('DELETE', `/api/v1/silences/${s.id}`, editor.token)
    t.equal(del.status, 204)
    const after = await api.get(`/api/v1/silences/${s.id}`)
    t.equal(after.status, 200, 'kept as history')
    t.equal(after.body.status, 'expired')
    t.ok(Date.parse(after.body.ends_at) >= before - 1000 && Date.parse(after.body.ends_at) <= Date.now(), 'ended now')
    t.notOk((await activeSilences(api.store.db, api.orgId, new Date())).some((x) => x.id === s.id), 'no longer in force for the evaluator')
    assertError(t, await call('DELETE', `/api/v1/silences/${s.id}`, admin), 409, 'CONFLICT', 'second DELETE')
    assertError(t, await call('PUT', `/api/v1/silences/${s.id}`, admin, { matchers: { agent: 'web-9' }, duration: '1h' }), 409, 'CONFLICT', 'PUT on an expired silence')

    const pending = (await call('POST', '/api/v1/silences', admin, { matchers: { agent: 'web-9' }, starts_at: iso(Date.now() + HOUR), duration: '1h' })).body
    t.equal((await call('DELETE', `/api/v1/silences/${pending.id}`, admin)).status, 204)
    assertError(t, await api.get(`/api/v1/silences/${pending.id}`), 404, 'NOT_FOUND', 'a silence that never started is gone')
    assertError(t, await call('DELETE', `/api/v1/silences/${randomUUID()}`, admin), 404, 'NOT_FOUND', 'unknown id')

    const audit = await api.store.db.selectFrom('audit_log').select(['action', 'actor_name', 'details']).where('target_id', 'in', [s.id, pending.id]).orderBy('id').execute()
    t.same(audit.map((a) => [a.action, a.actor_name, a.details.outcome ?? null]), [
      ['silence.create', 'admin', null], ['silence.delete', 'silence-editor', 'expired now'],
      ['silence.create', 'admin', null], ['silence.delete', 'admin', 'removed before it started'],
    ])
    t.equal(audit[0].details.matchers, 'agent')
  })

  t.test('preview: the firing alerts some matchers would mute, nothing stored', async (t) => {
    const agent = (org: string, name: string, labels: Record<string, string>) => api.store.db.insertInto('agents')
      .values({ org_id: org, name, labels: JSON.stringify(labels) }).returning(['id', 'name']).executeTakeFirstOrThrow()
    const web = await agent(api.orgId, 'pv-web', { env: 'prod' })
    const dbHost = await agent(api.orgId, 'pv-db', { env: 'staging' })
    const theirs = await agent(otherOrgId, 'pv-web', { env: 'prod' })
    const event = (org: string, ruleId: string, a: { id: string; name: string }, severity: 'critical' | 'warning', state: 'firing' | 'resolved', tags: Record<string, string> = {}) =>
      api.store.db.insertInto('alert_events').values({
        org_id: org, rule_id: ruleId, rule_name: 'High CPU', agent_id: a.id, agent_name: a.name, severity, state, series_tags: JSON.stringify(tags),
        annotations: '{}', started_at: new Date(Date.now() - HOUR), resolved_at: state === 'resolved' ? new Date() : null,
      }).returning('id').executeTakeFirstOrThrow()
    const cpuWeb = (await event(api.orgId, rule.id, web, 'critical', 'firing')).id
    const cpuDb = (await event(api.orgId, rule.id, dbHost, 'warning', 'firing', { core: '0' })).id
    await event(api.orgId, rule.id, web, 'critical', 'resolved')
    await event(otherOrgId, foreignRule.id, theirs, 'critical', 'firing')
    const before = await count()
    const preview = async (matchers: unknown, token = admin) => call('POST', '/api/v1/silences/preview', token, { matchers })
    const previewed = async (matchers: unknown) => {
      const res = await preview(matchers)
      t.equal(res.status, 200, JSON.stringify(matchers))
      t.equal(res.body.count, res.body.events.length)
      return res.body.events.map((e: any) => e.id).sort()
    }
    t.same(await previewed({ agent: 'pv-web' }), [cpuWeb], 'by agent name: only firing, only this organization')
    t.same(await previewed({ agent: dbHost.id }), [cpuDb], 'by agent id')
    t.same(await previewed({ labels: { env: 'prod' } }), [cpuWeb], 'by agent label')
    t.same(await previewed({ labels: { env: 'staging', core: '0' } }), [cpuDb], 'agent labels and series tags together')
    t.same(await previewed({ rule_id: rule.id }), [cpuWeb, cpuDb].sort(), 'by rule')
    t.same(await previewed({ rule: 'High CPU', severity: 'warning' }), [cpuDb], 'every matcher must match')
    t.same(await previewed({ severity: 'info' }), [])
    const full = await preview({ agent: 'pv-web' })
    t.match(full.body.events[0], { id: cpuWeb, rule_name: 'High CPU', agent_name: 'pv-web', state: 'firing' }, 'events as the events API shows them')
    assertError(t, await preview({}), 400, 'VALIDATION_ERROR', 'no matcher')
    assertError(t, await preview({ rule_id: foreignRule.id.slice(0, 8) }), 400, 'VALIDATION_ERROR', 'malformed rule_id')
    assertError(t, await preview({ agent: 'pv-web' }, viewer.token), 403, 'FORBIDDEN', 'viewer')
    t.equal(await count(), before, 'nothing stored')
  })

  t.test('a viewer reads but cannot write', async (t) => {
    const s = (await call('POST', '/api/v1/silences', admin, { matchers: { severity: 'info' }, duration: '1h' })).body
    const before = await count()
    assertError(t, await call('POST', '/api/v1/silences', viewer.token, { matchers: { agent: 'a' }, duration: '1h' }), 403, 'FORBIDDEN', 'viewer POST')
    assertError(t, await call('PUT', `/api/v1/silences/${s.id}`, viewer.token, { matchers: { agent: 'a' }, duration: '1h' }), 403, 'FORBIDDEN', 'viewer PUT')
    assertError(t, await call('DELETE', `/api/v1/silences/${s.id}`, viewer.token), 403, 'FORBIDDEN', 'viewer DELETE')
    t.equal(await count(), before)
    t.same((await api.get(`/api/v1/silences/${s.id}`)).body.matchers, { severity: 'info' }, 'unchanged')
  })

  t.test('hostile input in every parameter and body field: never a 5xx, never a change', async (t) => {
    const keep = (await call('POST', '/api/v1/silences', admin, { matchers: { agent: 'hostile-keep' }, duration: '1h' })).body
    const snapshot = () => api.store.db.selectFrom('silences').selectAll().orderBy('id').execute()
    const before = await snapshot()
    const failures: string[] = []
    let created = 0
    const send = async (label: string, method: string, path: string, body?: unknown) => {
      const res = await call(method, path, admin, body)
      if (res.status >= 500 || (res.status >= 400 && typeof res.body?.error !== 'string')) failures.push(`${label}: ${res.status} ${res.text.slice(0, 120)}`)
      if (res.status === 201) created++
    }
    const valid = { matchers: { agent: 'hostile' }, duration: '1h' }
    for (const s of HOSTILE) {
      for (const q of ['active', 'kind', 'limit']) await send(`query ${q}`, 'GET', `/api/v1/silences?${q}=${enc(s)}`)
      for (const method of ['GET', 'PUT', 'DELETE']) await send(`param ${method}`, method, `/api/v1/silences/${enc(s)}`, method === 'PUT' ? valid : undefined)
    }
    for (const value of [...HOSTILE, ...JSON_VALUES]) {
      for (const field of ['kind', 'matchers', 'starts_at', 'ends_at', 'duration', 'comment']) {
        // PUT on a silence of this organization: a write that gets through must be a valid one.
        await send(`PUT ${field}`, 'PUT', `/api/v1/silences/${keep.id}`, { ...valid, [field]: value })
      }
      for (const matcher of ['rule_id', 'rule', 'agent', 'severity', 'labels']) {
        await send(`matchers.${matcher}`, 'POST', '/api/v1/silences', { ...valid, matchers: { [matcher]: value } })
        await send(`matchers.labels.${matcher}`, 'POST', '/api/v1/silences', { ...valid, matchers: { labels: { [matcher]: value } } })
        await send(`preview matchers.${matcher}`, 'POST', '/api/v1/silences/preview', { matchers: { [matcher]: value } })
      }
    }
    t.same(failures, [], 'every refusal is a 4xx in the error format')
    const after = await snapshot()
    const kept = (rows: typeof before) => rows.filter((r) => before.some((b) => b.id === r.id) && r.id !== keep.id)
    t.same(kept(after), kept(before), 'no other silence changed')
    t.equal(after.length, before.length + created, 'only valid creates added rows')
  })

  t.test('another organization: invisible (404), unchangeable, not listed', async (t) => {
    const mine = (await call('POST', '/api/v1/silences', admin, { matchers: { agent: 'secret-host' }, duration: '1h' })).body
    const stored = (await api.get(`/api/v1/silences/${mine.id}`)).body
    assertError(t, await api.get(`/api/v1/silences/${mine.id}`, other), 404, 'NOT_FOUND', 'GET')
    assertError(t, await call('PUT', `/api/v1/silences/${mine.id}`, other, { matchers: { agent: 'x' }, duration: '1h' }), 404, 'NOT_FOUND', 'PUT')
    assertError(t, await call('DELETE', `/api/v1/silences/${mine.id}`, other), 404, 'NOT_FOUND', 'DELETE')
    const list = await api.get('/api/v1/silences', other)
    t.same(list.body, { silences: [], count: 0 })
    t.same((await api.get(`/api/v1/silences/${mine.id}`)).body, stored, 'unchanged')
    const theirs = await call('POST', '/api/v1/silences', other, { matchers: { rule_id: foreignRule.id }, duration: '1h' })
    t.equal(theirs.status, 201, 'their own rule is fine for them')
    t.notOk((await api.get('/api/v1/silences')).body.silences.some((x: any) => x.id === theirs.body.id), 'and theirs is not listed here')
  })
})
