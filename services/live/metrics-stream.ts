// WS /ws/metrics/:agent_id (seed 001): per watched agent one reader, whatever the number of clients. An
// ingest of the agent makes the reader fetch what changed once and fan it out; each client gets it
// through its own filter, in messages of at most 100 values.
import type { Kysely } from 'kysely'
import type { FastifyBaseLogger } from 'fastify'
import { Type } from 'typebox'
import { Compile } from 'typebox/compile'
import type { Database } from '../store/database.ts'
import { validationDetails } from '../errors/validation-issues.ts'
import type { IngestEvent } from '../bus/ingest-bus.ts'
import type { LiveConnection } from './live-connection.ts'
import { outbound, type MetricValue, type Outbound } from './live-messages.ts'
import { readSamples, type LiveSample } from './live-reads.ts'

/** Seed 001: "Up to 100 metrics per message". */
export const MAX_METRICS_PER_MESSAGE = 100
/** Each change read looks this far behind the newest sample already seen (late series, small clock skew). */
const LOOKBACK_MS = 5 * 60_000

const FilterMessage = Type.Object({
  type: Type.Literal('filter'),
  metric_types: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 100 })),
  metric_names: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 1000 })),
}, { additionalProperties: false })
const checkFilter = Compile(FilterMessage)

/** Empty or absent lists let everything through. */
export interface MetricFilter { types: Set<string> | null; names: Set<string> | null }

export const NO_FILTER: MetricFilter = { types: null, names: null }

interface FilterIssue { keyword: string; instancePath: string; message?: string; params?: Record<string, unknown> }

/** The first problem of a refused filter message, in the words of the REST errors (field first). */
function describeFilterIssue(issues: FilterIssue[]): string {
  const issue = issues.find((i) => i.keyword !== 'additionalProperties') ?? issues[0]
  if (issue.keyword === 'const') return `${issue.instancePath.slice(1)} must be "${String(issue.params?.allowedValue)}"`
  if (issue.keyword === 'boolean') return `${issue.instancePath.slice(1)} is not allowed`
  if (issue.instancePath === '' && issue.keyword === 'type') return 'the message must be a JSON object'
  const details = validationDetails([issue] as never)
  const [field, messages] = Object.entries(details)[0]
  return `${field} ${messages[0]}`
}

/** A client message → the new filter, or the reason it is refused (naming the field). */
export function parseFilterMessage(text: string): MetricFilter | { error: string } {
  let msg: unknown
  try {
    msg = JSON.parse(text)
  } catch {
    return { error: 'Invalid message: not JSON; send {"type":"filter","metric_types":[…],"metric_names":[…]}' }
  }
  if (!checkFilter.Check(msg)) return { error: `Invalid message: ${describeFilterIssue([...checkFilter.Errors(msg)] as FilterIssue[])}` }
  const types = msg.metric_types?.length ? new Set(msg.metric_types) : null
  const names = msg.metric_names?.length ? new Set(msg.metric_names) : null
  return { types, names }
}

export class MetricsClient {
  filter: MetricFilter = NO_FILTER
  constructor(readonly connection: LiveConnection, readonly agentId: string, readonly agentName: string) {}
}

/** Seed 001 messages for `samples` through `filter`, at most 100 values each. */
export function metricsMessages(agentName: string, samples: Map<string, LiveSample>, filter: MetricFilter, always = false): Outbound[] {
  const out: Outbound[] = []
  let data: Record<string, MetricValue> = {}
  let count = 0
  let newest = 0
  const flush = () => {
    out.push(outbound({ type: 'metrics', agent_id: agentName, timestamp: new Date(newest || Date.now()).toISOString(), data }))
    data = {}
    count = 0
    newest = 0
  }
  for (const [key, s] of samples) {
    if (filter.types && !filter.types.has(s.type)) continue
    if (filter.names && !filter.names.has(s.name)) continue
    const ms = s.time.getTime()
    data[key] = { value: s.value, timestamp: s.time.toISOString() }
    newest = Math.max(newest, ms)
    if (++count === MAX_METRICS_PER_MESSAGE) flush()
  }
  if (count > 0 || (always && out.length === 0)) flush()
  return out
}

/** One watched agent: its clients, what they were last sent, and one read at a time. */
class AgentWatch {
  readonly clients = new Set<MetricsClient>()
  /** Series key → sample time (ms) already sent. */
  readonly sent = new Map<string, number>()
  newestMs = 0
  /** Joins queued but not yet run: a leave's cleanup must not drop the watch they will add their client to. */
  pendingJoins = 0
  private chain: Promise<void> = Promise.resolve()
  private refreshQueued = false
  /** The oldest sample time (ms) the queued read must cover: the newest time of each ingest it answers. */
  pendingFromMs = Infinity

  constructor(readonly agentId: string, private readonly log: FastifyBaseLogger) {}

  run(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((err) => { this.log.warn({ err, agentId: this.agentId }, 'live metrics read failed') })
  }

