// /api/v1/notification-channels without ALERT_TARGETS_ALLOW_PRIVATE: CRUD, field-named validation errors,
// secrets masked in every answer and absent from every log line, a PUT of the masked view keeping the
// stored secrets (but never carrying them to a new target), the SSRF guard at create/update and at
// send time (a name that turns private), roles, another organization's channels as 404, audit entries,
// and the per-user test-send limit (429 with the X-RateLimit headers). Names resolve through a table.
import t from 'tap'
import { assertError, createOrgWithAdmin } from '../test-client.ts'
import { startClient } from '../security/security-helpers.ts'
import { redactUrls } from '../../services/security/redact-urls.ts'
import { seedOutbox, tableResolver } from './notify-helpers.ts'

const SLACK_TOKEN = 'T0000/B0000/slack-secret-token-XYZ'
const DISCORD_TOKEN = '12345/discord-secret-token-ABC'
const HMAC_SECRET = 'hmac-secret-value-777'
const HEADER_SECRET = 'Bearer header-secret-value-888'
const SMTP_PASSWORD = 'smtp-password-value-999'
const SECRETS = [SLACK_TOKEN, 'slack-secret-token', DISCORD_TOKEN, 'discord-secret-token', HMAC_SECRET, HEADER_SECRET, 'header-secret-value', SMTP_PASSWORD, 'query-token-555', 'invalid-url-token-444']

const CHANNEL_KEYS = ['config', 'created_at', 'created_by', 'enabled', 'id', 'name', 'type', 'updated_at']

