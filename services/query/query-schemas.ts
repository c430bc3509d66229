// Schemas and lookups every query route shares: the start/end/limit query and the agent lookup (the
// `:agent_id` param is http/params.ts's AgentIdParam).
import { Type } from 'typebox'
import { getAgent } from '../agents/agents-repository.ts'
import { MAX_CURSOR_LENGTH } from './range-reads.ts'

export const RangeQuery = Type.Object({
  start: Type.Optional(Type.String({ maxLength: 64, description: 'RFC3339, default end − 24 h' })),
  end: Type.Optional(Type.String({ maxLength: 64, description: 'RFC3339, default now (exclusive)' })),
  limit: Type.Optional(Type.String({ maxLength: 12, description: 'rows per page' })),
  cursor: Type.Optional(Type.String({ maxLength: MAX_CURSOR_LENGTH, description: 'next_cursor of the previous page: continues exactly where it stopped' })),
})

/** Process listings rank each snapshot and page by `end` only. */
export const ProcessRangeQuery = Type.Omit(RangeQuery, ['cursor'])

export const Rfc3339Out = Type.String({ format: 'date-time' })

/** The agent named by `:agent_id` (uuid or name) in the caller's organization, or 404. */
export const agentFor = getAgent
