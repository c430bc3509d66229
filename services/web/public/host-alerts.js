// Alerts where the host is: a severity marker beside an agent's name in the fleet, and a strip of the
// host's firing alerts on its page, each linking to the alert on the Alerts page (#/alerts?event=<id>).
// Both read the live feed's firing alerts (WS /ws/live); the strip also asks the API once, so it is right
// while the feed is down.
import { h, replaceChildren } from './elements.js'
import { api } from './session.js'
import { firingAlerts, subscribe } from './live-feed.js'
import { formatAgo, formatFullTime } from './format.js'

const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 }
const rank = (severity) => SEVERITY_RANK[severity] ?? 3
const worstFirst = (a, b) => rank(a.severity) - rank(b.severity) || Date.parse(b.started_at) - Date.parse(a.started_at)

/** The link to one alert on the Alerts page. */
export const alertHref = (eventId) => `#/alerts?event=${encodeURIComponent(eventId)}`

/** Firing alerts of an agent (by id, or by name for events that carry only the name), worst first. */
export function firingFor(agent, extra = []) {
  const seen = new Map()
  for (const e of [...firingAlerts.values(), ...extra]) {
    const id = e.event_id ?? e.id
    if (e.state !== 'firing' || seen.has(id)) continue
    if (e.agent_id === agent.id || (!e.agent_id && e.agent_name === agent.name)) seen.set(id, e)
  }
  return [...seen.values()].sort(worstFirst)
}

/** The fleet row's marker: the worst severity firing and how many, linking to the worst; null when none fire. */
export function alertMarker(agent) {
  const firing = firingFor(agent)
  if (firing.length === 0) return null
  const worst = firing[0]
  const label = firing.length === 1 ? worst.severity : `${worst.severity} +${firing.length - 1}`
  return h('a', {
    class: `alert-marker severity-${worst.severity}`, href: alertHref(worst.event_id ?? worst.id), dataset: { severity: worst.severity, count: String(firing.length) },
    title: firing.map((e) => `${e.severity}: ${e.rule_name}${e.summary ? ` (${e.summary})` : ''}`).join('\n'),
    'aria-label': `${firing.length} firing alert${firing.length === 1 ? '' : 's'}, worst ${worst.severity}`,
  }, `● ${label}`)
}

/** Mounts the host page's strip of firing alerts in `container`; returns its destroy function. */
export function mountHostAlerts(container, agent) {
  let fromApi = []
  let destroyed = false
  let shown = null
  const render = () => {
    if (destroyed) return
    const firing = firingFor(agent, fromApi)
    // Rebuild only when what the strip says changed: a rebuild would take a keyboard user's focus off a link.
    const says = JSON.stringify(firing.map((e) => [e.event_id ?? e.id, e.severity, e.rule_name, e.summary, formatAgo(e.started_at)]))
    if (says === shown) return
    shown = says
    container.hidden = firing.length === 0
    replaceChildren(container, firing.length === 0 ? [] : [
      h('h2', { class: 'visually-hidden' }, 'Firing alerts'),
      h('ul', { class: 'alert-strip-list' }, firing.map((e) => h('li', { class: `alert-strip-item severity-${e.severity}`, dataset: { event: e.event_id ?? e.id, severity: e.severity } },
        h('span', { class: `severity severity-${e.severity}` }, e.severity), ' ',
        h('a', { href: alertHref(e.event_id ?? e.id) }, e.rule_name),
        e.summary ? h('span', { class: 'muted' }, ` ${e.summary}`) : null,
        h('span', { class: 'muted', title: formatFullTime(e.started_at) }, ` · firing for ${formatAgo(e.started_at).replace(/ ago$/, '')}`)))),
    ])
  }
  const unsubscribe = subscribe((kind, payload) => {
    // A snapshot holds every firing alert; a resolve ends one the API answered too.
    if (kind === 'snapshot') fromApi = []
    if (kind === 'alert' && payload?.state === 'resolved') fromApi = fromApi.filter((e) => e.id !== payload.event_id)
    if (kind === 'alert' || kind === 'snapshot') render()
  })
  api(`/api/v1/alerts/events?state=firing&agent=${encodeURIComponent(agent.id)}&limit=100`)
    .then((res) => { fromApi = res.events.map((e) => ({ ...e, event_id: e.id })); render() })
    .catch(() => { /* alerting off (404) or not allowed: the live feed alone */ })
  render()
  return () => { destroyed = true; unsubscribe() }
}
