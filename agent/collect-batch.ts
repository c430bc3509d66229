// Runs every enabled collector once and assembles one IngestBatch.
import { randomUUID } from 'node:crypto'
import os from 'node:os'
import type { ContainerItem, IngestBatch, LogItem, MetricItem, ProcessItem } from '../contract/ingest-batch.ts'
import { ALL_FAMILIES, type MetricFamily } from './collection-settings.ts'
import { ContainerCollector, type ContainerCollectorOptions } from './containers.ts'
import { CpuCollector } from './cpu.ts'
import { DiskCollector, type DiskSample } from './disk.ts'
import { InventoryTracker, type HostDetailsSource, type HostPlacement } from './inventory.ts'
import { collectMemory, type MemorySample } from './memory.ts'
import { NetworkCollector } from './network.ts'
import { PRIME_MS, ProcessCollector, topProcesses } from './process.ts'
import { commandLineReporter, DEFAULT_COMMAND_LINES, type CommandLinePolicy } from './command-lines.ts'
import { collectSessions, type SessionsSample } from './sessions.ts'
import type { AgentLog } from './logger.ts'
import { DEFAULT_HOST_PATHS, onHost, type HostPaths } from './host-paths.ts'

export interface CollectOptions {
  collect?: Record<MetricFamily, boolean>
  maxProcesses?: number
  /** Drain log lines into this batch: only for a batch that will be delivered (a drained line is not read again). */
  logs?: boolean
}

export interface BatchCollectorOptions {
  containers?: ContainerCollectorOptions
  /** How the OS/hardware part of the inventory is read; default in this process. */
  hostDetails?: HostDetailsSource
  /** The host's /proc, /sys and root filesystem when the agent runs in a container. */
  paths?: HostPaths
  /** Cloud region and instance type given by the operator, sent in the inventory. */
  placement?: HostPlacement
  /** What of each process's command line is sent; default: all of it, scrubbed of credentials. */
  commandLines?: CommandLinePolicy
  /** Log lines (files, the journal) that arrived since the last batch: agent/logs/log-collector.ts. */
  logs?: { drain(): Promise<LogItem[]> }
  /**
   * Leave out the processes this process started (default): the agent's children exist only because it
   * looked. Off when the agent runs inside the API (`npm start`), whose children are real work (the PDF
   * printer's Chromium).
   */
  hideOwnChildren?: boolean
}

/** The collectors that keep a previous sample; a family switched off loses its sample, so its first figures after coming back are not an average over the pause. */
interface Stateful { cpu: CpuCollector; disk: DiskCollector; network: NetworkCollector; processes: ProcessCollector; containers: ContainerCollector }

/** A pid no process has, and none has as its parent (0 would be: the kernel's, parent of init and kthreadd). */
const NO_PID = -1

export class BatchCollector {
  private readonly state: Partial<Stateful> = {}
  private readonly inventory: InventoryTracker
  private bootTime: number | undefined
  private readonly paths: HostPaths

  constructor(private readonly log: AgentLog = () => {}, private readonly opts: BatchCollectorOptions = {}) {
    this.paths = opts.paths ?? DEFAULT_HOST_PATHS
    this.inventory = new InventoryTracker(log, { details: opts.hostDetails, sysRoot: this.paths.sys, placement: opts.placement, rootfs: this.paths.rootfs })
  }

