// Response schemas of the process history routes (issue 17): starts and exits, and blame.
import { Type } from 'typebox'
import { Nullable, Time } from '../http/response-schemas.ts'

export const ProcessChangesOut = Type.Object({
  agent_id: Type.String({ description: 'the agent\'s name' }), start: Time, end: Time,
  total: Type.Integer({ description: 'changes in the window' }), limit: Type.Integer(), offset: Type.Integer(), count: Type.Integer(),
  changes: Type.Array(Type.Object({
    pid: Type.Integer(), parent_pid: Nullable(Type.Integer()), name: Type.String(), cmdline: Type.String(), username: Nullable(Type.String()),
    start_time: Nullable(Type.String({ format: 'date-time', description: 'the process\'s own create time (null when the agent sent none)' })),
    first_seen: Time, last_seen: Time,
    started: Type.Boolean({ description: 'absent from the snapshot before first_seen: it started within the window' }),
    exited: Type.Boolean({ description: 'absent from a later snapshot of the window' }),
    end: Nullable(Type.String({ format: 'date-time', description: 'the first snapshot without it, an upper bound of its exit; null while it still runs at the window\'s end' })),
    peak_cpu_percent: Type.Number(), peak_memory_bytes: Type.Number(),
  })),
})

const BlameValue = { value: Type.Number(), share_percent: Type.Number({ description: 'of the host\'s total over the window' }) }
export const ProcessBlameOut = Type.Object({
  agent_id: Type.String(), metric: Type.String(),
  unit: Type.String({ description: 'cpu_seconds (seconds of one core: 100 % CPU for 1 s), byte_seconds (resident bytes × seconds), bytes (read plus written, for disk_io)' }),
  resolution: Type.String({ description: 'raw, or the hourly aggregate read' }),
  start: Time, end: Time, total: Type.Number({ description: 'the host\'s total: every reported process over the window' }),
  count: Type.Integer(),
  processes: Type.Array(Type.Object({
    name: Type.String(), ...BlameValue, samples: Type.Integer(),
    cmdline: Nullable(Type.String()), username: Nullable(Type.String()), last_pid: Nullable(Type.Integer()),
  })),
  other: Type.Object({ names: Type.Integer({ description: 'process names past the limit, summed here' }), ...BlameValue }),
})
