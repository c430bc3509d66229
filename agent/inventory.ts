// Host inventory for the batch's `host` field: identity, OS, hardware, virtualization, cloud provider.
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import os from 'node:os'
import si from 'systeminformation'
import type { HostInfo } from '../contract/ingest-batch.ts'

export const AGENT_VERSION: string = createRequire(import.meta.url)('../package.json').version

export interface DmiIds { sys_vendor?: string; product_name?: string; bios_vendor?: string; bios_version?: string; chassis_asset_tag?: string; board_vendor?: string }

/** First match wins; each vendor writes its name into one of the DMI strings. */
const CLOUD_SIGNS: Array<[provider: string, test: (d: Required<DmiIds>) => boolean]> = [
  ['aws', d => /amazon/i.test(d.sys_vendor + d.bios_vendor + d.board_vendor) || /amazon/i.test(d.bios_version)],
  ['gcp', d => /google/i.test(d.sys_vendor + d.product_name + d.bios_vendor)],
  // Azure: Microsoft Hyper-V hardware plus Azure's fixed chassis asset tag.
  ['azure', d => /microsoft/i.test(d.sys_vendor) && (d.chassis_asset_tag === '7783-7084-3265-9085-8269-3286-77' || /azure/i.test(d.product_name))],
  ['digitalocean', d => /digitalocean/i.test(d.sys_vendor + d.bios_vendor)],
  ['hetzner', d => /hetzner/i.test(d.sys_vendor + d.bios_vendor + d.board_vendor)],
  ['oracle', d => /oraclecloud/i.test(d.chassis_asset_tag) || /oracle/i.test(d.sys_vendor) && /oci|cloud/i.test(d.product_name)],
  ['alibaba', d => /alibaba/i.test(d.sys_vendor + d.product_name)],
  ['linode', d => /linode|akamai/i.test(d.sys_vendor)],
  ['vultr', d => /vultr/i.test(d.sys_vendor)],
  ['scaleway', d => /scaleway/i.test(d.sys_vendor + d.product_name)],
  ['openstack', d => /openstack/i.test(d.sys_vendor + d.product_name)],
]

export function cloudProviderFromDmi(ids: DmiIds): string | undefined {
  const d: Required<DmiIds> = { sys_vendor: '', product_name: '', bios_vendor: '', bios_version: '', chassis_asset_tag: '', board_vendor: '', ...ids }
  return CLOUD_SIGNS.find(([, test]) => test(d))?.[0]
}

async function readDmi(root: string): Promise<DmiIds> {
  const keys = ['sys_vendor', 'product_name', 'bios_vendor', 'bios_version', 'chassis_asset_tag', 'board_vendor'] as const
  const values = await Promise.all(keys.map(k => readFile(`${root}/${k}`, 'utf8').then(v => v.trim(), () => undefined)))
  return Object.fromEntries(keys.map((k, i) => [k, values[i]]).filter(([, v]) => v)) as DmiIds
}

/** Interface of the IPv4 default route, from /proc/net/route (destination 00000000). */
export function defaultRouteInterface(routeText: string): string | undefined {
  for (const line of routeText.split('\n').slice(1)) {
    const [iface, destination] = line.trim().split(/\s+/)
    if (destination === '00000000') return iface
  }
  return undefined
}

export interface Inventory extends HostInfo {
  hostname: string
  ip_addresses: string[]
  kernel: string
  arch: string
  cpu_model: string
  cpu_cores: number
  memory_total_bytes: number
  virtualization?: string
  cloud_provider?: string
}

/** Tens of milliseconds (systeminformation may run helper commands): call once and cache. */
export async function collectInventory(dmiRoot = '/sys/class/dmi/id'): Promise<Inventory> {
  const [osInfo, cpu, system, dmi, routes] = await Promise.all([
    si.osInfo(), si.cpu(), si.system(), readDmi(dmiRoot),
    readFile('/proc/net/route', 'utf8').catch(() => ''),
  ])
  const nics = os.networkInterfaces()
  const external = Object.entries(nics).flatMap(([name, addrs]) => (addrs ?? []).filter(a => !a.internal).map(a => ({ name, ...a })))
  const defaultIf = defaultRouteInterface(routes)
  const primary = external.find(a => a.family === 'IPv4' && a.name === defaultIf) ?? external.find(a => a.family === 'IPv4') ?? external[0]
  const cloud = cloudProviderFromDmi(dmi)
  const inv: Inventory = {
    hostname: os.hostname().slice(0, 255) || 'localhost',
    ip_address: primary?.address,
    ip_addresses: external.map(a => a.address),
    os: (osInfo.distro || os.type()).slice(0, 128),
    os_version: (osInfo.release || os.release()).slice(0, 128),
    agent_version: AGENT_VERSION,
    kernel: osInfo.kernel || os.release(),
    arch: osInfo.arch || os.arch(),
    cpu_model: [cpu.manufacturer, cpu.brand].filter(Boolean).join(' ') || (os.cpus()[0]?.model ?? ''),
    cpu_cores: os.cpus().length,
    memory_total_bytes: os.totalmem(),
    virtualization: system.virtual ? (system.virtualHost || 'unknown') : undefined,
    cloud_provider: cloud,
  }
  // Drop absent fields so the JSON carries no nulls the server would have to special-case.
  for (const k of Object.keys(inv) as Array<keyof Inventory>) if (inv[k] === undefined) delete inv[k]
  return inv
}
