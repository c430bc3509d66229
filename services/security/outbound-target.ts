// Server-side request forgery guard for targets that users configure (Slack/Discord/webhook URLs, SMTP
// hosts): the host is resolved and every address it resolves to must be public. Loopback, link-local,
// private, unique-local, unspecified, multicast and reserved addresses are refused — IPv4 and IPv6,
// including IPv4 embedded in IPv6 (mapped, compatible, NAT64, 6to4) — unless ALERT_TARGETS_ALLOW_PRIVATE.
// Senders should also connect through `guardedLookup`, so a name that changes its answer after the check
// (DNS rebinding) is caught at connect time.
import { lookup as dnsLookup } from 'node:dns/promises'
import { isIP, type LookupFunction } from 'node:net'

export interface ResolvedAddress { address: string; family: 4 | 6 }
export type Resolver = (host: string) => Promise<ResolvedAddress[]>

export interface OutboundTargetOptions {
  /** ALERT_TARGETS_ALLOW_PRIVATE=true: an operator who means to alert into their own network. */
  allowPrivate?: boolean
  /** Name resolution; the system resolver by default (tests inject their own). */
  resolve?: Resolver
  /** URL schemes accepted for URL targets. */
  schemes?: string[]
}

export interface CheckedTarget { host: string; addresses: ResolvedAddress[] }

export type OutboundRefusal = 'invalid' | 'scheme' | 'unresolvable' | 'private'

export class OutboundTargetError extends Error {
  constructor(readonly reason: OutboundRefusal, message: string) {
    super(message)
    this.name = 'OutboundTargetError'
  }
}

const systemResolver: Resolver = async (host) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }))

/** Why an address may not be a target ("loopback", "private", …), or undefined for a public address. */
export function nonPublicReason(address: string): string | undefined {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '')
  const family = isIP(bare)
  if (family === 4) return ipv4Reason(parseIpv4(bare))
  if (family === 6) return ipv6Reason(parseIpv6(bare))
  return 'not an IP address'
}

function parseIpv4(text: string): number[] {
  return text.split('.').map(Number)
}

function ipv4Reason([a, b, c]: number[]): string | undefined {
  if (a === 0) return 'unspecified'
  if (a === 127) return 'loopback'
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private'
  if (a === 100 && b >= 64 && b <= 127) return 'private (carrier-grade NAT)'
  if (a === 169 && b === 254) return 'link-local'
  if (a === 192 && b === 0 && c === 0) return 'reserved (IETF protocol assignments)'
  if (a === 192 && b === 0 && c === 2) return 'reserved (documentation)'
  if (a === 198 && (b === 18 || b === 19)) return 'reserved (benchmarking)'
  if (a === 198 && b === 51 && c === 100) return 'reserved (documentation)'
  if (a === 203 && b === 0 && c === 113) return 'reserved (documentation)'
  if (a >= 224 && a <= 239) return 'multicast'
  if (a >= 240) return 'reserved'
  return undefined
}

/** Eight 16-bit groups; accepts `::` and a dotted IPv4 tail. */
function parseIpv6(text: string): number[] {
  let s = text.toLowerCase()
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)
  if (tail) {
    const [a, b, c, d] = parseIpv4(tail[1])
    s = s.slice(0, -tail[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, rest] = s.split('::')
  const left = head ? head.split(':') : []
  const right = rest === undefined ? [] : rest ? rest.split(':') : []
  const zeros = rest === undefined ? 0 : 8 - left.length - right.length
  return [...left, ...Array(zeros).fill('0'), ...right].map((g) => parseInt(g, 16))
}

function ipv6Reason(g: number[]): string | undefined {
  const embedded = (hi: number, lo: number) => [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]
  const allZero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0)
  if (allZero(0, 8)) return 'unspecified'
  if (allZero(0, 7) && g[7] === 1) return 'loopback'
  // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), ::ffff:0:a.b.c.d (translated): judged as the IPv4 inside.
  if (allZero(0, 5) && (g[5] === 0xffff || g[5] === 0)) return prefixed('IPv4-mapped', ipv4Reason(embedded(g[6], g[7])))
  if (allZero(0, 4) && g[4] === 0xffff && g[5] === 0) return prefixed('IPv4-translated', ipv4Reason(embedded(g[6], g[7])))
  if (g[0] === 0x64 && g[1] === 0xff9b) return prefixed('NAT64', ipv4Reason(embedded(g[6], g[7])) ?? (allZero(2, 6) ? undefined : 'reserved'))
  if (g[0] === 0x2002) return prefixed('6to4', ipv4Reason(embedded(g[1], g[2])))
  if (g[0] === 0x2001 && g[1] === 0) return 'reserved (Teredo)'
  if (g[0] === 0x2001 && g[1] === 0xdb8) return 'reserved (documentation)'
  if (g[0] === 0x100 && allZero(1, 4)) return 'reserved (discard)'
  if ((g[0] & 0xfe00) === 0xfc00) return 'unique-local'
  if ((g[0] & 0xffc0) === 0xfe80) return 'link-local'
  if ((g[0] & 0xffc0) === 0xfec0) return 'site-local'
  if ((g[0] & 0xff00) === 0xff00) return 'multicast'
  if (allZero(0, 1) || g[0] < 0x2000 || g[0] > 0x3fff) return 'reserved (not global unicast)'
  return undefined
}

