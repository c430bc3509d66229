// Seed 002's viewer bookmarks: `/?hostname=<name>` opens that host's page at its process tree. The name is
// the hostname an agent reports (the newest agent if several report it), else an agent's own name.
import { api } from './session.js'

const PAGE = 1000

/** The hostname the address asks for, or null. */
export const bookmarkedHostname = () => new URLSearchParams(location.search).get('hostname')?.trim() || null

/** The organization's agent for `hostname`, or null. Hostnames compare without case, as DNS names do. */
export async function findHostByName(hostname) {
  const wanted = hostname.toLowerCase()
  let byHostname = null
  let byName = null
  for (let offset = 0; ; offset += PAGE) {
    const res = await api(`/api/v1/agents?limit=${PAGE}&offset=${offset}`)
    for (const a of res.agents) {
      if (a.hostname?.toLowerCase() === wanted && (!byHostname || a.created_at > byHostname.created_at)) byHostname = a
      if (a.name.toLowerCase() === wanted && (!byName || a.name === hostname)) byName = a
    }
    if (res.agents.length < PAGE || offset + PAGE >= res.total) return byHostname ?? byName
  }
}
