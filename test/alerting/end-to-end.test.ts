// Alerting end to end, with real peers: data ingested through the API crosses a threshold, the evaluator
// fires, the dispatcher delivers to a real SMTP server and to HTTP receivers standing in for Slack, Discord
// and a signed webhook. Then: a receiver that fails is retried while the others deliver; a restart while
// firing sends nothing twice; recovery sends exactly one resolved notification; a silence mutes but keeps
// history; an acknowledgement stops repeats.
import t from 'tap'
import { createHmac } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { buildApp, type AppOptions } from '../../services/api/app.ts'
import { bootstrapAdmin } from '../../services/auth/bootstrap-admin.ts'
import type { Store } from '../../services/store/open-store.ts'
import { ACCESS_TTL, ADMIN, GENEROUS_LIMITS, JWT_SECRET, REFRESH_TTL, makeBatch, metric, openTestStore, request, type RequestOptions } from '../test-client.ts'
import { DEFAULT_DISPATCHER_SETTINGS } from '../../services/notify/outbox-dispatcher.ts'
import { startReceiver, startSmtp } from '../notify/notify-helpers.ts'
import { waitFor as eventually } from '../wait-for.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const SIGNING_SECRET = 'webhook-signing-secret-0123456789'

/** The High CPU rule's `for`, `interval` and `group_wait`. */
const FOR_MS = 2000
const INTERVAL_MS = 1000
const GROUP_WAIT_MS = 0
/**
 * Slack for a slow, busy machine (the engine's statements, the HTTP round trips), per stage. Each bound stays
 * below what the stage takes when the rule's own value is ignored for the default, whatever the machine: a
 * rule evaluated every 15 s (the default interval) fires 15 s or more after the ingest, a notification held
 * 10 s (the default group_wait) leaves 10 s or more after the firing.
 */
const EVALUATION_SLACK_MS = 10_000
const DELIVERY_SLACK_MS = 8000

