// Which devices the host page charts (services/web/public/host-charts.js): the busiest disks and interfaces,
// not the first by name (loop0, docker0 at 0 B/s), unless none moves data.
import t from 'tap'
// A browser module without types: imported by URL, so TypeScript takes it as it is.
const { chartedDevices, chartsFor } = await import(new URL('../../services/web/public/host-charts.js', import.meta.url).href)

const diskio = (device: string, read: number, write: number) => [
  { metric_type: 'diskio', metric_name: 'read_bytes_per_sec', tags: { device }, value: read },
  { metric_type: 'diskio', metric_name: 'write_bytes_per_sec', tags: { device }, value: write },
  { metric_type: 'diskio', metric_name: 'reads_per_sec', tags: { device }, value: 1e9 },
]
const labels = (charts: Array<{ id: string; series: Array<{ label: string }> }>, id: string) => charts.find((c) => c.id === id)!.series.map((s) => s.label)

t.test('idle devices are left out while others move data; the busiest three, in name order', async (t) => {
  const latest = [...diskio('loop0', 0, 0), ...diskio('loop1', 0, 0), ...diskio('nvme0n1', 5e6, 1e6), ...diskio('sda', 0, 2e3),
    ...diskio('sdb', 10, 0), ...diskio('sdc', 1, 0)]
  const interfaces = [{ name: 'docker0', activity: 0 }, { name: 'eth0', activity: 3e5 }, { name: 'lo', activity: 9e9 }, { name: 'wg0', activity: 12 }]
  const charts = chartsFor(latest, { mounts: [], interfaces })
  t.same(labels(charts, 'diskio'), ['nvme0n1 read', 'nvme0n1 write', 'sda read', 'sda write', 'sdb read', 'sdb write'], 'not loop0, loop1 or the least busy sdc; reads per second do not count as bytes')
  t.same(labels(charts, 'network'), ['eth0 in', 'eth0 out', 'wg0 in', 'wg0 out'], 'docker0 idle and lo left out')
})

t.test('a quiet host: its devices by name, at 0 B/s', async (t) => {
  t.same(chartedDevices([{ name: 'sdb', activity: 0 }, { name: 'sda', activity: 0 }, { name: 'sdd', activity: 0 }, { name: 'sdc', activity: 0 }]), ['sda', 'sdb', 'sdc'])
  const charts = chartsFor([], { mounts: [{ mount_point: '/', read_bytes_per_sec: 0, write_bytes_per_sec: 0 }], interfaces: [{ name: 'lo', activity: 0 }] })
  t.same(labels(charts, 'diskio'), ['/ read', '/ write'], 'per mount when the agent sends no device rates')
  t.same(labels(charts, 'network'), ['lo in', 'lo out'], 'only loopback: loopback is charted')
})
