// Seed 003's /api/alerts/ over native alert events, end to end with real peers: a threshold and two
// notification channels made through seed 003's routes, data ingested through the API, the native evaluator
// firing and the dispatcher delivering to a real SMTP server and an HTTP webhook receiver on loopback. Then
// the alerts in DRF shapes (filters, pagination), and POST /api/alerts/{id}/resolve/: the native manual
// resolve, whose resolved notifications go out once, like those of the native resolve route, and which the
// native API shows. Roles, 401/403/404 and another organization's alerts around it.
import t from 'tap'
import { createOrgWithAdmin, makeBatch, metric, startClient } from '../../test-client.ts'
import { startReceiver, startSmtp, waitFor } from '../../notify/notify-helpers.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const KEYS = ['acknowledged', 'agent', 'agent_hostname', 'agent_uuid', 'created_at', 'id', 'level', 'message', 'metric', 'metric_type', 'resolved',
  'resolved_at', 'resolved_by', 'rule', 'rule_uuid', 'series', 'threshold', 'title', 'uuid', 'value']

t.test('seed 003 alerts: a threshold fires through native alerting, is resolved through the face', async (t) => {
  const smtp = await startSmtp(t)
  const http = await startReceiver(t)
  const api = await startClient(t, {
    alerting: { evaluate: true },
    notify: { dispatch: true, allowPrivateTargets: true, smtpUrl: smtp.url, smtpFrom: 'hostpulse <alerts@hostpulse.test>' },
  })
  const db = api.store.db
  const admin = api.adminToken
  const viewer = await api.user('viewer')
  const editor = await api.user('editor')
  await createOrgWithAdmin(api.store, 'other-org', 'other-admin', 'other-admin-password-1')
  const other = (await api.login('other-admin', 'other-admin-password-1')).token
  const call = (method: string, path: string, token: string | undefined, body?: unknown, rawBody?: string) => api.req(method, path, { token, body, rawBody })
  const ok = async (method: string, path: string, body: unknown, status: number) => {
    const res = await call(method, path, admin, body)
    if (res.status !== status) throw new Error(`${method} ${path} → ${res.status} ${res.text}`)
    return res.body
  }
  const ingestCpu = (key: string, value: number) => api.ingestOk(key, makeBatch({ time: new Date().toISOString(), metrics: [metric('cpu', 'usage_percent', value)] }))
  const numberOf = async (agentId: string) => (await db.selectFrom('agents').select('number').where('id', '=', agentId).executeTakeFirstOrThrow()).number

  const hook = await ok('POST', '/api/notifications/', { name: 'ops hook', channel_type: 'webhook', config: { url: `${http.url}/hook` } }, 201)
  const mail = await ok('POST', '/api/notifications/', { name: 'ops mail', channel_type: 'email', config: { to: ['ops@example.com'] } }, 201)
  const web1 = await api.createAgent('web-01')
  const web2 = await api.createAgent('web-02')
  const web1Number = await numberOf(web1.id)
  const web2Number = await numberOf(web2.id)
  const threshold = await ok('POST', '/api/thresholds/', { name: 'High CPU', metric_type: 'cpu', threshold: 90, comparison: 'gt', level: 'critical' }, 201)
  t.same(threshold.notification_channels, [hook.id, mail.id], 'the threshold notifies both channels')

  const hooks = (kind: string, eventId?: string) => http.at('/hook').filter((r) => r.json?.kind === kind && (!eventId || r.json.alerts.some((a: any) => a.event_id === eventId)))
  const mails = (pattern: RegExp) => smtp.mails.filter((m) => pattern.test(m.subject))

  let alert1: any
  let alert2: any

  await t.test('crossing the threshold fires natively and notifies both channels', async (t) => {
    await ingestCpu(web1.api_key, 95)
    await ingestCpu(web2.api_key, 97)
    await waitFor('the firing webhook for both agents', () => hooks('firing').flatMap((r) => r.json.alerts).length >= 2, 40_000)
    await waitFor('the firing email', () => mails(/High CPU/).length >= 1, 40_000)
    t.match(JSON.stringify(hooks('firing')), /web-01/)
    t.match(mails(/High CPU/)[0].subject, /CRITICAL/i)
  })

  await t.test('GET /api/alerts/: DRF page of the firing alerts, filters', async (t) => {
    const firing = await call('GET', '/api/alerts/?resolved=false', viewer.token)
    t.equal(firing.status, 200, 'viewers read')
    t.same(Object.keys(firing.body).sort(), ['count', 'next', 'previous', 'results'])
    t.equal(firing.body.count, 2)
    alert1 = firing.body.results.find((a: any) => a.agent === web1Number)
    alert2 = firing.body.results.find((a: any) => a.agent === web2Number)
    t.same(Object.keys(alert1).sort(), KEYS, 'every field, nothing else')
    t.match(alert1, {
      agent: web1Number, agent_hostname: 'web-01.example.com', agent_uuid: web1.id, rule: threshold.id, rule_uuid: threshold.uuid,
      level: 'critical', title: 'High CPU', metric: 'cpu.usage_percent', metric_type: 'cpu', series: {}, value: 95, threshold: 90,
      resolved: false, resolved_at: null, resolved_by: null, acknowledged: false,
    })
    t.type(alert1.id, 'number')
    t.type(alert1.message, 'string')
    t.ok(alert1.message.length > 0, 'the native summary')
    t.ok(hooks('firing').some((r) => r.json.alerts.some((a: any) => a.event_id === alert1.uuid)), 'uuid is the native event the webhook named')

    const one = await call('GET', `/api/alerts/${alert1.id}/`, viewer.token)
    t.equal(one.status, 200)
    t.same(one.body, alert1, 'GET {id} returns the listed alert')

    const count = async (query: string) => (await call('GET', `/api/alerts/${query}`, admin)).body.count
    t.equal(await count('?resolved=true'), 0)
    t.equal(await count('?resolved=False'), 2, "Python's False")
    t.equal(await count('?level=critical'), 2)
    t.equal(await count('?level=high'), 2, 'high is critical')
    t.equal(await count('?level=warning'), 0)
    t.equal(await count('?level=medium'), 0)
    t.equal(await count(`?agent=${web1Number}`), 1)
    t.equal(await count(`?agent=${web2Number}&resolved=false&level=error`), 1)
    t.equal(await count('?agent=999999'), 0, 'an agent nobody has matches nothing')
    t.same((await call('GET', '/api/alerts/?page=0', admin)).body, { detail: 'Invalid page.' }, 'page 0 is DRF\'s 404')
    t.equal((await call('GET', '/api/alerts/?page_size=501', admin)).status, 200, 'a page size past the maximum is the maximum')
    for (const query of ['?resolved=maybe', '?level=apocalyptic', '?agent=web-01']) {
      const res = await call('GET', `/api/alerts/${query}`, admin)
      t.equal(res.status, 400, `${query}: 400`)
      t.ok(Object.values(res.body).every((v) => Array.isArray(v)), `${query}: {"field": ["…"]}`)
    }

    const page1 = await call('GET', '/api/alerts/?page_size=1', admin)
    t.equal(page1.body.count, 2)
    t.equal(page1.body.results.length, 1)
    t.equal(page1.body.next, `${api.url}/api/alerts/?page_size=1&page=2`)
    t.equal(page1.body.previous, null)
    const page2 = await call('GET', '/api/alerts/?page_size=1&page=2', admin)
    t.equal(page2.body.results.length, 1)
    t.equal(page2.body.next, null)
    t.not(page2.body.results[0].id, page1.body.results[0].id, 'the other alert')
    t.ok(page1.body.results[0].created_at >= page2.body.results[0].created_at, 'newest first')
  })

  await t.test('who may resolve, and what is not found', async (t) => {
    for (const [token, status] of [[viewer.token, 403], [undefined, 401]] as const) {
      const res = await call('POST', `/api/alerts/${alert1.id}/resolve/`, token, {})
      t.equal(res.status, status, `${status}`)
      t.same(Object.keys(res.body), ['detail'])
    }
    t.equal((await call('GET', '/api/alerts/', undefined)).status, 401)
    for (const id of ['999999', alert1.uuid, 'abc', '0']) {
      for (const [method, path] of [['GET', `/api/alerts/${id}/`], ['POST', `/api/alerts/${id}/resolve/`]]) {
        const res = await call(method, path, admin, method === 'POST' ? {} : undefined)
        t.equal(res.status, 404, `${method} ${path}: 404`)
        t.same(Object.keys(res.body), ['detail'])
      }
    }
    t.equal((await call('GET', `/api/alerts/${alert1.id}/`, other)).status, 404, "another organization's alert")
    t.equal((await call('POST', `/api/alerts/${alert1.id}/resolve/`, other, {})).status, 404)
    t.equal((await call('GET', '/api/alerts/', other)).body.count, 0, 'lists none of ours')
    const event = await db.selectFrom('alert_events').select('state').where('id', '=', alert1.uuid).executeTakeFirstOrThrow()
    t.equal(event.state, 'firing', 'still firing')
  })

  await t.test('resolve: the native manual resolve, its resolved notifications sent once, as the native route sends them', async (t) => {
    const mailsBefore = mails(/resolved/i).length
    // An empty JSON body, as DRF clients post actions.
    const res = await call('POST', `/api/alerts/${alert1.id}/resolve/`, editor.token, undefined, '')
    t.equal(res.status, 200, res.text)
    t.match(res.body, { id: alert1.id, uuid: alert1.uuid, resolved: true, resolved_by: editor.username, agent: web1Number })
    t.type(res.body.resolved_at, 'string')
    await ingestCpu(web1.api_key, 10) // back to normal, so the threshold does not fire again meanwhile

    const resolvedHook = await waitFor('the resolved webhook', () => hooks('resolved', alert1.uuid)[0], 40_000)
    await waitFor('the resolved email', () => mails(/resolved/i).length > mailsBefore, 40_000)
    t.same(resolvedHook.json.alerts.map((a: any) => a.event_id), [alert1.uuid], 'naming the resolved alert only')
    t.match(resolvedHook.json, { kind: 'resolved', rule: { id: threshold.uuid, name: 'High CPU' } })

    const native = await call('GET', `/api/v1/alerts/events/${alert1.uuid}`, admin)
    t.equal(native.status, 200)
    t.match(native.body, { state: 'resolved', resolved_by_name: editor.username, resolved_at: res.body.resolved_at })
    const delivered = await waitFor('both resolved deliveries recorded', async () => {
      const body = (await call('GET', `/api/v1/alerts/events/${alert1.uuid}`, admin)).body
      const rows = body.notifications.filter((n: any) => n.kind === 'resolved')
      return rows.length === 2 && rows.every((n: any) => n.status === 'delivered') && rows
    }, 20_000)
    t.same(delivered.map((n: any) => n.channel_name).sort(), ['ops hook', 'ops mail'], 'the native delivery log shows one per channel')
    t.equal((await call('GET', `/api/alerts/${alert1.id}/`, admin)).body.resolved, true)

    const audit = await db.selectFrom('audit_log').select(['actor_name', 'target_id', 'details']).where('action', '=', 'alert.resolve').execute()
    t.match(audit, [{ actor_name: editor.username, target_id: alert1.uuid, details: { rule: 'High CPU', agent: 'web-01', resolved_notifications: 2 } }], 'audited as natively')

    const again = await call('POST', `/api/alerts/${alert1.id}/resolve/`, admin)
    t.equal(again.status, 409, 'an alert already resolved: 409, as natively')
    t.type(again.body.detail, 'string')

    // The native route resolves the other alert: its notifications have the same form.
    const nativeRes = await call('POST', `/api/v1/alerts/events/${alert2.uuid}/resolve`, admin, {})
    t.equal(nativeRes.status, 200, nativeRes.text)
    await ingestCpu(web2.api_key, 10)
    const nativeHook = await waitFor('the natively resolved webhook', () => hooks('resolved', alert2.uuid)[0], 40_000)
    await waitFor('the natively resolved email', () => mails(/resolved/i).length > mailsBefore + 1, 40_000)
    t.same(Object.keys(resolvedHook.json).sort(), Object.keys(nativeHook.json).sort(), 'the same payload fields')
    t.same(Object.keys(resolvedHook.json.alerts[0]).sort(), Object.keys(nativeHook.json.alerts[0]).sort(), 'the same alert fields')
    t.same(Object.keys(resolvedHook.headers).filter((h) => h.startsWith('x-hostpulse')).sort(), Object.keys(nativeHook.headers).filter((h) => h.startsWith('x-hostpulse')).sort(), 'the same headers')
    const [faceMail, nativeMail] = mails(/resolved/i).slice(mailsBefore)
    t.equal(faceMail.subject.replace(/web-0\d/g, 'web'), nativeMail.subject.replace(/web-0\d/g, 'web'), 'the same email subject')

    await sleep(2500)
    t.equal(hooks('resolved', alert1.uuid).length, 1, 'the face resolve notified the webhook once')
    t.equal(hooks('resolved', alert2.uuid).length, 1, 'and so did the native one')
    t.equal(mails(/resolved/i).length, mailsBefore + 2, 'one resolved email each')
    t.equal((await call('GET', '/api/alerts/?resolved=true', admin)).body.count, 2)
    t.equal((await call('GET', '/api/alerts/?resolved=false', admin)).body.count, 0)
  })
})
