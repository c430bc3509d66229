// Runs every collector once and assembles one IngestBatch.
import { randomUUID } from 'node:crypto'
import type { IngestBatch } from '../contract/ingest-batch.ts'
import { collectContainers } from './containers.ts'
import { CpuCollector } from './cpu.ts'
import { DiskCollector } from './disk.ts'
import { collectInventory, type Inventory } from './inventory.ts'
import { collectMemory } from './memory.ts'
import { NetworkCollector } from './network.ts'
import { ProcessCollector } from './process.ts'
import { collectSessions } from './sessions.ts'
import type { AgentLog } from './logger.ts'

/** Inventory barely changes; re-read it hourly instead of every batch. */
const INVENTORY_TTL_MS = 60 * 60 * 1000

export class BatchCollector {
  private readonly cpu = new CpuCollector()
  private readonly disk = new DiskCollector()
  private readonly network = new NetworkCollector()
  private readonly processes = new ProcessCollector()
  private inventory: { at: number; value: Promise<Inventory> } | undefined

  constructor(private readonly log: AgentLog = () => {}) {}

  /** One batch. The first call only primes the counters, so its delta metrics are absent. */
  async collect(): Promise<IngestBatch> {
    const time = new Date().toISOString()
    const [cpu, memory, disk, networks, sessions, containers, host] = await Promise.all([
      this.cpu.collect(),
      collectMemory(),
      this.disk.collect().catch(err => this.failed('disk', err, { disks: [], metrics: [] })),
      this.network.collect().catch(err => this.failed('network', err, [])),
      collectSessions().catch(err => this.failed('sessions', err, { metrics: [], sessions: [] })),
      collectContainers().catch(err => this.failed('containers', err, [])),
      this.host(),
    ])
    const processes = await this.processes
      .collect({ bootTime: this.cpu.bootTime ?? 0, memTotalBytes: memory.totalBytes })
      .catch(err => this.failed('process', err, []))
    const metrics = [...cpu, ...memory.metrics, ...disk.metrics, ...sessions.metrics]
    if (containers.length > 0) metrics.push({ metric_type: 'containers', metric_name: 'count', value: containers.length })
    return { batch_id: randomUUID(), time, host, metrics, disks: disk.disks, networks, processes }
  }

  private host(): Promise<Inventory> {
    const now = performance.now()
    if (!this.inventory || now - this.inventory.at > INVENTORY_TTL_MS) {
      const previous = this.inventory?.value
      const value = collectInventory().catch(async err => {
        this.log('warn', `host inventory failed (${(err as Error).message}); keeping the previous one`)
        if (previous) return previous
        const os = await import('node:os')
        return { hostname: os.hostname() || 'localhost' } as Inventory
      })
      this.inventory = { at: now, value }
    }
    return this.inventory.value
  }

  /** One broken collector must not cost the whole batch. */
  private failed<T>(family: string, err: unknown, fallback: T): T {
    this.log('warn', `${family} collector failed: ${(err as Error).message}`)
    return fallback
  }
}
