// The newest value of every series of an agent, as ingest keeps it in metrics_latest.
import { sql, type Kysely, type Selectable } from 'kysely'
import type { Database, MetricsLatestTable } from '../store/database.ts'
import { agentNamed } from '../agents/agents-repository.ts'

export type LatestMetric = Pick<Selectable<MetricsLatestTable>, 'time' | 'metric_type' | 'metric_name' | 'value' | 'tags'>

/** How far before the agent's newest sample "latest" looks for each series' last value. */
const LATEST_WINDOW = '15 minutes'

/**
 * The agent `idOrName` names and its series' newest values, newest first, at most `limit` rows, in one
 * statement (on the embedded engine each statement is a trip to the engine's thread); undefined when there is
 * no such agent. Series silent for LATEST_WINDOW before the agent's newest sample (its last_metrics_at) are gone
 * from "latest" (a removed disk, a stopped process).
 */
export async function readAgentLatest(db: Kysely<Database>, req: { orgId: string; idOrName: string; limit: number }): Promise<{ agentName: string; rows: LatestMetric[] } | undefined> {
  const agent = agentNamed(db, req.orgId, req.idOrName).select(['id', 'org_id', 'name', 'last_metrics_at']).limit(1)
  const { rows } = await sql<LatestMetric & { agent_name: string }>`
    with a as (${agent})
    select a.name as agent_name, l.time, l.metric_type, l.metric_name, l.value, l.tags
    from a left join lateral (
      select time, metric_type, metric_name, value, tags from metrics_latest m
      where m.org_id = a.org_id and m.agent_id = a.id and m.time > a.last_metrics_at - ${LATEST_WINDOW}::interval
      order by time desc, metric_type, metric_name limit ${req.limit}
    ) l on true`.execute(db)
  if (rows.length === 0) return undefined
  // An agent without a value in the window: one row, of nulls but its name.
  return { agentName: rows[0].agent_name, rows: rows[0].time === null ? [] : rows.map(({ agent_name: _, ...r }) => r as LatestMetric) }
}
