// What an alert says: annotation templates rendered with {{agent}} {{value}} {{threshold}} {{severity}}
// {{rule}} {{metric}} and any series tag ({{mount_point}}, {{interface}} …), values formatted for people.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** A plain number with at most two decimals (fewer for big values), no trailing zeros. */
function plain(value: number): string {
  const abs = Math.abs(value)
  const digits = abs >= 100 ? 1 : 2
  const text = abs >= 1e15 || (abs > 0 && abs < 0.01) ? value.toExponential(2) : value.toFixed(digits)
  return text.includes('e') ? text : text.replace(/\.?0+$/, '')
}

/** A value as people read it for this metric: bytes in binary units, everything else as a short number. */
export function formatValue(value: number | null, metric: string): string {
  if (value === null || !Number.isFinite(value)) return 'n/a'
  if (/_bytes$/.test(metric) && Math.abs(value) >= 1024) {
    let v = value
    let unit = 0
    while (Math.abs(v) >= 1024 && unit < BYTE_UNITS.length - 1) { v /= 1024; unit++ }
    return `${plain(v)} ${BYTE_UNITS[unit]}`
  }
  if (/_bytes_per_sec$/.test(metric)) return `${formatValue(value, metric.replace(/_per_sec$/, ''))}/s`
  return plain(value)
}

export interface TemplateValues {
  rule: string
  agent: string
  metric: string
  severity: string
  value: number | null
  threshold: number | null
  tags: Record<string, string>
}

/** Replaces known placeholders; an unknown one stays as written, so its author sees the mistake. */
export function renderTemplate(template: string, v: TemplateValues): string {
  const known: Record<string, string> = {
    ...v.tags, rule: v.rule, agent: v.agent, metric: v.metric, severity: v.severity,
    value: formatValue(v.value, v.metric), threshold: formatValue(v.threshold, v.metric),
  }
  // Own keys only: {{constructor}} or {{toString}} are unknown placeholders, not Object's members.
  return template.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (whole, name: string) => (Object.hasOwn(known, name) ? known[name] : whole))
}

/** The event's summary: the rule's summary template, or a sentence built from the facts. */
export function renderAnnotations(annotations: Record<string, string>, v: TemplateValues, kind: string): { summary: string; annotations: Record<string, string> } {
  const rendered = Object.fromEntries(Object.entries(annotations).map(([k, t]) => [k, renderTemplate(t, v)]))
  const series = Object.entries(v.tags).map(([k, val]) => `${k}=${val}`).join(', ')
  const where = `${v.agent}${series ? ` (${series})` : ''}`
  const fallback = kind === 'agent_offline' ? `${v.rule}: ${v.agent} sent no data for ${formatValue(v.value, 'seconds')} s`
    : kind === 'process_absent' ? `${v.rule}: no matching process on ${where}`
      : kind === 'no_data' ? `${v.rule}: no ${v.metric} data from ${where}`
        : kind === 'traffic_quota' ? (v.metric === 'traffic.quota_forecast_percent'
          ? `${v.rule}: at this pace ${v.agent} reaches ${formatValue(v.value, v.metric)} % of its traffic quota by the cycle's end (threshold ${formatValue(v.threshold, v.metric)} %)`
          : `${v.rule}: ${v.agent} has used ${formatValue(v.value, v.metric)} % of its traffic quota this cycle (threshold ${formatValue(v.threshold, v.metric)} %)`)
        : `${v.rule}: ${v.metric} ${formatValue(v.value, v.metric)} on ${where} (threshold ${formatValue(v.threshold, v.metric)})`
  return { summary: (rendered.summary ?? fallback).slice(0, 2000), annotations: rendered }
}
