// The dispatcher against a real database with a scripted send function (each call recorded; a channel's
// sends can be held open): a firing or repeat message never carries an alert resolved (a repeat: or
// acknowledged) before it went out, those rows end 'superseded'; a resolved message waits while a firing
// one of its event × channel is in flight; the concurrency limit holds, and a hanging channel takes at
// most its per-channel share of the slots while other channels keep being served.
import t from 'tap'
import type { FastifyBaseLogger } from 'fastify'
import { OutboxDispatcher, DEFAULT_DISPATCHER_SETTINGS, type DispatcherSettings } from '../../services/notify/outbox-dispatcher.ts'
import type { AlertMessage } from '../../services/notify/alert-message.ts'
import type { SendFunction } from '../../services/notify/senders.ts'
import { bootstrapAdmin } from '../../services/auth/bootstrap-admin.ts'
import { enqueueNotifications } from '../../services/alerting/outbox.ts'
import { queueResolvedNotifications } from '../../services/alerting/event-actions.ts'
import { ADMIN, openTestStore } from '../test-client.ts'
import { outboxRows, seedOutbox, waitFor } from './notify-helpers.ts'

const quiet = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, fatal() {}, child() { return quiet } } as unknown as FastifyBaseLogger

interface Sent { url: string; message: AlertMessage }

