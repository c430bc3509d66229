// Containers through the Docker or Podman Engine API on a local unix socket: list, then one stats call each.
import { statSync } from 'node:fs'
import { request } from 'node:http'
import type { ContainerItem } from '../contract/ingest-batch.ts'
import { counterDelta, round } from './counter-rate.ts'
import type { AgentLog } from './logger.ts'

/** Where Docker and Podman listen, in the order tried: $DOCKER_HOST / $CONTAINER_HOST when unix://, then the defaults. */
export function engineSockets(env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = [env.DOCKER_HOST, env.CONTAINER_HOST]
    .filter((v): v is string => !!v && v.startsWith('unix://'))
    .map(v => v.slice('unix://'.length))
  const podmanUser = env.XDG_RUNTIME_DIR ? [`${env.XDG_RUNTIME_DIR}/podman/podman.sock`] : []
  return [...new Set([...fromEnv, '/var/run/docker.sock', ...podmanUser, '/run/podman/podman.sock'])]
}

/** The parts of GET /containers/json the agent reads. */
export interface EngineContainer { Id: string; Names?: string[]; Image?: string; State?: string }

/** The parts of GET /containers/{id}/stats the agent reads (Docker and Podman's compat API agree). */
export interface EngineStats {
  cpu_stats?: CpuStats
  precpu_stats?: CpuStats
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> }
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>
}
interface CpuStats { cpu_usage?: { total_usage?: number; percpu_usage?: number[] }; system_cpu_usage?: number; online_cpus?: number }

/** A container's CPU counters at one sample: nanoseconds of CPU, and of the whole host's CPU time. */
export interface CpuSample { containerNs: number; systemNs: number }

/**
 * CPU % the way `docker stats` computes it: the container's share of host CPU time between two samples,
 * times the number of CPUs, so a container using two full cores shows 200.
 */
export function containerCpuPercent(prev: CpuSample, cur: CpuSample, onlineCpus: number): number | undefined {
  const systemDelta = cur.systemNs - prev.systemNs
  if (!(systemDelta > 0) || !(onlineCpus > 0)) return undefined
  const cpuDelta = counterDelta(prev.containerNs, cur.containerNs)
  return (cpuDelta / systemDelta) * onlineCpus * 100
}

/** Memory in use as `docker stats` shows it: usage minus the inactive page cache (cgroup v1 or v2 name). */
export function containerMemoryUsed(mem: NonNullable<EngineStats['memory_stats']>): number | undefined {
  if (mem.usage === undefined) return undefined
  const inactive = mem.stats?.total_inactive_file ?? mem.stats?.inactive_file ?? 0
  return inactive < mem.usage ? mem.usage - inactive : mem.usage
}

function cpuSample(s: CpuStats | undefined): CpuSample | undefined {
  const containerNs = s?.cpu_usage?.total_usage
  const systemNs = s?.system_cpu_usage
  return containerNs !== undefined && systemNs ? { containerNs, systemNs } : undefined
}

const count = (n: number | undefined) => (n !== undefined && Number.isFinite(n) && n >= 0 ? Math.round(n) : undefined)

/** One container's wire item; `previous` is the agent's own last sample, used when the engine sent no precpu. */
export function containerItem(c: EngineContainer, stats: EngineStats | undefined, previous: CpuSample | undefined): ContainerItem {
  const item: ContainerItem = {
    id: c.Id.slice(0, 12),
    name: (c.Names?.[0] ?? '').replace(/^\//, '').slice(0, 255),
  }
  if (c.Image) item.image = c.Image.slice(0, 512)
  if (c.State) item.state = c.State.slice(0, 32)
  if (!stats) return item

  const cur = cpuSample(stats.cpu_stats)
  const before = previous ?? cpuSample(stats.precpu_stats)
  const cpus = stats.cpu_stats?.online_cpus || stats.cpu_stats?.cpu_usage?.percpu_usage?.length || 0
  const cpu = cur && before ? containerCpuPercent(before, cur, cpus) : undefined
  if (cpu !== undefined) item.cpu_percent = round(cpu)

  const mem = stats.memory_stats
  const used = mem ? count(containerMemoryUsed(mem)) : undefined
  const limit = count(mem?.limit)
  if (used !== undefined) item.memory_bytes = used
  if (limit) item.memory_limit_bytes = limit
  if (used !== undefined && limit) item.memory_percent = round((used / limit) * 100)

  if (stats.networks) {
    const nets = Object.values(stats.networks)
    item.rx_bytes = nets.reduce((n, i) => n + (count(i.rx_bytes) ?? 0), 0)
    item.tx_bytes = nets.reduce((n, i) => n + (count(i.tx_bytes) ?? 0), 0)
  }
  return item
}

class EngineError extends Error {
  constructor(message: string, readonly code?: string) { super(message) }
}

/** GET on the engine's socket; never the network. */
function engineGet<T>(socketPath: string, path: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, timeout: timeoutMs, headers: { host: 'localhost' } }, res => {
      let data = ''
      res.setEncoding('utf8').on('data', c => { data += c }).on('end', () => {
        if (res.statusCode !== 200) return reject(new EngineError(`HTTP ${res.statusCode} for ${path}`))
        try { resolve(JSON.parse(data) as T) } catch { reject(new EngineError(`unreadable JSON for ${path}`)) }
      }).on('error', reject)
    })
    req.on('timeout', () => req.destroy(new EngineError(`no answer in ${timeoutMs} ms for ${path}`, 'ETIMEDOUT')))
    req.on('error', (err: NodeJS.ErrnoException) => reject(err instanceof EngineError ? err : new EngineError(err.message, err.code))).end()
  })
}

