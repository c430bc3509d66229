// Traffic totals read from the store: one agent's cycle by day and interface, and every agent's cycle
// total beside its quota. The counting (growth of counters, resets, wraps, cycles in the agent's time zone,
// quotas) is the store's (sql/025_traffic.sql), so the API, the fleet column and quota rules agree.
import { sql, type Kysely } from 'kysely'
import type { Database, TrafficDirection } from '../store/database.ts'
import { forecastOf, localDate, type Forecast } from './traffic-forecast.ts'

export type CycleChoice = 'current' | 'previous'

interface UsageRow {
  agent_id: string
  cycle_start: Date
  cycle_end: Date
  received_bytes: number
  sent_bytes: number
  quota_bytes: number | null
  quota_direction: TrafficDirection | null
  quota_source: string | null
  used_bytes: number
  forecast_bytes: number | null
}

export interface TrafficSettings { cycle_start_day: number; time_zone: string; interfaces: string[] | null }

export interface Quota {
  bytes: number
  direction: TrafficDirection
  /** `agent`, or `label <key>=<value>`. */
  source: string
  used_bytes: number
  used_percent: number
}

export interface Bytes { received_bytes: number; sent_bytes: number; total_bytes: number }

export interface AgentTraffic extends Bytes {
  cycle: { which: CycleChoice; start: string; end: string; start_day: number; time_zone: string; complete: boolean }
  interfaces: Array<Bytes & { interface: string; counted: boolean }>
  days: Array<Bytes & { date: string; interfaces: Record<string, { received_bytes: number; sent_bytes: number }> }>
  quota: Quota | null
  forecast: Forecast | null
}

const bytes = (rx: number, tx: number): Bytes => ({ received_bytes: rx, sent_bytes: tx, total_bytes: rx + tx })
const percentOf = (used: number, quota: number) => Math.round((used / quota) * 1000) / 10
const shiftOf = (cycle: CycleChoice) => (cycle === 'current' ? 0 : -1)

function quotaOf(u: UsageRow): Quota | null {
  if (u.quota_bytes === null) return null
  return { bytes: u.quota_bytes, direction: u.quota_direction ?? 'total', source: u.quota_source ?? 'agent', used_bytes: u.used_bytes, used_percent: percentOf(u.used_bytes, u.quota_bytes) }
}

const directionBytes = (d: TrafficDirection, b: { received_bytes: number; sent_bytes: number }) =>
  d === 'sent' ? b.sent_bytes : d === 'received' ? b.received_bytes : b.received_bytes + b.sent_bytes

/** One agent's billing cycle: host totals, per interface, per local day, the quota and the forecast. */
export async function agentTraffic(db: Kysely<Database>, orgId: string, agentId: string, settings: TrafficSettings, cycle: CycleChoice, now: Date): Promise<AgentTraffic> {
  const shift = shiftOf(cycle)
  const { rows: [usage] } = await sql<UsageRow>`select * from hostpulse_traffic_usage(${orgId}::uuid, ${now}::timestamptz, ${shift}::int, ${agentId}::uuid)`.execute(db)
  const { rows } = await sql<{ date: string; interface: string; counted: boolean; received_bytes: number; sent_bytes: number }>`
    select to_char((r.bucket at time zone ${settings.time_zone}), 'YYYY-MM-DD') as date, r.interface,
           hostpulse_counts_toward_traffic(r.interface, ${settings.interfaces}::text[]) as counted,
           sum(r.received_bytes)::int8 as received_bytes, sum(r.sent_bytes)::int8 as sent_bytes
    from hostpulse_traffic_rows(${orgId}::uuid, ${agentId}::uuid, ${usage.cycle_start}::timestamptz, ${usage.cycle_end}::timestamptz) r
    group by 1, 2, 3 order by 1, 2`.execute(db)

  const interfaces = new Map<string, { rx: number; tx: number; counted: boolean }>()
  const perDay = new Map<string, { rx: number; tx: number; interfaces: Record<string, { received_bytes: number; sent_bytes: number }> }>()
  for (const r of rows) {
    const i = interfaces.get(r.interface) ?? { rx: 0, tx: 0, counted: r.counted }
    i.rx += r.received_bytes
    i.tx += r.sent_bytes
    interfaces.set(r.interface, i)
    const day = perDay.get(r.date) ?? { rx: 0, tx: 0, interfaces: {} }
    day.interfaces[r.interface] = { received_bytes: r.received_bytes, sent_bytes: r.sent_bytes }
    if (r.counted) { day.rx += r.received_bytes; day.tx += r.sent_bytes }
    perDay.set(r.date, day)
  }
  // Every day of the cycle so far, quiet ones too, in the agent's calendar.
  const last = new Date(Math.min(now.getTime(), usage.cycle_end.getTime() - 1))
  const days: AgentTraffic['days'] = []
  for (let date = localDate(usage.cycle_start, settings.time_zone); date <= localDate(last, settings.time_zone); date = nextDate(date)) {
    const d = perDay.get(date) ?? { rx: 0, tx: 0, interfaces: {} }
    days.push({ date, ...bytes(d.rx, d.tx), interfaces: d.interfaces })
  }
  const quota = quotaOf(usage)
  const forecast = forecastOf({
    cycleStart: usage.cycle_start, cycleEnd: usage.cycle_end, now, timeZone: settings.time_zone, usedBytes: usage.used_bytes,
    forecastBytes: usage.forecast_bytes, quotaBytes: quota?.bytes ?? null,
    days: days.map((d) => ({ date: d.date, bytes: directionBytes(quota?.direction ?? 'total', d) })),
  })
  return {
    cycle: {
      which: cycle, start: usage.cycle_start.toISOString(), end: usage.cycle_end.toISOString(), start_day: settings.cycle_start_day,
      time_zone: settings.time_zone, complete: now >= usage.cycle_end,
    },
    ...bytes(usage.received_bytes, usage.sent_bytes),
    interfaces: [...interfaces].map(([name, i]) => ({ interface: name, counted: i.counted, ...bytes(i.rx, i.tx) }))
      .sort((a, b) => b.total_bytes - a.total_bytes || a.interface.localeCompare(b.interface)),
    days, quota, forecast,
  }
}

function nextDate(date: string): string {
  const d = new Date(`${date}T12:00:00Z`)
  d.setUTCDate(d.getUTCDate() + 1)
  return d.toISOString().slice(0, 10)
}

export interface FleetTrafficRow extends Bytes {
  agent_id: string
  name: string
  cycle_start: string
  cycle_end: string
  quota: Quota | null
  forecast_bytes: number | null
}

/** Every agent's cycle total (active and inactive; pending agents have no data), its quota and its pace. */
export async function fleetTraffic(db: Kysely<Database>, orgId: string, cycle: CycleChoice, now: Date): Promise<FleetTrafficRow[]> {
  const { rows } = await sql<UsageRow & { name: string }>`
    select u.*, a.name from hostpulse_traffic_usage(${orgId}::uuid, ${now}::timestamptz, ${shiftOf(cycle)}::int) u
    join agents a on a.id = u.agent_id
    where a.status <> 'pending'
    order by a.name`.execute(db)
  return rows.map((u) => ({
    agent_id: u.agent_id, name: u.name, cycle_start: u.cycle_start.toISOString(), cycle_end: u.cycle_end.toISOString(),
    ...bytes(u.received_bytes, u.sent_bytes), quota: quotaOf(u), forecast_bytes: u.forecast_bytes,
  }))
}
