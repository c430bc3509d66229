// Agent keys remembered between uploads: an upload then costs no database read to learn whose key it carries
// (on the embedded engine every statement crosses to the engine's thread and takes its one session from the
// writes). A remembered key is forgotten the moment anything could change whom it names or whether it may
// upload: every statement that rotates, revokes or removes a key, deactivates, approves, renames or deletes an
// agent, or changes what an upload reads of it (its hostname, labels…) sends a NOTIFY on agent_keys_changed
// (sql/029_agent_key_changes.sql); the repository's own key changes also forget at once in this process.
// - Embedded: the engine hands the NOTIFY over before the statement's own answer, so no upload passes on a
//   key after its revocation was answered.
// - Server: another instance's change arrives a round trip after its commit (milliseconds). Keys are
//   remembered only while the LISTEN connection is up (a lost one forgets everything until it is back), and
//   for at most KEY_MAX_AGE_MS, which bounds a change missed by a connection that died without a sign.
// Unknown keys are never remembered: a key created a moment ago works at its first upload.
// What a remembered row does not follow: last_seen_at, last_metrics_at and updated_at, which every upload
// changes and no upload check reads.
import type { Kysely } from 'kysely'
import type { Database } from '../store/database.ts'
import type { Store } from '../store/open-store.ts'
import type { AgentRow } from './agents-repository.ts'

/** Keys remembered at most; past it the oldest go (a row is under a kilobyte). */
const MAX_KEYS = 20_000
/** On a server: a key read longer ago than this is read again (see the file's note). */
export const KEY_MAX_AGE_MS = 60_000

export const AGENT_KEYS_CHANNEL = 'agent_keys_changed'

type ReadKey = (hash: string) => Promise<AgentRow | undefined>

export class AgentKeyCache {
  private readonly keys = new Map<string, { agent: AgentRow; readAt: number }>()
  /** Bumped by every change: an answer read before a change is not remembered after it. */
  private generation = 0
  /** Whether changes can reach this process now (a server's LISTEN connection is up). */
  private listening = true

  constructor(private readonly maxAgeMs: number) {}

  /** The agent whose key hashes to `hash`, remembered or read through `read`. */
  async find(hash: string, read: ReadKey): Promise<AgentRow | undefined> {
    const known = this.keys.get(hash)
    if (known && performance.now() - known.readAt < this.maxAgeMs) return known.agent
    if (known) this.keys.delete(hash)
    const generation = this.generation
    // The row's age counts from before the read: it may be that old when the answer arrives.
    const readAt = performance.now()
    const agent = await read(hash)
    if (agent && this.listening && generation === this.generation) {
      if (this.keys.size >= MAX_KEYS) this.keys.delete(this.keys.keys().next().value!)
      this.keys.set(hash, { agent, readAt })
    }
    return agent
  }

  forget(): void {
    this.generation++
    this.keys.clear()
  }

  /** The LISTEN connection is gone (nothing remembered, nothing more until it is back) or back. */
  setListening(listening: boolean): void {
    this.listening = listening
    this.forget()
  }

  /** Whether the key hashing to `hash` is remembered now. */
  has(hash: string): boolean { return this.keys.has(hash) }
}

const caches = new WeakMap<Kysely<Database>, AgentKeyCache>()

/** The cache of `db`'s agent keys while the API runs (undefined elsewhere: every lookup reads the database). */
export function agentKeyCacheOf(db: Kysely<Database>): AgentKeyCache | undefined {
  return caches.get(db)
}

/** After a change of an agent's key or status through `db`: this process forgets at once, before any NOTIFY. */
export function forgetAgentKeys(db: Kysely<Database>): void {
  caches.get(db)?.forget()
}

/**
 * Starts remembering `store`'s agent keys; the returned function stops (and forgets). When changes cannot be
 * listened for, nothing is remembered (`unheard` is told why) and every lookup reads the database.
 */
export async function rememberAgentKeys(store: Store, unheard: (err: Error) => void): Promise<() => Promise<void>> {
  const cache = new AgentKeyCache(store.backend === 'embedded' ? Infinity : KEY_MAX_AGE_MS)
  let unlisten: () => Promise<void>
  try {
    unlisten = await store.listen(AGENT_KEYS_CHANNEL, () => cache.forget(),
      () => cache.setListening(true), () => cache.setListening(false))
  } catch (err) {
    unheard(err as Error)
    return async () => {}
  }
  caches.set(store.db, cache)
  return async () => {
    caches.delete(store.db)
    cache.forget()
    await unlisten()
  }
}
