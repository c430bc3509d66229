// Host facts for the PerfAnalysis face: link speeds from /sys/class/net, cloud region and instance type
// from the options or, on AWS, from DMI. Read from fake /sys trees; nothing is asked of a metadata service.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Value } from 'typebox/value'
import { HostInfo, IngestBatch } from '../../contract/ingest-batch.ts'
import { BatchCollector } from '../../agent/collect-batch.ts'
import { parseCliOptions, USAGE } from '../../agent/cli-options.ts'
import { collectHostDetails, collectHostIdentity, instanceTypeFromDmi, INVENTORY_REREAD_MS, InventoryTracker, type HostDetails } from '../../agent/inventory.ts'
import { linkSpeedBitsPerSec, readLinkSpeeds } from '../../agent/network.ts'

const NOTHING = { cpu: false, memory: false, disk: false, network: false, processes: false, sessions: false, containers: false } as never
const AWS_DMI = { sys_vendor: 'Amazon EC2', product_name: 'm5.large', bios_vendor: 'Amazon EC2', board_vendor: 'Amazon EC2' }

/** A fake /sys for t.testdir: eth0 up at 1 Gb/s, eth1 without carrier (-1), lo and veth0 without a readable speed. */
function sysTree(dmi: Record<string, string> = {}) {
  return {
    class: {
      net: {
        eth0: { speed: '1000\n', operstate: 'up\n' },
        eth1: { speed: '-1\n', operstate: 'down\n' },
        lo: { operstate: 'unknown\n' },
        // The kernel answers EINVAL for a virtual interface's speed: any read error means "no speed".
        veth0: { speed: {} },
        bonding_masters: 'bond0\n',
      },
      dmi: { id: Object.fromEntries(Object.entries(dmi).map(([k, v]) => [k, `${v}\n`])) },
    },
  }
}

t.test('link speed text: Mb/s to bits/s, unknown markers left out', async t => {
  t.equal(linkSpeedBitsPerSec('1000\n'), 1e9)
  t.equal(linkSpeedBitsPerSec('25000'), 25e9)
  t.equal(linkSpeedBitsPerSec('10'), 1e7)
  for (const unknown of ['-1\n', '', '\n', '0', '65535', '4294967295', 'unknown']) t.equal(linkSpeedBitsPerSec(unknown), undefined, JSON.stringify(unknown))
})

t.test('link speeds from a sys tree: an up link counts, -1, unreadable and missing speed files are left out', async t => {
  const sys = t.testdir(sysTree())
  t.same(await readLinkSpeeds(sys), { eth0: 1e9 })
  t.equal(await readLinkSpeeds(join(sys, 'nothing-here')), undefined, 'no /sys/class/net: no field, not an empty object')
  const identity = await collectHostIdentity(sys)
  t.same(identity.link_speed_bits_per_sec, { eth0: 1e9 }, 'part of the per-batch identity, read under the sys root given')
})

t.test('a renegotiated link shows within 30 s, and in the log; the batches between carry the inventory read', async t => {
  const sys = t.testdir(sysTree())
  const lines: string[] = []
  let detailReads = 0
  const details = async (): Promise<HostDetails> => { detailReads++; return { agent_version: 'test', arch: 'x64', cpu_model: 'test', cpu_cores: 1 } }
  const collector = new BatchCollector((_, msg) => lines.push(msg), { paths: { proc: '/proc', sys, rootfs: '/' }, hostDetails: details })
  t.same((await collector.collect({ collect: NOTHING })).host?.link_speed_bits_per_sec, { eth0: 1e9 }, 'a batch carries the inventory')

  const tracker = new InventoryTracker((_, msg) => lines.push(msg), { details, sysRoot: sys })
  const first = await tracker.current(1_000)
  t.same(first.link_speed_bits_per_sec, { eth0: 1e9 })
  writeFileSync(join(sys, 'class', 'net', 'eth0', 'speed'), '100\n')
  t.equal(await tracker.current(1_000 + INVENTORY_REREAD_MS - 1), first, 'within 30 s: the inventory as read, not read again')
  t.notMatch(lines.join('\n'), /host inventory changed/)
  const later = await tracker.current(1_000 + INVENTORY_REREAD_MS)
  t.same(later.link_speed_bits_per_sec, { eth0: 1e8 }, '30 s on: read again, with the new speed')
  t.match(lines.join('\n'), /host inventory changed: link_speed_bits_per_sec \{"eth0":1000000000\} → \{"eth0":100000000\}/)
  t.equal(INVENTORY_REREAD_MS, 30_000)
  t.equal(detailReads, 2, 'the OS details were read once by each, not again on a re-read (os-release unchanged)')
})