  /**
   * One batch. The first call for a family only primes its counters, so its delta figures are absent; but
   * for processes, whose CPU the contract requires, a new collector reads twice, PRIME_MS apart.
   */
  async collect(opts: CollectOptions = {}): Promise<IngestBatch> {
    const on = opts.collect ?? ALL_FAMILIES
    const time = new Date().toISOString()
    const skip = <T>(family: MetricFamily, fallback: T, run: () => Promise<T>): Promise<T> => {
      if (!on[family]) return Promise.resolve(fallback)
      return run().catch(err => this.failed(family, err, fallback))
    }
    if (!on.cpu) delete this.state.cpu
    if (!on.disk) delete this.state.disk
    if (!on.network) delete this.state.network
    if (!on.processes) {
      this.state.processes?.close()
      delete this.state.processes
    }
    if (!on.containers) delete this.state.containers

    const [cpu, memory, disk, networks, sessions, containers, host] = await Promise.all([
      skip('cpu', [] as MetricItem[], () => this.get('cpu').collect()),
      skip('memory', undefined as MemorySample | undefined, () => collectMemory(this.paths.proc)),
      skip('disk', { disks: [], metrics: [] } as DiskSample, () => this.get('disk').collect()),
      skip('network', [], () => this.get('network').collect()),
      skip('sessions', { metrics: [], sessions: [] } as SessionsSample, () => collectSessions(onHost(this.paths, '/var/run/utmp'))),
      skip('containers', [] as ContainerItem[], () => this.get('containers').collect()),
      this.inventory.current(),
    ])
    this.bootTime = this.state.cpu?.bootTime ?? this.bootTime ?? Math.round(Date.now() / 1000 - os.uptime())
    // After the others: /proc/[pid] reads in a tight loop, and it needs boot time and total memory.
    let processes: ProcessItem[] = []
    if (on.processes) {
      const ctx = { bootTime: this.bootTime, memTotalBytes: memory?.totalBytes ?? os.totalmem(), forks: on.cpu ? this.state.cpu?.forks : undefined }
      // A process's CPU is a delta between two reads: a new collector (processes switched back on by the server;
      // at the agent's start the first batch is discarded anyway) reads once PRIME_MS before, so no batch
      // reports every process at 0 %. The second read lists /proc again (no fork count): processes started in
      // between are in the batch.
      const primed = !this.state.processes
      if (primed) {
        await this.get('processes').collect(ctx).catch(() => [])
        await new Promise(resolve => setTimeout(resolve, PRIME_MS))
      }
      processes = await this.get('processes').collect(primed ? { ...ctx, forks: undefined } : ctx)
        .catch(err => this.failed('processes', err, []))
      const notice = this.state.processes?.takeAccessNotice()
      if (notice) this.log('info', notice)
      if (opts.maxProcesses !== undefined) processes = topProcesses(processes, opts.maxProcesses)
    }

    const metrics = [...cpu, ...(memory?.metrics ?? []), ...disk.metrics, ...sessions.metrics]
    if (on.containers) metrics.push({ metric_type: 'containers', metric_name: 'count', value: containers.length })
    const batch: IngestBatch = { batch_id: randomUUID(), time, host, metrics }
    if (on.disk) batch.disks = disk.disks
    if (on.network) batch.networks = networks
    if (on.processes) batch.processes = processes
    if (on.sessions) batch.sessions = sessions.sessions
    if (on.containers) batch.containers = containers
    if (opts.logs && this.opts.logs) {
      const logs = await this.opts.logs.drain().catch(err => this.failed('logs', err, [] as LogItem[]))
      if (logs.length > 0) batch.logs = logs
    }
    return batch
  }

  private get<K extends keyof Stateful>(family: K): Stateful[K] {
    let made = this.state[family]
    if (!made) {
      const factories: { [F in keyof Stateful]: () => Stateful[F] } = {
        cpu: () => new CpuCollector(this.paths.proc),
        disk: () => new DiskCollector(this.paths, { log: this.log }),
        network: () => new NetworkCollector(this.paths.proc, this.paths.sys),
        processes: () => new ProcessCollector(this.paths.proc, this.opts.hideOwnChildren === false ? NO_PID : process.pid, commandLineReporter(this.opts.commandLines ?? DEFAULT_COMMAND_LINES), undefined,
          onHost(this.paths, '/etc/passwd')),
        containers: () => new ContainerCollector({ log: this.log, ...this.opts.containers }),
      }
      made = factories[family]()
      this.state[family] = made
    }
    return made as Stateful[K]
  }

  /** One broken collector must not cost the whole batch. */
  private failed<T>(family: string, err: unknown, fallback: T): T {
    this.log('warn', `${family} collector failed: ${(err as Error).message}`)
    return fallback
  }
}
