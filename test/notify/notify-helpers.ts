// Real peers for the notify tests: an HTTP receiver standing in for Slack, Discord and webhooks (answers
// scripted per request), a real SMTP server (smtp-server) with a small MIME reader, a resolver for test
// names, and outbox rows inserted directly (the evaluator that writes them is built elsewhere).
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { SMTPServer } from 'smtp-server'
import type { Kysely } from 'kysely'
import type { Database, NotificationKind, AlertSeverity } from '../../services/store/database.ts'
import type { ResolvedAddress, Resolver } from '../../services/security/outbound-target.ts'

export { waitFor } from '../wait-for.ts'

export interface Received { method: string; url: string; headers: IncomingHttpHeaders; body: string; json: any; at: number }
export interface Answer { status: number; body?: string; delayMs?: number; hang?: boolean; headers?: Record<string, string> }

export interface Receiver {
  url: string
  port: number
  requests: Received[]
  /** Requests to one path. */
  at(path: string): Received[]
  /** What to answer the n-th (0-based) request to `path`; default 200 "ok". */
  script(path: string, answer: (n: number) => Answer): void
}

export async function startReceiver(t: Test): Promise<Receiver> {
  const requests: Received[] = []
  const scripts = new Map<string, (n: number) => Answer>()
  const counts = new Map<string, number>()
  const hanging = new Set<import('node:http').ServerResponse>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      let json: unknown
      try { json = JSON.parse(body) } catch { json = undefined }
      const path = (req.url ?? '').split('?')[0]
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, json, at: Date.now() })
      const n = counts.get(path) ?? 0
      counts.set(path, n + 1)
      const answer = scripts.get(path)?.(n) ?? { status: 200, body: 'ok' }
      if (answer.hang) { hanging.add(res); return }
      setTimeout(() => res.writeHead(answer.status, answer.headers ?? { 'content-type': 'text/plain' }).end(answer.body ?? ''), answer.delayMs ?? 0)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  t.teardown(async () => {
    for (const res of hanging) res.destroy()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })
  return {
    url: `http://127.0.0.1:${port}`, port, requests,
    at: (path) => requests.filter((r) => r.url.split('?')[0] === path),
    script: (path, answer) => { scripts.set(path, answer) },
  }
}

export interface ReceivedMail { from: string; to: string[]; raw: string; subject: string; text: string; html: string; auth?: { username: string; password: string } }

export async function startSmtp(t: Test, opts: { auth?: { username: string; password: string } } = {}): Promise<{ port: number; url: string; mails: ReceivedMail[] }> {
  const mails: ReceivedMail[] = []
  const server = new SMTPServer({
    secure: false, disabledCommands: opts.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'], authOptional: !opts.auth, allowInsecureAuth: true, logger: false,
    onAuth(auth, _session, callback) {
      if (opts.auth && auth.username === opts.auth.username && auth.password === opts.auth.password) return callback(null, { user: auth.username })
      return callback(new Error('Invalid username or password'))
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        const user = (session.user as string | undefined)
        mails.push({
          ...parseMime(raw), raw, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address), auth: user ? { username: user, password: opts.auth!.password } : undefined,
        })
        callback()
      })
    },
  })
  server.listen(0, '127.0.0.1')
  await once(server.server, 'listening')
  const port = (server.server.address() as AddressInfo).port
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return { port, url: `smtp://127.0.0.1:${port}`, mails }
}

/** Enough MIME for our own mails: unfolded headers, the subject, and the text/plain and text/html parts decoded. */
export function parseMime(raw: string): { subject: string; text: string; html: string } {
  const [head] = raw.split(/\r?\n\r?\n/)
  const headers = head.replace(/\r?\n[ \t]+/g, ' ')
  const subject = decodeWords(/^subject: (.*)$/im.exec(headers)?.[1] ?? '')
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(headers)?.[1]
  const parts = boundary ? raw.split(`--${boundary}`).slice(1, -1) : [raw]
  const out = { subject, text: '', html: '' }
  for (const part of parts) {
    const idx = part.search(/\r?\n\r?\n/)
    const partHead = part.slice(0, idx).replace(/\r?\n[ \t]+/g, ' ')
    const body = part.slice(idx).replace(/^\r?\n\r?\n/, '')
    const encoding = /content-transfer-encoding: *([\w-]+)/i.exec(partHead)?.[1]?.toLowerCase()
    const decoded = encoding === 'base64' ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
      : encoding === 'quoted-printable' ? decodeQuotedPrintable(body) : body
    if (/content-type: *text\/plain/i.test(partHead)) out.text = decoded
    if (/content-type: *text\/html/i.test(partHead)) out.html = decoded
  }
  return out
}

