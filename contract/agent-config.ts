// What the server may set in an agent's collection, fetched by the agent from
// GET /api/v1/agents/self/config. Every field optional: an absent one keeps the agent's local setting.
import { Type, type Static } from 'typebox'

export const METRIC_FAMILIES = ['cpu', 'memory', 'disk', 'network', 'processes', 'sessions', 'containers'] as const

export const AgentRemoteConfig = Type.Object({
  interval_seconds: Type.Optional(Type.Number({ minimum: 1, maximum: 3600 })),
  collect: Type.Optional(Type.Partial(Type.Object(Object.fromEntries(METRIC_FAMILIES.map((f) => [f, Type.Boolean()])) as Record<(typeof METRIC_FAMILIES)[number], ReturnType<typeof Type.Boolean>>), { additionalProperties: false })),
  max_processes: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
}, { additionalProperties: false })

export type AgentRemoteConfig = Static<typeof AgentRemoteConfig>

export const AGENT_CONFIG_PATH = '/api/v1/agents/self/config'
