// Rules as code: a YAML or JSON file `{ rules: [ …rule JSON as POSTed… ] }` loaded at start into one
// organization. Rules are matched by name: new ones are created, changed ones updated, and rules the file
// made before but no longer lists are removed. They get source 'file', which the API will not change.
// Any problem stops the load with every error listed (file, rule index and name, field); nothing is written.
import { readFile } from 'node:fs/promises'
import type { FastifyBaseLogger } from 'fastify'
import { sql, type Kysely } from 'kysely'
import { Compile } from 'typebox/compile'
import { parse as parseYaml } from 'yaml'
import { validationDetails } from '../errors/validation-issues.ts'
import type { Database } from '../store/database.ts'
import { RuleBody, RuleProblem, resolveChannels, ruleValues, type RuleRow, type RuleValues } from './rule-definition.ts'
import { canonicalJson, retireRuleAlerts, selectionChanged } from './rules-repository.ts'
import { lockRuleAlerts } from './evaluate-rule.ts'

export interface RulesFileResult { created: number; updated: number; removed: number }

export class RulesFileError extends Error {
  constructor(readonly path: string, readonly problems: string[]) {
    super(`invalid rules file ${path}:\n${problems.map((p) => `  ${p}`).join('\n')}\nFix the file (see README: alert rules as code) and start again.`)
    this.name = 'RulesFileError'
  }
}

const checkRule = Compile(RuleBody)
const MAX_RULES = 5000

/** Parses and validates the file: its rules' column values, or every problem found. */
async function readRules(db: Kysely<Database>, path: string, orgId: string): Promise<RuleValues[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new RulesFileError(path, [`cannot be read: ${(err as Error).message}`])
  }
  let doc: unknown
  try {
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true })
  } catch (err) {
    throw new RulesFileError(path, [`is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`])
  }
  const rules = (doc as { rules?: unknown } | null)?.rules
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || !Array.isArray(rules)) {
    throw new RulesFileError(path, ['must be an object with a "rules" list: { rules: [ {name, metric, …}, … ] }'])
  }
  if (rules.length > MAX_RULES) throw new RulesFileError(path, [`holds ${rules.length} rules; at most ${MAX_RULES}`])
  const problems: string[] = []
  const out: RuleValues[] = []
  const seen = new Map<string, number>()
  for (const [i, body] of rules.entries()) {
    const name = (body as { name?: unknown } | null)?.name
    const where = `rules[${i}]${typeof name === 'string' ? ` ("${name}")` : ''}`
    if (!checkRule.Check(body)) {
      const details = validationDetails([...checkRule.Errors(body)] as never)
      for (const [field, messages] of Object.entries(details)) problems.push(`${where}: ${field} ${messages[0]}`)
      continue
    }
    try {
      const parsed = ruleValues(body)
      const values = { ...parsed, channels: await resolveChannels(db, orgId, body.channels ?? []) }
      const first = seen.get(values.name)
      if (first !== undefined) throw new RuleProblem('name', `repeats the name of rules[${first}]: names must be unique`)
      seen.set(values.name, i)
      out.push(values)
    } catch (err) {
      if (!(err instanceof RuleProblem)) throw err
      problems.push(`${where}: ${err.field} ${err.problem}`)
    }
  }
  if (problems.length > 0) throw new RulesFileError(path, problems)
  return out
}

/** Advisory lock taken while a rules file is loaded ("hprf"). */
const RULES_FILE_LOCK = 0x68_70_72_66

/** Console output for loadRulesFile at start: its messages with the rule they concern (never "[object Object]"). */
export function rulesFileConsoleLog(say: (line: string) => void): Pick<FastifyBaseLogger, 'info' | 'warn'> {
  const line = (obj: unknown, msg?: unknown): string => {
    if (typeof obj === 'string') return obj
    const rule = (obj as { rule?: unknown } | null)?.rule
    return `${typeof msg === 'string' ? msg : ''}${typeof rule === 'string' ? `: ${rule}` : ''}`
  }
  return { info: () => {}, warn: ((obj: unknown, msg?: unknown) => say(line(obj, msg))) as FastifyBaseLogger['warn'] }
}

function unchanged(row: RuleRow, values: RuleValues): boolean {
  const stored = row as unknown as Record<string, unknown>
  const jsonColumns = new Set(['labels', 'tags', 'annotations'])
  return Object.entries(values).every(([k, v]) => canonicalJson(stored[k]) === canonicalJson(v, jsonColumns.has(k)))
}

/**
 * Loads `path` into organization `orgId`; throws RulesFileError (nothing written) on any problem.
 * An API-made rule with a name the file uses is taken over by the file (and logged).
 */
export async function loadRulesFile(db: Kysely<Database>, path: string, orgId: string, log: Pick<FastifyBaseLogger, 'info' | 'warn'>): Promise<RulesFileResult> {
  const wanted = await readRules(db, path, orgId)
  const now = new Date()
  const result = await db.transaction().execute(async (trx) => {
    // Instances starting together load one after the other (the later ones find nothing to change).
    await sql`select pg_advisory_xact_lock(${RULES_FILE_LOCK})`.execute(trx)
    const existing = new Map((await trx.selectFrom('alert_rules').selectAll().where('org_id', '=', orgId).execute()).map((r) => [r.name, r]))
    const counts: RulesFileResult = { created: 0, updated: 0, removed: 0 }
    const names = new Set(wanted.map((v) => v.name))
    const changes = wanted.map((values) => {
      const current = existing.get(values.name)
      const skip = current !== undefined && current.source === 'file' && unchanged(current, values)
      return { values, current, skip, retire: current !== undefined && !skip && (!values.enabled || selectionChanged(current, values)) }
    })
    const removed = [...existing.values()].filter((row) => row.source === 'file' && !names.has(row.name))
    // Every rule whose alerts end here is locked first, in id order (as an agent deletion takes several),
    // before any row is written: two transactions taking several never wait on each other in a circle.
    const retiring = [...changes.filter((c) => c.retire).map((c) => c.current!.id), ...removed.map((row) => row.id)]
    for (const id of retiring.sort()) await lockRuleAlerts(trx, id)
    for (const { values, current, skip, retire } of changes) {
      if (!current) {
        await trx.insertInto('alert_rules').values({ ...values, org_id: orgId, source: 'file' }).execute()
        counts.created++
        continue
      }
      if (skip) continue
      if (current.source === 'api') log.warn({ rule: values.name }, 'alert rule made through the API is now managed by the rules file')
      if (retire) await retireRuleAlerts(trx, current.id, 'rule changed in the rules file', now)
      await trx.updateTable('alert_rules').set({ ...values, source: 'file', updated_at: now }).where('id', '=', current.id).execute()
      counts.updated++
    }
    for (const row of removed) {
      await retireRuleAlerts(trx, row.id, 'rule removed from the rules file', now)
      await trx.deleteFrom('alert_rules').where('id', '=', row.id).execute()
      counts.removed++
    }
    return counts
  })
  log.info({ path, ...result, rules: wanted.length }, 'alert rules file loaded')
  return result
}
