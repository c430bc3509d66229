// Follows one log file like `tail -F`: from its end at the very first start, through rotation (renamed
// away, a new file at the path: the old one is read to its end first) and truncation (copytruncate), and
// after a restart from the position last shipped, even if the file was rotated meanwhile. Lines are read
// only as the collection's budget allows: what does not fit waits in the file, not in memory.
import { open, readdir, stat, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { AgentLog } from '../logger.ts'
import type { LogBudget } from './log-budget.ts'
import { MAX_MESSAGE_LENGTH } from './log-line.ts'

/** Where the shipped part of a file ends: the file by identity and a byte offset. Empty ids: the file did not exist yet. */
export interface FilePosition { dev: string; ino: string; offset: number }

/** Bytes read at once; a longer line is shipped in pieces of this size. */
const CHUNK = 64 * 1024
/** A rotated file is looked for among this many names next to the path. */
const MAX_SIBLINGS = 1000

interface Identity { dev: string; ino: string; size: number }
interface OpenFile { handle: FileHandle; dev: string; ino: string; offset: number }

async function identityOf(path: string): Promise<Identity | undefined> {
  try {
    const s = await stat(path, { bigint: true })
    return s.isFile() ? { dev: String(s.dev), ino: String(s.ino), size: Number(s.size) } : undefined
  } catch {
    return undefined
  }
}

const sameFile = (a: { dev: string; ino: string }, b: { dev: string; ino: string }) => a.dev === b.dev && a.ino === b.ino

export class FileTail {
  private current: OpenFile | undefined
  /** The position to resume from while no file is open (from the state file, or "from the start" when absent at first). */
  private resume: FilePosition | undefined
  /** The last reason the file could not be opened: said once, not every collection. */
  private problem: string | undefined

  constructor(readonly path: string, saved: FilePosition | undefined, private readonly log: AgentLog) {
    this.resume = saved
  }

  /** What has been read so far (and so shipped): the state kept across restarts. */
  position(): FilePosition | undefined {
    return this.current ? { dev: this.current.dev, ino: this.current.ino, offset: this.current.offset } : this.resume
  }

  /** Opens the file at its end when nothing was saved (first start), or at the saved position. */
  async start(): Promise<void> {
    if (this.resume) return void (await this.reopen())
    const id = await identityOf(this.path)
    if (!id) {
      // Created later: everything in it is new.
      this.resume = { dev: '', ino: '', offset: 0 }
      this.log('info', `log file ${this.path} does not exist yet; it is read from its start once it appears`)
      return
    }
    await this.openAt(this.path, id.size)
  }

  /** Complete lines from the shipped position on, as many as `budget` allows. */
  async read(budget: LogBudget): Promise<string[]> {
    const lines: string[] = []
    if (!this.current && !(await this.reopen())) return lines
    for (;;) {
      const cur = this.current!
      if (await this.readLines(cur, budget, lines, false) === 'budget') return lines
      const now = await identityOf(this.path)
      if (now && !sameFile(now, cur)) {
        // Rotated: the old file is read to its end (a last line without a newline included), then the new one from its start.
        if (await this.readLines(cur, budget, lines, true) === 'budget') return lines
        await cur.handle.close().catch(() => undefined)
        this.current = undefined
        this.resume = { dev: '', ino: '', offset: 0 }
        if (!(await this.reopen())) return lines
        continue
      }
      if (now && now.size < cur.offset) {
        this.log('info', `log file ${this.path} was truncated; reading it again from its start`)
        cur.offset = 0
        continue
      }
      return lines
    }
  }

  async close(): Promise<void> {
    const cur = this.current
    if (!cur) return
    this.resume = this.position()
    this.current = undefined
    await cur.handle.close().catch(() => undefined)
  }

  /** Resumes at `resume`: the same file at its offset, the file it was rotated to, or a new file from its start. */
  private async reopen(): Promise<boolean> {
    const at = this.resume ?? { dev: '', ino: '', offset: 0 }
    const id = await identityOf(this.path)
    if (id && sameFile(id, at)) return this.openAt(this.path, id.size < at.offset ? 0 : at.offset)
    if (at.ino !== '') {
      const rotated = await this.findRotated(at)
      if (rotated) {
        this.log('info', `log file ${this.path} was rotated to ${rotated}; reading the rest of it first`)
        return this.openAt(rotated, at.offset)
      }
      if (id) this.log('warn', `log file ${this.path} was replaced and its old file is gone; lines written to the old one after the last collection are lost`)
    }
    return id ? this.openAt(this.path, 0) : false
  }

  private async findRotated(at: FilePosition): Promise<string | undefined> {
    const dir = dirname(this.path)
    let names: string[]
    try {
      names = (await readdir(dir)).slice(0, MAX_SIBLINGS)
    } catch {
      return undefined
    }
    // Usual rotated names first (app.log.1, app.log-20240101).
    const own = basename(this.path)
    names.sort((a, b) => Number(!a.startsWith(own)) - Number(!b.startsWith(own)))
    for (const name of names) {
      const id = await identityOf(join(dir, name))
      if (id && sameFile(id, at)) return join(dir, name)
    }
    return undefined
  }

  private async openAt(path: string, offset: number): Promise<boolean> {
    let handle: FileHandle
    try {
      handle = await open(path, 'r')
    } catch (err) {
      const problem = `cannot read log file ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check that the agent's user may read it`
      if (problem !== this.problem) this.log('warn', problem)
      this.problem = problem
      return false
    }
    this.problem = undefined
    const s = await handle.stat({ bigint: true })
    this.current = { handle, dev: String(s.dev), ino: String(s.ino), offset: Math.min(offset, Number(s.size)) }
    this.resume = undefined
    return true
  }

  /** Takes complete lines from `cur` into `out`; `final` also takes a last line that has no newline. */
  private async readLines(cur: OpenFile, budget: LogBudget, out: string[], final: boolean): Promise<'eof' | 'budget'> {
    const buf = Buffer.allocUnsafe(CHUNK)
    const take = (raw: Buffer): boolean => {
      const text = raw.toString('utf8').replace(/\r$/, '')
      if (text.trim() === '') return true
      if (!budget.take(Math.min(raw.length, MAX_MESSAGE_LENGTH))) return false
      out.push(text)
      return true
    }
    for (;;) {
      const { bytesRead } = await cur.handle.read(buf, 0, CHUNK, cur.offset)
      if (bytesRead === 0) return 'eof'
      const data = buf.subarray(0, bytesRead)
      let start = 0
      for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, start)) {
        if (!take(data.subarray(start, nl))) return 'budget'
        cur.offset += nl + 1 - start
        start = nl + 1
      }
      if (start === 0 && bytesRead === CHUNK) {
        // One line longer than a chunk: its first chunk goes now, the rest follows as more lines.
        if (!take(data)) return 'budget'
        cur.offset += bytesRead
        continue
      }
      if (bytesRead < CHUNK) {
        // A last line without its newline yet: a writer may still be finishing it.
        if (final && start < bytesRead) {
          if (!take(data.subarray(start))) return 'budget'
          cur.offset += bytesRead - start
        }
        return 'eof'
      }
    }
  }
}
