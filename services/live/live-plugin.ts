// Live view: WS /ws/metrics/:agent_id and WS /ws/live. (skeleton: the live view is being built)
import fp from 'fastify-plugin'

export interface LiveOptions {
  /** Heartbeat interval; a peer that misses two pongs is dropped. */
  heartbeatMs?: number
}

export const livePlugin = fp(async (_app, _opts: LiveOptions) => {
}, { name: 'hostpulse-live', dependencies: ['hostpulse-auth', 'hostpulse-ingest-feed'] })
