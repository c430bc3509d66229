// Seed 003's NotificationChannel over a native notification channel: the fields, and its JSON with the
// config masked by the native maskConfig (secrets never leave in full, exactly as the native API shows them).
import { Type, type Static } from 'typebox'
import type { ChannelType } from '../../store/database.ts'
import { maskConfig } from '../../notify/channel-config.ts'
import type { NumberedChannelRow } from '../../notify/channels-repository.ts'
import { Time } from '../../http/response-schemas.ts'

export const CHANNEL_TYPES = ['email', 'discord', 'slack', 'webhook'] as const satisfies readonly ChannelType[]
const ChannelTypeWord = (description: string) => Type.Unsafe<ChannelType>({ type: 'string', enum: [...CHANNEL_TYPES], description })

const Config = Type.Object({}, {
  additionalProperties: true,
  description: 'slack/discord: {webhook_url}; email: {to:[…], from?, smtp?:{host, port?, secure?, username?, password?}}; webhook: {url, secret?, headers?}',
})
const Fields = {
  name: Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' }),
  channel_type: ChannelTypeWord('email, discord, slack or webhook'),
  type: ChannelTypeWord('the native name of channel_type, accepted too'),
  config: Config,
  is_active: Type.Boolean({ description: 'default true; an inactive channel gets no notifications' }),
  enabled: Type.Boolean({ description: 'the same as is_active' }),
}

/** POST and PUT: name and config required, and channel_type (or type); read-only fields sent back are ignored, as DRF does. */
export const NotificationBody = Type.Object({
  name: Fields.name, config: Fields.config,
  channel_type: Type.Optional(Fields.channel_type), type: Type.Optional(Fields.type),
  is_active: Type.Optional(Fields.is_active), enabled: Type.Optional(Fields.enabled),
}, { additionalProperties: true })
/** PATCH: any of them; a config sent replaces the stored one (masked secrets sent back keep the stored ones, as natively). */
export const NotificationPatch = Type.Object({
  name: Type.Optional(Fields.name), config: Type.Optional(Fields.config),
  channel_type: Type.Optional(Fields.channel_type), type: Type.Optional(Fields.type),
  is_active: Type.Optional(Fields.is_active), enabled: Type.Optional(Fields.enabled),
}, { additionalProperties: true })
export type NotificationPatch = Static<typeof NotificationPatch>

export const NotificationOut = Type.Object({
  id: Type.Integer({ description: 'the notification channel number; the native API names it by `uuid`' }),
  uuid: Type.String({ format: 'uuid', description: 'the native channel (GET /api/v1/notification-channels/{uuid})' }),
  name: Type.String(), channel_type: Type.String(),
  config: Type.Object({}, { additionalProperties: true, description: 'secrets masked as natively: webhook_url/url as origin/…/****, has_secret, has_password, header values ****' }),
  is_active: Type.Boolean(), enabled: Type.Boolean(), created_at: Time, updated_at: Time,
})
export type NotificationOut = Static<typeof NotificationOut>

/** Native field names → the face's, for errors of the native checks. */
export const NOTIFICATION_FIELDS: Record<string, string> = { type: 'channel_type', enabled: 'is_active' }

export function notificationJson(c: NumberedChannelRow): NotificationOut {
  return {
    id: c.number, uuid: c.id, name: c.name, channel_type: c.type, config: maskConfig(c.type, c.config),
    is_active: c.enabled, enabled: c.enabled, created_at: c.created_at.toISOString(), updated_at: c.updated_at.toISOString(),
  }
}
