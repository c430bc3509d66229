// The page-wide message line (role=alert): errors that belong to no one section, never swallowed.
const notice = () => document.getElementById('notice')

export function showNotice(text, kind = 'error') {
  const el = notice()
  el.textContent = text
  el.dataset.kind = kind
  el.hidden = false
}

export function clearNotice() {
  const el = notice()
  el.hidden = true
  el.textContent = ''
}
