// WS /ws/live: the fleet page's stream. Per organization with clients: a snapshot on connect, an agent
// summary after each of its ingests or status changes, and alert events as the evaluator NOTIFYs them.
// One queue of reads per organization keeps every client's messages in the order things happened.
import type { Kysely } from 'kysely'
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from '../store/database.ts'
import type { IngestEvent } from '../bus/ingest-bus.ts'
import { parseAlertNotice } from '../bus/alert-bus.ts'
import type { LiveConnection } from './live-connection.ts'
import { outbound, type AlertEvent, type AgentSummary } from './live-messages.ts'
import { liveStatus, readAgentStatuses, readFiringAlerts, readSummaries } from './live-reads.ts'

class OrgFleet {
  readonly clients = new Set<LiveConnection>()
  /** Agent id → status last sent, to notice online → offline without an ingest. */
  readonly statuses = new Map<string, AgentSummary['status']>()
  readonly dirty = new Set<string>()
  /** Joins queued but not yet run: a leave's cleanup must not drop the org they will add their client to. */
  pendingJoins = 0
  private chain: Promise<void> = Promise.resolve()
  flushQueued = false

  constructor(readonly orgId: string, private readonly log: FastifyBaseLogger) {}

  run(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((err) => { this.log.warn({ err, orgId: this.orgId }, 'live fleet read failed') })
  }

  broadcast(message: ReturnType<typeof outbound>): void {
    for (const c of this.clients) c.send(message)
  }
}

export interface FleetStreamOptions { onlineWindowSeconds: number }

export class FleetStream {
  private readonly orgs = new Map<string, OrgFleet>()

  constructor(private readonly db: Kysely<Database>, private readonly log: FastifyBaseLogger, private readonly opts: FleetStreamOptions) {}

  get clientCount(): number {
    let n = 0
    for (const o of this.orgs.values()) n += o.clients.size
    return n
  }

  *connections(): Iterable<LiveConnection> {
    for (const o of this.orgs.values()) yield* o.clients
  }

  join(connection: LiveConnection): void {
    const orgId = connection.principal.orgId
    let org = this.orgs.get(orgId)
    if (!org) {
      org = new OrgFleet(orgId, this.log)
      this.orgs.set(orgId, org)
    }
    const o = org
    o.pendingJoins++
    o.run(async () => {
      try {
        const snapshot = await this.readSnapshot(o)
        if (!connection.open) return
        connection.send(snapshot)
        o.clients.add(connection)
      } finally {
        o.pendingJoins--
      }
    })
  }

  leave(connection: LiveConnection): void {
    const orgId = connection.principal.orgId
    const org = this.orgs.get(orgId)
    if (!org) return
    org.clients.delete(connection)
    if (org.clients.size === 0) {
      org.run(async () => {
        if (org.clients.size === 0 && org.pendingJoins === 0 && this.orgs.get(orgId) === org) this.orgs.delete(orgId)
      })
    }
  }

  onIngest(event: IngestEvent): void {
    const org = this.orgs.get(event.orgId)
    if (!org) return
    org.dirty.add(event.agentId)
    this.flush(org)
  }

  onAlert(payload: string): void {
    const notice = parseAlertNotice(payload)
    if (!notice) {
      this.log.warn('ignored a malformed alert notification')
      return
    }
    const org = this.orgs.get(notice.org_id)
    if (!org) return
    const { org_id: _, ...event } = notice
    const message = outbound({ type: 'alert', event })
    org.run(async () => { org.broadcast(message) })
  }

  /** After missed notifications (the LISTEN connection was lost): every client gets a fresh snapshot. */
  resync(): void {
    for (const org of this.orgs.values()) {
      org.run(async () => {
        if (org.clients.size > 0) org.broadcast(await this.readSnapshot(org))
      })
    }
  }

  /** The organization's agents and firing alerts; the statuses sent are remembered. */
  private async readSnapshot(org: OrgFleet): Promise<ReturnType<typeof outbound>> {
    const agents = await readSummaries(this.db, org.orgId, this.opts.onlineWindowSeconds)
    const alerts = await readFiringAlerts(this.db, org.orgId)
    for (const a of agents) org.statuses.set(a.agent_id, a.status)
    return outbound({ type: 'snapshot', agents, alerts })
  }

  /** Timer: agents whose status changed without an ingest (went offline, were approved, were added). */
  checkStatuses(): void {
    for (const org of this.orgs.values()) {
      org.run(async () => {
        if (org.clients.size === 0) return
        const now = Date.now()
        for (const a of await readAgentStatuses(this.db, org.orgId)) {
          if (org.statuses.get(a.id) !== liveStatus(a, this.opts.onlineWindowSeconds, now)) org.dirty.add(a.id)
        }
        this.flush(org)
      })
    }
  }

  /** Sends a fresh summary of each dirty agent; ingests during a read are gathered for the next one. */
  private flush(org: OrgFleet): void {
    if (org.flushQueued || org.dirty.size === 0) return
    org.flushQueued = true
    org.run(async () => {
      org.flushQueued = false
      const ids = [...org.dirty]
      org.dirty.clear()
      if (org.clients.size === 0) return
      for (const agent of await readSummaries(this.db, org.orgId, this.opts.onlineWindowSeconds, ids)) {
        org.statuses.set(agent.agent_id, agent.status)
        org.broadcast(outbound({ type: 'agent', agent }))
      }
    })
  }
}
