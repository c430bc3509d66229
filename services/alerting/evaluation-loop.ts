// The evaluation loop: every tick, the enabled rules that are due are evaluated, each in its own short
// transaction (evaluate-rule.ts), so ingest never waits behind a whole cycle; on a server several rules at
// once (`concurrency`, each on its own pooled connection), on the embedded engine's one session one by
// one. New data makes an organization's rules due at once (debounced), so a `for: 0s` rule fires about a
// second after the ingest that crosses its threshold. Several instances may run this loop on one database: a per-rule advisory
// lock plus a re-check of last_evaluated_at under it lets exactly one evaluate a rule, and whichever
// instance is alive picks up due rules, so a dead instance is replaced within one interval.
import { sql, type Kysely } from 'kysely'
import type { FastifyBaseLogger } from 'fastify'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { Database } from '../store/database.ts'
import type { RetentionDays } from '../query/resolution-for-range.ts'
import { evaluateRule, recordEvaluationError } from './evaluate-rule.ts'
import { isDatabaseUnavailable } from '../store/database-unavailable.ts'

export interface EvaluationLoopOptions {
  /** How often due rules are looked for; default 1 s. */
  tickMs?: number
  /** How long after an ingest the organization's rules are evaluated (more ingests meanwhile join); default 500 ms. */
  ingestDebounceMs?: number
  /**
   * New data makes a rule due again only this long after its last evaluation (or its interval, if shorter);
   * default 2 s. A fleet sends data all the time: without it, every rule would be evaluated back to back.
   */
  dataTriggerGapMs?: number
  /**
   * The share of time data-triggered evaluation may take: when cycles get long (a large fleet on the embedded
   * engine's one session), the data trigger's gap widens to cycle × (1 − share) / share, never past a rule's
   * interval; default 0.1. Scheduled evaluation (each rule's interval) is not affected.
   */
  dataTriggerShare?: number
  retentionDays?: RetentionDays
  /** Rules evaluated at the same time, each in its own transaction; default 1. */
  concurrency?: number
  /**
   * Absence rules (agent.offline, no_data, process.absent) are not judged until this long after the loop
   * started or the database came back: agents first deliver what they buffered while they could not.
   * Default 0.
   */
  absenceGraceMs?: number
  /** The clock (tests move it). */
  clock?: () => Date
}

/** Rule kinds that fire on missing data, so must not judge while agents still hold theirs. */
const ABSENCE_KINDS = ['agent_offline', 'no_data', 'process_absent']

export interface CycleResult {
  rules: number
  evaluated: number
  errors: number
  opened: number
  closed: number
  notifications: number
  ms: number
}

export interface EvaluationMetrics {
  cycleSeconds: Histogram
  rulesEvaluated: Counter
  errors: Counter
  dataTriggerGap: Gauge
}

