// One sender per channel type, behind one call: the dispatcher and the test-send route use only this.
import type { AlertMessage } from './alert-message.ts'
import type { ChannelType } from '../store/database.ts'
import type { ChannelConfig, DiscordConfig, EmailConfig, SlackConfig, WebhookConfig } from './channel-config.ts'
import { sendSlack } from './slack-sender.ts'
import { sendEmail } from './email-sender.ts'
import { sendWebhook } from './webhook-sender.ts'
import { sendDiscord } from './discord-sender.ts'
import type { SendContext } from './send-context.ts'

export interface SendableChannel { type: ChannelType; config: ChannelConfig | Record<string, unknown> }

export type SendFunction = (channel: SendableChannel, message: AlertMessage, ctx: SendContext) => Promise<void>

export const sendToChannel: SendFunction = async (channel, message, ctx) => {
  switch (channel.type) {
    case 'slack': return sendSlack(channel.config as SlackConfig, message, ctx)
    case 'discord': return sendDiscord(channel.config as DiscordConfig, message, ctx)
    case 'webhook': return sendWebhook(channel.config as WebhookConfig, message, ctx)
    case 'email': await sendEmail(channel.config as EmailConfig, message, ctx); return
  }
}
