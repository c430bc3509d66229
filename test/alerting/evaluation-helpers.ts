// Shared by the alert rule and evaluation tests: channels inserted directly (the channel API is tested on
// its own), a rule body like the issue's, and a wait-for-condition with a deadline.
import type { Kysely, KyselyPlugin } from 'kysely'
import type { Database } from '../../services/store/database.ts'

/** A notification channel row in `orgId` (the config is never read here). */
export async function addChannel(db: Kysely<Database>, orgId: string, name: string, enabled = true): Promise<string> {
  const row = await db.insertInto('notification_channels').values({
    org_id: orgId, name, type: 'webhook', config: JSON.stringify({ url: 'https://hooks.example.com/x', secret: 's3cret' }), enabled,
  }).returning('id').executeTakeFirstOrThrow()
  return row.id
}

/** The issue's rule JSON, with overrides. */
export function issueRule(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'High CPU', metric: 'cpu.usage_percent', aggregation: 'avg', window: '1m', condition: '>',
    threshold: 90, warning_threshold: 75, recovery_threshold: 85, for: '30s', severity: 'critical',
    agents: ['server-001'], labels: {}, tags: {}, channels: [], repeat_interval: '1h',
    notify_on_resolve: true, enabled: true, annotations: { summary: 'CPU {{value}}% on {{agent}}' },
    ...overrides,
  }
}

export { waitFor } from '../wait-for.ts'

/** A Fastify logger that says nothing (the evaluation loop outside an app). */
export const silentLog = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, fatal() {}, child() { return silentLog }, level: 'silent', silent() {} } as never

/**
 * `db` with every query it runs recorded as JSON of its operation tree (SQL text and parameters), in order,
 * and an optional rewrite of results: a single embedded connection cannot race two transactions, so tests
 * check the locks a change takes, and stage a concurrent change by editing what a read returned.
 */
export function recordingDb(db: Kysely<Database>, rewrite?: (query: string, rows: Record<string, unknown>[]) => void) {
  const queries: string[] = []
  const byId = new WeakMap<object, string>()
  const plugin: KyselyPlugin = {
    transformQuery(args) {
      const text = JSON.stringify(args.node)
      queries.push(text)
      byId.set(args.queryId, text)
      return args.node
    },
    async transformResult(args) {
      if (rewrite) rewrite(byId.get(args.queryId) ?? '', args.result.rows as Record<string, unknown>[])
      return args.result
    },
  }
  return { db: db.withPlugin(plugin), queries }
}

/** Index of the first recorded query taking the rule evaluation lock of `ruleId` (-1: none). */
export function ruleLockAt(queries: string[], namespace: number, ruleId: string): number {
  return queries.findIndex((q) => q.includes('pg_advisory_xact_lock') && q.includes(`"value":${namespace}`) && q.includes(`"value":"${ruleId}"`))
}
