// /api/v1/notification-channels: CRUD, a test-send, and each channel's delivery log. Every role reads;
// admins and editors write and test. Secrets are shown masked (see channel-config.ts) and never logged:
// audit entries and log lines carry the channel's id, name and type only.
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { ERRORS, NoContent, Nullable, Time, WRITE_ERRORS } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { userActor, writeAudit } from '../audit/audit-log.ts'
import type { Kysely } from 'kysely'
import type { Database, NotificationStatus } from '../store/database.ts'
import { redactUrls } from '../security/redact-urls.ts'
import { testMessage } from './alert-message.ts'
import { maskConfig, type ConfigRules } from './channel-config.ts'
import type { SendFunction } from './senders.ts'
import { DeliveryError, excerpt, type SendContext } from './send-context.ts'
import { channelDeliveries, createChannel, deleteChannel, getChannel, listChannels, replaceChannel, type ChannelRow } from './channels-repository.ts'
import { IdParam } from '../http/params.ts'

export interface ChannelsRoutesOptions {
  rules: ConfigRules
  send: SendFunction
  sendContext: Omit<SendContext, 'signal'>
  publicUrl?: string
  /** Test-sends per user per window. */
  testSendLimit: { max: number; windowMs: number }
}

const ChannelType = Type.Union([Type.Literal('slack'), Type.Literal('email'), Type.Literal('webhook'), Type.Literal('discord')])
const ChannelBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' }),
  type: ChannelType,
  config: Type.Object({}, {
    additionalProperties: true,
    description: 'slack/discord: {webhook_url}; email: {to:[…], from?, smtp?:{host, port?, secure?, username?, password?}}; webhook: {url, secret?, headers?}',
  }),
  enabled: Type.Optional(Type.Boolean({ description: 'default true; a disabled channel gets no notifications (its outbox rows fail)' })),
}, { additionalProperties: false })

const NOTIFICATION_STATUSES = ['pending', 'sending', 'delivered', 'failed', 'superseded'] as const satisfies readonly NotificationStatus[]

const ChannelOut = Type.Object({
  id: Type.String({ format: 'uuid' }), name: Type.String(), type: ChannelType, enabled: Type.Boolean(),
  config: Type.Object({}, { additionalProperties: true, description: 'secrets masked: webhook_url/url as origin/…/****, has_secret, has_password, header values ****' }),
  created_by: Nullable(Type.String()), created_at: Time, updated_at: Time,
})
const TestOut = Type.Object({
  delivered: Type.Boolean(), message_id: Type.Optional(Type.String()), error: Type.Optional(Type.String()),
})
const DeliveryOut = Type.Object({
  id: Type.String(), event_id: Type.String(), rule_id: Nullable(Type.String()), rule_name: Nullable(Type.String()),
  agent_name: Nullable(Type.String()), kind: Type.String(), status: Type.String({ description: NOTIFICATION_STATUSES.join(', ') }), attempts: Type.Integer(),
  last_error: Nullable(Type.String()), next_attempt_at: Time, created_at: Time, delivered_at: Nullable(Time), message_id: Nullable(Type.String()),
})
const BODY_LIMIT = 64 * 1024

/** The audit entry of a channel write, as every API that writes channels records it (never the config: it holds secrets). */
export async function auditChannelWrite(db: Kysely<Database>, request: FastifyRequest, action: 'channel.create' | 'channel.update' | 'channel.delete', c: ChannelRow): Promise<void> {
  const details: Record<string, string | boolean> = action === 'channel.update' ? { name: c.name, type: c.type, enabled: c.enabled } : { name: c.name, type: c.type }
  await writeAudit(db, { orgId: principalOf(request).orgId, action, actor: userActor(request), target: { type: 'notification_channel', id: c.id }, ip: request.ip, details })
}

const view = (c: ChannelRow) => ({
  id: c.id, name: c.name, type: c.type, enabled: c.enabled, config: maskConfig(c.type, c.config),
  created_by: c.created_by, created_at: c.created_at.toISOString(), updated_at: c.updated_at.toISOString(),
})

