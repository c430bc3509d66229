// Alert events: history, acknowledge, resolve. (skeleton: being built)
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

export const alertEventsRoutes: FastifyPluginAsyncTypebox = async () => {}
