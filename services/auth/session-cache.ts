// Live sessions remembered between requests, on the embedded engine: an authenticated request then costs no
// database read for its session (about a third of a small read's time there, where every statement crosses
// to the engine's thread). A session stops being remembered the moment anything could have ended it: every
// statement that revokes, refreshes or deletes a session or changes or removes a user sends a NOTIFY
// (sql/027_auth_changes.sql), and the embedded engine hands it over before the statement's own answer, so
// by the time a logout is answered no request can pass on its session. An expiry is checked at every use.
// On a server another instance may end the session, and its NOTIFY comes a round trip after that commit:
// there every request asks the database, as a logout must stop a token at once on every instance.
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import type { Store } from '../store/open-store.ts'
import { liveSessions, type LiveSession } from './sessions-repository.ts'

/** Sessions remembered at most; past it the oldest go (each is a few hundred bytes). */
const MAX_SESSIONS = 10_000

export interface SessionLookup {
  /** The live session `sessionId` of `userId`, or undefined when it has ended, expired or is another user's. */
  live(sessionId: string, userId: string): Promise<LiveSession | undefined>
  close(): Promise<void>
}

/** Every lookup asks the database (a TimescaleDB server). */
class DatabaseLookup implements SessionLookup {
  constructor(private readonly db: Kysely<Database>) {}

  async live(sessionId: string, userId: string): Promise<LiveSession | undefined> {
    return (await liveSessions(this.db, [sessionId], userId))[0]
  }

  async close(): Promise<void> {}
}

/** Remembers live sessions until a NOTIFY on auth_changed says who may act has changed (the embedded engine). */
class RememberingLookup implements SessionLookup {
  private readonly sessions = new Map<string, LiveSession>()
  /** Bumped by every change: an answer read before a change is not remembered after it. */
  private generation = 0
  private unlisten: () => Promise<void> = async () => {}

  constructor(private readonly db: Kysely<Database>) {}

  async start(store: Store): Promise<void> {
    this.unlisten = await store.listen('auth_changed', () => this.forget())
  }

  async live(sessionId: string, userId: string): Promise<LiveSession | undefined> {
    const known = this.sessions.get(sessionId)
    if (known && known.expires_at.getTime() > Date.now()) return known.user_id === userId ? known : undefined
    if (known) this.sessions.delete(sessionId)
    const generation = this.generation
    const [session] = await liveSessions(this.db, [sessionId])
    if (session && generation === this.generation) {
      if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!)
      this.sessions.set(sessionId, session)
    }
    return session?.user_id === userId ? session : undefined
  }

  private forget(): void {
    this.generation++
    this.sessions.clear()
  }

  async close(): Promise<void> {
    this.forget()
    await this.unlisten()
  }
}

/** The session lookup for `store`'s backend. */
export async function sessionLookup(store: Store): Promise<SessionLookup> {
  if (store.backend !== 'embedded') return new DatabaseLookup(store.db)
  const lookup = new RememberingLookup(store.db)
  await lookup.start(store)
  return lookup
}
