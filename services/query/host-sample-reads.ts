// An agent's samples as one row per collection instant (seed 003's host metrics): CPU and memory from the
// metric series, the fullest filesystem and the summed interface counters at the same instant. An instant
// is a time at which the agent reported cpu.usage_percent or memory.usage_percent.
import { sql, type Kysely } from 'kysely'
import type { Database } from '../store/database.ts'

export interface HostSample {
  agent_id: string
  time: Date
  cpu_usage: number | null
  memory_usage: number | null
  memory_total: number | null
  memory_used: number | null
  /** The highest usage_percent of the agent's filesystems at that instant (as the live summaries show disk). */
  disk_usage: number | null
  /** Bytes received and sent, summed over the agent's interfaces (counters since boot). */
  network_in: number | null
  network_out: number | null
}

export interface HostSampleQuery { orgId: string; agentId?: string; start: Date; end: Date; limit: number; offset: number }

function instants(q: HostSampleQuery) {
  return sql`select distinct agent_id, time from metrics
    where org_id = ${q.orgId}::uuid ${q.agentId ? sql`and agent_id = ${q.agentId}::uuid` : sql``}
      and time >= ${q.start} and time < ${q.end} and tags = '{}'::jsonb
      and metric_name = 'usage_percent' and metric_type in ('cpu', 'memory')`
}

/** A page of samples in [start, end), newest first, and how many there are. */
export async function listHostSamples(db: Kysely<Database>, q: HostSampleQuery): Promise<{ samples: HostSample[]; total: number }> {
  const { rows: [{ total }] } = await sql<{ total: number }>`select count(*)::int as total from (${instants(q)}) i`.execute(db)
  const { rows } = await sql<HostSample>`
    select i.agent_id, i.time, m.cpu_usage, m.memory_usage, m.memory_total, m.memory_used, d.disk_usage, n.network_in, n.network_out
    from (${instants(q)} order by time desc, agent_id limit ${q.limit} offset ${q.offset}) i
    left join lateral (
      select max(value) filter (where metric_type = 'cpu' and metric_name = 'usage_percent') as cpu_usage,
             max(value) filter (where metric_type = 'memory' and metric_name = 'usage_percent') as memory_usage,
             max(value) filter (where metric_type = 'memory' and metric_name = 'total_bytes') as memory_total,
             max(value) filter (where metric_type = 'memory' and metric_name = 'used_bytes') as memory_used
      from metrics m
      where m.org_id = ${q.orgId}::uuid and m.agent_id = i.agent_id and m.time = i.time and m.tags = '{}'::jsonb
        and m.metric_type in ('cpu', 'memory')) m on true
    left join lateral (
      select max(usage_percent) as disk_usage from disk_metrics d
      where d.org_id = ${q.orgId}::uuid and d.agent_id = i.agent_id and d.time = i.time) d on true
    left join lateral (
      select sum(bytes_recv)::float8 as network_in, sum(bytes_sent)::float8 as network_out from network_metrics n
      where n.org_id = ${q.orgId}::uuid and n.agent_id = i.agent_id and n.time = i.time) n on true
    order by i.time desc, i.agent_id`.execute(db)
  return { samples: rows, total: Number(total) }
}
