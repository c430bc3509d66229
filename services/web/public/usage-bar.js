// A percentage as a small bar plus its number; 75 % and 90 % turn it amber and red.
import { h } from './elements.js'
import { formatPercent } from './format.js'

export function usageBar(percent) {
  if (typeof percent !== 'number') return h('span', { class: 'muted' }, '–')
  const fill = h('span', { class: 'bar-fill' })
  // CSSOM, not a style attribute: the CSP allows only stylesheets from this origin.
  fill.style.width = `${Math.max(0, Math.min(100, percent))}%`
  if (percent >= 90) fill.classList.add('bar-critical')
  else if (percent >= 75) fill.classList.add('bar-warning')
  return h('span', { class: 'usage' }, h('span', { class: 'bar', 'aria-hidden': 'true' }, fill), h('span', { class: 'usage-text' }, formatPercent(percent)))
}