const prefixed = (kind: string, reason: string | undefined) => (reason ? `${kind} ${reason}` : undefined)

/** The host of a URL or of a bare `host` / `host:port` / `[v6]:port`. */
export function targetHost(target: string | URL, schemes?: string[]): string {
  const text = String(target).trim()
  if (target instanceof URL || /^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL
    try { url = new URL(text) } catch { throw new OutboundTargetError('invalid', `"${text.slice(0, 200)}" is not a valid URL`) }
    const scheme = url.protocol.replace(/:$/, '')
    if (schemes && !schemes.includes(scheme)) throw new OutboundTargetError('scheme', `URL scheme "${scheme}" is not allowed (use ${schemes.join(' or ')})`)
    if (!url.hostname) throw new OutboundTargetError('invalid', 'the URL has no host')
    return url.hostname.replace(/^\[|\]$/g, '')
  }
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text)
  if (bracketed) return bracketed[1]
  if (isIP(text) === 6) return text
  const host = text.replace(/:\d+$/, '')
  if (!/^[a-z0-9._-]+$/i.test(host) || host.length > 253) throw new OutboundTargetError('invalid', `"${text.slice(0, 200)}" is not a valid host name`)
  return host
}

/**
 * Resolves the target and refuses it unless every address is public (or private targets are allowed).
 * Every address must pass: a name that resolves to one public and one private address is refused.
 */
export async function checkOutboundTarget(target: string | URL, opts: OutboundTargetOptions = {}): Promise<CheckedTarget> {
  const host = targetHost(target, opts.schemes ?? (target instanceof URL || /:\/\//.test(String(target)) ? ['http', 'https'] : undefined))
  let addresses: ResolvedAddress[]
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) === 6 ? 6 : 4 }]
  else {
    try {
      addresses = await (opts.resolve ?? systemResolver)(host)
    } catch (err) {
      throw new OutboundTargetError('unresolvable', `cannot resolve "${host}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    if (addresses.length === 0) throw new OutboundTargetError('unresolvable', `"${host}" resolves to no address`)
  }
  if (!opts.allowPrivate) {
    for (const a of addresses) {
      const reason = nonPublicReason(a.address)
      if (reason) {
        const via = a.address === host ? '' : ` (resolves to ${a.address})`
        throw new OutboundTargetError('private', `"${host}"${via} is a ${reason} address; targets inside the server's network are refused unless ALERT_TARGETS_ALLOW_PRIVATE=true`)
      }
    }
  }
  return { host, addresses }
}

/**
 * A `lookup` for net/http/https/nodemailer connections that applies the same rule at connect time.
 * Use it for every outbound connection to a user-configured target.
 */
export function guardedLookup(opts: OutboundTargetOptions = {}): LookupFunction {
  return (hostname, options, callback) => {
    checkOutboundTarget(hostname, opts).then(({ addresses }) => {
      const wanted = typeof options === 'object' && options.family ? addresses.filter((a) => a.family === options.family) : addresses
      const list = wanted.length > 0 ? wanted : addresses
      if (typeof options === 'object' && options.all) (callback as (e: null, a: ResolvedAddress[]) => void)(null, list)
      else callback(null, list[0].address, list[0].family)
    }, (err: Error) => callback(Object.assign(err, { code: 'EHOSTUNREACH' }) as NodeJS.ErrnoException, '', 0))
  }
}
