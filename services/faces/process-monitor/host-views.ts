// Native agents, snapshots and processes in the shapes seeds 000 and 002 show. Ids are integers: a host is
// its agent's number, a snapshot its native snapshot id, and a process `snapshot_id * 100000 + its rank by
// pid in the snapshot` (a snapshot holds at most 20,000 processes), so every id is stable across restarts.
import { Type } from 'typebox'
import type { AgentRow } from '../../agents/agents-repository.ts'
import type { ProcessSnapshot, SnapshotProcess } from '../../query/process-reads.ts'
import { buildProcessTree } from '../../query/process-tree.ts'
import { osInfo } from './submission.ts'

const PROCESS_ID_STRIDE = 100_000

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])
const Time = Type.String({ format: 'date-time' })

const ProcessFields = {
  id: Type.Integer(), pid: Type.Integer(), name: Type.String(), cmdline: Type.String(),
  cpu_percent: Type.Number(), memory_percent: Type.Number(), memory_rss: Type.Integer(), memory_vms: Type.Integer(),
  status: Nullable(Type.String()), username: Nullable(Type.String()),
}
export const ProcessOut = Type.Object({ ...ProcessFields, parent_pid: Nullable(Type.Integer()), create_time: Nullable(Type.Number()) })
/** A tree node; its children are nodes of the same shape (written out as they are: the schema is not recursive). */
export const TreeNodeOut = Type.Object({ ...ProcessFields, children: Type.Array(Type.Unknown()) })
export const SnapshotOut = Type.Object({
  id: Type.Integer(), hostname: Type.String(), timestamp: Time, total_processes: Type.Integer(), processes: Type.Array(ProcessOut),
})
export const HostOut = Type.Object({
  id: Type.Integer(), hostname: Type.String(), ip_address: Nullable(Type.String()), os_info: Nullable(Type.String()),
  first_seen: Time, last_seen: Nullable(Time), latest_snapshot: Nullable(SnapshotOut),
})
export const TreeOut = Type.Object({
  hostname: Type.String(), timestamp: Nullable(Time), total_processes: Type.Integer(), process_tree: Type.Array(TreeNodeOut),
})

/** The name seeds 000 and 002 know a host by: the hostname it reports, else the agent's name. */
export const hostnameOf = (agent: Pick<AgentRow, 'hostname' | 'name'>) => agent.hostname ?? agent.name

/** A snapshot's processes by pid, each with its integer id. */
function numbered(snapshot: ProcessSnapshot, processes: SnapshotProcess[]) {
  const sorted = [...processes].sort((a, b) => a.pid - b.pid || a.name.localeCompare(b.name))
  return sorted.map((p, rank) => ({
    id: Number(snapshot.snapshot_id) * PROCESS_ID_STRIDE + rank + 1,
    pid: p.pid, parent_pid: p.parent_pid, name: p.name, cmdline: p.cmdline,
    cpu_percent: p.cpu_percent, memory_percent: p.memory_percent, memory_rss: Number(p.memory_bytes), memory_vms: Number(p.memory_vms ?? 0),
    status: p.status, username: p.username, create_time: p.create_time ? p.create_time.getTime() / 1000 : null,
  }))
}

export function snapshotView(agent: AgentRow, snapshot: ProcessSnapshot, processes: SnapshotProcess[]) {
  return {
    id: Number(snapshot.snapshot_id), hostname: hostnameOf(agent), timestamp: snapshot.time.toISOString(),
    total_processes: snapshot.total_processes, processes: numbered(snapshot, processes),
  }
}

export function hostView(agent: AgentRow, latest: ReturnType<typeof snapshotView> | null) {
  return {
    id: agent.number, hostname: hostnameOf(agent), ip_address: agent.ip_address, os_info: osInfo(agent),
    first_seen: agent.created_at.toISOString(), last_seen: agent.last_seen_at?.toISOString() ?? null, latest_snapshot: latest,
  }
}

/** Seed 000's nested process tree: children by parent pid; the tree's nodes carry no parent_pid or create_time. */
export function treeView(agent: AgentRow, latest: { snapshot: ProcessSnapshot; processes: SnapshotProcess[] } | undefined) {
  if (!latest) return { hostname: hostnameOf(agent), timestamp: null, total_processes: 0, process_tree: [] }
  const tree = buildProcessTree(numbered(latest.snapshot, latest.processes))
  type Node = Omit<(typeof tree)[number], 'parent_pid' | 'create_time' | 'children'> & { children: Node[] }
  const strip = (nodes: typeof tree): Node[] => nodes.map(({ parent_pid: _p, create_time: _c, children, ...node }) => ({ ...node, children: strip(children as typeof tree) }))
  return {
    hostname: hostnameOf(agent), timestamp: latest.snapshot.time.toISOString(), total_processes: latest.snapshot.total_processes,
    process_tree: strip(tree),
  }
}

/** Seed 002's flat list: what its browser viewer builds the tree from (pid/ppid), with psutil's field names. */
export function flatView(agent: AgentRow, snapshot: ProcessSnapshot, processes: SnapshotProcess[]) {
  return {
    hostname: hostnameOf(agent), snapshot_id: Number(snapshot.snapshot_id), timestamp: snapshot.time.toISOString(),
    count: processes.length,
    processes: numbered(snapshot, processes).map(({ id: _id, parent_pid, ...p }) => ({ ...p, ppid: parent_pid })),
  }
}
