// Host inventory for the batch's `host` field: identity, OS, hardware, virtualization, cloud provider and placement.
import { execFile } from 'node:child_process'
import { statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import type { HostInfo } from '../contract/ingest-batch.ts'
import pkg from '../package.json' with { type: 'json' }
import type { AgentLog } from './logger.ts'
import { readLinkSpeeds } from './network.ts'
import { readPseudoFileOr } from './pseudo-files.ts'

export const AGENT_VERSION: string = pkg.version

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

/** AWS sizes like t3.micro, m7i-flex.large, u-6tb1.metal, c7i.metal-24xl: a family with a generation digit, a dot, a size. */
const AWS_INSTANCE_TYPE = /^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9-]+$/

/** On AWS (Nitro) the DMI product name is the instance type; elsewhere it names the hardware, not a size. */
export function instanceTypeFromDmi(ids: DmiIds, provider = cloudProviderFromDmi(ids)): string | undefined {
  const name = ids.product_name?.trim() ?? ''
  return provider === 'aws' && name.length <= 64 && AWS_INSTANCE_TYPE.test(name) ? name : undefined
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

/** What can change while the agent runs (DHCP, hostnamectl, memory hotplug, a renegotiated link): cheap to read, read every batch. */
export type HostIdentity = Pick<Inventory, 'hostname' | 'ip_address' | 'ip_addresses' | 'kernel' | 'memory_total_bytes' | 'link_speed_bits_per_sec'>
/** What needs systeminformation (helper commands, tens of ms): read at start and when the OS changes. */
export type HostDetails = Omit<Inventory, keyof HostIdentity>

/** Cloud region and instance type as the operator gave them (--region, --instance-type): they win over DMI. */
export type HostPlacement = Pick<HostInfo, 'region' | 'instance_type'>

export async function collectHostIdentity(sysRoot = '/sys'): Promise<HostIdentity> {
  const routes = readPseudoFileOr('/proc/net/route', '')
  const linkSpeeds = await readLinkSpeeds(sysRoot)
  const nics = os.networkInterfaces()
  const external = Object.entries(nics).flatMap(([name, addrs]) => (addrs ?? []).filter(a => !a.internal).map(a => ({ name, ...a })))
  const defaultIf = defaultRouteInterface(routes)
  const primary = external.find(a => a.family === 'IPv4' && a.name === defaultIf) ?? external.find(a => a.family === 'IPv4') ?? external[0]
  return dropUndefined({
    hostname: os.hostname().slice(0, 255) || 'localhost',
    ip_address: primary?.address,
    ip_addresses: external.map(a => a.address).slice(0, 256),
    kernel: os.release().slice(0, 128),
    memory_total_bytes: os.totalmem(),
    link_speed_bits_per_sec: linkSpeeds,
  })
}

export async function collectHostDetails(dmiRoot = '/sys/class/dmi/id'): Promise<HostDetails> {
  // Loaded on first use: the per-interval path never needs it, and it costs memory.
  const { default: si } = await import('systeminformation')
  const [osInfo, cpu, system, dmi] = await Promise.all([si.osInfo(), si.cpu(), si.system(), readDmi(dmiRoot)])
  const cloudProvider = cloudProviderFromDmi(dmi)
  return dropUndefined({
    os: (osInfo.distro || os.type()).slice(0, 128),
    os_version: (osInfo.release || os.release()).slice(0, 128),
    agent_version: AGENT_VERSION,
    arch: (osInfo.arch || os.arch()).slice(0, 32),
    cpu_model: ([cpu.manufacturer, cpu.brand].filter(Boolean).join(' ') || (os.cpus()[0]?.model ?? '')).slice(0, 256),
    cpu_cores: os.cpus().length,
    virtualization: system.virtual ? (system.virtualHost || 'unknown').slice(0, 64) : undefined,
    cloud_provider: cloudProvider,
    instance_type: instanceTypeFromDmi(dmi, cloudProvider),
  })
}

export type HostDetailsSource = () => Promise<HostDetails>

/**
 * Host details read by a short-lived copy of the agent (`command` plus `--host-details`), so
 * systeminformation's ~10 MB never stay resident in the long-running agent.
 */
export function hostDetailsInChild(command: [string, ...string[]], timeoutMs = 30_000): HostDetailsSource {
  return () => new Promise((resolve, reject) => {
    execFile(command[0], [...command.slice(1), '--host-details'], { timeout: timeoutMs, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`host details helper failed: ${(stderr || err.message).trim().split('\n')[0]}`))
      try { resolve(JSON.parse(stdout) as HostDetails) } catch { reject(new Error('host details helper printed no JSON')) }
    })
  })
}

