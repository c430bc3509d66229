// Builds DOM nodes from code: no HTML strings, so nothing from the API is ever parsed as markup.

const PROPERTIES = new Set(['value', 'checked', 'indeterminate'])

/** h('a', { href, class: 'x', onclick }, 'text', child, [more]) → an element. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value)
    else if (key === 'class') el.className = value
    else if (key === 'dataset') Object.assign(el.dataset, value)
    else if (PROPERTIES.has(key)) el[key] = value
    else el.setAttribute(key, value === true ? '' : String(value))
  }
  append(el, children)
  return el
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return parent
}

const SVG_NS = 'http://www.w3.org/2000/svg'

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag)
  for (const [key, value] of Object.entries(attrs)) if (value !== undefined && value !== null) el.setAttribute(key, String(value))
  for (const child of children.flat()) if (child) el.append(child)
  return el
}

/** Replaces everything inside `el`. */
export function replaceChildren(el, ...children) {
  el.replaceChildren()
  return append(el, children)
}

/** A form field: its label around it, the label's text first. */
export const labelled = (label, input) => h('label', {}, label, ' ', input)

/** A <select id> of plain values, `selected` chosen. */
export const choice = (id, values, selected) => h('select', { id }, values.map((v) => h('option', { value: v, selected: v === selected }, v)))

/** A scrolling table: its column headers and the tbody the caller fills. */
export const dataTable = (id, headers, body) => h('div', { class: 'table-scroll' }, h('table', { id },
  h('thead', {}, h('tr', {}, headers.map((c) => h('th', { scope: 'col' }, c)))), body))