t.test('notification channels', async (t) => {
  const logs: string[] = []
  const table: Record<string, string[]> = {
    'hooks.example.test': ['93.184.216.34'], 'discord.example.test': ['93.184.216.35'], 'mail.example.test': ['93.184.216.36'],
    'internal.example.test': ['10.0.0.5'], 'rebind.example.test': ['93.184.216.37'],
  }
  const api = await startClient(t, {
    logger: { level: 'trace', stream: { write: (line: string) => { logs.push(line) } } },
    notify: { allowPrivateTargets: false, resolve: tableResolver(table), testSendLimit: { max: 3, windowMs: 60_000 }, dispatcher: { sendTimeoutMs: 2000 } },
  })
  const admin = api.adminToken
  const editor = await api.user('editor')
  const viewer = await api.user('viewer')
  await createOrgWithAdmin(api.store, 'other-org', 'other-admin', 'other-admin-password-1')
  const other = (await api.login('other-admin', 'other-admin-password-1')).token
  const call = (method: string, path: string, token: string, body?: unknown) => api.req(method, path, { token, body })
  const answers: string[] = []
  const recorded = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await call(method, path, token, body)
    answers.push(res.text)
    return res
  }
  const stored = async (id: string) => (await api.store.db.selectFrom('notification_channels').select(['config', 'name', 'enabled']).where('id', '=', id).executeTakeFirstOrThrow())

  const slackBody = { name: 'Ops Slack', type: 'slack', config: { webhook_url: `https://hooks.example.test/services/${SLACK_TOKEN}` } }
  const webhookBody = {
    name: 'Pager webhook', type: 'webhook',
    config: { url: 'https://hooks.example.test/hook?token=query-token-555', secret: HMAC_SECRET, headers: { Authorization: HEADER_SECRET, 'X-Team': 'ops' } },
  }
  const emailBody = {
    name: 'Ops email', type: 'email',
    config: { to: ['ops@example.com'], from: 'Alerts <alerts@example.com>', smtp: { host: 'mail.example.test', port: 2525, username: 'mailer', password: SMTP_PASSWORD } },
  }

  let slackId = ''
  let webhookId = ''
  let emailId = ''

  t.test('create, read, list: secrets masked', async (t) => {
    const slack = await recorded('POST', '/api/v1/notification-channels', admin, slackBody)
    t.equal(slack.status, 201)
    t.same(Object.keys(slack.body).sort(), CHANNEL_KEYS)
    t.same(slack.body.config, { webhook_url: 'https://hooks.example.test/…/****' })
    t.equal(slack.body.enabled, true)
    slackId = slack.body.id
    t.same((await stored(slackId)).config, slackBody.config, 'stored in full')

    const hook = await recorded('POST', '/api/v1/notification-channels', editor.token, webhookBody)
    t.equal(hook.status, 201, 'an editor may create')
    t.same(hook.body.config, { url: 'https://hooks.example.test/…/****', has_secret: true, headers: { Authorization: '****', 'X-Team': '****' } })
    webhookId = hook.body.id

    const email = await recorded('POST', '/api/v1/notification-channels', admin, emailBody)
    t.equal(email.status, 201)
    t.same(email.body.config, {
      to: ['ops@example.com'], from: 'Alerts <alerts@example.com>',
      smtp: { host: 'mail.example.test', port: 2525, secure: false, username: 'mailer', has_password: true },
    })
    emailId = email.body.id

    const discord = await recorded('POST', '/api/v1/notification-channels', admin, { name: 'Discord', type: 'discord', enabled: false, config: { webhook_url: `https://discord.example.test/api/webhooks/${DISCORD_TOKEN}` } })
    t.equal(discord.status, 201)
    t.equal(discord.body.enabled, false)

    const list = await recorded('GET', '/api/v1/notification-channels', viewer.token)
    t.equal(list.status, 200, 'a viewer may read')
    t.equal(list.body.count, 4)
    t.same(list.body.channels.map((c: any) => c.name), ['Discord', 'Ops Slack', 'Ops email', 'Pager webhook'])
    const one = await recorded('GET', `/api/v1/notification-channels/${webhookId}`, viewer.token)
    t.same(one.body, hook.body)
  })

  t.test('a PUT of the masked view keeps the stored secrets', async (t) => {
    const shown = (await recorded('GET', `/api/v1/notification-channels/${webhookId}`, admin)).body
    const put = await recorded('PUT', `/api/v1/notification-channels/${webhookId}`, admin, { name: 'Pager webhook v2', type: 'webhook', config: shown.config })
    t.equal(put.status, 200)
    t.equal(put.body.name, 'Pager webhook v2')
    t.same((await stored(webhookId)).config, webhookBody.config, 'URL, secret and header values kept')

    const slackShown = (await recorded('GET', `/api/v1/notification-channels/${slackId}`, admin)).body
    t.equal((await recorded('PUT', `/api/v1/notification-channels/${slackId}`, editor.token, { name: 'Ops Slack', type: 'slack', config: slackShown.config, enabled: false })).status, 200)
    const slackRow = await stored(slackId)
    t.same(slackRow.config, slackBody.config, 'masked webhook_url keeps the URL')
    t.equal(slackRow.enabled, false)

    const emailShown = (await recorded('GET', `/api/v1/notification-channels/${emailId}`, admin)).body
    t.equal((await recorded('PUT', `/api/v1/notification-channels/${emailId}`, admin, { ...emailBody, config: emailShown.config })).status, 200)
    t.same((await stored(emailId)).config, { ...emailBody.config, smtp: { ...emailBody.config.smtp, secure: false } }, 'SMTP password kept')

    // Secrets never follow a changed target.
    const moved = await recorded('PUT', `/api/v1/notification-channels/${webhookId}`, admin, { name: 'Pager webhook v2', type: 'webhook', config: { ...shown.config, url: 'https://hooks.example.test/other' } })
    assertError(t, moved, 400, 'VALIDATION_ERROR', 'masked header with a new URL:')
    t.match(Object.keys(moved.body.details ?? {})[0], /^config\.headers\./, 'names the header')
    const newHost = await recorded('PUT', `/api/v1/notification-channels/${emailId}`, admin, { ...emailBody, config: { ...emailShown.config, smtp: { ...emailShown.config.smtp, host: 'hooks.example.test', password: '****' } } })
    assertError(t, newHost, 400, 'VALIDATION_ERROR', 'masked password with a new SMTP host:')
    t.ok(newHost.body.details['config.smtp.password'])
    t.same((await stored(emailId)).config.smtp, { ...emailBody.config.smtp, secure: false }, 'nothing changed')

    const cleared = await recorded('PUT', `/api/v1/notification-channels/${webhookId}`, admin, { name: 'Pager webhook v2', type: 'webhook', config: { url: shown.config.url, secret: null } })
    t.equal(cleared.status, 200)
    t.same(cleared.body.config, { url: 'https://hooks.example.test/…/****', has_secret: false }, 'secret removed with null, headers with their absence')
    t.same((await stored(webhookId)).config, { url: webhookBody.config.url })
    t.equal((await recorded('PUT', `/api/v1/notification-channels/${webhookId}`, admin, webhookBody)).status, 200, 'set again in full')
  })

  t.test('validation: every bad field named, nothing stored', async (t) => {
    const count = async () => (await api.store.db.selectFrom('notification_channels').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n
    const before = await count()
    const cases: Array<[string, unknown, string]> = [
      ['no name', { type: 'slack', config: slackBody.config }, 'name'],
      ['blank name', { ...slackBody, name: '   ' }, 'name'],
      ['unknown type', { ...slackBody, type: 'pager' }, 'type'],
      ['config not an object', { ...slackBody, config: 'https://x' }, 'config'],
      ['slack without webhook_url', { ...slackBody, name: 'x1', config: {} }, 'config.webhook_url'],
      ['slack with an extra field', { ...slackBody, name: 'x2', config: { ...slackBody.config, channel: '#ops' } }, 'config.channel'],
      ['relative URL', { ...slackBody, name: 'x3', config: { webhook_url: '/services/x' } }, 'config.webhook_url'],
      ['not a URL', { ...slackBody, name: 'x3b', config: { webhook_url: 'https://exa mple.com/services/invalid-url-token-444' } }, 'config.webhook_url'],
      ['ftp URL', { ...slackBody, name: 'x4', config: { webhook_url: 'ftp://hooks.example.test/x' } }, 'config.webhook_url'],
      ['a masked URL at create', { ...slackBody, name: 'x5', config: { webhook_url: 'https://hooks.example.test/…/****' } }, 'config.webhook_url'],
      ['email without to', { ...emailBody, name: 'x6', config: { smtp: emailBody.config.smtp } }, 'config.to'],
      ['email with an empty to', { ...emailBody, name: 'x7', config: { ...emailBody.config, to: [] } }, 'config.to'],
      ['email with a bad address', { ...emailBody, name: 'x8', config: { ...emailBody.config, to: ['ops@example.com', 'not an address'] } }, 'config.to[1]'],
      ['from with a line break', { ...emailBody, name: 'x9', config: { ...emailBody.config, from: 'a@b.c\r\nBcc: x@y.z' } }, 'config.from'],
      ['smtp port out of range', { ...emailBody, name: 'x10', config: { ...emailBody.config, smtp: { ...emailBody.config.smtp, port: 70000 } } }, 'config.smtp.port'],
      ['smtp host with a port', { ...emailBody, name: 'x11', config: { ...emailBody.config, smtp: { ...emailBody.config.smtp, host: 'mail.example.test:25' } } }, 'config.smtp.host'],
      ['smtp password without username', { ...emailBody, name: 'x12', config: { ...emailBody.config, smtp: { host: 'mail.example.test', password: 'p' } } }, 'config.smtp.username'],
      ['email without any SMTP server', { ...emailBody, name: 'x13', config: { to: ['ops@example.com'] } }, 'config.smtp'],
      ['reserved header', { ...webhookBody, name: 'x14', config: { url: webhookBody.config.url, headers: { 'Content-Length': '1' } } }, 'config.headers.Content-Length'],
      ['bad header name', { ...webhookBody, name: 'x15', config: { url: webhookBody.config.url, headers: { 'Bad Header': '1' } } }, 'config.headers.Bad Header'],
      ['header value with a line break', { ...webhookBody, name: 'x16', config: { url: webhookBody.config.url, headers: { 'X-A': 'a\r\nX-B: b' } } }, 'config.headers.X-A'],
      ['header value Node cannot send', { ...webhookBody, name: 'x16b', config: { url: webhookBody.config.url, headers: { 'X-A': 'Bearer t\u20ackn' } } }, 'config.headers.X-A'],
      ['header value with a control character', { ...webhookBody, name: 'x16c', config: { url: webhookBody.config.url, headers: { 'X-A': 'a\u0007b' } } }, 'config.headers.X-A'],
      ['secret of the wrong type', { ...webhookBody, name: 'x17', config: { url: webhookBody.config.url, secret: 42 } }, 'config.secret'],
      ['a masked secret at create', { ...webhookBody, name: 'x18', config: { url: webhookBody.config.url, secret: '****' } }, 'config.secret'],
      ['enabled not a boolean', { ...slackBody, name: 'x19', enabled: 'yes' }, 'enabled'],
      ['an unknown top-level field', { ...slackBody, name: 'x20', org_id: 'x' }, 'org_id'],
    ]
    for (const [what, body, field] of cases) {
      const res = await recorded('POST', '/api/v1/notification-channels', admin, body)
      assertError(t, res, 400, 'VALIDATION_ERROR', `${what}:`)
      t.ok(res.body?.details?.[field], `${what}: names ${field} (${JSON.stringify(res.body?.details)})`)
      t.match(res.body?.message ?? '', field.split('[')[0], `${what}: the message names the field`)
    }
    const dup = await recorded('POST', '/api/v1/notification-channels', admin, slackBody)
    assertError(t, dup, 409, 'CONFLICT', 'duplicate name:')
    t.same(dup.body.details, { name: ['is taken'] })
    const badPut = await recorded('PUT', `/api/v1/notification-channels/${slackId}`, admin, { ...slackBody, config: { webhook_url: 'http://hooks.example.test/x' } })
    assertError(t, badPut, 400, 'VALIDATION_ERROR', 'PUT with an http URL:')
    t.same((await stored(slackId)).config, slackBody.config, 'a refused PUT changes nothing')
    t.equal(await count(), before, 'nothing stored')
  })

  t.test('SSRF: targets on private addresses refused at create and update, naming the field and why', async (t) => {
    const refused: Array<[string, unknown, string, RegExp]> = [
      ['loopback literal', { name: 's1', type: 'slack', config: { webhook_url: 'https://127.0.0.1/services/x' } }, 'config.webhook_url', /loopback/],
      ['IPv6 loopback', { name: 's2', type: 'discord', config: { webhook_url: 'https://[::1]:8443/api/webhooks/x' } }, 'config.webhook_url', /loopback/],
      ['cloud metadata', { name: 's3', type: 'webhook', config: { url: 'https://169.254.169.254/latest/meta-data' } }, 'config.url', /link-local/],
      ['IPv4-mapped private', { name: 's4', type: 'webhook', config: { url: 'https://[::ffff:10.0.0.1]/x' } }, 'config.url', /private/],
      ['a name resolving to a private address', { name: 's5', type: 'webhook', config: { url: 'https://internal.example.test/x' } }, 'config.url', /internal\.example\.test.*resolves to 10\.0\.0\.5.*private/],
      ['an unresolvable name', { name: 's6', type: 'slack', config: { webhook_url: 'https://nowhere.example.test/x' } }, 'config.webhook_url', /cannot resolve/],
      ['plain http', { name: 's7', type: 'slack', config: { webhook_url: 'http://hooks.example.test/x' } }, 'config.webhook_url', /ALERT_TARGETS_ALLOW_PRIVATE/],
      ['a loopback SMTP host', { name: 's8', type: 'email', config: { to: ['a@example.com'], smtp: { host: '127.0.0.1', port: 25 } } }, 'config.smtp.host', /loopback/],
      ['a private SMTP host by name', { name: 's9', type: 'email', config: { to: ['a@example.com'], smtp: { host: 'internal.example.test' } } }, 'config.smtp.host', /private/],
    ]
    for (const [what, body, field, why] of refused) {
      const res = await recorded('POST', '/api/v1/notification-channels', admin, body)
      assertError(t, res, 400, 'VALIDATION_ERROR', `${what}:`)
      t.match(res.body.details?.[field]?.[0] ?? '', why, `${what}: ${field} ${why}`)
      t.match(res.body.message, field, `${what}: message names ${field}`)
    }
    const put = await recorded('PUT', `/api/v1/notification-channels/${slackId}`, admin, { ...slackBody, config: { webhook_url: 'https://127.0.0.1/x' } })
    assertError(t, put, 400, 'VALIDATION_ERROR', 'update to a loopback URL:')
    t.same((await stored(slackId)).config, slackBody.config)
  })

  t.test('test-send: a name that turns private is refused at send time; limited per user (429)', async (t) => {
    const created = await recorded('POST', '/api/v1/notification-channels', admin, { name: 'Rebinding', type: 'webhook', config: { url: 'https://rebind.example.test/hook' } })
    t.equal(created.status, 201, 'public when created')
    table['rebind.example.test'] = ['127.0.0.1']
    const path = `/api/v1/notification-channels/${created.body.id}/test`
    for (let i = 1; i <= 3; i++) {
      const res = await recorded('POST', path, admin)
      t.equal(res.status, 200, `test-send ${i} answers 200`)
      t.equal(res.body.delivered, false)
      t.match(res.body.error, /rebind\.example\.test.*loopback/, 'refused at connect time, and why')
      t.equal(res.headers.get('x-ratelimit-limit'), '3')
      t.equal(res.headers.get('x-ratelimit-remaining'), String(3 - i))
      t.ok(Number(res.headers.get('x-ratelimit-reset')) >= Math.floor(Date.now() / 1000))
    }
    const limited = await recorded('POST', path, admin)
    assertError(t, limited, 429, 'RATE_LIMITED', '4th test-send:')
    t.ok(limited.body.details.retry_after >= 1, 'retry_after')
    t.equal(limited.headers.get('retry-after'), String(limited.body.details.retry_after))
    t.equal(limited.headers.get('x-ratelimit-remaining'), '0')
    t.equal(limited.headers.get('x-ratelimit-limit'), '3')
    const byEditor = await recorded('POST', path, editor.token)
    t.equal(byEditor.status, 200, 'another user has a budget of their own')
    const audits = await api.store.db.selectFrom('audit_log').select(['action', 'details']).where('action', '=', 'channel.test').where('target_id', '=', created.body.id).execute()
    t.equal(audits.length, 4, 'each test-send audited')
    t.equal((audits[0].details as any).delivered, false)
  })

  t.test('roles', async (t) => {
    assertError(t, await call('POST', '/api/v1/notification-channels', viewer.token, { ...slackBody, name: 'v' }), 403, 'FORBIDDEN', 'viewer create:')
    assertError(t, await call('PUT', `/api/v1/notification-channels/${slackId}`, viewer.token, slackBody), 403, 'FORBIDDEN', 'viewer update:')
    assertError(t, await call('DELETE', `/api/v1/notification-channels/${slackId}`, viewer.token), 403, 'FORBIDDEN', 'viewer delete:')
    assertError(t, await call('POST', `/api/v1/notification-channels/${slackId}/test`, viewer.token), 403, 'FORBIDDEN', 'viewer test:')
    t.equal((await call('GET', `/api/v1/notification-channels/${slackId}/deliveries`, viewer.token)).status, 200, 'viewer reads deliveries')
    assertError(t, await call('GET', '/api/v1/notification-channels', ''), 401, 'UNAUTHORIZED', 'no token:')
  })

  t.test('another organization: every route answers 404 and changes nothing', async (t) => {
    const before = await stored(slackId)
    const list = await call('GET', '/api/v1/notification-channels', other)
    t.same(list.body, { count: 0, channels: [] })
    for (const [method, suffix, body] of [['GET', '', undefined], ['PUT', '', { ...slackBody, name: 'stolen' }], ['DELETE', '', undefined],
      ['POST', '/test', undefined], ['GET', '/deliveries', undefined]] as const) {
      assertError(t, await call(method, `/api/v1/notification-channels/${slackId}${suffix}`, other, body), 404, 'NOT_FOUND', `${method} ${suffix || '/:id'}:`)
    }
    t.same(await stored(slackId), before)
    const own = await call('POST', '/api/v1/notification-channels', other, slackBody)
    t.equal(own.status, 201, 'the same name is free in another organization')
  })

  t.test('the delivery log redacts URLs, URL paths and tokens in last_error (receiver replies may echo them)', async (t) => {
    const seed = await seedOutbox(api.store.db, { orgId: api.orgId, channelId: webhookId, agents: [{ name: 'server-001' }], nextAttemptAt: new Date(Date.now() + 3600_000) })
    const raw = `the webhook answered HTTP 404 Not Found: no route for POST hooks.example.test/services/${SLACK_TOKEN}, see https://hooks.example.test/hook?token=query-token-555; key xoxb1234567890abcdefghijklmnop rejected`
    await api.store.db.updateTable('alert_notifications').set({ status: 'failed', last_error: raw }).where('id', 'in', seed.rowIds).execute()
    const log = await recorded('GET', `/api/v1/notification-channels/${webhookId}/deliveries?status=failed`, admin)
    t.equal(log.status, 200)
    const shown = log.body.deliveries.find((d: { id: string }) => d.id === seed.rowIds[0]).last_error
    t.equal(shown, 'the webhook answered HTTP 404 Not Found: no route for POST hooks.example.test/[path redacted], see [url redacted]; key [token redacted] rejected')
    t.notMatch(log.text, /slack-secret-token|query-token-555|xoxb1234567890/)
    t.equal(redactUrls('the webhook answered HTTP 500 Internal Server Error: still down (text/plain, /hook)'), 'the webhook answered HTTP 500 Internal Server Error: still down (text/plain, /hook)', 'ordinary errors stay readable')
    t.equal(redactUrls(null), null)
    t.equal((await recorded('GET', `/api/v1/notification-channels/${webhookId}/deliveries?status=superseded`, admin)).status, 200, 'superseded is a status filter')
  })

  t.test('delete, audit, and no secret in any answer or log line', async (t) => {
    t.equal((await recorded('DELETE', `/api/v1/notification-channels/${emailId}`, editor.token)).status, 204)
    assertError(t, await call('GET', `/api/v1/notification-channels/${emailId}`, admin), 404, 'NOT_FOUND', 'after delete:')
    assertError(t, await call('DELETE', `/api/v1/notification-channels/${emailId}`, admin), 404, 'NOT_FOUND', 'second delete:')
    // A malformed id names nothing: a 404 as on every route (agents and rules take names, so it cannot be a 400 there).
    assertError(t, await call('GET', '/api/v1/notification-channels/not-a-uuid', admin), 404, 'NOT_FOUND', 'bad id:')
    const doc = (await api.req('GET', '/openapi.json')).body
    for (const path of ['/api/v1/notification-channels', '/api/v1/notification-channels/{id}', '/api/v1/notification-channels/{id}/test', '/api/v1/notification-channels/{id}/deliveries']) {
      t.ok(doc.paths[path], `${path} documented`)
    }

    const audit = await api.store.db.selectFrom('audit_log').select(['action', 'target_id', 'details']).where('target_type', '=', 'notification_channel').execute()
    const actions = new Set(audit.map((a) => a.action))
    for (const a of ['channel.create', 'channel.update', 'channel.delete', 'channel.test']) t.ok(actions.has(a as never), `${a} audited`)
    const auditText = JSON.stringify(audit)
    const logText = logs.join('')
    t.ok(logs.length > 50, `${logs.length} log lines captured`)
    for (const s of SECRETS) {
      t.notOk(answers.some((a) => a.includes(s)), `"${s}" in no answer`)
      t.notOk(logText.includes(s), `"${s}" in no log line`)
      t.notOk(auditText.includes(s), `"${s}" in no audit entry`)
    }
  })
})
