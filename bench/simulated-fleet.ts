// Simulated agents in one process for the fleet benchmark and the crash and outage drills: each with its own
// key, disk buffer and the real agent's delivery code (agent/delivery.ts: buffering, retries and replay are
// the agent's own), collecting a SimulatedHost's batch every interval ± 10 %. Every batch id generated is
// remembered, so a run ends with "what the agents generated = what the database holds, once".
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../services/store/database.ts'
import { Delivery } from '../agent/delivery.ts'
import { SegmentBuffer } from '../agent/buffer/segment-buffer.ts'
import { RejectedBatches } from '../agent/buffer/rejected-batches.ts'
import type { BackoffPolicy } from '../agent/connection-state.ts'
import { SCALARS, SimulatedHost } from './simulated-host.ts'
import { benchAgent } from './bench-api.ts'

export interface SimulatedAgent {
  id: string
  name: string
  host: SimulatedHost
  delivery: Delivery
  buffer: SegmentBuffer
  rejected: RejectedBatches
  /** Batch ids generated, in order. */
  generated: string[]
}

export interface FleetOptions {
  agents: number
  intervalMs: number
  /** Where each agent keeps its buffer and set-aside batches. */
  dir: string
  namePrefix?: string
  backoff?: BackoffPolicy
  /** Submit → acknowledged latency of each batch sent while its agent's buffer was empty. */
  onDelivered?: (ms: number) => void
}

export class SimulatedFleet {
  private timers = new Set<NodeJS.Timeout>()
  private collecting = false
  /** The most agents seen buffering at once (a drill proves its fault was felt). */
  maxBuffering = 0

  private constructor(readonly agents: SimulatedAgent[], private readonly opts: FleetOptions) {}

  /** Registers the agents through the API (as an admin would) and opens their buffers. */
  static async register(base: string, token: string, opts: FleetOptions): Promise<SimulatedFleet> {
    const agents: SimulatedAgent[] = []
    const log = () => {}
    for (let i = 0; i < opts.agents; i++) {
      const name = `${opts.namePrefix ?? 'fleet'}-${i}-${randomUUID().slice(0, 6)}`
      const made = await benchAgent(base, token, name)
      const buffer = await SegmentBuffer.open(join(opts.dir, String(i), 'buffer'), { log })
      const rejected = new RejectedBatches(join(opts.dir, String(i), 'rejected'))
      const delivery = new Delivery({ target: { serverUrl: base, apiKey: made.api_key, timeoutMs: 15_000 }, buffer, rejected, log, backoff: opts.backoff })
      agents.push({ id: made.id, name, host: new SimulatedHost(i, opts.intervalMs), delivery, buffer, rejected, generated: [] })
    }
    return new SimulatedFleet(agents, opts)
  }

  get generated(): number { return this.agents.reduce((n, a) => n + a.generated.length, 0) }
  get buffering(): number { return this.agents.filter((a) => !a.buffer.isEmpty).length }

  /** Every agent collects once per interval ± 10 %, the first time spread over the first interval. */
  start(): void {
    this.collecting = true
    for (const a of this.agents) {
      const tick = () => {
        if (!this.collecting) return
        const t0 = performance.now()
        const batch = a.host.batch(Date.now())
        a.generated.push(batch.batch_id)
        void a.delivery.submit(batch).then(() => { if (a.buffer.isEmpty) this.opts.onDelivered?.(performance.now() - t0) })
        this.maxBuffering = Math.max(this.maxBuffering, this.buffering)
        this.schedule(tick, this.opts.intervalMs * (0.9 + Math.random() * 0.2))
      }
      this.schedule(tick, Math.random() * this.opts.intervalMs)
    }
  }

  private schedule(fn: () => void, ms: number): void {
    const timer = setTimeout(() => { this.timers.delete(timer); fn() }, ms)
    this.timers.add(timer)
  }

  stopCollecting(): void {
    this.collecting = false
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
  }

  /**
   * Waits for every agent's queued work (a send still in flight, submits waiting behind it) and replays
   * every buffer, until all are empty or `timeoutMs` passed; true when all are empty. An empty buffer alone
   * is not enough: a submit still waiting on a slow server would be put on disk by stop(), not sent.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs
    for (;;) {
      // A delivery's drain runs after the work already queued, so awaiting it awaits that work too.
      await Promise.all(this.agents.map((a) => a.delivery.drain()))
      if (this.buffering === 0 || Date.now() >= until) break
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    return this.buffering === 0
  }

  /** Batches still in the agents' disk buffers (after stop(): what a restarted agent would replay). */
  async buffered(): Promise<number> {
    return (await Promise.all(this.agents.map((a) => a.buffer.batchCount()))).reduce((n, c) => n + c, 0)
  }

  async stop(): Promise<void> {
    this.stopCollecting()
    await Promise.all(this.agents.map((a) => a.delivery.stop()))
  }

  /** Batches the agents set aside as refused for good (a drill expects none). */
  async setAside(): Promise<number> {
    return (await Promise.all(this.agents.map((a) => a.rejected.list()))).reduce((n, l) => n + l.length, 0)
  }
}

export interface FleetAccount {
  generated: number
  stored: number
  /** Generated but not in the database (nor set aside). */
  lost: number
  /** Batches whose rows are in the database more than once (metric rows beyond one batch's worth). */
  duplicatedRows: number
  metricRows: number
}

/** What an account needs of each agent: its id and the batch ids it generated. */
export type GeneratedBy = Array<Pick<SimulatedAgent, 'id' | 'generated'>>

/** Compares what the agents generated with what the database holds: each batch id once, its 60 metrics once. */
export async function accountFleet(db: Kysely<Database>, agents: GeneratedBy): Promise<FleetAccount> {
  const agentIds = agents.flatMap((a) => a.generated.map(() => a.id))
  const batchIds = agents.flatMap((a) => a.generated)
  const { rows: [counts] } = await sql<{ stored: string; metrics: string }>`
    with generated as (select * from unnest(${agentIds}::uuid[], ${batchIds}::uuid[]) g(agent_id, batch_id))
    select (select count(*) from generated g join ingest_batches b using (agent_id, batch_id)) as stored,
           (select count(*) from metrics where agent_id = any(${agents.map((a) => a.id)}::uuid[])) as metrics`.execute(db)
  const stored = Number(counts.stored)
  const metricRows = Number(counts.metrics)
  return { generated: batchIds.length, stored, lost: batchIds.length - stored, duplicatedRows: metricRows - stored * SCALARS, metricRows }
}
