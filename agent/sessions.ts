// Logged-in users from the binary utmp file (what `who` reads).
import { readFile } from 'node:fs/promises'
import type { MetricItem } from '../contract/ingest-batch.ts'

/** struct utmp on x86_64 and aarch64 glibc: 384 bytes, little-endian, 32-bit time fields. */
export const UTMP_RECORD_SIZE = 384
const USER_PROCESS = 7

export interface LoginSession {
  user: string
  tty: string
  host: string
  pid: number
  login_time: string
}

const cString = (buf: Buffer, start: number, length: number) => {
  const raw = buf.subarray(start, start + length)
  const nul = raw.indexOf(0)
  return raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8')
}

export function parseUtmp(buf: Buffer): LoginSession[] {
  const sessions: LoginSession[] = []
  for (let off = 0; off + UTMP_RECORD_SIZE <= buf.length; off += UTMP_RECORD_SIZE) {
    if (buf.readInt16LE(off) !== USER_PROCESS) continue
    sessions.push({
      pid: buf.readInt32LE(off + 4),
      tty: cString(buf, off + 8, 32),
      user: cString(buf, off + 44, 32),
      host: cString(buf, off + 76, 256),
      login_time: new Date(buf.readInt32LE(off + 340) * 1000).toISOString(),
    })
  }
  return sessions
}

export interface SessionsSample { metrics: MetricItem[]; sessions: LoginSession[] }

/** No utmp (containers, systemd-logind-only systems) means zero sessions, not an error. */
export async function collectSessions(utmpPath = '/var/run/utmp'): Promise<SessionsSample> {
  const buf = await readFile(utmpPath).catch(() => Buffer.alloc(0))
  const sessions = parseUtmp(buf)
  return { sessions, metrics: [{ metric_type: 'sessions', metric_name: 'count', value: sessions.length }] }
}
