// Seed 003's /api/notifications/ over native notification channels: DRF shapes and pagination, secrets
// masked exactly as GET /api/v1/notification-channels masks them, a PUT/PATCH of the masked view keeping
// the stored secrets, private and loopback targets refused by the same rule as natively (same words),
// field errors as {"field": ["…"]} with nothing stored, roles, another organization's channels as 404,
// audit entries, and one store under both APIs. Names resolve through a table (no DNS leaves the machine).
import t from 'tap'
import { createOrgWithAdmin, startClient } from '../../test-client.ts'
import { tableResolver } from '../../notify/notify-helpers.ts'

const SLACK_TOKEN = 'T0000/B0000/slack-secret-token-XYZ'
const HMAC_SECRET = 'hmac-secret-value-777'
const HEADER_SECRET = 'Bearer header-secret-value-888'
const SMTP_PASSWORD = 'smtp-password-value-999'
const SECRETS = [SLACK_TOKEN, 'slack-secret-token', HMAC_SECRET, 'header-secret-value', SMTP_PASSWORD, 'discord-secret-token', 'query-token-555']

const KEYS = ['channel_type', 'config', 'created_at', 'enabled', 'id', 'is_active', 'name', 'updated_at', 'uuid']

t.test('seed 003 notification channels', async (t) => {
  const table: Record<string, string[]> = {
    'hooks.example.test': ['93.184.216.34'], 'discord.example.test': ['93.184.216.35'], 'mail.example.test': ['93.184.216.36'],
    'internal.example.test': ['10.0.0.5'],
  }
  const api = await startClient(t, { notify: { allowPrivateTargets: false, resolve: tableResolver(table) } })
  const db = api.store.db
  const admin = api.adminToken
  const editor = await api.user('editor')
  const viewer = await api.user('viewer')
  const otherOrg = await createOrgWithAdmin(api.store, 'other-org', 'other-admin', 'other-admin-password-1')
  const other = (await api.login('other-admin', 'other-admin-password-1')).token
  const answers: string[] = []
  const call = async (method: string, path: string, token: string | undefined, body?: unknown, rawBody?: string) => {
    const res = await api.req(method, path, { token, body, rawBody })
    answers.push(res.text)
    return res
  }
  const stored = async (uuid: string) => db.selectFrom('notification_channels').select(['config', 'name', 'enabled', 'type']).where('id', '=', uuid).executeTakeFirstOrThrow()
  const count = async () => Number((await db.selectFrom('notification_channels').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)

  const slackBody = { name: 'Ops Slack', channel_type: 'slack', config: { webhook_url: `https://hooks.example.test/services/${SLACK_TOKEN}` } }
  const webhookBody = {
    name: 'Pager webhook', channel_type: 'webhook',
    config: { url: 'https://hooks.example.test/hook?token=query-token-555', secret: HMAC_SECRET, headers: { Authorization: HEADER_SECRET, 'X-Team': 'ops' } },
  }
  const emailBody = {
    name: 'Ops email', channel_type: 'email', is_active: false,
    config: { to: ['ops@example.com'], from: 'Alerts <alerts@example.com>', smtp: { host: 'mail.example.test', port: 2525, username: 'mailer', password: SMTP_PASSWORD } },
  }
  const ids = { slack: 0, webhook: 0, email: 0 }
  const uuids = { slack: '', webhook: '', email: '' }

  await t.test('create, read, list: DRF fields, secrets masked exactly as natively', async (t) => {
    const slack = await call('POST', '/api/notifications/', admin, slackBody)
    t.equal(slack.status, 201, slack.text)
    t.same(Object.keys(slack.body).sort(), KEYS, 'every field, nothing else')
    t.match(slack.body, { name: 'Ops Slack', channel_type: 'slack', is_active: true, enabled: true, config: { webhook_url: 'https://hooks.example.test/…/****' } })
    t.type(slack.body.id, 'number', 'an integer id')
    t.match(slack.body.uuid, /^[0-9a-f-]{36}$/, 'and the native uuid')
    ids.slack = slack.body.id
    uuids.slack = slack.body.uuid
    t.same((await stored(uuids.slack)).config, slackBody.config, 'stored in full')

    const hook = await call('POST', '/api/notifications/', editor.token, webhookBody)
    t.equal(hook.status, 201, 'an editor may create')
    t.same(hook.body.config, { url: 'https://hooks.example.test/…/****', has_secret: true, headers: { Authorization: '****', 'X-Team': '****' } })
    ids.webhook = hook.body.id
    uuids.webhook = hook.body.uuid
    t.ok(ids.webhook > ids.slack, 'numbers grow')

    // `type`, the native name, is accepted as well as channel_type; is_active false is the native enabled false.
    const email = await call('POST', '/api/notifications/', admin, { ...emailBody, channel_type: undefined, type: 'email' })
    t.equal(email.status, 201, email.text)
    t.same(email.body.config, {
      to: ['ops@example.com'], from: 'Alerts <alerts@example.com>',
      smtp: { host: 'mail.example.test', port: 2525, secure: false, username: 'mailer', has_password: true },
    })
    t.match(email.body, { is_active: false, enabled: false, channel_type: 'email' })
    ids.email = email.body.id
    uuids.email = email.body.uuid

    for (const [name, uuid] of Object.entries(uuids)) {
      const native = await call('GET', `/api/v1/notification-channels/${uuid}`, admin)
      const face = await call('GET', `/api/notifications/${ids[name as keyof typeof ids]}/`, viewer.token)
      t.equal(face.status, 200, 'a viewer may read')
      t.same(face.body.config, native.body.config, `${name}: the same masked config as the native API`)
      t.equal(face.body.name, native.body.name)
    }

    const list = await call('GET', '/api/notifications/', viewer.token)
    t.equal(list.status, 200)
    t.same(Object.keys(list.body).sort(), ['count', 'next', 'previous', 'results'])
    t.equal(list.body.count, 3)
    t.same(list.body.results.map((c: any) => c.id), [ids.slack, ids.webhook, ids.email], 'oldest first')
    t.equal(list.body.next, null)
    t.equal(list.body.previous, null)

    const audit = await db.selectFrom('audit_log').select(['action', 'target_id']).where('action', '=', 'channel.create').orderBy('id').execute()
    t.same(audit.map((a) => a.target_id), [uuids.slack, uuids.webhook, uuids.email], 'audited as natively')
  })

  await t.test('pagination and the channel_type filter', async (t) => {
    const first = await call('GET', '/api/notifications/?page_size=2', admin)
    t.equal(first.body.count, 3)
    t.equal(first.body.results.length, 2)
    t.equal(first.body.previous, null)
    t.equal(first.body.next, `${api.url}/api/notifications/?page_size=2&page=2`)
    const second = await call('GET', first.body.next.slice(api.url.length), admin)
    t.same(second.body.results.map((c: any) => c.id), [ids.email])
    t.equal(second.body.next, null)
    t.ok(second.body.previous, 'a previous link')
    const webhooks = await call('GET', '/api/notifications/?channel_type=webhook', admin)
    t.same(webhooks.body.results.map((c: any) => c.id), [ids.webhook])
    t.equal(webhooks.body.count, 1)
    const bad = await call('GET', '/api/notifications/?channel_type=pager', admin)
    t.equal(bad.status, 400)
    t.ok(Array.isArray(bad.body.channel_type), '{"channel_type": ["…"]}')
    const badPage = await call('GET', '/api/notifications/?page=0', admin)
    t.equal(badPage.status, 404, 'page 0 is DRF\'s "Invalid page."')
    t.same(badPage.body, { detail: 'Invalid page.' })
  })

  await t.test('a PUT or PATCH of the masked view keeps the stored secrets, never for a new target', async (t) => {
    const shown = (await call('GET', `/api/notifications/${ids.webhook}/`, admin)).body
    const put = await call('PUT', `/api/notifications/${ids.webhook}/`, admin, { ...shown, name: 'Pager webhook v2' })
    t.equal(put.status, 200, `the whole object sent back, read-only fields included: ${put.text}`)
    t.equal(put.body.name, 'Pager webhook v2')
    t.equal(put.body.id, ids.webhook, 'same id')
    t.same((await stored(uuids.webhook)).config, webhookBody.config, 'URL, secret and header values kept')

    const nulled = await call('PATCH', `/api/notifications/${ids.email}/`, admin, { is_active: null })
    t.same(nulled.body, { is_active: ['This field may not be null.'] }, 'null is no false')
    const patched = await call('PATCH', `/api/notifications/${ids.email}/`, admin, { is_active: true })
    t.equal(patched.status, 200, patched.text)
    t.equal(patched.body.is_active, true)
    const emailRow = await stored(uuids.email)
    t.equal(emailRow.enabled, true)
    t.same(emailRow.config, { ...emailBody.config, smtp: { ...emailBody.config.smtp, secure: false } }, 'a PATCH without config keeps it, SMTP password included')

    const renamed = await call('PATCH', `/api/notifications/${ids.slack}/`, editor.token, { name: 'Ops Slack 2' })
    t.equal(renamed.status, 200)
    t.same((await stored(uuids.slack)).config, slackBody.config, 'the Slack URL kept')

    const moved = await call('PATCH', `/api/notifications/${ids.webhook}/`, admin, { config: { ...shown.config, url: 'https://hooks.example.test/other' } })
    t.equal(moved.status, 400, 'a masked header may not follow a new URL')
    t.match(Object.keys(moved.body)[0], /^config\.headers\./, 'names the header')
    t.same((await stored(uuids.webhook)).config, webhookBody.config, 'nothing changed')

    const audit = await db.selectFrom('audit_log').select(['action']).where('action', '=', 'channel.update').execute()
    t.equal(audit.length, 3, 'each update audited')
  })

  await t.test('private and loopback targets are refused with the native rule and words; nothing stored', async (t) => {
    const before = await count()
    for (const [what, body, field] of [
      ['a name resolving to a private address', { name: 'internal', channel_type: 'webhook', config: { url: 'https://internal.example.test/hook' } }, 'config.url'],
      ['a loopback address', { name: 'loopback', channel_type: 'slack', config: { webhook_url: 'https://127.0.0.1:9/services/x' } }, 'config.webhook_url'],
      ['plain http', { name: 'plain', channel_type: 'discord', config: { webhook_url: 'http://discord.example.test/api/webhooks/1/discord-secret-token' } }, 'config.webhook_url'],
      ['an SMTP server on a private address', { name: 'smtp', channel_type: 'email', config: { to: ['a@example.com'], smtp: { host: '10.1.2.3' } } }, 'config.smtp.host'],
    ] as const) {
      const face = await call('POST', '/api/notifications/', admin, body)
      const native = await call('POST', '/api/v1/notification-channels', admin, { name: body.name, type: body.channel_type, config: body.config })
      t.equal(face.status, 400, `${what}: 400`)
      t.equal(native.status, 400, `${what}: natively too`)
      t.same(Object.keys(face.body), [field], `${what}: {"${field}": […]}`)
      const problem = String(native.body.details[field][0])
      t.match(face.body[field][0], problem.slice(0, 40), `${what}: the native reason (${problem})`)
    }
    t.equal(await count(), before, 'nothing stored')
  })

  await t.test('field errors as {"field": ["…"]}, nothing stored', async (t) => {
    const before = await count()
    const cases: Array<[string, unknown, string]> = [
      ['no name', { channel_type: 'slack', config: slackBody.config }, 'name'],
      ['blank name', { ...slackBody, name: '   ' }, 'name'],
      ['no type', { name: 'x0', config: slackBody.config }, 'channel_type'],
      ['unknown type', { ...slackBody, name: 'x1', channel_type: 'pager' }, 'channel_type'],
      ['type and channel_type disagree', { ...slackBody, name: 'x2', type: 'email' }, 'channel_type'],
      ['no config', { name: 'x3', channel_type: 'slack' }, 'config'],
      ['slack without webhook_url', { ...slackBody, name: 'x4', config: {} }, 'config.webhook_url'],
      ['a masked URL at create', { ...slackBody, name: 'x5', config: { webhook_url: 'https://hooks.example.test/…/****' } }, 'config.webhook_url'],
      ['a taken name', { ...slackBody, name: 'Ops Slack 2' }, 'name'],
      ['is_active null', { ...slackBody, name: 'x8', is_active: null }, 'is_active'],
      ['is_active not a boolean', { ...slackBody, name: 'x6', is_active: 'maybe' }, 'is_active'],
    ]
    for (const [what, body, field] of cases) {
      const res = await call('POST', '/api/notifications/', admin, body)
      t.equal(res.status, 400, `${what}: 400 (${res.text})`)
      t.ok(Array.isArray(res.body?.[field]) && typeof res.body[field][0] === 'string', `${what}: {"${field}": ["…"]}`)
      t.notOk('detail' in (res.body ?? {}), `${what}: no detail`)
    }
    const missing = await call('POST', '/api/notifications/', admin, { name: 'x7', config: slackBody.config })
    t.same(missing.body, { channel_type: ['This field is required.'] }, "Django's words")
    const malformed = await call('POST', '/api/notifications/', admin, undefined, '{"name":')
    t.equal(malformed.status, 400)
    t.type(malformed.body.detail, 'string', 'unreadable JSON: {"detail"}')
    t.equal(await count(), before, 'nothing stored')
  })

  await t.test('roles and authentication: {"detail"}', async (t) => {
    const before = await count()
    const writes: Array<[string, string, unknown]> = [
      ['POST', '/api/notifications/', { ...slackBody, name: 'viewer-made' }],
      ['PUT', `/api/notifications/${ids.slack}/`, slackBody],
      ['PATCH', `/api/notifications/${ids.slack}/`, { name: 'viewer-renamed' }],
      ['DELETE', `/api/notifications/${ids.slack}/`, undefined],
    ]
    for (const [method, path, body] of writes) {
      const res = await call(method, path, viewer.token, body)
      t.equal(res.status, 403, `viewer ${method}: 403`)
      t.type(res.body.detail, 'string')
      const anon = await call(method, path, undefined, body)
      t.equal(anon.status, 401, `no token ${method}: 401`)
      t.type(anon.body.detail, 'string')
    }
    for (const path of ['/api/notifications/', `/api/notifications/${ids.slack}/`]) {
      const anon = await call('GET', path, undefined)
      t.equal(anon.status, 401, `GET ${path} without a token: 401`)
      t.same(Object.keys(anon.body), ['detail'])
    }
    t.equal(await count(), before)
    t.equal((await stored(uuids.slack)).name, 'Ops Slack 2', 'unchanged')
  })

  await t.test('404: numbers nobody has, uuids, another organization\'s channels', async (t) => {
    const theirs = await db.insertInto('notification_channels').values({ org_id: otherOrg, name: 'their hook', type: 'webhook', config: JSON.stringify({ url: 'https://hooks.example.test/theirs' }) })
      .returning(['id', 'number']).executeTakeFirstOrThrow()
    for (const id of ['999999', uuids.slack, 'abc', '0', String(theirs.number)]) {
      for (const [method, body] of [['GET', undefined], ['PATCH', { name: 'x' }], ['PUT', slackBody], ['DELETE', undefined]] as const) {
        const res = await call(method, `/api/notifications/${id}/`, admin, body)
        t.equal(res.status, 404, `${method} ${id}: 404`)
        t.same(Object.keys(res.body ?? {}), ['detail'])
      }
    }
    const mine = await call('GET', `/api/notifications/${ids.slack}/`, other)
    t.equal(mine.status, 404, 'the other organization does not see ours')
    const theirList = await call('GET', '/api/notifications/', other)
    t.same(theirList.body.results.map((c: any) => c.id), [theirs.number], 'and lists only its own')
    t.equal((await stored(theirs.id)).name, 'their hook', 'theirs untouched')
  })

  await t.test('one store: a native channel shows here, a deleted one is gone from both', async (t) => {
    const native = await call('POST', '/api/v1/notification-channels', admin, { name: 'Discord', type: 'discord', config: { webhook_url: 'https://discord.example.test/api/webhooks/1/discord-secret-token' } })
    t.equal(native.status, 201)
    const list = await call('GET', '/api/notifications/?channel_type=discord', admin)
    t.equal(list.body.count, 1)
    t.match(list.body.results[0], { uuid: native.body.id, name: 'Discord', config: native.body.config })

    const del = await call('DELETE', `/api/notifications/${ids.webhook}/`, editor.token)
    t.equal(del.status, 204)
    t.equal(del.text, '')
    t.equal((await call('GET', `/api/notifications/${ids.webhook}/`, admin)).status, 404)
    t.equal((await call('GET', `/api/v1/notification-channels/${uuids.webhook}`, admin)).status, 404, 'gone natively too')
    const audit = await db.selectFrom('audit_log').select(['target_id']).where('action', '=', 'channel.delete').execute()
    t.same(audit.map((a) => a.target_id), [uuids.webhook], 'audited')
  })

  t.test('no secret in any answer', async (t) => {
    const all = answers.join('\n')
    for (const secret of SECRETS) t.notOk(all.includes(secret), `never shown: ${secret.slice(0, 12)}…`)
  })
})
