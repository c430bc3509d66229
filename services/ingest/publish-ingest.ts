// After a committed ingest: tell the feed's listeners (live view, evaluator) which agent has new data.
import type { IngestAccepted, IngestBatch } from '../../contract/ingest-batch.ts'
import type { IngestFeed } from '../bus/ingest-bus.ts'

export function publishIngest(feed: IngestFeed, agent: { id: string; org_id: string; name: string }, batches: IngestBatch[], result: IngestAccepted): void {
  if (result.accepted_batches === 0) return
  let newest = batches[0].time
  for (const b of batches) if (b.time > newest) newest = b.time
  feed.publish({ orgId: agent.org_id, agentId: agent.id, agentName: agent.name, time: newest })
}