export interface InventoryOptions {
  /** How the OS/hardware part is read; default in this process. */
  details?: HostDetailsSource
  /** The host's /sys (link speeds); default /sys. */
  sysRoot?: string
  placement?: HostPlacement
  /** The host's `/` as this process sees it (HOSTPULSE_HOST_ROOT in a container): its os-release names the OS. */
  rootfs?: string
}

/** NAME and VERSION_ID of an os-release file (shell-style assignments, values optionally quoted). */
export function parseOsRelease(text: string): { name?: string; versionId?: string } {
  const fields = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim())
    if (!m) continue
    let value = m[2]
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1).replace(/\\(["\\$`])/g, '$1')
    fields.set(m[1], value)
  }
  return dropUndefined({ name: fields.get('NAME') || undefined, versionId: fields.get('VERSION_ID') || undefined })
}

/**
 * In a container, the library reads the image's /etc/os-release: the host's, under its root, names the OS
 * the host runs. Outside one (rootfs '/') the details are as read.
 */
async function onHostOs(details: HostDetails, rootfs: string | undefined): Promise<HostDetails> {
  if (!rootfs || rootfs === '/') return details
  const text = await readFile(join(rootfs, OS_RELEASE), 'utf8').catch(() => '')
  const { name, versionId } = parseOsRelease(text)
  return name ? { ...details, os: name.slice(0, 128), os_version: (versionId ?? '').slice(0, 128) || undefined } : details
}

/** Everything at once; for a caller that needs the inventory one time (tests, enrollment). */
export async function collectInventory(opts: InventoryOptions = {}): Promise<Inventory> {
  const [details, identity] = await Promise.all([(opts.details ?? collectHostDetails)(), collectHostIdentity(opts.sysRoot)])
  return inventoryOf(await onHostOs(details, opts.rootfs), identity, opts.placement)
}

function inventoryOf(details: HostDetails, identity: HostIdentity, placement: HostPlacement = {}): Inventory {
  return { ...details, ...identity, ...dropUndefined({ ...placement }) }
}

/** Absent fields are left out, so the JSON carries no nulls the server would have to special-case. */
function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k]
  return o
}

const OS_RELEASE = '/etc/os-release'

/**
 * How long a read inventory is carried by the batches that follow before it is read again: the identity
 * (addresses, link speeds, hostname) costs a netlink dump and a file per interface, a fifth of the
 * collectors' time besides processes at one collection a second, and changes far more rarely than that.
 */
export const INVENTORY_REREAD_MS = 30_000

/**
 * The inventory every batch carries: identity re-read at most every INVENTORY_REREAD_MS, details kept until
 * /etc/os-release changes (a distribution upgrade), so a steady-state batch starts no helper process.
 */
export class InventoryTracker {
  private details: { osReleaseMtime: number; value: Promise<HostDetails> } | undefined
  private last: string | undefined
  private read: { at: number; inventory: Inventory } | undefined
  private readonly readDetails: HostDetailsSource

  constructor(private readonly log: AgentLog = () => {}, private readonly opts: InventoryOptions = {}) {
    this.readDetails = opts.details ?? collectHostDetails
  }

  /** The inventory as last read when that was less than INVENTORY_REREAD_MS before `now`; read afresh otherwise. */
  async current(now = performance.now()): Promise<Inventory> {
    if (this.read && now - this.read.at < INVENTORY_REREAD_MS) return this.read.inventory
    const inventory = await this.readNow()
    this.read = { at: now, inventory }
    return inventory
  }

  private async readNow(): Promise<Inventory> {
    let mtime = 0
    const rootfs = this.opts.rootfs ?? '/'
    try { mtime = statSync(join(rootfs, OS_RELEASE)).mtimeMs } catch { /* no os-release: 0, as before it appears */ }
    if (!this.details || this.details.osReleaseMtime !== mtime) {
      const previous = this.details?.value
      const value = this.readDetails().then(d => onHostOs(d, rootfs)).catch(async err => {
        this.log('warn', `host inventory failed (${(err as Error).message}); sending the basic host facts only`)
        return previous ?? { agent_version: AGENT_VERSION, arch: os.arch(), cpu_model: '', cpu_cores: os.cpus().length }
      })
      this.details = { osReleaseMtime: mtime, value }
    }
    const [details, identity] = await Promise.all([this.details.value, collectHostIdentity(this.opts.sysRoot)])
    const inv = inventoryOf(details, identity, this.opts.placement)
    const text = JSON.stringify(inv)
    if (this.last !== undefined && text !== this.last) this.log('info', `host inventory changed: ${describeChange(JSON.parse(this.last) as Inventory, inv)}`)
    this.last = text
    return inv
  }
}

function describeChange(before: Inventory, after: Inventory): string {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)] as Array<keyof Inventory>)
  return [...keys].filter(k => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
    .map(k => `${k} ${JSON.stringify(before[k])} → ${JSON.stringify(after[k])}`).join(', ')
}
