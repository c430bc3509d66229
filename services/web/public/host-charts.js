// Which charts a host gets, from the series it actually reports: CPU breakdown, memory, load, disk I/O
// and network, each series named as the series endpoint reads it and as WS /ws/metrics keys it.

const CPU_STATES = ['user', 'system', 'iowait', 'nice', 'irq', 'softirq', 'steal']
const MAX_DEVICES = 3

/**
 * The devices worth a chart, at most MAX_DEVICES: the busiest first when any moves data (an idle loop
 * device or docker bridge charted at 0 B/s reads as a problem), else the first by name (a quiet host's
 * 0 B/s is the truth); shown in name order so the legend does not reshuffle.
 * @param {Array<{ name: string, activity: number }>} devices activity: bytes per second read and written
 */
export function chartedDevices(devices) {
  const active = devices.filter((d) => d.activity > 0).sort((a, b) => b.activity - a.activity || a.name.localeCompare(b.name))
  const chosen = active.length > 0 ? active.slice(0, MAX_DEVICES) : [...devices].sort((a, b) => a.name.localeCompare(b.name)).slice(0, MAX_DEVICES)
  return chosen.map((d) => d.name).sort()
}

/**
 * @param {Array<{metric_type: string, metric_name: string, tags: object}>} latest the host's newest metrics
 * @param {{ mounts: Array<{mount_point: string, read_bytes_per_sec: number|null, write_bytes_per_sec: number|null}>, interfaces: Array<{ name: string, activity: number }> }} wide
 *   (interfaces that are up, with their bytes per second received and sent)
 * @returns {Array<{ id: string, title: string, unit: string, series: Array<{ label: string, metric: string, tags: object, wide: boolean }> }>}
 * (`wide`: read from the filesystem or interface rows, not the metrics table)
 */
export function chartsFor(latest, wide) {
  const untagged = new Set(latest.filter((m) => Object.keys(m.tags ?? {}).length === 0).map((m) => `${m.metric_type}.${m.metric_name}`))
  const scalar = (metric, label = metric.split('.')[1]) => ({ label, metric, tags: {}, wide: false })
  const present = (metrics) => metrics.filter((m) => untagged.has(m))

  const cpu = [
    ...present(['cpu.usage_percent']).map((m) => scalar(m, 'total')),
    ...present(CPU_STATES.map((s) => `cpu.${s}`)).map((m) => scalar(m)),
  ]
  const memoryBytes = present(['memory.used_bytes', 'memory.cached_bytes', 'memory.buffers_bytes', 'memory.available_bytes'])
  const memory = memoryBytes.length > 0
    ? { unit: 'bytes', series: memoryBytes.map((m) => scalar(m, m.split('.')[1].replace('_bytes', ''))) }
    : { unit: 'percent', series: present(['memory.usage_percent', 'swap.usage_percent']).map((m) => scalar(m, m.split('.')[0])) }
  const loadNames = present(['load.load1', 'load.load5', 'load.load15'])
  const load = (loadNames.length > 0 ? loadNames : present(['cpu.load_avg_1', 'cpu.load_avg_5', 'cpu.load_avg_15']))
    .map((m) => scalar(m, `${m.replace(/^\D+/, '')} min`))

  const activity = new Map()
  for (const m of latest) {
    if (m.metric_type !== 'diskio' || !m.tags?.device) continue
    const busy = /^(read|write)_bytes_per_sec$/.test(m.metric_name) && Number.isFinite(m.value) ? m.value : 0
    activity.set(m.tags.device, (activity.get(m.tags.device) ?? 0) + busy)
  }
  const devices = chartedDevices([...activity].map(([name, bytes]) => ({ name, activity: bytes })))
  const diskIo = devices.length > 0
    ? devices.flatMap((device) => [
      { label: `${device} read`, metric: 'diskio.read_bytes_per_sec', tags: { device }, wide: false },
      { label: `${device} write`, metric: 'diskio.write_bytes_per_sec', tags: { device }, wide: false },
    ])
    : chartedDevices(wide.mounts.filter((d) => d.read_bytes_per_sec !== null && d.read_bytes_per_sec !== undefined)
      .map((d) => ({ name: d.mount_point, activity: (d.read_bytes_per_sec ?? 0) + (d.write_bytes_per_sec ?? 0) }))).flatMap((mount) => [
      { label: `${mount} read`, metric: 'disk.read_bytes_per_sec', tags: { mount_point: mount }, wide: true },
      { label: `${mount} write`, metric: 'disk.write_bytes_per_sec', tags: { mount_point: mount }, wide: true },
    ])

  const nonLoopback = wide.interfaces.filter((i) => i.name !== 'lo')
  const network = chartedDevices(nonLoopback.length > 0 ? nonLoopback : wide.interfaces).flatMap((iface) => [
    { label: `${iface} in`, metric: 'network.bytes_recv_per_sec', tags: { interface: iface }, wide: true },
    { label: `${iface} out`, metric: 'network.bytes_sent_per_sec', tags: { interface: iface }, wide: true },
  ])

  return [
    { id: 'cpu', title: 'CPU', unit: 'percent', series: cpu },
    { id: 'memory', title: 'Memory', unit: memory.unit, series: memory.series },
    { id: 'load', title: 'Load average', unit: 'load', series: load },
    { id: 'diskio', title: 'Disk I/O', unit: 'byte-rate', series: diskIo },
    { id: 'network', title: 'Network', unit: 'byte-rate', series: network },
  ]
}

/** A tag key or value inside a series key, escaped as services/live/live-reads.ts does. */
const escapeTag = (text) => String(text).replace(/[\\,={}]/g, (c) => `\\${c}`)

/** The live stream's key of a series: `<type>.<name>`, or `<type>.<name>{k=v,…}` with tags sorted by key, escaped. */
export function seriesKey(series) {
  const keys = Object.keys(series.tags).sort()
  return keys.length === 0 ? series.metric : `${series.metric}{${keys.map((k) => `${escapeTag(k)}=${escapeTag(series.tags[k])}`).join(',')}}`
}
