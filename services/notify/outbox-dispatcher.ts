// The notify stage: reads the outbox (alert_notifications, written by the evaluator) and delivers it.
// Each poll claims due rows in one statement (FOR UPDATE SKIP LOCKED: two instances never take the same
// row), sends each group (same organization, channel, kind and group_key) as ONE message, concurrently and
// without waiting for earlier sends, and records the outcome: delivered, or back to pending with a
// backoff, or failed after the last attempt. While a row is 'sending', next_attempt_at is its lease:
// a row whose lease ran out (its instance crashed) is claimed again, counting the lost attempt.
// A firing or repeat row never goes out after its alert was resolved (or, for a repeat, acknowledged):
// it is marked 'superseded'; a resolved row waits while a firing row of its event × channel is in flight,
// so a channel never ends on "firing" after "resolved", and is superseded when its channel got no firing
// or repeat of the event, so a channel never hears of the end of something it never heard of.
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { sql, type Kysely } from 'kysely'
import type { FastifyBaseLogger } from 'fastify'
import type { Database, NotificationKind } from '../store/database.ts'
import { buildAlertMessage } from './alert-message.ts'
import type { SendFunction } from './senders.ts'
import { DeliveryError, excerpt, type SendContext } from './send-context.ts'
import type { NotifyMetrics } from './notify-metrics.ts'
import { toldOfFiring } from './told-of-firing.ts'

export interface DispatcherSettings {
  /** How often the outbox is polled. */
  pollIntervalMs: number
  /** Deadline of one send (connect, TLS, request, answer). */
  sendTimeoutMs: number
  /** Attempts per row before it is marked failed. */
  maxAttempts: number
  /** Backoff after the n-th failed attempt: retryBaseMs · 2^(n-1), at most retryMaxMs. */
  retryBaseMs: number
  retryMaxMs: number
  /** Rows claimed per poll. */
  claimBatchSize: number
  /** Messages in flight at once; a poll claims at most the free slots' worth of groups. */
  maxConcurrentSends: number
  /** Messages in flight at once to one channel: a hanging channel cannot take every slot (its other groups wait). */
  maxConcurrentSendsPerChannel: number
  /** On close, in-flight sends get this long to finish before they are abandoned (their rows go back to pending). */
  closeGraceMs: number
}

export const DEFAULT_DISPATCHER_SETTINGS: DispatcherSettings = {
  pollIntervalMs: 500, sendTimeoutMs: 10_000, maxAttempts: 6, retryBaseMs: 1000, retryMaxMs: 300_000,
  claimBatchSize: 500, maxConcurrentSends: 32, maxConcurrentSendsPerChannel: 4, closeGraceMs: 5000,
}

export interface DispatcherDeps {
  db: Kysely<Database>
  send: SendFunction
  /** Everything a sender needs but the deadline and the shutdown signal. */
  context: Omit<SendContext, 'timeoutMs' | 'signal'>
  publicUrl?: string
  metrics?: NotifyMetrics
  log: FastifyBaseLogger
}

interface ClaimedRow {
  id: string; org_id: string; event_id: string; rule_id: string | null; channel_id: string | null
  channel_name: string; kind: NotificationKind; attempts: number; group_key: string
}

const EVENT_COLUMNS = ['id', 'rule_id', 'rule_name', 'agent_id', 'agent_name', 'series_key', 'series_tags', 'severity', 'state',
  'value', 'threshold', 'summary', 'started_at', 'resolved_at', 'acknowledged_at', 'ack_expires_at'] as const

const SUPERSEDED_BY_RESOLVE = 'superseded: the alert was resolved before this notification was sent'
const SUPERSEDED_BY_ACK = 'superseded: the alert was acknowledged before this repeat was sent'
const SUPERSEDED_UNHEARD = 'superseded: this channel never got the firing notification, so it is not told of the end'

export class OutboxDispatcher {
  private timer: NodeJS.Timeout | undefined
  private tick: Promise<void> = Promise.resolve()
  private running = false
  private readonly inFlight = new Set<Promise<void>>()
  /** Sends in flight per channel id ('' for rows whose channel was deleted). */
  private readonly inFlightByChannel = new Map<string, number>()
  private readonly shutdown = new AbortController()

  constructor(private readonly deps: DispatcherDeps, private readonly settings: DispatcherSettings = DEFAULT_DISPATCHER_SETTINGS) {}

  /** A 'sending' row whose instance has not recorded an outcome by then is taken to be lost. */
  private get leaseMs(): number { return this.settings.sendTimeoutMs * 2 + 30_000 }

