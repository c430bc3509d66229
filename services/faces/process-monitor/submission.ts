// What seed 000's agents (POST /api/submit/) and seed 002's psutil agent (POST /api/ingest/) send, and how
// it becomes one native ingest batch: the submitted process list is one native process snapshot.
import { randomUUID } from 'node:crypto'
import { Type, type Static, type TSchema } from 'typebox'
import type { HostInfo, IngestBatch, ProcessItem } from '../../../contract/ingest-batch.ts'
import type { AgentRow } from '../../agents/agents-repository.ts'
import { seedTime } from '../seed-time.ts'

/**
 * A value or null, as one JSON-schema type list: with the app's type coercion a union would turn null into
 * 0 or "" (number first) or 0 into null (null first); a type list takes either as it is.
 */
const OrNull = <T extends TSchema>(schema: T) => Type.Unsafe<Static<T> | null>({ ...schema, type: [(schema as unknown as { type: string }).type, 'null'] })
const Text = (max: number) => OrNull(Type.String({ maxLength: max }))
const Float = Type.Number({ minimum: 0, maximum: 1e15 })
const Bytes = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
const Pid = Type.Integer({ minimum: 0, maximum: 2147483647 })
/** psutil's create_time: seconds since the epoch, with a fraction. */
const EpochSeconds = Type.Number({ minimum: 0, maximum: 32503680000 })
const Hostname = Type.String({ minLength: 1, maxLength: 255 })

/** Seed 000's Process model: the fields without "optional" are required, as its serializer requires them. */
export const Seed000Process = Type.Object({
  pid: Pid,
  parent_pid: Type.Optional(OrNull(Pid)),
  name: Type.String({ maxLength: 255 }),
  cmdline: Type.Optional(Text(4096)),
  username: Type.Optional(Text(128)),
  status: Type.Optional(Text(32)),
  cpu_percent: Float,
  memory_percent: Float,
  memory_rss: Bytes,
  memory_vms: Bytes,
  create_time: Type.Optional(OrNull(EpochSeconds)),
})

export const Seed000Submission = Type.Object({
  hostname: Hostname,
  ip_address: Type.Optional(Text(64)),
  os_info: Type.Optional(Text(128)),
  processes: Type.Array(Seed000Process, { minItems: 1, maxItems: 20000 }),
})
export type Seed000Submission = Static<typeof Seed000Submission>

/**
 * A psutil process as seed 002's agent sends it: `ppid` or `parent_pid`; `memory_info` {rss, vms} or psutil's list, or flat
 * `memory_rss`/`memory_vms`/`rss`/`vms`; `cmdline` as psutil's list or a string; figures psutil may leave null.
 */
export const PsutilProcess = Type.Object({
  pid: Pid,
  ppid: Type.Optional(OrNull(Pid)),
  parent_pid: Type.Optional(OrNull(Pid)),
  name: OrNull(Type.String({ maxLength: 255 })),
  cmdline: Type.Optional(Type.Union([Text(4096), Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 1024 })])),
  username: Type.Optional(Text(128)),
  status: Type.Optional(Text(32)),
  cpu_percent: Type.Optional(OrNull(Float)),
  memory_percent: Type.Optional(OrNull(Float)),
  // {rss, vms}, or psutil's pmem named tuple as json.dumps writes it: a list, rss and vms first on every platform.
  // One type list, as OrNull: with the app's type coercion a union would turn null into [0].
  memory_info: Type.Optional(Type.Unsafe<{ rss?: number; vms?: number } | number[] | null>({
    type: ['object', 'array', 'null'], properties: { rss: Bytes, vms: Bytes }, items: Bytes, maxItems: 32,
  })),
  memory_rss: Type.Optional(OrNull(Bytes)),
  memory_vms: Type.Optional(OrNull(Bytes)),
  rss: Type.Optional(OrNull(Bytes)),
  vms: Type.Optional(OrNull(Bytes)),
  num_threads: Type.Optional(OrNull(Type.Integer({ minimum: 0, maximum: 2147483647 }))),
  create_time: Type.Optional(OrNull(EpochSeconds)),
})
type PsutilProcess = Static<typeof PsutilProcess>

