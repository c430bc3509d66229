// The web page at /. (skeleton: being built)
import type { FastifyPluginAsync } from 'fastify'

export const webRoutes: FastifyPluginAsync = async () => {}
