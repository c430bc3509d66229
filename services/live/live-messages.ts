// What the live streams send, exactly as clients (the web page, programs) read it.

/** One agent on the fleet stream. `disk` is its fullest filesystem; net_* are bytes/s summed over interfaces. */
export interface AgentSummary {
  agent_id: string
  name: string
  hostname: string | null
  status: 'online' | 'offline' | 'pending'
  last_seen: string | null
  cpu: number | null
  memory: number | null
  disk: number | null
  load1: number | null
  net_rx: number | null
  net_tx: number | null
}

import type { AlertNotice } from '../bus/alert-bus.ts'

/** An alert opening or closing, as the evaluator NOTIFYs it on the alert bus (without org_id). */
export type AlertEvent = Omit<AlertNotice, 'org_id'>

export interface MetricValue { value: number; timestamp: string }

/** Seed 001's message: keys `<type>.<name>`, tagged series as `<type>.<name>{k=v,…}`. */
export interface MetricsMessage { type: 'metrics'; agent_id: string; timestamp: string; data: Record<string, MetricValue> }

export type FleetMessage =
  | { type: 'snapshot'; agents: AgentSummary[]; alerts: AlertEvent[] }
  | { type: 'agent'; agent: AgentSummary }
  | { type: 'alert'; event: AlertEvent }

/** Either stream: the client's queue overflowed and `count` older messages were never sent. */
export interface DroppedMessage { type: 'dropped'; count: number }
/** Either stream: a client message was refused; the connection stays open. */
export interface ErrorMessage { type: 'error'; message: string }

/** A message serialized and encoded once, shared by every connection that sends it. */
export interface Outbound { data: Buffer; bytes: number }

export function outbound(message: MetricsMessage | FleetMessage | DroppedMessage | ErrorMessage): Outbound {
  const data = Buffer.from(JSON.stringify(message))
  return { data, bytes: data.length }
}
