// Logged-in user sessions as spans: ingest stores one user_sessions row per session per batch, so a session
// is the rows sharing agent, user, terminal, remote host, pid and login time; it was seen from its first
// row to its last. No request here: callers pass the organization, agent and window.
import { sql, type Kysely } from 'kysely'
import type { Database } from '../store/database.ts'

export interface SessionSpan {
  agent_id: string
  username: string
  terminal: string | null
  host: string | null
  pid: number | null
  login_time: Date
  /** The first and last batch that reported the session logged in. */
  first_seen: Date
  last_seen: Date
  /** The agent's newest session report: a session last seen then is logged in still. */
  reported_at: Date
}

const SESSION_KEY = ['agent_id', 'username', 'terminal', 'host', 'pid', 'login_time'] as const

function spans(db: Kysely<Database>, orgId: string) {
  return db.selectFrom('user_sessions as s').where('s.org_id', '=', orgId)
    .select([...SESSION_KEY.map((c) => `s.${c}` as const), (eb) => eb.fn.min<Date>('s.time').as('first_seen'), (eb) => eb.fn.max<Date>('s.time').as('last_seen'),
      sql<Date>`(select max(r.time) from user_sessions r where r.org_id = ${orgId}::uuid and r.agent_id = s.agent_id)`.as('reported_at')])
    .groupBy(SESSION_KEY.map((c) => `s.${c}` as const))
}

/**
 * A page of the sessions seen logged in during [start, end) (of one agent, or every agent of the
 * organization), newest login first, and how many there are.
 */
export async function listSessionsPage(db: Kysely<Database>, q: {
  orgId: string; agentId?: string; start: Date; end: Date; limit: number; offset: number
}): Promise<{ sessions: SessionSpan[]; total: number }> {
  let query = spans(db, q.orgId).where('s.time', '>=', q.start).where('s.time', '<', q.end)
  if (q.agentId) query = query.where('s.agent_id', '=', q.agentId)
  const [{ total }] = await db.selectFrom(query.as('s')).select((eb) => eb.fn.countAll<number>().as('total')).execute()
  const sessions = await query
    .orderBy('login_time', 'desc').orderBy('agent_id').orderBy('username').orderBy('terminal').orderBy('host').orderBy('pid')
    .limit(q.limit).offset(q.offset).execute()
  return { sessions, total: Number(total) }
}

/** The sessions of one agent that logged in at `loginTime` (a session's rows all come after its login). */
export async function sessionsLoggedInAt(db: Kysely<Database>, q: { orgId: string; agentId: string; loginTime: Date }): Promise<SessionSpan[]> {
  return spans(db, q.orgId).where('s.agent_id', '=', q.agentId).where('s.login_time', '=', q.loginTime)
    .where('s.time', '>=', q.loginTime).orderBy('s.username').execute()
}