  /** Several ingests while a read is waiting make one read. */
  refresh(ingestTimeMs: number, task: (fromMs: number) => Promise<void>): void {
    this.pendingFromMs = Math.min(this.pendingFromMs, Number.isFinite(ingestTimeMs) ? ingestTimeMs : Date.now())
    if (this.refreshQueued) return
    this.refreshQueued = true
    this.run(async () => {
      this.refreshQueued = false
      const fromMs = this.pendingFromMs
      this.pendingFromMs = Infinity
      await task(fromMs)
    })
  }

  remember(samples: Map<string, LiveSample>): void {
    for (const [key, s] of samples) {
      const ms = s.time.getTime()
      if ((this.sent.get(key) ?? -Infinity) < ms) this.sent.set(key, ms)
      this.newestMs = Math.max(this.newestMs, ms)
    }
  }
}

export interface MetricsStreamOptions { snapshotSeconds: number }

export class MetricsStream {
  private readonly watches = new Map<string, AgentWatch>()

  constructor(private readonly db: Kysely<Database>, private readonly log: FastifyBaseLogger, private readonly opts: MetricsStreamOptions) {}

  get clientCount(): number {
    let n = 0
    for (const w of this.watches.values()) n += w.clients.size
    return n
  }

  *connections(): Iterable<LiveConnection> {
    for (const w of this.watches.values()) for (const c of w.clients) yield c.connection
  }

  /** Sends the agent's values of the last 30 s, then every change after them. */
  join(client: MetricsClient): void {
    let watch = this.watches.get(client.agentId)
    if (!watch) {
      watch = new AgentWatch(client.agentId, this.log)
      this.watches.set(client.agentId, watch)
    }
    const w = watch
    // In the watch's queue: a change read before this one never reaches the client after its snapshot.
    w.pendingJoins++
    w.run(async () => {
      try {
        // What the change reads look back over counts as known, so an unchanged older value is never pushed.
        const now = Date.now()
        const known = await readSamples(this.db, client.agentId, new Date(now - Math.max(LOOKBACK_MS, this.opts.snapshotSeconds * 1000)))
        if (!client.connection.open) return
        w.remember(known)
        const recent = new Map([...known].filter(([, s]) => s.time.getTime() > now - this.opts.snapshotSeconds * 1000))
        for (const m of metricsMessages(client.agentName, recent, client.filter, true)) client.connection.send(m)
        w.clients.add(client)
      } finally {
        w.pendingJoins--
      }
    })
  }

  leave(client: MetricsClient): void {
    const watch = this.watches.get(client.agentId)
    if (!watch) return
    watch.clients.delete(client)
    if (watch.clients.size === 0) {
      watch.run(async () => {
        if (watch.clients.size === 0 && watch.pendingJoins === 0 && this.watches.get(client.agentId) === watch) this.watches.delete(client.agentId)
      })
    }
  }

  /** After a committed ingest (here or on another instance): read what changed once, fan it out. */
  onIngest(event: IngestEvent): void {
    const watch = this.watches.get(event.agentId)
    if (watch) this.refresh(event.agentId, watch, Date.parse(event.time))
  }

  /**
   * After missed notifications (the LISTEN connection was lost): every watched agent is read again as if
   * it had ingested, so its clients get what other instances stored meanwhile.
   */
  resync(): void {
    for (const [agentId, watch] of this.watches) this.refresh(agentId, watch, watch.newestMs || Date.now())
  }

  private refresh(agentId: string, watch: AgentWatch, ingestTimeMs: number): void {
    watch.refresh(ingestTimeMs, async (ingestMs) => {
      if (watch.clients.size === 0) return
      // Covers the ingests' own sample times, also when the agent's clock is behind or it replays a buffer.
      const floor = Math.min(ingestMs, watch.newestMs || Infinity) - LOOKBACK_MS
      const samples = await readSamples(this.db, agentId, new Date(floor))
      const changed = new Map<string, LiveSample>()
      for (const [key, s] of samples) if ((watch.sent.get(key) ?? -Infinity) < s.time.getTime()) changed.set(key, s)
      watch.remember(changed)
      if (changed.size === 0) return
      // Clients whose filters let the same metrics through share the serialized messages, however their
      // filters are written: a filter is judged against the few metric names in the update, not per series.
      const names = new Map<string, { type: string; name: string }>()
      for (const s of changed.values()) names.set(`${s.type}.${s.name}`, s)
      const bySignature = new Map<string, Outbound[]>()
      for (const client of watch.clients) {
        const { types, names: allowed } = client.filter
        const passing = [...names].filter(([, m]) => (!types || types.has(m.type)) && (!allowed || allowed.has(m.name))).map(([k]) => k)
        const key = `${client.agentName}\n${passing.join('\n')}`
        let messages = bySignature.get(key)
        if (!messages) {
          messages = metricsMessages(client.agentName, changed, client.filter)
          bySignature.set(key, messages)
        }
        for (const m of messages) client.connection.send(m)
      }
    })
  }
}