t.test('dispatcher: superseded notifications and concurrency limits', async (t) => {
  const store = await openTestStore(t)
  const db = store.db
  const { orgId } = await bootstrapAdmin(db, ADMIN.username, ADMIN.password)

  const sent: Sent[] = []
  const held = new Map<string, Array<() => void>>()
  let inFlight = 0
  let maxInFlight = 0
  const holding = new Set<string>()
  const send: SendFunction = async (channel, message) => {
    const url = String((channel.config as { url: string }).url)
    sent.push({ url, message })
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    try {
      if (holding.has(url)) await new Promise<void>((resolve) => { held.set(url, [...(held.get(url) ?? []), resolve]) })
    } finally { inFlight-- }
  }
  const release = (url: string) => { holding.delete(url); for (const r of held.get(url) ?? []) r(); held.delete(url) }
  const settings: DispatcherSettings = { ...DEFAULT_DISPATCHER_SETTINGS, maxConcurrentSends: 3, maxConcurrentSendsPerChannel: 2, closeGraceMs: 100 }
  const dispatcher = new OutboxDispatcher({ db, send, context: { allowPrivate: true, smtpFrom: 'x <x@y.z>' }, log: quiet }, settings)
  t.teardown(async () => { for (const url of [...held.keys()]) release(url); await dispatcher.stop() })

  const channel = async (name: string) => (await db.insertInto('notification_channels')
    .values({ org_id: orgId, name, type: 'webhook', config: JSON.stringify({ url: name }), created_by: null })
    .returning('id').executeTakeFirstOrThrow()).id
  const at = (url: string) => sent.filter((s) => s.url === url)
  /** Polls until a poll finds nothing due, each poll's sends finished (nothing may be held). */
  const drain = async () => {
    let started = 0
    for (let n = await dispatcher.runOnce(); n > 0; n = await dispatcher.runOnce()) { started += n; await dispatcher.idle() }
    return started
  }
  const resolveEvent = (id: string) => db.updateTable('alert_events').set({ state: 'resolved', resolved_at: new Date() }).where('id', '=', id).execute()
  const queueResolved = async (seed: { ruleId: string }, eventId: string, channelId: string) => (await db.insertInto('alert_notifications').values({
    org_id: orgId, event_id: eventId, rule_id: seed.ruleId, channel_id: channelId, channel_name: 'c', kind: 'resolved',
    group_key: `${seed.ruleId}:${channelId}:resolved`, next_attempt_at: new Date(Date.now() - 1000),
  }).returning('id').executeTakeFirstOrThrow()).id
  const agents = [{ name: 'server-001' }, { name: 'server-002' }, { name: 'server-003' }]

  t.test('a firing group leaves out alerts resolved before it went out; those rows are superseded', async (t) => {
    const ch = await channel('firing-partly-resolved')
    const seed = await seedOutbox(db, { orgId, channelId: ch, agents })
    await resolveEvent(seed.eventIds[0])
    t.equal(await drain(), 1)
    t.equal(at('firing-partly-resolved').length, 1)
    t.same(at('firing-partly-resolved')[0].message.alerts.map((a) => a.agent).sort(), ['server-002', 'server-003'], 'the resolved alert is not in the message')
    const rows = await outboxRows(db, seed.rowIds)
    const byEvent = new Map(rows.map((r) => [r.event_id, r]))
    t.equal(byEvent.get(seed.eventIds[0])!.status, 'superseded')
    t.equal(byEvent.get(seed.eventIds[0])!.last_error, 'superseded: the alert was resolved before this notification was sent')
    t.same([byEvent.get(seed.eventIds[1])!.status, byEvent.get(seed.eventIds[2])!.status], ['delivered', 'delivered'])
  })

  t.test('a claimed row (lease ended) whose alert was resolved meanwhile is superseded at send time, nothing sent', async (t) => {
    const ch = await channel('firing-all-resolved')
    const seed = await seedOutbox(db, { orgId, channelId: ch, agents: agents.slice(0, 2), status: 'sending' })
    for (const id of seed.eventIds) await resolveEvent(id)
    await drain()
    t.equal(at('firing-all-resolved').length, 0, 'no message')
    const rows = await outboxRows(db, seed.rowIds)
    t.ok(rows.every((r) => r.status === 'superseded' && /^superseded: the alert was resolved/.test(r.last_error ?? '')), rows.map((r) => r.status).join())
  })

  t.test('a repeat of an acknowledged alert is superseded; an expired ack does not mute it; a firing message is not muted by an ack', async (t) => {
    const ch = await channel('repeat-acked')
    const acked = await seedOutbox(db, { orgId, channelId: ch, kind: 'repeat', agents: agents.slice(0, 1), status: 'sending' })
    const expired = await seedOutbox(db, { orgId, channelId: ch, kind: 'repeat', agents: agents.slice(1, 2) })
    const pendingAcked = await seedOutbox(db, { orgId, channelId: ch, kind: 'repeat', agents: agents.slice(2, 3) })
    const firing = await seedOutbox(db, { orgId, channelId: ch, kind: 'firing', agents: agents.slice(0, 1) })
    const ack = (ids: string[], expires: Date | null) => db.updateTable('alert_events').set({ acknowledged_at: new Date(), ack_expires_at: expires }).where('id', 'in', ids).execute()
    await ack([...acked.eventIds, ...pendingAcked.eventIds, ...firing.eventIds], new Date(Date.now() + 3600_000))
    await ack(expired.eventIds, new Date(Date.now() - 1000))
    await drain()
    const [ackedRow] = await outboxRows(db, acked.rowIds)
    const [pendingRow] = await outboxRows(db, pendingAcked.rowIds)
    t.same([ackedRow.status, ackedRow.last_error], ['superseded', 'superseded: the alert was acknowledged before this repeat was sent'], 'claimed, then dropped at send time')
    t.same([pendingRow.status, pendingRow.last_error], ['superseded', 'superseded: the alert was acknowledged before this repeat was sent'], 'dropped while pending')
    t.equal((await outboxRows(db, expired.rowIds))[0].status, 'delivered')
    t.equal((await outboxRows(db, firing.rowIds))[0].status, 'delivered')
    t.same(at('repeat-acked').map((s) => `${s.message.kind}:${s.message.alerts.map((a) => a.agent).join()}`).sort(), ['firing:server-001', 'repeat:server-002'])
  })

  t.test('a resolved row waits while a firing row of its event × channel is sending, then goes out after it', async (t) => {
    const ch = await channel('ordered')
    const other = await channel('ordered-other')
    holding.add('ordered')
    const seed = await seedOutbox(db, { orgId, channelId: ch, agents: agents.slice(0, 1) })
    t.equal(await dispatcher.runOnce(), 1)
    await waitFor('the firing send to start', () => at('ordered').length === 1)
    await resolveEvent(seed.eventIds[0])
    const resolvedId = await queueResolved(seed, seed.eventIds[0], ch)
    // The other channel heard of the firing earlier, so it is told of the end.
    await db.insertInto('alert_notifications').values({
      org_id: orgId, event_id: seed.eventIds[0], rule_id: seed.ruleId, channel_id: other, channel_name: 'c', kind: 'firing', status: 'delivered',
      group_key: `${seed.ruleId}:${other}:firing`, next_attempt_at: new Date(Date.now() - 60_000),
    }).execute()
    const elsewhere = await queueResolved(seed, seed.eventIds[0], other)
    t.equal(await dispatcher.runOnce(), 1, 'only the other channel\'s resolved row is claimed')
    await waitFor('the other channel\'s resolved message', () => at('ordered-other').length === 1)
    t.equal((await outboxRows(db, [resolvedId]))[0].status, 'pending', 'held while the firing row is sending')
    t.equal(at('ordered').length, 1)
    release('ordered')
    await dispatcher.idle()
    t.equal((await outboxRows(db, seed.rowIds))[0].status, 'delivered', 'the firing message was already out')
    await drain()
    t.same(at('ordered').map((s) => s.message.kind), ['firing', 'resolved'], 'resolved comes last')
    t.equal((await outboxRows(db, [resolvedId, elsewhere])).filter((r) => r.status === 'delivered').length, 2)
  })

  t.test('a firing row waiting out a backoff does not hold the resolved row: both are superseded, as the channel never heard of the firing', async (t) => {
    const ch = await channel('backoff')
    const seed = await seedOutbox(db, { orgId, channelId: ch, agents: agents.slice(0, 1), attempts: 2, nextAttemptAt: new Date(Date.now() + 3600_000) })
    await resolveEvent(seed.eventIds[0])
    const resolvedId = await queueResolved(seed, seed.eventIds[0], ch)
    await drain()
    t.equal((await outboxRows(db, seed.rowIds))[0].status, 'superseded')
    const resolved = (await outboxRows(db, [resolvedId]))[0]
    t.same([resolved.status, resolved.last_error], ['superseded', 'superseded: this channel never got the firing notification, so it is not told of the end'])
    t.same(at('backoff'), [], 'nothing sent: no RESOLVED without its FIRING')
  })

  t.test('a firing that was delivered: its resolved row is sent', async (t) => {
    const ch = await channel('heard')
    const seed = await seedOutbox(db, { orgId, channelId: ch, agents: agents.slice(0, 1) })
    await drain()
    t.equal((await outboxRows(db, seed.rowIds))[0].status, 'delivered')
    await resolveEvent(seed.eventIds[0])
    const resolvedId = await queueResolved(seed, seed.eventIds[0], ch)
    await drain()
    t.equal((await outboxRows(db, [resolvedId]))[0].status, 'delivered')
    t.same(at('heard').map((s) => s.message.kind), ['firing', 'resolved'])
  })

  t.test("a rule's channels changed while it fired: the end goes to the channel that heard the firing, not to the one that did not", async (t) => {
    const before = await channel('told-of-firing')
    const after = await channel('named-since')
    const seed = await seedOutbox(db, { orgId, channelId: before, agents: agents.slice(0, 1) })
    await drain()
    t.equal((await outboxRows(db, seed.rowIds))[0].status, 'delivered')
    // The rule now names only the other channel; then the alert ends.
    await resolveEvent(seed.eventIds[0])
    const queued = await enqueueNotifications(db, { orgId, eventId: seed.eventIds[0], ruleId: seed.ruleId, channelIds: [after], kind: 'resolved', groupWaitSeconds: 0, now: new Date(Date.now() - 1000) })
    t.equal(queued, 2, 'a resolved row for each channel')
    await drain()
    t.same(at('told-of-firing').map((s) => s.message.kind), ['firing', 'resolved'], 'the channel told of the firing is told of its end')
    t.same(at('named-since'), [], 'the channel that never heard of it is not')
    // A rule whose channels were all removed while it fired still closes what it opened.
    const alone = await channel('only-channel')
    const second = await seedOutbox(db, { orgId, channelId: alone, agents: agents.slice(1, 2) })
    await drain()
    await resolveEvent(second.eventIds[0])
    t.equal(await enqueueNotifications(db, { orgId, eventId: second.eventIds[0], ruleId: second.ruleId, channelIds: [], kind: 'resolved', groupWaitSeconds: 0, now: new Date(Date.now() - 1000) }), 1)
    await drain()
    t.same(at('only-channel').map((s) => s.message.kind), ['firing', 'resolved'])
    // Resolved by hand (outside the evaluator), the rule naming no channel now: the same.
    const byHand = await channel('resolved-by-hand')
    const third = await seedOutbox(db, { orgId, channelId: byHand, agents: agents.slice(2, 3) })
    await drain()
    await resolveEvent(third.eventIds[0])
    const event = await db.selectFrom('alert_events').select(['id', 'org_id', 'rule_id', 'agent_id', 'agent_name', 'series_key', 'series_tags', 'severity', 'last_notified_at'])
      .where('id', '=', third.eventIds[0]).executeTakeFirstOrThrow()
    t.same((await db.selectFrom('alert_rules').select('channels').where('id', '=', third.ruleId).executeTakeFirstOrThrow()).channels, [], 'the rule names no channel')
    await db.updateTable('alert_rules').set({ group_wait_seconds: 0 }).where('id', '=', third.ruleId).execute()
    t.equal(await queueResolvedNotifications(db, event, new Date(Date.now() - 1000)), 1, 'the end is queued for the channel told of the firing')
    await drain()
    t.same(at('resolved-by-hand').map((s) => s.message.kind), ['firing', 'resolved'])
  })

  t.test('at most maxConcurrentSends messages in flight, at most maxConcurrentSendsPerChannel to one hanging channel', async (t) => {
    maxInFlight = 0
    const hang = await channel('hang')
    holding.add('hang')
    const hangSeeds: Array<Awaited<ReturnType<typeof seedOutbox>>> = []
    for (let i = 0; i < 5; i++) hangSeeds.push(await seedOutbox(db, { orgId, channelId: hang, agents: agents.slice(0, 1), nextAttemptAt: new Date(Date.now() - 60_000 + i) }))
    const healthy: Array<Awaited<ReturnType<typeof seedOutbox>>> = []
    for (const name of ['ok-a', 'ok-b', 'ok-c']) healthy.push(await seedOutbox(db, { orgId, channelId: await channel(name), agents: agents.slice(0, 1) }))
    t.equal(await dispatcher.runOnce(), 3, 'one poll starts only the free slots\' worth of groups')
    await waitFor('the first sends', () => at('hang').length >= 2 && at('ok-a').length === 1)
    t.equal(at('hang').length, 2, 'the hanging channel gets its share only')
    const healthyRows = () => outboxRows(db, healthy.flatMap((s) => s.rowIds))
    await waitFor('every healthy channel served', async () => { await dispatcher.runOnce(); return (await healthyRows()).every((r) => r.status === 'delivered') })
    t.pass('every healthy channel was served while the hanging one blocks')
    t.equal(at('hang').length, 2, 'still only two sends to the hanging channel')
    t.equal((await outboxRows(db, hangSeeds.flatMap((s) => s.rowIds))).filter((r) => r.status === 'pending').length, 3, 'its other groups wait, pending')
    t.ok(maxInFlight <= 3, `at most 3 in flight (saw ${maxInFlight})`)
    release('hang')
    await dispatcher.idle()
    await waitFor('the hanging channel\'s other groups', async () => { await dispatcher.runOnce(); return (await outboxRows(db, hangSeeds.flatMap((s) => s.rowIds))).every((r) => r.status === 'delivered') })
    t.equal(at('hang').length, 5, 'the rest go out once it answers')
    t.ok(maxInFlight <= 3, `at most 3 in flight (saw ${maxInFlight})`)
  })
})
