// A rule evaluated once without storing it: what the page's rule form shows while it is being written.
// The body is validated exactly as a create (a 400 names the field); the series are read as the evaluator
// reads them, and each value is judged against the thresholds (no `for`, no history: the level now).
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import { validatedRuleValues, type RuleBody, type RuleRow } from './rule-definition.ts'
import { observeRule } from './rule-query.ts'
import { levelOf } from './evaluator.ts'

export interface RulePreview {
  /** Agents the rule selects now. */
  agents: number
  /** Where the values were read (raw rows or an aggregate). */
  source: string
  series: Array<{ agent: string; tags: Record<string, string>; value: number | null; level: 'critical' | 'warning' | 'info' | null; missing: boolean }>
}

/** Series shown at most; the rest are counted in `agents`. */
const MAX_PREVIEW_SERIES = 200

/** Thrown to roll the preview's transaction back: the rule row exists only inside it. */
class Discard extends Error {
  constructor(readonly preview: RulePreview) { super('preview') }
}

export async function previewRule(db: Kysely<Database>, orgId: string, body: RuleBody, now = new Date()): Promise<RulePreview> {
  const values = await validatedRuleValues(db, orgId, body)
  try {
    // The rule as the evaluator reads it (a stored row, defaults filled in), in a transaction never committed.
    await db.transaction().execute(async (trx) => {
      const rule = await trx.insertInto('alert_rules').values({ ...values, name: `preview ${crypto.randomUUID()}`, org_id: orgId, source: 'api' })
        .returningAll().executeTakeFirstOrThrow()
      throw new Discard(await judge(trx, rule, now))
    })
  } catch (err) {
    if (err instanceof Discard) return err.preview
    throw err
  }
  throw new Error('unreachable: the preview transaction always rolls back')
}

async function judge(db: Kysely<Database>, rule: RuleRow, now: Date): Promise<RulePreview> {
  const seen = await observeRule(db, rule, now)
  return {
    agents: seen.agents.length,
    source: seen.source,
    series: seen.series.slice(0, MAX_PREVIEW_SERIES).map((s) => {
      const o = s.observation
      const value = o.kind === 'missing' ? null : o.value
      const level = o.kind === 'value' ? levelOf(rule, o.value, null) : o.kind === 'condition' && o.holds ? rule.severity : null
      return { agent: s.agent.name, tags: s.seriesTags, value, level, missing: o.kind === 'missing' }
    }),
  }
}
