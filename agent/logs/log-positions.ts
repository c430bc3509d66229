// What of each log source has been shipped, kept in the data dir across restarts: a byte position per
// file and the journal cursor. Written after each batch is delivered or on disk, so a restart neither
// sends a line again nor skips one.
import { open, readFile, rename } from 'node:fs/promises'
import type { FilePosition } from './file-tail.ts'

export interface LogPositions {
  files: Record<string, FilePosition>
  journal_cursor?: string
}

const isPosition = (p: unknown): p is FilePosition => {
  const v = p as FilePosition
  return !!v && typeof v.dev === 'string' && typeof v.ino === 'string' && Number.isSafeInteger(v.offset) && v.offset >= 0
}

/** The saved positions; none when the file is missing or unreadable (the sources then start at their end). */
export async function readLogPositions(path: string): Promise<{ positions: LogPositions; problem?: string }> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return { positions: { files: {} }, problem: code === 'ENOENT' ? undefined : `cannot read ${path} (${code})` }
  }
  try {
    const json = JSON.parse(text) as LogPositions
    const files = Object.fromEntries(Object.entries(json.files ?? {}).filter(([, p]) => isPosition(p)))
    return { positions: { files, ...(typeof json.journal_cursor === 'string' ? { journal_cursor: json.journal_cursor } : {}) } }
  } catch {
    return { positions: { files: {} }, problem: `${path} is not valid JSON` }
  }
}

/** Replaces the file in one step (written, flushed, renamed): a crash leaves the old or the new content. */
export async function writeLogPositions(path: string, positions: LogPositions): Promise<void> {
  const temp = `${path}.tmp`
  const handle = await open(temp, 'w', 0o600)
  try {
    await handle.writeFile(JSON.stringify(positions))
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temp, path)
}
