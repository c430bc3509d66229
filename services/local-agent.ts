// `npm start` also watches the machine it runs on: an agent row for this host (key kept in the data dir,
// readable only by its owner) and the agent itself running in-process, posting to the local API.
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { Kysely } from 'kysely'
import type { Database } from './store/database.ts'
import { createAgent, findAgent, findAgentByApiKey, rotateAgentKey } from './agents/agents-repository.ts'
import { startAgent, type RunningAgent } from '../agent/run-agent.ts'

async function localAgentKey(db: Kysely<Database>, orgId: string, dataDir: string): Promise<{ name: string; apiKey: string }> {
  const name = hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'localhost'
  const keyFile = join(dataDir, 'local-agent.key')
  const saved = await readFile(keyFile, 'utf8').then((s) => s.trim(), () => '')
  if (saved && (await findAgentByApiKey(db, saved))?.name === name) return { name, apiKey: saved }
  // A new agent row, or a fresh key for the existing one (its old key file is gone or stale).
  const created = await createAgent(db, orgId, { name, hostname: hostname() })
  const apiKey = created?.apiKey ?? await rotateAgentKey(db, (await findAgent(db, orgId, name))!.id)
  await mkdir(dataDir, { recursive: true })
  await writeFile(keyFile, `${apiKey}\n`, { mode: 0o600 })
  return { name, apiKey }
}

export async function startLocalAgent(opts: {
  db: Kysely<Database>; orgId: string; dataDir: string; serverUrl: string; intervalMs: number
  log: (level: string, msg: string) => void
}): Promise<{ name: string; agent: RunningAgent }> {
  const { name, apiKey } = await localAgentKey(opts.db, opts.orgId, opts.dataDir)
  const agent = await startAgent({
    serverUrl: opts.serverUrl, apiKey, intervalMs: opts.intervalMs, dataDir: join(opts.dataDir, 'local-agent'), log: opts.log,
    // The API's children are this host's work (the PDF printer's Chromium), not the agent's helpers.
    collector: { hideOwnChildren: false },
  })
  return { name, agent }
}
