// A rule evaluated once without storing it: what the page's rule form shows while it is being written.
// The body is validated exactly as a create (a 400 names the field); the series are read as the evaluator
// reads them, and each value is judged against the thresholds (no `for`, no history: the level now).
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import { validatedRuleValues, type RuleBody, type RuleRow } from './rule-definition.ts'
import { observeRule } from './rule-query.ts'
import { levelOf } from './evaluator.ts'
import { DomainError } from '../errors/domain-error.ts'
import { checkEmptySeries, resolveSeriesTarget } from '../query/known-series.ts'
import { splitMetric, wideFamily } from '../query/series-catalog.ts'

export interface RulePreview {
  /** Agents the rule selects now. */
  agents: number
  /** Where the values were read (raw rows or an aggregate). */
  source: string
  series: Array<{ agent: string; tags: Record<string, string>; value: number | null; level: 'critical' | 'warning' | 'info' | null; missing: boolean }>
  /** When no selected series has data: why, as the series endpoint says it (an unknown metric names the known ones). */
  notice?: string
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
  const preview: RulePreview = {
    agents: seen.agents.length,
    source: seen.source,
    series: seen.series.slice(0, MAX_PREVIEW_SERIES).map((s) => {
      const o = s.observation
      const value = o.kind === 'missing' ? null : o.value
      const level = o.kind === 'value' ? levelOf(rule, o.value, null) : o.kind === 'condition' && o.holds ? rule.severity : null
      return { agent: s.agent.name, tags: s.seriesTags, value, level, missing: o.kind === 'missing' }
    }),
  }
  if (seen.agents.length > 0 && preview.series.every((s) => s.missing)) {
    const notice = await whyNoData(db, rule, seen.agents)
    if (notice) preview.notice = notice
  }
  return preview
}

/**
 * A threshold rule on the metrics table whose series have no data: the series endpoint's own answer for it
 * (a typo is "unknown metric cpu.usage_precent; known: …", not an empty preview). A rule may still be saved:
 * it can watch a metric no agent sends yet.
 */
async function whyNoData(db: Kysely<Database>, rule: RuleRow, agents: Array<{ id: string; name: string }>): Promise<string | undefined> {
  if (rule.kind !== 'threshold' || wideFamily(splitMetric(rule.metric).type)) return undefined
  const scope = { orgId: rule.org_id, agents: agents.map((a) => ({ id: a.id, name: a.name })) }
  try {
    await checkEmptySeries(db, scope, await resolveSeriesTarget(db, scope, rule.metric, rule.tags))
    return undefined
  } catch (err) {
    if (err instanceof DomainError) return err.message
    throw err
  }
}
