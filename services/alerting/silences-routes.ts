// Silences and maintenance windows. (skeleton: being built)
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

export const silencesRoutes: FastifyPluginAsyncTypebox = async () => {}
