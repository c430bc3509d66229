// What the agent collects and how often: local flags first, then whatever the server's config says.

export const METRIC_FAMILIES = ['cpu', 'memory', 'disk', 'network', 'processes', 'sessions', 'containers'] as const
export type MetricFamily = (typeof METRIC_FAMILIES)[number]

export interface CollectionSettings {
  intervalMs: number
  /** Families switched off are not read at all (not just left out of the batch). */
  collect: Record<MetricFamily, boolean>
  /** Send only the top N processes by CPU, then memory; undefined means all. */
  maxProcesses: number | undefined
}

export const ALL_FAMILIES: Record<MetricFamily, boolean> = Object.fromEntries(METRIC_FAMILIES.map(f => [f, true])) as Record<MetricFamily, boolean>

export function defaultSettings(intervalMs: number): CollectionSettings {
  return { intervalMs, collect: { ...ALL_FAMILIES }, maxProcesses: undefined }
}