async function startAlertingApp(store: Store, smtpUrl: string): Promise<{ app: FastifyInstance; url: string }> {
  const options: Partial<AppOptions> = {
    alerting: { evaluate: true },
    notify: { dispatch: true, allowPrivateTargets: true, smtpUrl, smtpFrom: 'hostpulse <alerts@hostpulse.test>', publicUrl: 'http://hostpulse.test' },
  }
  const app = await buildApp({ store, jwtSecret: JWT_SECRET, accessTtlSeconds: ACCESS_TTL, refreshTtlSeconds: REFRESH_TTL, ...GENEROUS_LIMITS, ...options })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` }
}

t.test('alerts reach every channel exactly once, survive a restart, resolve, and obey silences and acks', async (t) => {
  const store = await openTestStore(t)
  await bootstrapAdmin(store.db, ADMIN.username, ADMIN.password)
  const smtp = await startSmtp(t)
  const http = await startReceiver(t)

  let running = await startAlertingApp(store, smtp.url)
  t.teardown(() => running.app.close())
  const req = <T = any>(method: string, path: string, opts?: RequestOptions) => request<T>(running.url, method, path, opts)
  const token = (await req('POST', '/api/v1/auth/login', { body: ADMIN })).body.token as string
  const post = async (path: string, body: unknown, expect = 201) => {
    const res = await req('POST', path, { token, body })
    if (res.status !== expect) throw new Error(`POST ${path} → ${res.status} ${res.text}`)
    return res.body
  }
  const agent = async (name: string) => post('/api/v1/agents', { name }) as Promise<{ id: string; api_key: string }>
  const ingestCpu = async (key: string, value: number) => {
    const res = await req('POST', '/api/v1/ingest', { apiKey: key, body: makeBatch({ time: new Date().toISOString(), metrics: [metric('cpu', 'usage_percent', value)] }) })
    if (res.status !== 202) throw new Error(`ingest → ${res.status} ${res.text}`)
    return Date.now()
  }

  const channels = {
    slack: await post('/api/v1/notification-channels', { name: 'ops-slack', type: 'slack', config: { webhook_url: `${http.url}/slack` } }),
    discord: await post('/api/v1/notification-channels', { name: 'ops-discord', type: 'discord', config: { webhook_url: `${http.url}/discord` } }),
    hook: await post('/api/v1/notification-channels', { name: 'ops-hook', type: 'webhook', config: { url: `${http.url}/hook`, secret: SIGNING_SECRET } }),
    flaky: await post('/api/v1/notification-channels', { name: 'flaky-hook', type: 'webhook', config: { url: `${http.url}/flaky` } }),
    email: await post('/api/v1/notification-channels', { name: 'ops-mail', type: 'email', config: { to: ['ops@example.com'] } }),
  }
  http.script('/flaky', (n) => n < 2 ? { status: 500, body: 'receiver down' } : { status: 200, body: 'ok' })
  const web1 = await agent('web-1')
  const web2 = await agent('web-2')
  const rule = await post('/api/v1/alerts', {
    name: 'High CPU', metric: 'cpu.usage_percent', aggregation: 'last', window: '1m', condition: '>', threshold: 90,
    for: `${FOR_MS / 1000}s`, severity: 'critical', agents: [], channels: Object.values(channels).map((c) => c.id), notify_on_resolve: true,
    enabled: true, interval: `${INTERVAL_MS / 1000}s`, group_wait: `${GROUP_WAIT_MS / 1000}s`, annotations: { summary: 'CPU {{value}}% on {{agent}}' },
  })
  const firingCounts = () => ({ slack: http.at('/slack').length, discord: http.at('/discord').length, hook: http.at('/hook').length, mail: smtp.mails.length })

  await t.test('crossing the threshold: one notification per channel after `for`, within one interval more', async (t) => {
    const ingestedAt = await ingestCpu(web1.api_key, 95)
    await eventually('a firing notification on every channel', () => {
      const c = firingCounts()
      return c.slack >= 1 && c.discord >= 1 && c.hook >= 1 && c.mail >= 1
    }, 30_000)
    const arrivals = [http.at('/slack')[0].at, http.at('/discord')[0].at, http.at('/hook')[0].at]
    // Measured in two stages, each against the rule's own values: the evaluator fired (the event's start, on the
    // evaluator's clock) within one interval after `for` held, and the notification left within group_wait and
    // one outbox poll after that. A loaded machine stretches both a little; ignoring `interval` or `group_wait`
    // stretches one by 10 s or more.
    const fired = await store.db.selectFrom('alert_events').select('started_at').where('rule_id', '=', rule.id).where('agent_id', '=', web1.id).executeTakeFirstOrThrow()
    const firedAt = new Date(fired.started_at).getTime()
    t.ok(firedAt - ingestedAt <= FOR_MS + INTERVAL_MS + EVALUATION_SLACK_MS, `fired within for + one interval + slack (${firedAt - ingestedAt} ms after ingest)`)
    for (const at of arrivals) {
      t.ok(at - ingestedAt >= FOR_MS, `not before \`for\` held (${at - ingestedAt} ms after ingest)`)
      t.ok(at - firedAt <= GROUP_WAIT_MS + DEFAULT_DISPATCHER_SETTINGS.pollIntervalMs + DELIVERY_SLACK_MS, `delivered within group_wait + one outbox poll + slack (${at - firedAt} ms after firing)`)
    }

    const slack = http.at('/slack')[0].json
    t.ok(Array.isArray(slack.blocks) || Array.isArray(slack.attachments), 'Slack gets Block Kit JSON')
    t.match(JSON.stringify(slack), /High CPU/, 'naming the rule')
    t.match(JSON.stringify(slack), /web-1/, 'and the agent')
    const discord = http.at('/discord')[0].json
    t.ok(Array.isArray(discord.embeds) && discord.embeds.length > 0, 'Discord gets embeds')
    t.match(JSON.stringify(discord), /High CPU/)

    const hook = http.at('/hook')[0]
    const signature = String(hook.headers['x-hostpulse-signature'])
    const timestamp = String(hook.headers['x-hostpulse-timestamp'])
    const expected = `sha256=${createHmac('sha256', SIGNING_SECRET).update(`${timestamp}.${hook.body}`).digest('hex')}`
    t.equal(signature, expected, 'the webhook signature verifies with the channel secret')
    t.equal(hook.json.kind, 'firing')
    t.match(JSON.stringify(hook.json.alerts), /web-1/)
    t.match(JSON.stringify(hook.json.alerts), /CPU 95% on web-1/, 'annotations rendered from the template')

    const mail = smtp.mails[0]
    t.same(mail.to, ['ops@example.com'])
    t.match(mail.subject, /CRITICAL/i, 'subject names the severity')
    t.match(mail.subject, /High CPU/, 'and the rule')
    t.match(mail.raw, /text\/plain/, 'a plain-text part')
    t.match(mail.raw, /text\/html/, 'and an HTML part')

    // The flaky receiver answered 500 twice: retried with backoff, delivered on the third try, and it never held the others back.
    await eventually('the flaky channel delivered after retries', () => http.at('/flaky').length >= 3, 30_000)
    t.equal(http.at('/flaky').length, 3, 'two failures, then one success, then nothing more')
    t.ok(Math.max(...arrivals) < http.at('/flaky')[2].at, 'the healthy channels delivered before the flaky one recovered')
    // The dispatcher records the outcome after the receiver answered: wait for the row to leave 'sending'.
    const flakyRows = () => store.db.selectFrom('alert_notifications').select(['channel_name', 'status', 'attempts']).where('channel_id', '=', channels.flaky.id).execute()
    const deliveries = await eventually('the flaky delivery recorded', async () => { const rows = await flakyRows(); return rows.every((d) => d.status !== 'sending') && rows }, 10_000)
    t.same(deliveries.map((d) => [d.status, d.attempts]), [['delivered', 3]], 'the delivery log shows three attempts')
  })

  await t.test('a restart while firing sends nothing again', async (t) => {
    await sleep(1500)
    const before = firingCounts()
    await running.app.close()
    running = await startAlertingApp(store, smtp.url)
    await ingestCpu(web1.api_key, 97)
    await sleep(4000) // four evaluation intervals of the new instance
    t.same(firingCounts(), before, 'no notification sent twice')
    const events = await store.db.selectFrom('alert_events').select(['state']).where('rule_id', '=', rule.id).execute()
    t.same(events.map((e) => e.state), ['firing'], 'still one firing event, not a new one')
  })

  await t.test('recovery sends exactly one resolved notification per channel', async (t) => {
    const before = firingCounts()
    await ingestCpu(web1.api_key, 10)
    await eventually('resolved notifications', () => {
      const c = firingCounts()
      return c.slack > before.slack && c.discord > before.discord && c.hook > before.hook && c.mail > before.mail
    }, 30_000)
    await sleep(2500)
    const after = firingCounts()
    t.same(after, { slack: before.slack + 1, discord: before.discord + 1, hook: before.hook + 1, mail: before.mail + 1 }, 'exactly one each')
    t.equal(http.at('/hook').at(-1)!.json.kind, 'resolved')
    t.match(smtp.mails.at(-1)!.subject, /resolved/i)
  })

  await t.test('a silence mutes notifications but keeps the history', async (t) => {
    await post('/api/v1/silences', { matchers: { agent: 'web-2' }, duration: '1h', comment: 'planned work on web-2' })
    const before = firingCounts()
    await ingestCpu(web2.api_key, 99)
    const event = await eventually('a firing event for web-2', async () =>
      (await req('GET', '/api/v1/alerts/events?agent=web-2&state=firing', { token })).body.events?.[0], 20_000)
    t.equal(event.rule_name, 'High CPU', 'the history has it')
    await sleep(3000)
    t.same(firingCounts(), before, 'but no channel heard of it')
  })

  await t.test('an acknowledgement stops repeats; an unacknowledged alert of the same rule keeps repeating', async (t) => {
    const repeatHook = await post('/api/v1/notification-channels', { name: 'repeat-hook', type: 'webhook', config: { url: `${http.url}/repeat` } })
    const web3 = await agent('web-3')
    const web4 = await agent('web-4')
    await post('/api/v1/alerts', {
      name: 'CPU pegged', metric: 'cpu.usage_percent', aggregation: 'last', window: '1m', condition: '>=', threshold: 99,
      for: '0s', severity: 'warning', agents: ['web-3', 'web-4'], channels: [repeatHook.id], repeat_interval: '10s',
      interval: '1s', group_wait: '0s',
    })
    await ingestCpu(web3.api_key, 100)
    await ingestCpu(web4.api_key, 100)
    const agentsIn = (kind: string) => http.at('/repeat').filter((r) => r.json.kind === kind).flatMap((r) => r.json.alerts.map((a: { agent: string }) => a.agent)).sort()
    await eventually('firing notifications for web-3 and web-4', () => agentsIn('firing').length >= 2, 20_000)
    t.same(agentsIn('firing'), ['web-3', 'web-4'], 'both fired once')
    const event = (await req('GET', '/api/v1/alerts/events?agent=web-3&state=firing', { token })).body.events[0]
    await post(`/api/v1/alerts/events/${event.id}/ack`, { comment: 'looking into it' }, 200)
    await ingestCpu(web3.api_key, 100)
    await ingestCpu(web4.api_key, 100)
    await eventually('a repeat for the unacknowledged alert', () => agentsIn('repeat').length >= 1, 25_000)
    await sleep(1500)
    t.same(agentsIn('repeat'), ['web-4'], 'web-4 repeated; web-3, acknowledged, did not')
  })
})