export const channelsRoutes: FastifyPluginAsyncTypebox<ChannelsRoutesOptions> = async (app, opts) => {
  const db = app.store.db
  const writer = app.requireRole('admin', 'editor')

  // Per user, on top of the write budget: a test-send reaches out to a third party at once.
  const testSendLimiter = app.createRateLimit({
    max: opts.testSendLimit.max, timeWindow: opts.testSendLimit.windowMs,
    keyGenerator: (request: FastifyRequest) => `channel-test:${request.principal?.userId ?? request.ip}`,
  })
  async function limitTestSends(request: FastifyRequest, reply: FastifyReply) {
    const result = await testSendLimiter(request)
    if (result.isAllowed) return
    void reply.header('x-ratelimit-limit', result.max)
    void reply.header('x-ratelimit-remaining', result.remaining)
    void reply.header('x-ratelimit-reset', Math.ceil((Date.now() + result.ttl) / 1000))
    if (result.isExceeded) {
      const retryAfter = Math.max(1, result.ttlInSeconds)
      throw new ApiError('RATE_LIMITED', `Too many test-sends: at most ${result.max} per ${Math.round(opts.testSendLimit.windowMs / 1000)} s. Please retry after ${retryAfter} seconds.`,
        { retry_after: retryAfter, budget: 'channel_test' })
    }
  }

  app.get('/api/v1/notification-channels', {
    onRequest: app.authenticate,
    schema: { summary: 'List notification channels (secrets masked)', tags: ['notifications'], response: { 200: Type.Object({ count: Type.Integer(), channels: Type.Array(ChannelOut) }), ...ERRORS } },
  }, async (request) => {
    const rows = await listChannels(db, principalOf(request).orgId)
    return { count: rows.length, channels: rows.map(view) }
  })

  app.get('/api/v1/notification-channels/:id', {
    onRequest: app.authenticate,
    schema: { summary: 'One notification channel (secrets masked)', tags: ['notifications'], params: IdParam, response: { 200: ChannelOut, ...ERRORS } },
  }, async (request) => view(await getChannel(db, principalOf(request).orgId, request.params.id)))

  app.post('/api/v1/notification-channels', {
    onRequest: writer, bodyLimit: BODY_LIMIT,
    schema: { summary: 'Create a notification channel', tags: ['notifications'], body: ChannelBody, response: { 201: ChannelOut, ...WRITE_ERRORS } },
  }, async (request, reply) => {
    const p = principalOf(request)
    const created = await createChannel(db, p.orgId, p.userId, request.body, opts.rules)
    await auditChannelWrite(db, request, 'channel.create', created)
    return reply.status(201).send(view(created))
  })

  app.put('/api/v1/notification-channels/:id', {
    onRequest: writer, bodyLimit: BODY_LIMIT,
    schema: { summary: 'Replace a notification channel; masked secrets sent back are kept', tags: ['notifications'], params: IdParam, body: ChannelBody, response: { 200: ChannelOut, ...WRITE_ERRORS } },
  }, async (request) => {
    const p = principalOf(request)
    const updated = await replaceChannel(db, p.orgId, request.params.id, request.body, opts.rules)
    await auditChannelWrite(db, request, 'channel.update', updated)
    return view(updated)
  })

  app.delete('/api/v1/notification-channels/:id', {
    onRequest: writer,
    schema: { summary: 'Delete a notification channel (its pending notifications fail; the delivery log stays with the events)', tags: ['notifications'], params: IdParam, response: { 204: NoContent, ...WRITE_ERRORS } },
  }, async (request, reply) => {
    const p = principalOf(request)
    const deleted = await deleteChannel(db, p.orgId, request.params.id)
    await auditChannelWrite(db, request, 'channel.delete', deleted)
    return reply.status(204).send(null)
  })

  app.post('/api/v1/notification-channels/:id/test', {
    onRequest: writer, preHandler: limitTestSends,
    schema: {
      summary: 'Send a test message now; answers whether it was delivered', tags: ['notifications'], params: IdParam,
      response: { 200: TestOut, ...WRITE_ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    const channel = await getChannel(db, p.orgId, request.params.id)
    const messageId = randomUUID()
    let error: string | undefined
    try {
      await opts.send(channel, testMessage(channel.name, messageId, opts.publicUrl), opts.sendContext)
    } catch (err) {
      error = err instanceof DeliveryError ? err.message : `unexpected error: ${excerpt((err as Error)?.message ?? String(err))}`
    }
    await writeAudit(db, { orgId: p.orgId, action: 'channel.test', actor: userActor(request), target: { type: 'notification_channel', id: channel.id }, ip: request.ip, details: { name: channel.name, type: channel.type, delivered: !error } })
    return error ? { delivered: false, error } : { delivered: true, message_id: messageId }
  })

  app.get('/api/v1/notification-channels/:id/deliveries', {
    onRequest: app.authenticate,
    schema: {
      summary: 'The delivery log of a channel, newest first', tags: ['notifications'], params: IdParam,
      querystring: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
        status: Type.Optional(Type.Union(NOTIFICATION_STATUSES.map((s) => Type.Literal(s)))),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ channel_id: Type.String(), count: Type.Integer(), deliveries: Type.Array(DeliveryOut) }), ...ERRORS },
    },
  }, async (request) => {
    const p = principalOf(request)
    const channel = await getChannel(db, p.orgId, request.params.id)
    const rows = await channelDeliveries(db, p.orgId, channel.id, { status: request.query.status, limit: request.query.limit ?? 100 })
    return {
      channel_id: channel.id, count: rows.length,
      deliveries: rows.map((r) => ({
        ...r, last_error: redactUrls(r.last_error), next_attempt_at: r.next_attempt_at.toISOString(), created_at: r.created_at.toISOString(),
        delivered_at: r.delivered_at ? r.delivered_at.toISOString() : null,
      })),
    }
  })
}
