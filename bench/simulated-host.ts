// One simulated host for the fleet benchmark and the drills: 60 scalar metrics, 4 filesystems, 3 interfaces,
// 150 processes, containers on a third of the hosts and a session now and then, values that drift like a
// machine's. `batch(now)` is what its agent would collect at that moment.
import { randomUUID } from 'node:crypto'
import type { IngestBatch, ProcessItem } from '../contract/ingest-batch.ts'

/** A value that drifts like a machine's: a random walk inside [lo, hi]. */
export class Drift {
  constructor(private v: number, private readonly lo: number, private readonly hi: number, private readonly step: number) {}
  next(): number {
    this.v = Math.min(this.hi, Math.max(this.lo, this.v + (Math.random() - 0.5) * 2 * this.step))
    return Math.round(this.v * 100) / 100
  }
}

/** Scalar metrics per batch (the realistic host). */
export const SCALARS = 60
const NAMES = ['systemd', 'sshd', 'nginx', 'postgres', 'node', 'python3', 'cron', 'rsyslogd', 'dockerd', 'containerd', 'bash', 'redis-server', 'java', 'chronyd', 'kworker']

/** One simulated host: its drifting figures and counters, and the batch it would collect now. */
export class SimulatedHost {
  private readonly cpu = Array.from({ length: 8 }, () => new Drift(20, 0, 100, 8))
  private readonly mem = new Drift(60, 20, 95, 2)
  private readonly scalars = Array.from({ length: 36 }, (_, i) => new Drift(i * 10, 0, 1000 + i * 10, 5))
  private readonly disks = Array.from({ length: 4 }, (_, i) => ({ mount: ['/', '/var', '/home', '/data'][i], used: new Drift(40 + i * 10, 5, 98, 0.2) }))
  private readonly nets = ['eth0', 'eth1', 'lo'].map((name) => ({ name, rx: 0, tx: 0, rate: new Drift(100_000, 0, 10_000_000, 50_000) }))
  private readonly processes: Array<{ pid: number; name: string; cpu: Drift; rss: Drift; started: string }>
  private readonly containers: number
  private tick = 0

  constructor(index: number, private readonly intervalMs = 10_000) {
    const started = new Date(Date.now() - 86_400_000).toISOString()
    this.processes = Array.from({ length: 150 }, (_, i) => ({
      pid: 100 + i * 7, name: NAMES[i % NAMES.length], cpu: new Drift(i % 10 === 0 ? 5 : 0.2, 0, 100, 0.5), rss: new Drift(20e6 + i * 1e5, 1e6, 2e9, 1e5), started,
    }))
    this.containers = index % 3 === 0 ? 3 : 0
  }

  batch(now: number): IngestBatch {
    this.tick++
    const cores = this.cpu.map((c) => c.next())
    const usage = Math.round(cores.reduce((a, b) => a + b, 0) / cores.length * 100) / 100
    const memPct = this.mem.next()
    const metrics = [
      { metric_type: 'cpu', metric_name: 'usage_percent', value: usage },
      ...cores.map((v, i) => ({ metric_type: 'cpu', metric_name: 'usage_percent', value: v, tags: { core: String(i) } })),
      ...['user', 'system', 'idle', 'iowait', 'steal', 'nice', 'irq', 'softirq'].map((name, i) => ({ metric_type: 'cpu', metric_name: name, value: i === 2 ? 100 - usage : usage / 8 })),
      { metric_type: 'memory', metric_name: 'usage_percent', value: memPct },
      { metric_type: 'memory', metric_name: 'used_bytes', value: Math.round(memPct * 16e9 / 100) },
      { metric_type: 'memory', metric_name: 'total_bytes', value: 16e9 },
      { metric_type: 'load', metric_name: 'load1', value: usage / 25 },
      { metric_type: 'load', metric_name: 'load5', value: usage / 27 },
      { metric_type: 'load', metric_name: 'load15', value: usage / 30 },
      { metric_type: 'swap', metric_name: 'usage_percent', value: 1 },
      ...this.scalars.map((d, i) => ({ metric_type: 'system', metric_name: `figure_${i}`, value: d.next() })),
    ]
    if (metrics.length !== SCALARS) throw new Error(`a batch must hold ${SCALARS} metrics, not ${metrics.length}`)
    const disks = this.disks.map((d, i) => {
      const pct = d.used.next()
      const total = 100e9 * (i + 1)
      const used = Math.round(total * pct / 100)
      return { device: `/dev/sda${i + 1}`, mount_point: d.mount, filesystem: 'ext4', total_bytes: total, used_bytes: used, available_bytes: total - used, usage_percent: pct,
        read_bytes_per_sec: Math.random() * 1e6, write_bytes_per_sec: Math.random() * 1e6 }
    })
    const networks = this.nets.map((n) => {
      const rate = n.rate.next()
      n.rx += Math.round(rate * this.intervalMs / 1000)
      n.tx += Math.round(rate / 2 * this.intervalMs / 1000)
      return { interface: n.name, bytes_recv: n.rx, bytes_sent: n.tx, packets_recv: Math.round(n.rx / 800), packets_sent: Math.round(n.tx / 800), bytes_recv_per_sec: rate, bytes_sent_per_sec: rate / 2 }
    })
    const processes: ProcessItem[] = this.processes.map((p) => ({
      pid: p.pid, parent_pid: 1, name: p.name, cmdline: `/usr/bin/${p.name} --worker ${p.pid}`, username: 'root', status: 'sleeping',
      cpu_percent: p.cpu.next(), memory_bytes: Math.round(p.rss.next()), memory_percent: 0.5, num_threads: 4, create_time: p.started,
    }))
    const batch: IngestBatch = { batch_id: randomUUID(), time: new Date(now).toISOString(), metrics, disks, networks, processes }
    if (this.containers > 0) batch.containers = Array.from({ length: this.containers }, (_, i) => ({ id: `c${i}`, name: `app-${i}`, image: 'nginx:1.27', state: 'running', cpu_percent: 2, memory_bytes: 50e6 }))
    if (this.tick % 30 === 1) batch.sessions = [{ user: 'ops', terminal: 'pts/0', host: '10.0.0.9', pid: 4242, login_time: new Date(now - 3_600_000).toISOString() }]
    return batch
  }
}
