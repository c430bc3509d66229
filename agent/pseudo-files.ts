// Kernel pseudo-files (/proc, /sys) read synchronously into one reused buffer. The kernel generates them in
// memory, so a read never waits on a disk; a sync read costs a fraction of fs.promises' readFile (four
// thread-pool round trips and a FileHandle per file), which at one collection a second is most of the cost.
import { closeSync, openSync, readSync } from 'node:fs'

let buf = Buffer.allocUnsafe(16 * 1024)

/**
 * The file as UTF-8: all of it, or with `oneReadOf` only what a single read of that many bytes returns
 * (/proc/[pid] files come whole in one read, and a process's command line is cut anyway).
 */
export function readPseudoFile(path: string, oneReadOf?: number): string {
  const fd = openSync(path, 'r')
  try {
    if (oneReadOf !== undefined) return readOpenPseudoFile(fd, oneReadOf)
    let length = 0
    for (;;) {
      if (length === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2)
        buf.copy(bigger, 0, 0, length)
        buf = bigger
      }
      // Sequential reads (no position): a seq_file hands out whole records per read until it returns 0.
      const n = readSync(fd, buf, length, buf.length - length, null)
      if (n === 0) break
      length += n
    }
    return buf.toString('utf8', 0, length)
  } finally {
    closeSync(fd)
  }
}

/**
 * One read at offset 0 of a pseudo-file kept open: the kernel generates its text again for every read from
 * the start, so a file held open gives fresh figures without the path walk of another open.
 */
export function readOpenPseudoFile(fd: number, bytes: number): string {
  if (buf.length < bytes) buf = Buffer.allocUnsafe(bytes)
  return buf.toString('utf8', 0, readSync(fd, buf, 0, bytes, 0))
}

/** Like readPseudoFile, but a file that is missing or unreadable is `fallback`. */
export function readPseudoFileOr(path: string, fallback: string): string {
  try {
    return readPseudoFile(path)
  } catch {
    return fallback
  }
}
