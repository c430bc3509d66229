// Seed 003's NotificationChannelViewSet (/api/notifications/) over native notification channels: created,
// checked (config per type, the outbound-target guard, unique names), replaced, deleted and audited by the
// same functions as /api/v1/notification-channels, with the same masking of secrets in every answer.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { AgentManagementOptions } from './face-options.ts'
import { PageOf, PageQuery, pageOf, pageWindow } from './drf.ts'
import { DRF_ERRORS, DRF_WRITE_ERRORS, NumberParam, numberFrom } from './seed-shapes.ts'
import { refuseNulls, withFaceFields } from './alert-field-errors.ts'
import { CHANNEL_TYPES, NOTIFICATION_FIELDS, NotificationBody, NotificationOut, NotificationPatch, notificationJson } from './notification-shapes.ts'
import { principalOf } from '../../auth/auth-plugin.ts'
import { DomainError, invalidField } from '../../errors/domain-error.ts'
import { NoContent } from '../../http/response-schemas.ts'
import type { ChannelType } from '../../store/database.ts'
import { maskConfig } from '../../notify/channel-config.ts'
import {
  channelNumbers, createChannel, deleteChannel, findChannelByNumber, pageChannels, replaceChannel, type ChannelInput, type ChannelRow, type NumberedChannelRow,
} from '../../notify/channels-repository.ts'
import { auditChannelWrite } from '../../notify/channels-routes.ts'

const BODY_LIMIT = 64 * 1024
const TAGS = ['seed-003']

const ListQuery = Type.Object({
  ...PageQuery,
  channel_type: Type.Optional(Type.Unsafe<ChannelType>({ type: 'string', enum: [...CHANNEL_TYPES] })),
})

// Refused as null rather than read as "" or false by the schema's coercion.
const noNulls = refuseNulls(['name', 'channel_type', 'type', 'config', 'is_active', 'enabled'])

const notFound = (id: string) => new DomainError('not_found', `Notification channel ${id} not found.`)

/** The seed's and the native name of one field must agree when both are given. */
function oneOf<T>(face: string, faceValue: T | undefined, native: string, nativeValue: T | undefined): T | undefined {
  if (faceValue !== undefined && nativeValue !== undefined && faceValue !== nativeValue) throw invalidField(face, `must equal ${native} when both are given`)
  return faceValue ?? nativeValue
}

export const notificationsRoutes: FastifyPluginAsyncTypebox<AgentManagementOptions> = async (app) => {
  const db = app.store.db
  const editors = app.requireRole('admin', 'editor')
  // The native checks on configs written through an API (private targets, SMTP), as the notify stage set them.
  const rules = app.channelConfigRules

  async function channelOf(orgId: string, id: string): Promise<NumberedChannelRow> {
    const channel = await findChannelByNumber(db, orgId, numberFrom(id, 'Notification channel'))
    if (!channel) throw notFound(id)
    return channel
  }

  async function numbered(orgId: string, c: ChannelRow): Promise<NotificationOut> {
    const number = (await channelNumbers(db, orgId, [c.id])).get(c.id)
    if (number === undefined) throw notFound(c.id)
    return notificationJson({ ...c, number })
  }

  /** A body over the stored channel (none: a new one) → the native input; left-out fields keep the stored values. */
  function inputOf(b: NotificationPatch, current?: ChannelRow): ChannelInput {
    const type = oneOf('channel_type', b.channel_type, 'type', b.type) ?? current?.type
    if (type === undefined) throw invalidField('channel_type', 'is required')
    const enabled = oneOf('is_active', b.is_active, 'enabled', b.enabled) ?? current?.enabled
    // Without a config the stored one is sent back masked: the native parser keeps its secrets, as on a native PUT of the masked view.
    const config = b.config ?? (current ? maskConfig(current.type, current.config) : undefined)
    return { name: b.name ?? current?.name ?? '', type, config, enabled }
  }

  app.get('/api/notifications/', {
    onRequest: app.authenticate,
    schema: {
      summary: 'Seed 003: list notification channels (secrets masked)', tags: TAGS,
      querystring: ListQuery, response: { 200: PageOf(NotificationOut), ...DRF_ERRORS },
    },
  }, async (request) => {
    const q = request.query
    const { channels, total } = await pageChannels(db, principalOf(request).orgId, { type: q.channel_type, ...pageWindow(q) })
    return pageOf(request, q, total, channels.map(notificationJson))
  })

  app.get('/api/notifications/:id/', {
    onRequest: app.authenticate,
    schema: { summary: 'Seed 003: one notification channel (secrets masked)', tags: TAGS, params: NumberParam, response: { 200: NotificationOut, ...DRF_ERRORS } },
  }, async (request) => notificationJson(await channelOf(principalOf(request).orgId, request.params.id)))

  app.post('/api/notifications/', {
    onRequest: editors, preValidation: noNulls, bodyLimit: BODY_LIMIT,
    schema: {
      summary: 'Seed 003: create a notification channel (email, discord, slack, webhook)', tags: TAGS,
      body: NotificationBody, response: { 201: NotificationOut, ...DRF_WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const created = await withFaceFields(NOTIFICATION_FIELDS, () => createChannel(db, p.orgId, p.userId, inputOf(request.body), rules))
    await auditChannelWrite(db, request, 'channel.create', created)
    return reply.status(201).send(await numbered(p.orgId, created))
  })

  /** PUT and PATCH: the given fields over the stored channel (DRF's update keeps what a body leaves out). */
  async function update(request: FastifyRequest, id: string, body: NotificationPatch): Promise<NotificationOut> {
    const p = principalOf(request)
    const current = await channelOf(p.orgId, id)
    const updated = await withFaceFields(NOTIFICATION_FIELDS, () => replaceChannel(db, p.orgId, current.id, inputOf(body, current), rules))
    await auditChannelWrite(db, request, 'channel.update', updated)
    return notificationJson({ ...updated, number: current.number })
  }

  for (const [method, body, what] of [['PUT', NotificationBody, 'update'], ['PATCH', NotificationPatch, 'partially update']] as const) {
    app.route({
      method, url: '/api/notifications/:id/', onRequest: editors, preValidation: noNulls, bodyLimit: BODY_LIMIT,
      schema: {
        summary: `Seed 003: ${what} a notification channel; masked secrets sent back are kept`, tags: TAGS,
        params: NumberParam, body, response: { 200: NotificationOut, ...DRF_WRITE_ERRORS },
      },
      handler: (request) => update(request, request.params.id, request.body),
    })
  }

  app.delete('/api/notifications/:id/', {
    onRequest: editors,
    schema: {
      summary: 'Seed 003: delete a notification channel (its pending notifications fail; the delivery log stays)', tags: TAGS,
      params: NumberParam, response: { 204: NoContent, ...DRF_WRITE_ERRORS },
    },
  }, async (request, reply) => {
    const p = principalOf(request)
    const current = await channelOf(p.orgId, request.params.id)
    const deleted = await deleteChannel(db, p.orgId, current.id)
    await auditChannelWrite(db, request, 'channel.delete', deleted)
    return reply.status(204).send(null)
  })
}
