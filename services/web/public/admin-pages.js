// Administration pages: #/admin/agents, tokens, users, organizations, audit (being built).
import { h, replaceChildren } from './elements.js'

export function mountAdmin(container, section) {
  replaceChildren(container, h('section', {}, h('h1', {}, 'Admin'), h('p', { class: 'muted' }, `The ${section} page is not built yet.`)))
  document.title = 'Admin · hostpulse'
  return () => {}
}
