// Which outbox rows mean a channel heard (or is about to hear) of an alert's firing. An alert's end is owed to
// exactly those channels: the evaluator queues `resolved` for them (services/alerting/outbox.ts) and the
// dispatcher supersedes a `resolved` row for any other (outbox-dispatcher.ts). One rule, written once.
import { sql, type RawBuilder } from 'kysely'

/** True for a row (by its alias in the query) of a firing or repeat that was delivered or is still on its way. */
export function toldOfFiring(alias: string): RawBuilder<boolean> {
  const row = sql.ref(alias)
  return sql<boolean>`(${row}.kind <> 'resolved' and ${row}.status in ('delivered', 'pending', 'sending'))`
}
