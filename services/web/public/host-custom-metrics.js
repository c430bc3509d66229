// The host page's custom metrics: what Telegraf (influx.*), Prometheus remote write (prom.*) and
// OpenTelemetry (otel.*) wrote for this host. A picker lists each metric with its number of series; the
// chosen one is charted (up to MAX_SERIES tag sets) over the page's range and kept live like the built-in
// charts. The choice is kept in the URL (`?metric=`), so a view can be shared.
import { h, replaceChildren } from './elements.js'

/** The namespaces the ecosystem's writers store under (README: "Send data from other tools"). */
export const CUSTOM_TYPES = ['influx', 'prom', 'otel']
const MAX_SERIES = 8

/**
 * @param {Array<{metric_type: string, metric_name: string, tags: object}>} latest the host's newest metrics
 * @returns {Map<string, object[]>} metric (`<type>.<name>`) → its tag sets, metrics sorted by name
 */
export function customMetrics(latest) {
  const byMetric = new Map()
  for (const m of latest) {
    if (!CUSTOM_TYPES.includes(m.metric_type)) continue
    const metric = `${m.metric_type}.${m.metric_name}`
    if (!byMetric.has(metric)) byMetric.set(metric, [])
    byMetric.get(metric).push(m.tags ?? {})
  }
  return new Map([...byMetric].sort(([a], [b]) => a.localeCompare(b)))
}

/** A series' label: its tags that tell it apart from the metric's other series (`cpu=cpu0 mode=idle`). */
function labelsFor(tagSets) {
  const varying = new Set()
  for (const key of new Set(tagSets.flatMap((t) => Object.keys(t)))) {
    if (new Set(tagSets.map((t) => t[key])).size > 1) varying.add(key)
  }
  return tagSets.map((tags) => {
    const parts = Object.keys(tags).sort().filter((k) => varying.has(k)).map((k) => `${k}=${tags[k]}`)
    return parts.length > 0 ? parts.join(' ') : 'value'
  })
}

/** The chart definition (as host-charts.js makes them) for one custom metric. */
export function customChart(metric, tagSets) {
  const shown = [...tagSets].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))).slice(0, MAX_SERIES)
  const labels = labelsFor(shown)
  return {
    id: 'custom', title: metric, unit: 'number',
    series: shown.map((tags, i) => ({ label: labels[i], metric, tags, wide: false })),
    more: Math.max(0, tagSets.length - shown.length),
  }
}

const selectedInUrl = () => new URLSearchParams(location.hash.split('?')[1] ?? '').get('metric')

function keepInUrl(metric) {
  const [path, query = ''] = location.hash.slice(1).split('?')
  const params = new URLSearchParams(query)
  params.set('metric', metric)
  const next = `#${path}?${params}`
  if (next !== location.hash) history.replaceState(null, '', next)
}

/**
 * Renders the section; `onChoose(def, box)` is called with the chosen metric's chart definition and the
 * element to draw it in (and again on every new choice).
 */
export function mountCustomMetrics(section, metrics, onChoose) {
  const box = h('figure', { class: 'chart-box', id: 'custom-chart', dataset: { chart: 'custom' } })
  const note = h('p', { class: 'muted', id: 'custom-note' })
  replaceChildren(section, h('h2', { id: 'custom-title' }, 'Custom metrics'))
  if (metrics.size === 0) {
    section.append(h('p', { class: 'muted', id: 'custom-empty' },
      'Nothing from Telegraf, Prometheus or OpenTelemetry for this host yet. README, "Send data from other tools", shows how to point them here.'))
    return
  }
  const picker = h('select', { id: 'custom-metric', 'aria-label': 'Custom metric' },
    [...metrics].map(([metric, tagSets]) => h('option', { value: metric }, `${metric} (${tagSets.length} series)`)))
  const choose = (metric) => {
    picker.value = metric
    keepInUrl(metric)
    const def = customChart(metric, metrics.get(metric))
    note.textContent = def.more > 0 ? `${def.series.length} of ${def.series.length + def.more} series shown; pick one with the series endpoint's tags.<key>= filter.` : ''
    replaceChildren(box, h('figcaption', {}, metric))
    onChoose(def, box)
  }
  picker.addEventListener('change', () => choose(picker.value))
  section.append(h('div', { class: 'section-head' }, h('label', { for: 'custom-metric' }, 'Metric '), picker, note), h('div', { class: 'charts' }, box))
  const wanted = selectedInUrl()
  choose(wanted && metrics.has(wanted) ? wanted : metrics.keys().next().value)
}
