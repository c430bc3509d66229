// The outbox dispatcher end to end: outbox rows inserted as the evaluator would write them, delivered by
// the running app to real peers (HTTP receivers standing in for Slack, Discord and a webhook; a real SMTP
// server). Grouping (one message per group), retries with backoff, a failing or slow channel delaying no
// other, failure after max attempts, disabled and deleted channels, crash recovery of 'sending' rows, two
// dispatchers never sending one row twice, the delivery log, test-sends, metrics, and a clean close.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../services/api/app.ts'
import { bootstrapAdmin } from '../../services/auth/bootstrap-admin.ts'
import { OutboxDispatcher, DEFAULT_DISPATCHER_SETTINGS } from '../../services/notify/outbox-dispatcher.ts'
import { sendToChannel } from '../../services/notify/senders.ts'
import { verifyWebhookSignature } from '../../services/notify/webhook-signature.ts'
import { ACCESS_TTL, ADMIN, GENEROUS_LIMITS, JWT_SECRET, REFRESH_TTL, assertError, createOrgWithAdmin, openTestStore } from '../test-client.ts'
import { clientOn } from '../security/security-helpers.ts'
import { outboxRows, seedOutbox, startReceiver, startSmtp, waitFor } from './notify-helpers.ts'

const PUBLIC_URL = 'https://hostpulse.example.com'
const SETTINGS = { pollIntervalMs: 100, retryBaseMs: 200, retryMaxMs: 1000, maxAttempts: 3, sendTimeoutMs: 3000, closeGraceMs: 300 }
/**
 * The send timeout while a hanging channel is shown not to hold the others back: the hang must outlast whatever
 * a slow, busy machine takes to deliver the healthy channel, or the checks race it. Blocked behind the hang,
 * the healthy channel would wait this long.
 */
const SLOW_SEND_TIMEOUT_MS = 30_000

