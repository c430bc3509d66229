// Seed 003: (to be written)
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AgentManagementOptions } from './agent-management-face.ts'

export const notificationsRoutes: FastifyPluginAsyncTypebox<AgentManagementOptions> = async () => {}