export interface ContainerCollectorOptions {
  /** Sockets to try, first existing one wins; default engineSockets(). */
  sockets?: string[]
  log?: AgentLog
  /** Per-request timeout; default 3 s. */
  timeoutMs?: number
  /** Stats requests in flight at once; default 8. */
  concurrency?: number
}

/**
 * Keeps each container's last CPU counters so CPU % covers the whole interval; asks the engine for a
 * one-shot sample (no 1 s wait for a second reading where the engine supports it).
 * No socket means no containers, quietly; a socket it may not read is said once, with the fix.
 */
export class ContainerCollector {
  private readonly sockets: string[]
  private readonly log: AgentLog
  private readonly timeoutMs: number
  private readonly concurrency: number
  private previous = new Map<string, CpuSample>()
  private reported = new Set<string>()

  constructor(opts: ContainerCollectorOptions = {}) {
    this.sockets = opts.sockets ?? engineSockets()
    this.log = opts.log ?? (() => {})
    this.timeoutMs = opts.timeoutMs ?? 3000
    this.concurrency = opts.concurrency ?? 8
  }

  async collect(): Promise<ContainerItem[]> {
    const socketPath = this.findSocket()
    if (!socketPath) return []
    let list: EngineContainer[]
    try {
      list = await engineGet<EngineContainer[]>(socketPath, '/containers/json?all=true', this.timeoutMs)
    } catch (err) {
      this.once(`${socketPath}:${(err as EngineError).code ?? (err as Error).message}`, socketPath, err as EngineError)
      return []
    }
    if (!Array.isArray(list)) return []
    list = list.slice(0, 2000)

    const items: ContainerItem[] = new Array(list.length)
    const next = new Map<string, CpuSample>()
    let index = 0
    const worker = async () => {
      while (index < list.length) {
        const i = index++
        const c = list[i]
        let stats: EngineStats | undefined
        if (c.State === 'running') {
          stats = await engineGet<EngineStats>(socketPath, `/containers/${encodeURIComponent(c.Id)}/stats?stream=false&one-shot=true`, this.timeoutMs)
            .catch(err => { this.log('debug', `containers: no stats for ${c.Id.slice(0, 12)}: ${(err as Error).message}`); return undefined })
        }
        items[i] = containerItem(c, stats, this.previous.get(c.Id))
        const sample = cpuSample(stats?.cpu_stats)
        if (sample) next.set(c.Id, sample)
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.concurrency, list.length) }, worker))
    this.previous = next
    return items
  }

  /** A stat of a local socket path never waits on a disk: done in place, not on the thread pool, every collection. */
  private findSocket(): string | undefined {
    for (const path of this.sockets) {
      try {
        if (statSync(path, { throwIfNoEntry: false })?.isSocket()) return path
      } catch { /* not reachable: the next one */ }
    }
    return undefined
  }

  /** Each distinct trouble is logged once; an unreachable engine must not fill the log every 10 s. */
  private once(key: string, socketPath: string, err: EngineError): void {
    if (this.reported.has(key)) return
    this.reported.add(key)
    if (err.code === 'EACCES') {
      this.log('info', `containers: no permission to use ${socketPath}; add the agent's user to the docker (or podman) group to collect containers`)
    } else {
      this.log('info', `containers: the engine at ${socketPath} did not answer (${err.message}); skipping containers until it does`)
    }
  }
}