  start(): void {
    if (this.running) return
    this.running = true
    this.schedule(0)
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.tick = this.runOnce().then(() => undefined, (err: Error) => {
        this.deps.log.error({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'notification outbox poll failed')
      }).finally(() => { if (this.running) this.schedule(this.settings.pollIntervalMs) })
    }, delayMs)
    this.timer.unref()
  }

  /** Claims due rows and starts sending their groups; returns the number of messages started. */
  async runOnce(): Promise<number> {
    const freeSlots = this.settings.maxConcurrentSends - this.inFlight.size
    if (freeSlots <= 0 || this.shutdown.signal.aborted) return 0
    await this.supersedeStale()
    const rows = await this.claim(freeSlots)
    const groups = new Map<string, ClaimedRow[]>()
    for (const r of rows) {
      const key = JSON.stringify([r.org_id, r.channel_id, r.kind, r.group_key])
      const group = groups.get(key)
      if (group) group.push(r)
      else groups.set(key, [r])
    }
    for (const group of groups.values()) {
      const channelKey = group[0].channel_id ?? ''
      this.inFlightByChannel.set(channelKey, (this.inFlightByChannel.get(channelKey) ?? 0) + 1)
      const p = this.deliver(group).catch((err: Error) => {
        this.deps.log.error({ err: { message: err.message }, channel_id: group[0].channel_id }, 'recording a notification outcome failed')
      }).finally(() => {
        this.inFlight.delete(p)
        const left = (this.inFlightByChannel.get(channelKey) ?? 1) - 1
        if (left > 0) this.inFlightByChannel.set(channelKey, left)
        else this.inFlightByChannel.delete(channelKey)
      })
      this.inFlight.add(p)
    }
    return groups.size
  }

  /** Resolves when nothing is being sent (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
  }

  /** Stops polling; lets in-flight sends finish for closeGraceMs, then abandons the rest (back to pending). */
  async stop(): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    await this.tick
    let graceTimer: NodeJS.Timeout | undefined
    const grace = new Promise<void>((resolve) => { graceTimer = setTimeout(resolve, this.settings.closeGraceMs) })
    await Promise.race([this.idle(), grace])
    clearTimeout(graceTimer)
    if (this.inFlight.size > 0) {
      this.shutdown.abort()
      await this.idle()
    }
  }

  /**
   * Pending firing/repeat rows whose alert was resolved (repeats: or acknowledged) are not sent, whenever
   * they are due: a resolved row waiting on them (see claim) need not wait out their backoff. Then a
   * resolved row whose channel got no firing or repeat of its event (none delivered, none still on its
   * way) is not sent either: nobody hears of the end of something they never heard of.
   */
  private async supersedeStale(): Promise<void> {
    await sql`
      update alert_notifications n
      set status = 'superseded', next_attempt_at = now(),
          last_error = case when e.state = 'resolved' then ${SUPERSEDED_BY_RESOLVE} else ${SUPERSEDED_BY_ACK} end
      from alert_events e
      where e.id = n.event_id and n.status = 'pending' and n.kind in ('firing', 'repeat')
        and (e.state = 'resolved'
          or (n.kind = 'repeat' and e.acknowledged_at is not null and (e.ack_expires_at is null or e.ack_expires_at > now())))`.execute(this.deps.db)
    await sql`
      update alert_notifications n
      set status = 'superseded', next_attempt_at = now(), last_error = ${SUPERSEDED_UNHEARD}
      where n.status = 'pending' and n.kind = 'resolved'
        and not exists (
          select 1 from alert_notifications f
          where f.event_id = n.event_id and f.channel_id is not distinct from n.channel_id and ${toldOfFiring('f')})`.execute(this.deps.db)
  }

  /**
   * Claims the rows of at most `freeSlots` groups, at most maxConcurrentSendsPerChannel groups in flight per
   * channel (channels already at their cap are not even scanned). A resolved row is not due while a
   * firing/repeat row of its event × channel is pending or sending.
   */
  private async claim(freeSlots: number): Promise<ClaimedRow[]> {
    const perChannel = this.settings.maxConcurrentSendsPerChannel
    const busy = Object.fromEntries(this.inFlightByChannel)
    const full = [...this.inFlightByChannel].filter(([id, n]) => id !== '' && n >= perChannel).map(([id]) => id)
    const { rows } = await sql<ClaimedRow>`
      with due as (
        select a.id, a.org_id, a.channel_id, a.kind, a.group_key, a.next_attempt_at, a.created_at from alert_notifications a
        where a.status in ('pending', 'sending') and a.next_attempt_at <= now()
          and (a.channel_id is null or a.channel_id <> all(${full}::uuid[]))
          and not (a.kind = 'resolved' and exists (
            select 1 from alert_notifications f
            where f.event_id = a.event_id and f.channel_id is not distinct from a.channel_id
              and f.kind <> 'resolved' and f.status in ('pending', 'sending')))
        order by a.next_attempt_at, a.created_at
        limit ${sql.lit(this.settings.claimBatchSize)}
        for update of a skip locked
      ),
      grouped as (
        select org_id, channel_id, kind, group_key, min(next_attempt_at) as first_due, min(created_at) as first_created,
               row_number() over (partition by channel_id order by min(next_attempt_at), min(created_at)) as nth_in_channel
        from due group by org_id, channel_id, kind, group_key
      ),
      chosen as (
        select org_id, channel_id, kind, group_key from grouped
        where nth_in_channel <= ${perChannel}::int - coalesce((${JSON.stringify(busy)}::jsonb ->> coalesce(channel_id::text, ''))::int, 0)
        order by first_due, first_created
        limit ${freeSlots}::int
      ),
      claimed as (
        select due.id from due join chosen on chosen.org_id = due.org_id and chosen.channel_id is not distinct from due.channel_id
          and chosen.kind = due.kind and chosen.group_key = due.group_key
      )
      update alert_notifications n
      set status = 'sending',
          attempts = case when n.status = 'sending' then n.attempts + 1 else n.attempts end,
          last_error = case when n.status = 'sending' then 'an attempt was interrupted (no outcome recorded before its lease ended)' else n.last_error end,
          next_attempt_at = now() + ${sql.lit(this.leaseMs)} * interval '1 millisecond'
      from claimed where n.id = claimed.id
      returning n.id, n.org_id, n.event_id, n.rule_id, n.channel_id, n.channel_name, n.kind, n.attempts, n.group_key`.execute(this.deps.db)
    return rows
  }

  private async deliver(claimed: ClaimedRow[]): Promise<void> {
    const { db } = this.deps
    const { maxAttempts } = this.settings
    const exhausted = claimed.filter((r) => r.attempts >= maxAttempts)
    if (exhausted.length > 0) await this.fail(exhausted, 'unknown', `gave up after ${maxAttempts} attempts (the last one was interrupted)`)
    let rows = claimed.filter((r) => r.attempts < maxAttempts)
    if (rows.length === 0) return
    const first = rows[0]

    const channel = first.channel_id
      ? await db.selectFrom('notification_channels').select(['id', 'type', 'config', 'enabled'])
        .where('id', '=', first.channel_id).where('org_id', '=', first.org_id).executeTakeFirst()
      : undefined
    if (!channel) return this.fail(rows, 'unknown', `the channel "${first.channel_name}" was deleted`)
    if (!channel.enabled) return this.fail(rows, channel.type, `the channel "${first.channel_name}" is disabled`)

    const found = await db.selectFrom('alert_events').select(EVENT_COLUMNS)
      .where('id', 'in', [...new Set(rows.map((r) => r.event_id))]).where('org_id', '=', first.org_id).execute()
    if (found.length === 0) return this.fail(rows, channel.type, 'the alert events of this notification are gone')
    // Resolved or acknowledged while this row waited: the message would contradict what the channel knows.
    const now = new Date()
    const staleReason = (e: (typeof found)[number]): string | undefined => {
      if (first.kind === 'resolved') return undefined
      if (e.state === 'resolved') return SUPERSEDED_BY_RESOLVE
      if (first.kind === 'repeat' && e.acknowledged_at !== null && (e.ack_expires_at === null || e.ack_expires_at > now)) return SUPERSEDED_BY_ACK
      return undefined
    }
    const stale = new Set<string>()
    for (const reason of [SUPERSEDED_BY_RESOLVE, SUPERSEDED_BY_ACK]) {
      const ids = new Set(found.filter((e) => staleReason(e) === reason).map((e) => e.id))
      ids.forEach((id) => stale.add(id))
      if (ids.size > 0) await this.supersede(rows.filter((r) => ids.has(r.event_id)), reason)
    }
    const events = found.filter((e) => !stale.has(e.id))
    rows = rows.filter((r) => !stale.has(r.event_id))
    if (events.length === 0) return

    const messageId = randomUUID()
    const message = buildAlertMessage({ kind: first.kind, ruleId: first.rule_id, events, messageId, publicUrl: this.deps.publicUrl })
    const started = performance.now()
    try {
      await this.sendWithDeadline(channel, message)
    } catch (err) {
      const seconds = (performance.now() - started) / 1000
      if (this.shutdown.signal.aborted) return this.release(rows)
      const e = err instanceof DeliveryError ? err : new DeliveryError(`unexpected error: ${excerpt((err as Error)?.message ?? String(err))}`)
      const outcome = await this.recordFailure(rows, e)
      this.deps.metrics?.recordSend(channel.type, outcome, seconds)
      this.deps.log.warn({ channel_id: channel.id, channel_type: channel.type, alerts: rows.length, attempt: first.attempts + 1, outcome, error: e.message }, 'notification not delivered')
      return
    }
    this.deps.metrics?.recordSend(channel.type, 'delivered', (performance.now() - started) / 1000)
    await db.transaction().execute(async (tx) => {
      const done = await tx.updateTable('alert_notifications')
        .set({ status: 'delivered', delivered_at: sql<Date>`now()`, message_id: messageId, attempts: sql<number>`attempts + 1`, last_error: null })
        .where('id', 'in', rows.map((r) => r.id)).where('status', '=', 'sending')
        .returning('event_id').execute()
      // Only rows still ours count: one whose lease ran out may have been sent again elsewhere.
      const eventIds = [...new Set(done.map((d) => d.event_id))]
      if (eventIds.length > 0) {
        await tx.updateTable('alert_events').set({ last_notified_at: sql<Date>`now()`, notification_count: sql<number>`notification_count + 1` })
          .where('id', 'in', eventIds).execute()
      }
    })
  }

  /** The sender has its own deadline; this one holds even if a sender ignores it. */
  private async sendWithDeadline(channel: { type: 'slack' | 'email' | 'webhook' | 'discord'; config: Record<string, unknown> }, message: Parameters<SendFunction>[1]): Promise<void> {
    const { sendTimeoutMs } = this.settings
    let timer: NodeJS.Timeout | undefined
    let onAbort = () => {}
    const guard = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new DeliveryError(`no outcome within ${sendTimeoutMs} ms`)), sendTimeoutMs + 1000)
      onAbort = () => reject(new DeliveryError('interrupted: the server is shutting down'))
      this.shutdown.signal.addEventListener('abort', onAbort, { once: true })
    })
    try {
      await Promise.race([
        this.deps.send(channel, message, { ...this.deps.context, timeoutMs: sendTimeoutMs, signal: this.shutdown.signal }),
        guard,
      ])
    } finally {
      clearTimeout(timer)
      this.shutdown.signal.removeEventListener('abort', onAbort)
    }
  }

  private async recordFailure(rows: ClaimedRow[], err: DeliveryError): Promise<'retry' | 'failed'> {
    const { maxAttempts, retryBaseMs, retryMaxMs } = this.settings
    const giveUp = sql<boolean>`(${sql.lit(err.permanent)} or attempts + 1 >= ${sql.lit(maxAttempts)})`
    const updated = await this.deps.db.updateTable('alert_notifications').set({
      attempts: sql<number>`attempts + 1`,
      last_error: err.message.slice(0, 2000),
      status: sql<'failed' | 'pending'>`case when ${giveUp} then 'failed' else 'pending' end`,
      next_attempt_at: sql<Date>`case when ${giveUp} then now()
        else now() + least(${sql.lit(retryBaseMs)} * power(2, attempts), ${sql.lit(retryMaxMs)}) * interval '1 millisecond' end`,
    }).where('id', 'in', rows.map((r) => r.id)).where('status', '=', 'sending').returning('status').execute()
    return updated.some((u) => u.status === 'failed') ? 'failed' : 'retry'
  }

  private async fail(rows: ClaimedRow[], channelType: Parameters<NotifyMetrics['recordSend']>[0], reason: string): Promise<void> {
    await this.deps.db.updateTable('alert_notifications')
      .set({ status: 'failed', last_error: reason, next_attempt_at: sql<Date>`now()` })
      .where('id', 'in', rows.map((r) => r.id)).where('status', '=', 'sending').execute()
    this.deps.metrics?.recordSend(channelType, 'failed')
    this.deps.log.warn({ channel_id: rows[0].channel_id, alerts: rows.length, error: reason }, 'notification failed without a send')
  }

  private async supersede(rows: ClaimedRow[], reason: string): Promise<void> {
    await this.deps.db.updateTable('alert_notifications')
      .set({ status: 'superseded', last_error: reason, next_attempt_at: sql<Date>`now()` })
      .where('id', 'in', rows.map((r) => r.id)).where('status', '=', 'sending').execute()
  }

  /** Abandoned by a shutdown: not the receiver's fault, so the attempt is not counted. */
  private async release(rows: ClaimedRow[]): Promise<void> {
    await this.deps.db.updateTable('alert_notifications')
      .set({ status: 'pending', last_error: 'interrupted: the server shut down during the send', next_attempt_at: sql<Date>`now()` })
      .where('id', 'in', rows.map((r) => r.id)).where('status', '=', 'sending').execute()
  }
}