t.test('--region and --instance-type, or HOSTPULSE_REGION and HOSTPULSE_INSTANCE_TYPE', async t => {
  const once = (argv: string[], env: Record<string, string> = {}) => {
    const cmd = parseCliOptions(['--once', ...argv], env)
    return cmd.kind === 'once' ? cmd.placement : 'not once'
  }
  t.equal(once([]), undefined, 'nothing given, nothing declared')
  t.same(once(['--region', 'eu-west-1', '--instance-type', 'm5.large']), { region: 'eu-west-1', instance_type: 'm5.large' })
  t.same(once([], { HOSTPULSE_REGION: 'us-east-2', HOSTPULSE_INSTANCE_TYPE: 'c6g.xlarge' }), { region: 'us-east-2', instance_type: 'c6g.xlarge' })
  t.same(once(['--region', 'fra1'], { HOSTPULSE_REGION: 'us-east-2' }), { region: 'fra1' }, 'the flag beats the environment')
  t.equal(once([], { HOSTPULSE_REGION: '  ', HOSTPULSE_INSTANCE_TYPE: '' }), undefined, 'a blank value is not a value')
  t.throws(() => once(['--region', 'x'.repeat(65)]), /--region \/ HOSTPULSE_REGION is 65 characters long, over the 64/)
  t.throws(() => once([], { HOSTPULSE_INSTANCE_TYPE: 'y'.repeat(65) }), /--instance-type \/ HOSTPULSE_INSTANCE_TYPE is 65 characters long/)

  const config = join(t.testdir({ 'agent.env': 'HOSTPULSE_SERVER=http://127.0.0.1:9\nHOSTPULSE_API_KEY=k\nHOSTPULSE_REGION=ap-south-1\n' }), 'agent.env')
  const run = parseCliOptions(['--config', config], {})
  t.same(run.kind === 'run' && run.placement, { region: 'ap-south-1' }, 'a --config file sets them too')
  for (const flag of ['--region', '--instance-type', 'HOSTPULSE_REGION', 'HOSTPULSE_INSTANCE_TYPE']) t.match(USAGE, flag)
})

t.test('instance type from DMI only on AWS and only when it looks like one', async t => {
  t.equal(instanceTypeFromDmi(AWS_DMI), 'm5.large')
  for (const type of ['t3.micro', 'c7gn.16xlarge', 'm7i-flex.large', 'u-6tb1.metal', 'c7i.metal-24xl', 'mac2-m2pro.metal']) {
    t.equal(instanceTypeFromDmi({ ...AWS_DMI, product_name: type }), type, type)
  }
  for (const product of ['HVM domU', 'M5.LARGE', 'large', 'm5.', '.large', 'm5 .large', `m5.${'x'.repeat(64)}`, '']) {
    t.equal(instanceTypeFromDmi({ ...AWS_DMI, product_name: product }), undefined, `${JSON.stringify(product)} is not an instance type`)
  }
  t.equal(instanceTypeFromDmi({ sys_vendor: 'Google', product_name: 'Google Compute Engine' }), undefined, 'not on GCP')
  t.equal(instanceTypeFromDmi({ sys_vendor: 'QEMU', product_name: 'm5.large' }), undefined, 'a product name shaped like one, but not on AWS')
  t.equal(instanceTypeFromDmi({ sys_vendor: 'Hetzner', product_name: 'vServer' }), undefined)
})

t.test('host details read the instance type from the DMI directory given', async t => {
  const sys = t.testdir(sysTree(AWS_DMI))
  const onAws = await collectHostDetails(join(sys, 'class', 'dmi', 'id'))
  t.equal(onAws.cloud_provider, 'aws')
  t.equal(onAws.instance_type, 'm5.large')
})

t.test('host details on other hardware carry no instance type', async t => {
  const sys = t.testdir(sysTree({ sys_vendor: 'QEMU', product_name: 'Standard PC (Q35 + ICH9, 2009)' }))
  const elsewhere = await collectHostDetails(join(sys, 'class', 'dmi', 'id'))
  t.equal(elsewhere.cloud_provider, undefined)
  t.equal(elsewhere.instance_type, undefined)
})

t.test('a collected batch carries the facts and validates against the wire contract', async t => {
  const sys = t.testdir(sysTree(AWS_DMI))
  const dmi = join(sys, 'class', 'dmi', 'id')
  const paths = { proc: '/proc', sys, rootfs: '/' }

  const fromDmi = await new BatchCollector(() => {}, { paths, hostDetails: () => collectHostDetails(dmi), placement: { region: 'eu-central-1' } })
    .collect({ collect: NOTHING })
  t.same([...Value.Errors(IngestBatch, fromDmi)].slice(0, 5), [], 'no contract violations')
  t.match(fromDmi.host, { link_speed_bits_per_sec: { eth0: 1e9 }, region: 'eu-central-1', instance_type: 'm5.large', cloud_provider: 'aws' })

  const declared = await new BatchCollector(() => {}, { paths, hostDetails: () => collectHostDetails(dmi), placement: { instance_type: 'm5.xlarge' } })
    .collect({ collect: NOTHING })
  t.equal(declared.host?.instance_type, 'm5.xlarge', 'the option beats DMI')
  t.notOk('region' in declared.host!, 'no region given, no region sent')
})

t.test('the contract bounds the new fields', async t => {
  const ok = { hostname: 'h', link_speed_bits_per_sec: { eth0: 1e9, 'enp0s31f6': 0 }, region: 'eu-west-1', instance_type: 'm5.large' }
  t.ok(Value.Check(HostInfo, ok))
  t.notOk(Value.Check(HostInfo, { ...ok, link_speed_bits_per_sec: { eth0: -1 } }), 'negative speed')
  t.notOk(Value.Check(HostInfo, { ...ok, link_speed_bits_per_sec: { eth0: 1.5 } }), 'fractional bits')
  t.notOk(Value.Check(HostInfo, { ...ok, link_speed_bits_per_sec: { ['i'.repeat(65)]: 1 } }), 'interface name over 64 characters')
  const many = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`veth${i}`, 1e10]))
  t.notOk(Value.Check(HostInfo, { ...ok, link_speed_bits_per_sec: many }), 'over 1000 interfaces')
  t.notOk(Value.Check(HostInfo, { ...ok, region: 'r'.repeat(65) }))
  t.notOk(Value.Check(HostInfo, { ...ok, instance_type: 'i'.repeat(65) }))
  t.ok(Value.Check(HostInfo, { hostname: 'h', something_new: true }), 'still open to fields a newer agent sends')
})