/** The loop's Prometheus metrics on the app's registry (firing alerts are counted when scraped). */
export function registerEvaluationMetrics(registry: Registry, db: Kysely<Database>): EvaluationMetrics {
  new Gauge({
    name: 'hostpulse_alerts_firing', help: 'Alerts (rule × agent × series) firing now', registers: [registry],
    async collect() {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from alert_states where state = 'firing'`.execute(db).catch(() => ({ rows: [] }))
      if (rows[0]) this.set(Number(rows[0].n))
    },
  })
  return {
    cycleSeconds: new Histogram({
      name: 'hostpulse_alert_evaluation_seconds', help: 'Time to evaluate the due rules, per cycle that had any', registers: [registry],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
    rulesEvaluated: new Counter({ name: 'hostpulse_alert_rules_evaluated_total', help: 'Rule evaluations completed', registers: [registry] }),
    errors: new Counter({ name: 'hostpulse_alert_evaluation_errors_total', help: 'Rule evaluations that failed (see the rule\'s last_evaluation_error)', registers: [registry] }),
    dataTriggerGap: new Gauge({
      name: 'hostpulse_alert_data_trigger_gap_seconds', registers: [registry],
      help: 'How soon after its last evaluation new data makes a rule due again (widens when cycles are long; never past the rule\'s interval)',
    }),
  }
}

interface DueRule { id: string; org_id: string; interval_seconds: number }

export class EvaluationLoop {
  private timer?: NodeJS.Timeout
  private debounce?: NodeJS.Timeout
  private running?: Promise<CycleResult>
  private again = false
  private stopped = false
  /**
   * Organizations' newest data: their rules are due if last evaluated before it (and at least the data
   * trigger's gap ago). Kept until a newer time replaces it, so data that came within the gap still counts.
   */
  private freshData = new Map<string, Date>()
  private readonly clock: () => Date
  /** Absence rules wait until then (ms on the clock); set at start and when the database is back. */
  private holdAbsenceUntil = -Infinity
  /** The database could not be reached in the last cycle: nothing is judged on what it did not say. */
  private databaseDown = false
  private lostThisCycle = false
  /** Recent cycles' length (ms, a moving average over cycles that had due rules): widens the data trigger's gap. */
  private cycleMs = 0

  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: FastifyBaseLogger,
    private readonly metrics?: EvaluationMetrics,
    private readonly opts: EvaluationLoopOptions = {},
  ) {
    this.clock = opts.clock ?? (() => new Date())
  }

  start(): void {
    this.stopped = false
    this.holdAbsenceUntil = this.clock().getTime() + (this.opts.absenceGraceMs ?? 0)
    this.timer = setInterval(() => this.tick(), this.opts.tickMs ?? 1000)
    this.timer.unref()
    this.tick()
  }

  /** Stops ticking and waits for a cycle in progress. */
  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    clearTimeout(this.debounce)
    await this.running?.catch(() => undefined)
  }

  /** New data from an organization: evaluate its rules soon (ingest feed listener). */
  dataArrived(orgId: string): void {
    const at = this.clock()
    const known = this.freshData.get(orgId)
    if (!known || known < at) this.freshData.set(orgId, at)
    if (this.debounce || this.stopped) return
    this.debounce = setTimeout(() => { this.debounce = undefined; this.tick() }, this.opts.ingestDebounceMs ?? 500)
    this.debounce.unref()
  }

  private tick(): void {
    if (this.stopped) return
    if (this.running) { this.again = true; return }
    this.running = this.runCycle()
      .then((result) => {
        if (this.databaseDown && !this.lostThisCycle) this.databaseBack()
        return result
      })
      .catch((err: Error) => {
        if (isDatabaseUnavailable(err)) this.databaseLost(err)
        else this.log.error({ err: err.message }, 'alert evaluation cycle failed')
        return undefined as unknown as CycleResult
      })
      .finally(() => {
        this.running = undefined
        if (this.again && !this.stopped) { this.again = false; this.tick() }
      })
  }

  private databaseLost(err: unknown): void {
    if (!this.databaseDown) this.log.warn({ err: (err as Error).message }, 'database unreachable: alert evaluation paused; no rule fires or resolves until it is back')
    this.databaseDown = true
    this.lostThisCycle = true
  }

  private databaseBack(): void {
    this.databaseDown = false
    const grace = this.opts.absenceGraceMs ?? 0
    this.holdAbsenceUntil = this.clock().getTime() + grace
    this.log.warn(`database reachable again: alert evaluation resumed${grace > 0 ? `; absence rules wait ${grace / 1000} s for agents to deliver what they buffered` : ''}`)
  }

  /** One cycle: every due rule, each in its own transaction; one failing rule never stops the others. */
  async runCycle(): Promise<CycleResult> {
    const started = performance.now()
    this.lostThisCycle = false
    const fresh = new Map(this.freshData)
    const gapSeconds = this.dataTriggerGapMs() / 1000
    const now = this.clock()
    const orgs = [...fresh.keys()]
    const times = orgs.map((o) => fresh.get(o)!)
    // While the database was last seen down, this cycle may be the first to reach it again: no absence yet.
    const holdAbsence = this.databaseDown || now.getTime() < this.holdAbsenceUntil
    const { rows: due } = await sql<DueRule>`
      select r.id, r.org_id, r.interval_seconds from alert_rules r
      where r.enabled and (r.last_evaluated_at is null
        or r.last_evaluated_at <= ${now}::timestamptz - make_interval(secs => r.interval_seconds)
        ${orgs.length > 0 ? sql`or exists (select 1 from unnest(${orgs}::uuid[], ${times}::timestamptz[]) f(org_id, at)
          where f.org_id = r.org_id and r.last_evaluated_at < f.at
            and r.last_evaluated_at <= ${now}::timestamptz - make_interval(secs => least(r.interval_seconds, ${gapSeconds}::float8)))` : sql``})
        ${holdAbsence ? sql`and r.kind <> all(${ABSENCE_KINDS}::text[])` : sql``}
      order by r.last_evaluated_at nulls first`.execute(this.db)
    const result: CycleResult = { rules: due.length, evaluated: 0, errors: 0, opened: 0, closed: 0, notifications: 0, ms: 0 }
    // Workers take the next due rule until none is left (oldest evaluation first).
    let next = 0
    const worker = async () => {
      while (next < due.length && !this.stopped) await this.evaluateDue(due[next++], fresh, result)
    }
    const workers = Math.max(1, Math.min(this.opts.concurrency ?? 1, due.length))
    await Promise.all(Array.from({ length: workers }, worker))
    result.ms = performance.now() - started
    if (due.length > 0) {
      this.metrics?.cycleSeconds.observe(result.ms / 1000)
      // From 0, so one slow cycle (a cold start) widens the gap by a fifth of its length only.
      this.cycleMs = 0.8 * this.cycleMs + 0.2 * result.ms
      this.metrics?.dataTriggerGap.set(this.dataTriggerGapMs() / 1000)
    }
    return result
  }

  /**
   * How long after a rule's last evaluation new data makes it due again: the configured gap, widened so that
   * data-triggered cycles take at most their share of the time (cycles of 400 ms at a share of 0.1: 3.6 s).
   */
  dataTriggerGapMs(): number {
    const share = Math.min(1, Math.max(0.01, this.opts.dataTriggerShare ?? 0.1))
    return Math.max(this.opts.dataTriggerGapMs ?? 2000, Math.round(this.cycleMs * (1 - share) / share))
  }

  /** One due rule; its outcome (or failure) is added to `result`. One failing rule never stops the others. */
  private async evaluateDue(rule: DueRule, fresh: Map<string, Date>, result: CycleResult): Promise<void> {
    const at = this.clock()
    // Due by schedule, or because data arrived after its last evaluation: whichever is later must be beaten.
    let staleBefore = new Date(at.getTime() - rule.interval_seconds * 1000 + 1)
    const dataAt = fresh.get(rule.org_id)
    if (dataAt && dataAt > staleBefore) staleBefore = dataAt
    const failed = (message: string) => {
      result.errors++
      this.metrics?.errors.inc()
      this.log.warn({ rule_id: rule.id, err: message }, 'alert rule evaluation failed')
    }
    try {
      const outcome = await evaluateRule(this.db, rule.id, at, staleBefore, this.opts.retentionDays)
      if (!outcome.evaluated) return
      if (outcome.error !== undefined) return failed(outcome.error) // recorded on the rule already
      result.evaluated++
      result.opened += outcome.opened
      result.closed += outcome.closed
      result.notifications += outcome.notifications
      this.metrics?.rulesEvaluated.inc()
    } catch (err) {
      if (isDatabaseUnavailable(err)) { result.errors++; this.databaseLost(err); return }
      failed((err as Error).message)
      await recordEvaluationError(this.db, rule.id, at, err).catch(() => undefined)
    }
  }
}
