// Logged-in users from the binary utmp file (what `who` reads).
import { readFile } from 'node:fs/promises'
import type { MetricItem, SessionItem } from '../contract/ingest-batch.ts'

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

/** The wire shape (seed 003's user sessions); empty strings and pid 0 mean "not recorded". */
export function sessionItem(s: LoginSession): SessionItem {
  const item: SessionItem = { user: s.user.slice(0, 128), login_time: s.login_time }
  if (s.tty) item.terminal = s.tty.slice(0, 64)
  if (s.host) item.host = s.host.slice(0, 255)
  if (s.pid > 0) item.pid = s.pid
  return item
}

export interface SessionsSample { metrics: MetricItem[]; sessions: SessionItem[] }

/** No utmp (containers, systemd-logind-only systems) means zero sessions, not an error. */
export async function collectSessions(utmpPath = '/var/run/utmp'): Promise<SessionsSample> {
  const buf = await readFile(utmpPath).catch(() => Buffer.alloc(0))
  // A record without a user name cannot be stored (the server needs one) and is no login anyway.
  const sessions = parseUtmp(buf).filter(s => s.user !== '').map(sessionItem)
  return { sessions, metrics: [{ metric_type: 'sessions', metric_name: 'count', value: sessions.length }] }
}