t.test('outbox dispatcher', async (t) => {
  const rx = await startReceiver(t)
  const smtp = await startSmtp(t)
  const store = await openTestStore(t)
  const { orgId } = await bootstrapAdmin(store.db, ADMIN.username, ADMIN.password)
  const app: FastifyInstance = await buildApp({
    store, jwtSecret: JWT_SECRET, accessTtlSeconds: ACCESS_TTL, refreshTtlSeconds: REFRESH_TTL, ...GENEROUS_LIMITS,
    notify: { dispatch: true, allowPrivateTargets: true, smtpUrl: smtp.url, smtpFrom: 'hostpulse <alerts@hostpulse.test>', publicUrl: PUBLIC_URL, dispatcher: SETTINGS },
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  let closed = false
  t.teardown(async () => { if (!closed) await app.close() })
  const api = clientOn(app, store, `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, orgId)
  api.adminToken = (await api.login(ADMIN.username, ADMIN.password)).token
  const admin = api.adminToken
  const db = store.db

  const agents: Array<{ name: string; id: string }> = []
  for (const name of ['server-001', 'server-002', 'server-003']) {
    const res = await api.req('POST', '/api/v1/agents', { token: admin, body: { name } })
    agents.push({ name, id: res.body.id })
  }
  const channel = async (name: string, type: string, config: Record<string, unknown>) => {
    const res = await api.req('POST', '/api/v1/notification-channels', { token: admin, body: { name, type, config } })
    if (res.status !== 201) throw new Error(`channel ${name}: ${res.status} ${res.text}`)
    return res.body.id as string
  }
  const settled = (ids: string[], statuses = ['delivered', 'failed']) => waitFor(`rows ${statuses.join('/')}`, async () => {
    const rows = await outboxRows(db, ids)
    return rows.every((r) => statuses.includes(r.status)) ? rows : undefined
  })

  const secret = 'dispatch-hmac-secret'
  const webhookId = await channel('webhook', 'webhook', { url: `${rx.url}/hook`, secret })
  const slackId = await channel('slack', 'slack', { webhook_url: `${rx.url}/slack/T0/B0/x` })
  const discordId = await channel('discord', 'discord', { webhook_url: `${rx.url}/discord/1/x` })
  const emailId = await channel('email', 'email', { to: ['ops@example.com'] })

  t.test('loopback targets are accepted with allowPrivateTargets (and plain http)', async (t) => {
    t.ok(webhookId && slackId && discordId && emailId)
  })

  t.test('grouping: three outbox rows of one group → one message listing three alerts', async (t) => {
    const seed = await seedOutbox(db, { orgId, channelId: webhookId, ruleName: 'High CPU', agents })
    const rows = await settled(seed.rowIds)
    t.same(rows.map((r) => r.status), ['delivered', 'delivered', 'delivered'])
    t.equal(new Set(rows.map((r) => r.message_id)).size, 1, 'one message id for the group')
    t.ok(rows.every((r) => r.attempts === 1 && r.delivered_at && r.last_error === null))
    const requests = rx.at('/hook')
    t.equal(requests.length, 1, 'exactly one HTTP request')
    const body = requests[0].json
    t.equal(body.message_id, rows[0].message_id)
    t.equal(body.kind, 'firing')
    t.same(body.rule, { id: seed.ruleId, name: 'High CPU' })
    t.same(body.alerts.map((a: any) => a.agent), ['server-001', 'server-002', 'server-003'])
    t.same(body.alerts.map((a: any) => a.event_id).sort(), [...seed.eventIds].sort())
    t.equal(body.alerts[0].url, `${PUBLIC_URL}/#/hosts/${agents[0].id}`)
    t.ok(verifyWebhookSignature(secret, requests[0].headers['x-hostpulse-timestamp'] as string, requests[0].body, requests[0].headers['x-hostpulse-signature'] as string), 'signature verifies')
    const events = await db.selectFrom('alert_events').select(['notification_count', 'last_notified_at']).where('id', 'in', seed.eventIds).execute()
    t.ok(events.every((e) => e.notification_count === 1 && e.last_notified_at), 'events record the notification')
  })

  t.test('slack, discord and email each get one grouped message', async (t) => {
    const seeds = await Promise.all([slackId, discordId, emailId].map((channelId) => seedOutbox(db, { orgId, channelId, ruleName: 'High CPU', agents })))
    await settled(seeds.flatMap((s) => s.rowIds), ['delivered'])
    t.equal(rx.at('/slack/T0/B0/x').length, 1)
    t.equal(rx.at('/slack/T0/B0/x')[0].json.attachments[0].color, '#E01E5A')
    t.equal(rx.at('/discord/1/x').length, 1)
    t.same(rx.at('/discord/1/x')[0].json.embeds[0].fields.map((f: any) => f.name), ['server-001', 'server-002', 'server-003'])
    await waitFor('the email', () => smtp.mails.length === 1)
    const mail = smtp.mails[0]
    t.equal(mail.subject, '[CRITICAL] High CPU firing on server-001 (+2 more)')
    t.match(mail.text, /server-003/)
    t.match(mail.html, /server-003/)
    t.same(mail.to, ['ops@example.com'])
  })

  t.test('a receiver answering 500 twice is retried with backoff and delivered; healthy and slow channels do not wait on each other', async (t) => {
    rx.script('/flaky', (n) => (n < 2 ? { status: 500, body: 'boom' } : { status: 200 }))
    rx.script('/slow', () => ({ status: 200, hang: true }))
    const flakyId = await channel('flaky', 'webhook', { url: `${rx.url}/flaky` })
    const slowId = await channel('slow', 'webhook', { url: `${rx.url}/slow` })
    const healthyId = await channel('healthy', 'webhook', { url: `${rx.url}/healthy` })
    // The app's dispatcher (3 s send timeout) stands aside for one like it whose sends may hang for 30 s, so the
    // slow send is surely still hanging while the others are checked, however slow the machine.
    const appDispatcher = app.notifyDispatcher!
    await appDispatcher.idle()
    await appDispatcher.stop()
    const patient = new OutboxDispatcher({ db, send: sendToChannel, context: { allowPrivate: true, smtpFrom: 'hostpulse <alerts@hostpulse.test>' }, publicUrl: PUBLIC_URL, log: app.log },
      { ...DEFAULT_DISPATCHER_SETTINGS, ...SETTINGS, sendTimeoutMs: SLOW_SEND_TIMEOUT_MS })
    patient.start()
    let slow: Awaited<ReturnType<typeof seedOutbox>>
    try {
      slow = await seedOutbox(db, { orgId, channelId: slowId, agents: agents.slice(0, 1) })
      const flaky = await seedOutbox(db, { orgId, channelId: flakyId, agents: agents.slice(0, 2) })
      const started = Date.now()
      const healthy = await seedOutbox(db, { orgId, channelId: healthyId, agents: agents.slice(0, 1) })
      await settled(healthy.rowIds, ['delivered'])
      t.ok(Date.now() - started < SLOW_SEND_TIMEOUT_MS, `healthy delivered in ${Date.now() - started} ms, while the slow send hangs`)
      t.equal((await outboxRows(db, slow.rowIds))[0].status, 'sending', 'the slow one is still in flight')
      t.equal(rx.at('/slow').length, 1, 'on its first attempt')

      const rows = await settled(flaky.rowIds, ['delivered'])
      t.ok(rows.every((r) => r.attempts === 3), 'delivered on the third attempt')
      const tries = rx.at('/flaky')
      t.equal(tries.length, 3, 'one request per attempt, the group together')
      t.ok(tries[1].at - tries[0].at >= SETTINGS.retryBaseMs - 20, `first backoff ${tries[1].at - tries[0].at} ms`)
      t.ok(tries[2].at - tries[1].at >= 2 * SETTINGS.retryBaseMs - 20, `second backoff ${tries[2].at - tries[1].at} ms (doubles)`)
    } finally {
      // Stopping abandons the hanging send (its row back to pending, the attempt not counted); the app's
      // dispatcher takes it from there with its own 3 s timeout.
      await patient.stop()
      appDispatcher.start()
    }

    const slowRows = await settled(slow.rowIds, ['failed'])
    t.match(slowRows[0].last_error, /did not answer within 3000 ms/)
    t.equal(slowRows[0].attempts, 3)
  })

  t.test('a channel that always fails ends failed after max attempts; a 4xx fails at once', async (t) => {
    rx.script('/down', () => ({ status: 500, body: 'still down' }))
    rx.script('/gone', () => ({ status: 410, body: 'webhook deleted' }))
    const down = await seedOutbox(db, { orgId, channelId: await channel('down', 'webhook', { url: `${rx.url}/down` }), agents })
    const gone = await seedOutbox(db, { orgId, channelId: await channel('gone', 'discord', { webhook_url: `${rx.url}/gone` }), agents: agents.slice(0, 1) })
    const downRows = await settled(down.rowIds, ['failed'])
    t.ok(downRows.every((r) => r.attempts === 3 && /the webhook answered HTTP 500 Internal Server Error: still down/.test(r.last_error ?? '')), downRows[0].last_error ?? '')
    t.equal(rx.at('/down').length, 3, 'three attempts, then no more')
    const goneRows = await settled(gone.rowIds, ['failed'])
    t.equal(goneRows[0].attempts, 1)
    t.match(goneRows[0].last_error, /Discord answered HTTP 410/)
    await new Promise((r) => setTimeout(r, 500))
    t.equal(rx.at('/down').length, 3, 'a failed row is never tried again')
  })

  t.test('a disabled or deleted channel fails its rows with a clear last_error', async (t) => {
    const disabledId = await channel('disabled', 'webhook', { url: `${rx.url}/disabled` })
    const shown = (await api.req('GET', `/api/v1/notification-channels/${disabledId}`, { token: admin })).body
    t.equal((await api.req('PUT', `/api/v1/notification-channels/${disabledId}`, { token: admin, body: { name: 'disabled', type: 'webhook', config: shown.config, enabled: false } })).status, 200)
    const disabled = await seedOutbox(db, { orgId, channelId: disabledId, channelName: 'disabled', agents })
    const deleted = await seedOutbox(db, { orgId, channelId: null, channelName: 'was-here', agents: agents.slice(0, 1) })
    // Deleting a channel sets its rows' channel_id to NULL.
    const doomedId = await channel('doomed', 'webhook', { url: `${rx.url}/doomed` })
    const doomed = await seedOutbox(db, { orgId, channelId: doomedId, channelName: 'doomed', agents: agents.slice(0, 1), nextAttemptAt: new Date(Date.now() + 60_000) })
    t.equal((await api.req('DELETE', `/api/v1/notification-channels/${doomedId}`, { token: admin })).status, 204)
    await db.updateTable('alert_notifications').set({ next_attempt_at: new Date(Date.now() - 1000) }).where('id', 'in', doomed.rowIds).execute()
    t.ok((await settled(disabled.rowIds, ['failed'])).every((r) => r.last_error === 'the channel "disabled" is disabled'))
    t.equal((await settled(deleted.rowIds, ['failed']))[0].last_error, 'the channel "was-here" was deleted')
    t.equal((await settled(doomed.rowIds, ['failed']))[0].last_error, 'the channel "doomed" was deleted')
    t.equal(rx.at('/disabled').length + rx.at('/doomed').length, 0, 'nothing sent')
  })

  t.test('a row left sending by a crashed instance is sent again once its lease ends, the lost attempt counted', async (t) => {
    const crashed = await seedOutbox(db, { orgId, channelId: await channel('crashed', 'webhook', { url: `${rx.url}/crashed` }), agents: agents.slice(0, 1), status: 'sending' })
    const rows = await settled(crashed.rowIds, ['delivered'])
    t.equal(rows[0].attempts, 2)
    t.equal(rx.at('/crashed').length, 1)
    const exhausted = await seedOutbox(db, { orgId, channelId: await channel('exhausted', 'webhook', { url: `${rx.url}/exhausted` }), agents: agents.slice(0, 1), status: 'sending', attempts: 2 })
    const ended = await settled(exhausted.rowIds, ['failed'])
    t.match(ended[0].last_error, /gave up after 3 attempts/)
    t.equal(rx.at('/exhausted').length, 0)
  })

  t.test('two dispatchers on one database never send a row twice (FOR UPDATE SKIP LOCKED claim)', async (t) => {
    const second = new OutboxDispatcher({ db, send: sendToChannel, context: { allowPrivate: true, smtpFrom: 'x <x@y.z>' }, log: app.log }, { ...DEFAULT_DISPATCHER_SETTINGS, pollIntervalMs: 50 })
    second.start()
    const race = await channel('race', 'webhook', { url: `${rx.url}/race` })
    const seeds = []
    // Written not yet due, then all made due at once (the evaluator writes a group in one transaction).
    for (let i = 0; i < 15; i++) seeds.push(await seedOutbox(db, { orgId, channelId: race, agents: agents.slice(0, 2), nextAttemptAt: new Date(Date.now() + 60_000) }))
    await db.updateTable('alert_notifications').set({ next_attempt_at: new Date(Date.now() - 1000) }).where('id', 'in', seeds.flatMap((s) => s.rowIds)).execute()
    await settled(seeds.flatMap((s) => s.rowIds), ['delivered'])
    await second.stop()
    const ids = rx.at('/race').map((r) => r.json.message_id)
    t.equal(ids.length, 15, 'one request per group')
    t.equal(new Set(rx.at('/race').flatMap((r) => r.json.alerts.map((a: any) => a.event_id))).size, 30, 'every alert exactly once')
  })

  t.test('the delivery log of a channel', async (t) => {
    const log = await api.req('GET', `/api/v1/notification-channels/${webhookId}/deliveries`, { token: admin })
    t.equal(log.status, 200)
    t.equal(log.body.channel_id, webhookId)
    t.equal(log.body.count, 3)
    t.same(Object.keys(log.body.deliveries[0]).sort(), ['agent_name', 'attempts', 'created_at', 'delivered_at', 'event_id', 'id', 'kind', 'last_error', 'message_id', 'next_attempt_at', 'rule_id', 'rule_name', 'status'])
    t.ok(log.body.deliveries.every((d: any) => d.status === 'delivered' && d.rule_name === 'High CPU' && d.attempts === 1))
    const downId = (await db.selectFrom('notification_channels').select('id').where('name', '=', 'down').executeTakeFirstOrThrow()).id
    const failed = await api.req('GET', `/api/v1/notification-channels/${downId}/deliveries?status=failed&limit=2`, { token: admin })
    t.equal(failed.body.count, 2, 'limit')
    t.match(failed.body.deliveries[0].last_error, /HTTP 500/)
    t.equal((await api.req('GET', `/api/v1/notification-channels/${downId}/deliveries?status=delivered`, { token: admin })).body.count, 0)
    assertError(t, await api.req('GET', `/api/v1/notification-channels/${downId}/deliveries?limit=0`, { token: admin }), 400, 'VALIDATION_ERROR', 'limit 0:')
    await createOrgWithAdmin(store, 'other-org', 'other-admin', 'other-admin-password-1')
    const other = (await api.login('other-admin', 'other-admin-password-1')).token
    assertError(t, await api.req('GET', `/api/v1/notification-channels/${webhookId}/deliveries`, { token: other }), 404, 'NOT_FOUND', 'other org:')
  })

  t.test('test-send delivers now and answers the outcome', async (t) => {
    const ok = await api.req('POST', `/api/v1/notification-channels/${webhookId}/test`, { token: admin })
    t.equal(ok.status, 200)
    t.equal(ok.body.delivered, true)
    const last = rx.at('/hook').at(-1)!
    t.equal(last.json.test, true)
    t.equal(last.json.message_id, ok.body.message_id)
    t.ok(verifyWebhookSignature(secret, last.headers['x-hostpulse-timestamp'] as string, last.body, last.headers['x-hostpulse-signature'] as string))
    const mailOk = await api.req('POST', `/api/v1/notification-channels/${emailId}/test`, { token: admin })
    t.same(mailOk.body.delivered, true)
    await waitFor('the test email', () => smtp.mails.some((m) => m.subject.startsWith('[TEST]')))
    const downId = (await db.selectFrom('notification_channels').select('id').where('name', '=', 'down').executeTakeFirstOrThrow()).id
    const failed = await api.req('POST', `/api/v1/notification-channels/${downId}/test`, { token: admin })
    t.equal(failed.status, 200)
    t.same(failed.body, { delivered: false, error: 'the webhook answered HTTP 500 Internal Server Error: still down' })
  })

  t.test('metrics on /metrics', async (t) => {
    const res = await api.req('GET', '/metrics', { token: admin })
    t.equal(res.status, 200)
    t.match(res.text, /hostpulse_notifications_total\{channel_type="webhook",outcome="delivered"\} \d+/)
    t.match(res.text, /hostpulse_notifications_total\{channel_type="webhook",outcome="retry"\} \d+/)
    t.match(res.text, /hostpulse_notifications_total\{channel_type="webhook",outcome="failed"\} \d+/)
    t.match(res.text, /hostpulse_notifications_total\{channel_type="email",outcome="delivered"\} 1/)
    t.match(res.text, /hostpulse_notification_duration_seconds_bucket\{le="[\d.]+",channel_type="slack"\} 1/)
    t.match(res.text, /hostpulse_notification_queue\{status="pending"\} 0/)
  })

  t.test('close: an in-flight send is abandoned after the grace period, its row back to pending, attempt not counted', async (t) => {
    const stuck = await seedOutbox(db, { orgId, channelId: await channel('stuck', 'webhook', { url: `${rx.url}/slow` }), agents: agents.slice(0, 1) })
    await settled(stuck.rowIds, ['sending'])
    const started = Date.now()
    closed = true
    await app.close()
    // Without abandoning, close would wait for the send's own deadline (sendTimeoutMs).
    t.ok(Date.now() - started < SETTINGS.closeGraceMs + 2000, `closed in ${Date.now() - started} ms`)
    const [row] = await outboxRows(db, stuck.rowIds)
    t.equal(row.status, 'pending')
    t.equal(row.attempts, 0)
    t.match(row.last_error, /shut down/)
    const sent = rx.requests.length
    await new Promise((r) => setTimeout(r, 400))
    t.equal(rx.requests.length, sent, 'no polling after close')
  })
})