export const Seed002Submission = Type.Object({
  hostname: Hostname,
  ip_address: Type.Optional(Text(64)),
  os_info: Type.Optional(Text(128)),
  /** When the agent took the list (epoch seconds or ISO 8601, offset-less as UTC); the time it arrived when absent. */
  timestamp: Type.Optional(Type.Union([EpochSeconds, Type.String({ minLength: 1, maxLength: 64 })])),
  processes: Type.Array(PsutilProcess, { minItems: 1, maxItems: 20000 }),
})
export type Seed002Submission = Static<typeof Seed002Submission>

const rfc3339 = (epochSeconds: number | null | undefined) =>
  epochSeconds === null || epochSeconds === undefined ? undefined : new Date(Math.round(epochSeconds * 1000)).toISOString()
const orUndefined = <T>(v: T | null | undefined): T | undefined => v ?? undefined

function fromSeed000(p: Static<typeof Seed000Process>): ProcessItem {
  return {
    pid: p.pid, parent_pid: orUndefined(p.parent_pid), name: p.name, cmdline: orUndefined(p.cmdline),
    username: orUndefined(p.username), status: orUndefined(p.status), cpu_percent: p.cpu_percent, memory_percent: p.memory_percent,
    memory_bytes: p.memory_rss, memory_vms: p.memory_vms, create_time: rfc3339(p.create_time),
  }
}

function fromPsutil(p: PsutilProcess): ProcessItem {
  const cmdline = Array.isArray(p.cmdline) ? p.cmdline.join(' ') : p.cmdline
  const memory = Array.isArray(p.memory_info) ? { rss: p.memory_info[0], vms: p.memory_info[1] } : p.memory_info ?? {}
  return {
    pid: p.pid, parent_pid: orUndefined(p.parent_pid ?? p.ppid), name: p.name ?? '', cmdline: orUndefined(cmdline)?.slice(0, 4096),
    username: orUndefined(p.username), status: orUndefined(p.status),
    cpu_percent: p.cpu_percent ?? 0, memory_percent: p.memory_percent ?? 0,
    memory_bytes: memory.rss ?? p.memory_rss ?? p.rss ?? 0,
    memory_vms: orUndefined(memory.vms ?? p.memory_vms ?? p.vms), num_threads: orUndefined(p.num_threads),
    create_time: rfc3339(p.create_time),
  }
}

/**
 * The host facts a submission states, only when they differ from what the agent has: a native agent's
 * richer inventory is not replaced by a face that knows less.
 */
function hostChange(agent: AgentRow, s: { hostname: string; ip_address?: string | null; os_info?: string | null }): HostInfo | undefined {
  const ip = s.ip_address ?? agent.ip_address ?? undefined
  const os = s.os_info ?? undefined
  const same = agent.hostname === s.hostname && (s.ip_address == null || s.ip_address === agent.ip_address)
    && (os === undefined || os === osInfo(agent))
  if (same) return undefined
  return { hostname: s.hostname, ip_address: ip, os: os ?? agent.os ?? undefined, os_version: os === undefined ? agent.os_version ?? undefined : undefined }
}

/** Seed 000's `os_info` of an agent: its operating system and version in one string. */
export function osInfo(agent: Pick<AgentRow, 'os' | 'os_version'>): string | null {
  return [agent.os, agent.os_version].filter(Boolean).join(' ') || null
}

/** One native batch (a fresh batch id, the server's time unless the agent stated one) from a submission. */
export function submissionBatch(agent: AgentRow, s: Seed000Submission | Seed002Submission, kind: 'seed000' | 'seed002', now = new Date()): IngestBatch {
  const stated = 'timestamp' in s ? s.timestamp : undefined
  const time = typeof stated === 'number' ? new Date(Math.round(stated * 1000)) : typeof stated === 'string' ? new Date(seedTime(stated, 'timestamp')) : now
  const processes = kind === 'seed000'
    ? (s as Seed000Submission).processes.map(fromSeed000)
    : (s as Seed002Submission).processes.map(fromPsutil)
  return { batch_id: randomUUID(), time: time.toISOString(), host: hostChange(agent, s), processes }
}