function decodeQuotedPrintable(s: string): string {
  const bytes = s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => `%${h}`)
  try { return decodeURIComponent(bytes.replace(/%(?![0-9A-F]{2})/gi, '%25')) } catch { return bytes }
}

function decodeWords(s: string): string {
  return s.replace(/=\?utf-8\?([qb])\?([^?]*)\?=/gi, (_m, enc: string, text: string) => enc.toLowerCase() === 'b'
    ? Buffer.from(text, 'base64').toString('utf8')
    : decodeQuotedPrintable(text.replace(/_/g, ' '))).replace(/\?=\s+=\?/g, '')
}

/** A resolver over a table the test may change; unknown names are ENOTFOUND (no DNS query leaves the machine). */
export function tableResolver(table: Record<string, string[]>): Resolver {
  return async (host: string): Promise<ResolvedAddress[]> => {
    const found = table[host.toLowerCase()]
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
    return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
  }
}

export interface OutboxSeed {
  orgId: string
  channelId: string | null
  channelName?: string
  ruleName?: string
  kind?: NotificationKind
  severity?: AlertSeverity
  /** One event (and one outbox row) per agent; agent ids may be null (agent deleted). */
  agents: Array<{ name: string; id?: string | null; series?: string; value?: number }>
  groupKey?: string
  nextAttemptAt?: Date
  status?: 'pending' | 'sending'
  attempts?: number
}

let seedCounter = 0

/** A rule, its events and their outbox rows, as the evaluator would write them. */
export async function seedOutbox(db: Kysely<Database>, seed: OutboxSeed): Promise<{ ruleId: string; eventIds: string[]; rowIds: string[]; groupKey: string }> {
  const n = ++seedCounter
  const ruleName = seed.ruleName ?? `Rule ${n}`
  const rule = await db.insertInto('alert_rules').values({
    org_id: seed.orgId, name: `${ruleName} #${n}`, metric: 'cpu.usage_percent', threshold: 90, severity: seed.severity ?? 'critical',
    warning_threshold: null, recovery_threshold: null, repeat_interval_seconds: null, created_by: null, tags: '{}', labels: '{}', annotations: '{}',
  }).returning('id').executeTakeFirstOrThrow()
  const kind = seed.kind ?? 'firing'
  const groupKey = seed.groupKey ?? `${rule.id}:${seed.channelId}:${kind}:${n}`
  const eventIds: string[] = []
  const rowIds: string[] = []
  for (const a of seed.agents) {
    const started = new Date(Date.now() - 120_000)
    const event = await db.insertInto('alert_events').values({
      org_id: seed.orgId, rule_id: rule.id, rule_name: ruleName, agent_id: a.id ?? null, agent_name: a.name,
      series_key: a.series ?? '', series_tags: JSON.stringify(a.series ? { mount_point: a.series } : {}),
      severity: seed.severity ?? 'critical', state: kind === 'resolved' ? 'resolved' : 'firing', value: a.value ?? 95.5, threshold: 90,
      summary: `CPU ${a.value ?? 95.5}% on ${a.name}`, annotations: JSON.stringify({}), started_at: started,
      resolved_at: kind === 'resolved' ? new Date() : null,
    }).returning('id').executeTakeFirstOrThrow()
    eventIds.push(event.id)
  }
  // One statement for the group, as the evaluator writes it in one transaction: a poll never sees half of it.
  const rows = await db.insertInto('alert_notifications').values(eventIds.map((eventId) => ({
    org_id: seed.orgId, event_id: eventId, rule_id: rule.id, channel_id: seed.channelId, channel_name: seed.channelName ?? 'channel',
    kind, group_key: groupKey, status: seed.status ?? 'pending', attempts: seed.attempts ?? 0,
    next_attempt_at: seed.nextAttemptAt ?? new Date(Date.now() - 1000),
  }))).returning('id').execute()
  rowIds.push(...rows.map((r) => r.id))
  return { ruleId: rule.id, eventIds, rowIds, groupKey }
}

export async function outboxRows(db: Kysely<Database>, ids: string[]) {
  return db.selectFrom('alert_notifications').selectAll().where('id', 'in', ids).orderBy('created_at').execute()
}
