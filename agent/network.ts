// Network interfaces from /proc/net/dev and /sys/class/net/<if>/{operstate,flags,speed}.
import { readdirSync } from 'node:fs'
import type { NetworkItem } from '../contract/ingest-batch.ts'
import { counterRate, round } from './counter-rate.ts'
import { readPseudoFile } from './pseudo-files.ts'

export interface InterfaceCounters {
  interface: string
  bytes_recv: number; packets_recv: number; errors_in: number; drop_in: number
  bytes_sent: number; packets_sent: number; errors_out: number; drop_out: number
}

export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = []
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':')
    if (colon < 0 || line.includes('|')) continue
    const name = line.slice(0, colon).trim()
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number)
    if (f.length < 16) continue
    out.push({
      interface: name,
      bytes_recv: f[0], packets_recv: f[1], errors_in: f[2], drop_in: f[3],
      bytes_sent: f[8], packets_sent: f[9], errors_out: f[10], drop_out: f[11],
    })
  }
  return out
}

/** Up means carrier up; "unknown" (loopback, tun, some virtual NICs) counts if the admin flag IFF_UP is set. */
export function interfaceIsUp(operstate: string, flagsHex: string): boolean {
  const state = operstate.trim()
  if (state === 'up') return true
  return state === 'unknown' && (parseInt(flagsHex.trim(), 16) & 0x1) === 1
}

/** Mb/s → bits/s; -1, empty and the old ((u16)-1, (u32)-1) "unknown" markers mean no speed, and 0 cannot divide a utilization. */
export function linkSpeedBitsPerSec(speedText: string): number | undefined {
  const text = speedText.trim()
  if (!/^\d+$/.test(text)) return undefined
  const mbps = Number(text)
  if (mbps <= 0 || mbps === 65535 || mbps === 4294967295) return undefined
  return mbps * 1_000_000
}

/**
 * Negotiated speed of each interface under `<sysRoot>/class/net`, by name; interfaces without one (down,
 * virtual: the kernel answers EINVAL) are left out. Undefined when none has a speed.
 */
export async function readLinkSpeeds(sysRoot = '/sys'): Promise<Record<string, number> | undefined> {
  const dir = `${sysRoot}/class/net`
  let names: string[]
  try { names = readdirSync(dir) } catch { names = [] }
  names = names.filter(n => n.length <= 64).sort()
  const speeds = names.map(n => { try { return linkSpeedBitsPerSec(readPseudoFile(`${dir}/${n}/speed`)) } catch { return undefined } })
  // The wire contract takes 1000 interfaces.
  const known = names.flatMap((n, i) => speeds[i] === undefined ? [] : [[n, speeds[i]] as const]).slice(0, 1000)
  return known.length > 0 ? Object.fromEntries(known) : undefined
}

/** Keeps the previous counters so each call reports per-second rates since the last call. */
export class NetworkCollector {
  private previous: { at: number; counters: Map<string, InterfaceCounters> } | undefined

  constructor(private readonly procRoot = '/proc', private readonly sysRoot = '/sys') {}

  async collect(): Promise<NetworkItem[]> {
    const text = readPseudoFile(`${this.procRoot}/net/dev`)
    const at = performance.now()
    const counters = parseNetDev(text)
    const previous = this.previous
    this.previous = { at, counters: new Map(counters.map(c => [c.interface, c])) }
    const elapsed = previous ? (at - previous.at) / 1000 : 0

    return counters.map((c): NetworkItem => {
      const item: NetworkItem = { ...c, is_up: this.isUp(c.interface) }
      const before = previous?.counters.get(c.interface)
      if (!before) return item
      return {
        ...item,
        bytes_sent_per_sec: round(counterRate(before.bytes_sent, c.bytes_sent, elapsed)),
        bytes_recv_per_sec: round(counterRate(before.bytes_recv, c.bytes_recv, elapsed)),
        packets_sent_per_sec: round(counterRate(before.packets_sent, c.packets_sent, elapsed)),
        packets_recv_per_sec: round(counterRate(before.packets_recv, c.packets_recv, elapsed)),
      }
    })
  }

  private isUp(name: string): boolean | undefined {
    const dir = `${this.sysRoot}/class/net/${name}`
    try {
      return interfaceIsUp(readPseudoFile(`${dir}/operstate`), readPseudoFile(`${dir}/flags`))
    } catch {
      return undefined // interface vanished between reads, or /sys is not mounted
    }
  }
}
