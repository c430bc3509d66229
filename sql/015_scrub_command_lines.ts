// Data migration: credentials in command lines stored before the agent and the ingest path scrubbed them
// (raw rows, compressed chunks included; the process aggregate keeps names only, not command lines).
import type { Kysely } from 'kysely'
import { scrubStoredCommandLines } from '../services/store/scrub-stored-command-lines.ts'

export async function up(db: Kysely<unknown>): Promise<void> {
  await scrubStoredCommandLines(db)
}
