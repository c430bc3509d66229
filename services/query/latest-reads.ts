// The newest value of every series of an agent, as ingest keeps it in metrics_latest.
import { sql, type Kysely, type Selectable } from 'kysely'
import type { Database, MetricsLatestTable } from '../store/database.ts'

export type LatestMetric = Pick<Selectable<MetricsLatestTable>, 'time' | 'metric_type' | 'metric_name' | 'value' | 'tags'>

/** How far before the agent's newest sample "latest" looks for each series' last value. */
const LATEST_WINDOW = '15 minutes'

/**
 * Newest first, at most `limit` rows; series silent for LATEST_WINDOW before the agent's newest sample
 * (`newestAt`, its last_metrics_at) are gone from "latest" (a removed disk, a stopped process).
 */
export async function readLatestMetrics(db: Kysely<Database>, req: {
  orgId: string; agentId: string; newestAt: Date | null; limit: number
}): Promise<LatestMetric[]> {
  if (!req.newestAt) return []
  return db.selectFrom('metrics_latest')
    .select(['time', 'metric_type', 'metric_name', 'value', 'tags'])
    .where('org_id', '=', req.orgId).where('agent_id', '=', req.agentId)
    .where('time', '>', sql<Date>`${req.newestAt}::timestamptz - ${LATEST_WINDOW}::interval`)
    .orderBy('time', 'desc').orderBy('metric_type').orderBy('metric_name').limit(req.limit).execute()
}
