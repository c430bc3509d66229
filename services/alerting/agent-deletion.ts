// Deleting an agent: its open alerts end, every sample it sent goes, and the audit entry is written in the
// same transaction. It lives with alerting, which may know agents; agents never import alerting.
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import { DomainError } from '../errors/domain-error.ts'
import { retireAgentAlerts } from './rules-repository.ts'
import { writeAudit, type AuditEntry } from '../audit/audit-log.ts'
import { getAgent, type AgentRow } from '../agents/agents-repository.ts'
import { forgetAgentKeys } from '../agents/agent-key-cache.ts'

/** Tables that hold an agent's samples: deleting the agent deletes them too. */
const AGENT_DATA_TABLES = ['metrics', 'metrics_latest', 'disk_metrics', 'network_metrics', 'network_traffic', 'network_traffic_daily', 'process_metrics', 'process_snapshots', 'user_sessions',
  'container_metrics', 'logs', 'ingest_batches'] as const

/**
 * Deletes an agent of the organization (by uuid or name) with its data, and writes `agent.delete` (done
 * `by` someone) in the same transaction; not_found when there is no such agent. Returns it as it was.
 */
export async function deleteAgent(db: Kysely<Database>, orgId: string, idOrName: string, by: Pick<AuditEntry, 'actor' | 'ip'>): Promise<AgentRow> {
  const agent = await getAgent(db, orgId, idOrName)
  await db.transaction().execute(async (trx) => {
    // Its open alerts end first (resolved, announced): nothing would ever close them after.
    await retireAgentAlerts(trx, orgId, agent.id, 'agent deleted', new Date())
    for (const table of AGENT_DATA_TABLES) {
      await trx.deleteFrom(table).where('org_id', '=', orgId).where('agent_id', '=', agent.id).execute()
    }
    const gone = await trx.deleteFrom('agents').where('id', '=', agent.id).where('org_id', '=', orgId).executeTakeFirst()
    // Deleted meanwhile by another request: that one answered 204 and wrote the audit entry.
    if (gone.numDeletedRows === 0n) throw new DomainError('not_found', `Agent "${idOrName}" not found`)
    await writeAudit(trx, { orgId, action: 'agent.delete', actor: by.actor, target: { type: 'agent', id: agent.id }, ip: by.ip, details: { name: agent.name } })
  })
  forgetAgentKeys(db)
  return agent
}
