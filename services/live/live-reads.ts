// What the live streams read from the store: newest values of an agent, fleet summaries, firing alerts.
import { sql, type Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import type { AgentSummary, AlertEvent } from './live-messages.ts'

/** One series' newest value. `type`/`name` are what a client filter matches. */
export interface LiveSample { type: string; name: string; value: number; time: Date }

/** A tag key or value inside a series key: `\\`, `,`, `=`, `{` and `}` behind a backslash, so no two series share a key. */
const escapeTag = (text: string) => text.replace(/[\\,={}]/g, (c) => `\\${c}`)

/**
 * `cpu.usage_percent`, or `cpu.usage_percent{core=0}` for a tagged series (tags sorted by key, each key and
 * value escaped: tags `k=ey` → `v,al` and `path` → `C:\\x` give `{k\\=ey=v\\,al,path=C:\\\\x}`). services/web/public/host-charts.js spells it the same way.
 */
export function seriesKey(type: string, name: string, tags: Record<string, string>): string {
  const keys = Object.keys(tags).sort()
  if (keys.length === 0) return `${type}.${name}`
  return `${type}.${name}{${keys.map((k) => `${escapeTag(k)}=${escapeTag(tags[k])}`).join(',')}}`
}

/** Filesystem and interface fields worth watching live, per row (names as the series endpoint takes them). */
const DISK_FIELDS = ['usage_percent', 'used_bytes', 'read_bytes_per_sec', 'write_bytes_per_sec', 'io_util_percent'] as const
const NETWORK_FIELDS = ['bytes_recv_per_sec', 'bytes_sent_per_sec'] as const

/** `(values ('usage_percent', d.usage_percent::float8), …)`: one row per field of a wide row. */
const fieldRows = (alias: string, fields: readonly string[]) =>
  sql.join(fields.map((f) => sql`(${f}, ${sql.ref(`${alias}.${f}`)}::float8)`))

/**
 * The newest value of every series of an agent whose sample is newer than `since`: scalar metrics from
 * metrics_latest, and each filesystem's and interface's newest row. One statement: it runs on every
 * ingest of a watched agent.
 */
export async function readSamples(db: Kysely<Database>, agentId: string, since: Date): Promise<Map<string, LiveSample>> {
  const { rows } = await sql<{ type: string; name: string; tags: Record<string, string>; time: Date; value: number }>`
    select metric_type as type, metric_name as name, tags, time, value
    from metrics_latest where agent_id = ${agentId}::uuid and time > ${since}
    union all
    select 'disk', f.name, jsonb_build_object('mount_point', d.mount_point), d.time, f.value
    from (select distinct on (mount_point) * from disk_metrics where agent_id = ${agentId}::uuid and time > ${since}
          order by mount_point, time desc) d
    cross join lateral (values ${fieldRows('d', DISK_FIELDS)}) as f(name, value)
    where f.value is not null
    union all
    select 'network', f.name, jsonb_build_object('interface', n.interface), n.time, f.value
    from (select distinct on (interface) * from network_metrics where agent_id = ${agentId}::uuid and time > ${since}
          order by interface, time desc) n
    cross join lateral (values ${fieldRows('n', NETWORK_FIELDS)}) as f(name, value)
    where f.value is not null`.execute(db)
  const out = new Map<string, LiveSample>()
  for (const r of rows) {
    out.set(seriesKey(r.type, r.name, r.tags), { type: r.type, name: r.name, value: r.value, time: new Date(r.time) })
  }
  return out
}

export interface AgentStatusRow { id: string; status: string; last_metrics_at: Date | null }

export function liveStatus(a: AgentStatusRow, onlineWindowSeconds: number, now = Date.now()): AgentSummary['status'] {
  if (a.status === 'pending') return 'pending'
  return a.last_metrics_at !== null && now - a.last_metrics_at.getTime() <= onlineWindowSeconds * 1000 ? 'online' : 'offline'
}

export async function readAgentStatuses(db: Kysely<Database>, orgId: string): Promise<AgentStatusRow[]> {
  return db.selectFrom('agents').select(['id', 'status', 'last_metrics_at']).where('org_id', '=', orgId).execute()
}

interface SummaryRow extends AgentStatusRow {
  name: string; hostname: string | null; last_seen_at: Date | null
  cpu: number | null; memory: number | null; load1: number | null; disk: number | null; net_rx: number | null; net_tx: number | null
}

/**
 * Summaries of an organization's agents (all, or those in `agentIds`). Disk and network come from the
 * agent's newest filesystem and interface rows of the last day.
 */
export async function readSummaries(db: Kysely<Database>, orgId: string, onlineWindowSeconds: number, agentIds?: string[]): Promise<AgentSummary[]> {
  if (agentIds && agentIds.length === 0) return []
  const { rows } = await sql<SummaryRow>`
    select a.id, a.name, a.hostname, a.status, a.last_seen_at, a.last_metrics_at,
      ml.cpu, ml.memory, ml.load1, dk.disk, nw.net_rx, nw.net_tx
    from agents a
    left join lateral (
      select max(value) filter (where metric_type = 'cpu' and metric_name = 'usage_percent') as cpu,
             max(value) filter (where metric_type = 'memory' and metric_name = 'usage_percent') as memory,
             max(value) filter (where metric_type = 'cpu' and metric_name = 'load_avg_1') as load1
      from metrics_latest l
      where l.agent_id = a.id and l.metric_type in ('cpu', 'memory') and l.metric_name in ('usage_percent', 'load_avg_1')
        and l.tags = '{}'::jsonb) ml on true
    left join lateral (
      select max(d.usage_percent) as disk from disk_metrics d
      where d.agent_id = a.id and d.time = (select max(x.time) from disk_metrics x where x.agent_id = a.id and x.time > now() - interval '1 day')) dk on true
    left join lateral (
      select sum(n.bytes_recv_per_sec) as net_rx, sum(n.bytes_sent_per_sec) as net_tx from network_metrics n
      where n.agent_id = a.id and n.time = (select max(y.time) from network_metrics y where y.agent_id = a.id and y.time > now() - interval '1 day')) nw on true
    where a.org_id = ${orgId}::uuid ${agentIds ? sql`and a.id = any(${agentIds}::uuid[])` : sql``}
    order by a.name`.execute(db)
  const now = Date.now()
  return rows.map((r) => ({
    agent_id: r.id, name: r.name, hostname: r.hostname, status: liveStatus(r, onlineWindowSeconds, now),
    last_seen: r.last_seen_at ? r.last_seen_at.toISOString() : null,
    cpu: r.cpu, memory: r.memory, disk: r.disk, load1: r.load1, net_rx: r.net_rx, net_tx: r.net_tx,
  }))
}

/** Alerts firing now in an organization, newest first. */
export async function readFiringAlerts(db: Kysely<Database>, orgId: string, limit = 1000): Promise<AlertEvent[]> {
  const rows = await db.selectFrom('alert_events')
    .select(['id', 'rule_id', 'rule_name', 'agent_id', 'agent_name', 'severity', 'state', 'value', 'summary', 'started_at', 'resolved_at'])
    .where('org_id', '=', orgId).where('state', '=', 'firing').orderBy('started_at', 'desc').limit(limit).execute()
  return rows.map((r) => ({
    event_id: r.id, rule_id: r.rule_id, rule_name: r.rule_name, agent_id: r.agent_id, agent_name: r.agent_name,
    severity: r.severity, state: r.state as AlertEvent['state'], value: r.value, summary: r.summary,
    started_at: new Date(r.started_at).toISOString(), resolved_at: r.resolved_at ? new Date(r.resolved_at).toISOString() : null,
  }))
}
