// Entry point: hash routes (#/ fleet, #/hosts/<agent>[?at=<RFC3339>], #/hosts/<agent>/processes, #/alerts, #/alerting/<rules|channels|silences>,
// #/admin/<agents|tokens|users|organizations|audit>), seed 002's
// bookmarks (/?hostname=<name>), the header, and the session's life: logged out → login form; logged in →
// the live feed runs and views mount.
import { currentSession, logout, onSessionChange, api } from './session.js'
import { firingAlerts, isLive, liveState, startLiveFeed, stopLiveFeed, subscribe } from './live-feed.js'
import { clearNotice, showNotice } from './notice.js'
import { viewerTimeZone } from './format.js'
import { mountLogin } from './login.js'
import { mountFleet } from './fleet.js'
import { mountHost } from './host.js'
import { mountAlerts } from './alerts.js'
import { mountAlerting } from './alerting-pages.js'
import { mountAdmin } from './admin-pages.js'
import { bookmarkedHostname, findHostByName } from './host-bookmark.js'
import { h, replaceChildren } from './elements.js'

const view = document.getElementById('view')
const nav = document.getElementById('main-nav')
const logoutButton = document.getElementById('logout')
const userLabel = document.getElementById('current-user')
const liveStatus = document.getElementById('live-status')
const badge = document.getElementById('alert-badge')

let unmount = null
let loginMessage = ''

function route() {
  try { unmount?.() } catch (err) { console.error(err) }
  unmount = null
  clearNotice()
  const session = currentSession()
  nav.hidden = !session
  logoutButton.hidden = !session
  userLabel.textContent = session ? `${session.user?.username ?? ''} (${session.user?.role ?? ''})` : ''
  if (!session) {
    document.title = 'Log in · hostpulse'
    unmount = mountLogin(view, { message: loginMessage })
    return
  }
  const hostname = bookmarkedHostname()
  if (hostname) {
    unmount = openBookmark(hostname)
    return
  }
  const hash = location.hash || '#/'
  const host = /^#\/hosts\/([^/?#]+)(\/processes)?/.exec(hash)
  const section = /^#\/(alerting|admin)(?:\/([a-z-]+))?/.exec(hash)
  const page = host ? 'host' : hash.startsWith('#/alerts') ? 'alerts' : section ? section[1] : 'fleet'
  // Administration is for editors and admins (each page shows what the role may change); viewers do not see the link.
  nav.querySelector('[data-nav=admin]').hidden = session.user?.role === 'viewer'
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.nav === page || (page === 'host' && a.dataset.nav === 'fleet')) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
  if (page === 'host') {
    // `#/hosts/<agent>?at=<RFC3339>`: the process tree as it was then (a shared link).
    const at = new URLSearchParams(hash.split('?')[1] ?? '').get('at')
    unmount = mountHost(view, decodeURIComponent(host[1]), { focus: host[2] ? 'processes' : null, at: at && !Number.isNaN(Date.parse(at)) ? new Date(at).toISOString() : null })
  }
  else if (page === 'alerts') unmount = mountAlerts(view)
  else if (page === 'alerting') unmount = mountAlerting(view, section[2] ?? 'rules')
  else if (page === 'admin') unmount = mountAdmin(view, section[2] ?? 'agents')
  else unmount = mountFleet(view)
}

/** `/?hostname=<name>` becomes `/#/hosts/<agent>/processes` (the address is replaced, so Back skips it). */
function openBookmark(hostname) {
  let cancelled = false
  document.title = `${hostname} · hostpulse`
  replaceChildren(view, h('p', { class: 'muted' }, `Looking for host "${hostname}"…`))
  findHostByName(hostname).then((agent) => {
    if (cancelled) return
    if (agent) {
      history.replaceState(null, '', `/#/hosts/${encodeURIComponent(agent.name)}/processes`)
      route()
    } else {
      history.replaceState(null, '', '/')
      replaceChildren(view, h('section', {}, h('h1', {}, 'Host not found'),
        h('p', {}, `No agent in your organization reports the hostname "${hostname}". `, h('a', { href: '#/' }, 'Back to the fleet'))))
    }
  }, (err) => { if (!cancelled) showNotice(`Could not look up host "${hostname}": ${err.message}`) })
  return () => { cancelled = true }
}

function showLiveState({ state, retryInMs }) {
  if (!currentSession()) {
    delete liveStatus.dataset.state
    liveStatus.textContent = ''
    return
  }
  liveStatus.dataset.state = state
  if (state === 'open') liveStatus.textContent = 'Live'
  else if (state === 'connecting') liveStatus.textContent = 'Connecting…'
  else liveStatus.textContent = `Live updates unavailable: polling${retryInMs ? `, retrying in ${Math.ceil(retryInMs / 1000)} s` : ''}`
  updateBadge()
}

// The firing-alert count in the navigation: from the live feed, or polled while it is down.
let polledFiring = null
let alertingAvailable = true
let badgeTimer = 0

function updateBadge() {
  const count = isLive() ? firingAlerts.size : polledFiring
  badge.hidden = !alertingAvailable || !count
  badge.textContent = count ? String(count) : ''
  badge.setAttribute('aria-label', count ? `${count} firing` : '')
}

async function pollFiring() {
  clearTimeout(badgeTimer)
  if (!currentSession() || !alertingAvailable) return
  if (!isLive()) {
    try {
      const res = await api('/api/v1/alerts/events?state=firing&limit=100')
      polledFiring = res?.count ?? res?.events?.length ?? 0
    } catch (err) {
      if (err.status === 404) alertingAvailable = false
    }
    updateBadge()
  }
  badgeTimer = setTimeout(pollFiring, 60_000)
}

onSessionChange((session, reason) => {
  if (reason === 'refresh') return
  if (session) {
    loginMessage = ''
    alertingAvailable = true
    startLiveFeed()
    pollFiring()
  } else {
    clearTimeout(badgeTimer)
    stopLiveFeed()
    loginMessage = reason ?? ''
  }
  route()
})

subscribe((kind, payload) => {
  if (kind === 'state') showLiveState(payload)
  else if (kind === 'snapshot' || kind === 'alert') updateBadge()
})

logoutButton.addEventListener('click', () => { logout().catch((err) => showNotice(err.message)) })
window.addEventListener('hashchange', () => { route(); view.focus({ preventScroll: true }) })
window.addEventListener('unhandledrejection', (event) => {
  // Failures that no view caught still reach the person, not only the console.
  showNotice(event.reason?.message ?? String(event.reason))
})

document.getElementById('timezone').textContent = `Times are shown in ${viewerTimeZone()}.`
if (currentSession()) { startLiveFeed(); pollFiring() }
showLiveState(liveState)
route()
