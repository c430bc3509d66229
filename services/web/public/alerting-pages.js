// Alerting pages: #/alerting/rules, #/alerting/channels, #/alerting/silences (being built).
import { h, replaceChildren } from './elements.js'

export function mountAlerting(container, section) {
  replaceChildren(container, h('section', {}, h('h1', {}, 'Alerting'), h('p', { class: 'muted' }, `The ${section} page is not built yet.`)))
  document.title = 'Alerting · hostpulse'
  return () => {}
}
