// What a performance report shows, gathered from the native services (agents, host families, statistics,
// top processes, alert events, containers) for one agent over one range. No HTML here: report-html.ts
// renders this; the runner (report-runner.ts) gathers and renders in the background.
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import type { RetentionDays } from '../query/resolution-for-range.ts'
import { agentInventories, type AgentRow } from '../agents/agents-repository.ts'
import {
  CPU_FIELDS, DISK_FIELDS, MEMORY_FIELDS, NETWORK_FIELDS, hostColumns, hostDeviceColumns, hostStats,
  type Columns, type HostField, type HostStats, type NamedColumns,
} from '../query/host-families.ts'
import { topProcesses, type TopProcess } from '../query/process-reads.ts'
import { listEvents } from '../alerting/events-repository.ts'
import type { EventRow } from '../alerting/event-views.ts'
import { containerAggregate, containerSeries, listContainers, type ContainerAggregate, type ContainerSeries, type ContainerView } from '../query/container-reads.ts'

/** Processes and alert events a report lists, at most. */
export const REPORT_TOP_PROCESSES = 15
export const REPORT_MAX_ALERTS = 200
/** Containers charted one by one, at most (the busiest by their newest CPU); the rest are in the totals. */
export const REPORT_MAX_CONTAINERS = 20

export type ReportHost = Pick<AgentRow, 'name' | 'hostname' | 'ip_address' | 'os' | 'os_version' | 'agent_version' | 'last_metrics_at'> & {
  /** The agent's inventory (cpu_model, cpu_count, memory_total_bytes, cloud_provider, region, instance_type, …). */
  inventory: Record<string, unknown>
}

export interface ReportAlert {
  rule_name: string
  severity: string
  /** firing or resolved (now, not at the range's end). */
  state: string
  summary: string
  value: number | null
  threshold: number | null
  started_at: Date
  resolved_at: Date | null
}

export interface ReportContainer {
  view: ContainerView
  series: ContainerSeries
}

export interface ReportData {
  title: string
  host: ReportHost
  start: Date
  end: Date
  generatedAt: Date
  /** The field definitions the columns and statistics use (their metric names and units). */
  fields: { cpu: Record<string, HostField>; memory: Record<string, HostField>; disk: Record<string, HostField>; network: Record<string, HostField> }
  cpu: Columns
  memory: Columns
  disk: { timestamps: Date[]; items: NamedColumns[] }
  network: { timestamps: Date[]; items: NamedColumns[] }
  /** Equal to GET /dashboard/api/collectors/{id}/stats/ for the same range. */
  stats: Partial<HostStats>
  topProcesses: { byCpu: TopProcess[]; byMemory: TopProcess[]; resolution: string }
  alerts: ReportAlert[]
  /** Absent when the report was asked without containers. */
  containers?: { aggregate: ContainerAggregate; items: ReportContainer[]; total: number }
  /** True when the range holds no host sample at all (the report says so instead of drawing empty charts). */
  empty: boolean
}

export interface GatherRequest {
  orgId: string
  agent: AgentRow
  start: Date
  end: Date
  includeContainers: boolean
  title: string
  retentionDays?: RetentionDays
  now?: Date
}

function hasValues(c: { timestamps: Date[]; columns: Record<string, Array<number | null>> }): boolean {
  return c.timestamps.length > 0 && Object.values(c.columns).some((col) => col.some((v) => v !== null))
}

/** Everything the report shows; each part read through the same service its API route uses. */
export async function gatherReport(db: Kysely<Database>, req: GatherRequest): Promise<ReportData> {
  const range = { orgId: req.orgId, agentId: req.agent.id, start: req.start, end: req.end, retentionDays: req.retentionDays, now: req.now }
  const inventory = (await agentInventories(db, req.orgId, [req.agent.id])).get(req.agent.id) ?? {}
  const linkSpeeds = (inventory.link_speed_bits_per_sec ?? {}) as Record<string, number>
  const cpu = await hostColumns(db, range, 'cpu')
  const memory = await hostColumns(db, range, 'memory')
  const disk = await hostDeviceColumns(db, range, 'disk')
  const network = await hostDeviceColumns(db, range, 'network', linkSpeeds)
  const stats = await hostStats(db, range)
  const top = { orgId: req.orgId, agentId: req.agent.id, start: req.start, end: req.end, limit: REPORT_TOP_PROCESSES, stat: 'avg' as const, group: 'name' as const }
  const byCpu = await topProcesses(db, { ...top, by: 'cpu' })
  const byMemory = await topProcesses(db, { ...top, by: 'memory' })
  const alerts = await alertsInRange(db, req)
  const containers = req.includeContainers ? await containersOf(db, req) : undefined
  const empty = !hasValues(cpu) && !hasValues(memory) && disk.items.length === 0 && network.items.length === 0
  return {
    title: req.title,
    host: {
      name: req.agent.name, hostname: req.agent.hostname, ip_address: req.agent.ip_address, os: req.agent.os, os_version: req.agent.os_version,
      agent_version: req.agent.agent_version, inventory, last_metrics_at: req.agent.last_metrics_at,
    },
    start: req.start, end: req.end, generatedAt: req.now ?? new Date(),
    fields: { cpu: CPU_FIELDS, memory: MEMORY_FIELDS, disk: DISK_FIELDS, network: NETWORK_FIELDS },
    cpu, memory, disk, network, stats,
    topProcesses: { byCpu: byCpu.processes, byMemory: byMemory.processes, resolution: byCpu.resolution },
    alerts, containers, empty,
  }
}

/** Alert events of the agent that were firing at some time in the range, newest first. */
async function alertsInRange(db: Kysely<Database>, req: GatherRequest): Promise<ReportAlert[]> {
  const { events } = await listEvents(db, req.orgId, { agent: req.agent.id, start: req.start, end: req.end, limit: REPORT_MAX_ALERTS })
  return events.map((e: EventRow) => ({
    rule_name: e.rule_name, severity: e.severity, state: e.state, summary: e.summary, value: e.value, threshold: e.threshold,
    started_at: e.started_at, resolved_at: e.resolved_at,
  }))
}

async function containersOf(db: Kysely<Database>, req: GatherRequest): Promise<ReportData['containers']> {
  const range = { orgId: req.orgId, agentId: req.agent.id, start: req.start, end: req.end, retentionDays: req.retentionDays, now: req.now }
  const aggregate = await containerAggregate(db, range)
  const inRange = (await listContainers(db, req.orgId, req.agent.id)).filter((c) => c.created_at < req.end && c.updated_at >= req.start)
  const busiest = [...inRange].sort((a, b) => (b.cpu_percent ?? -1) - (a.cpu_percent ?? -1) || a.id - b.id).slice(0, REPORT_MAX_CONTAINERS)
  const items: ReportContainer[] = []
  for (const view of busiest) items.push({ view, series: await containerSeries(db, { ...range, containerId: view.container_id }) })
  return { aggregate, items, total: inRange.length }
}
