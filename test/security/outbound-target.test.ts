// The SSRF guard, as a table: literal addresses of every non-public kind (IPv4, IPv6, IPv4 inside IPv6),
// names resolving there (through an injected resolver, so no DNS traffic leaves the machine), and the
// ALERT_TARGETS_ALLOW_PRIVATE escape hatch. 'localhost' is resolved by the system from /etc/hosts.
import t from 'tap'
import { lookup } from 'node:dns'
import { createServer, request } from 'node:http'
import { OutboundTargetError, checkOutboundTarget, guardedLookup, nonPublicReason, targetHost, type Resolver } from '../../services/security/outbound-target.ts'

const REFUSED: Array<[string, RegExp]> = [
  ['0.0.0.0', /unspecified/], ['0.1.2.3', /unspecified/], ['127.0.0.1', /loopback/], ['127.255.255.254', /loopback/],
  ['10.0.0.1', /private/], ['10.255.255.255', /private/], ['172.16.0.1', /private/], ['172.31.255.254', /private/],
  ['192.168.1.1', /private/], ['100.64.0.1', /carrier-grade/], ['169.254.169.254', /link-local/], ['192.0.0.8', /reserved/],
  ['198.18.0.1', /benchmark/], ['224.0.0.1', /multicast/], ['240.0.0.1', /reserved/], ['255.255.255.255', /reserved/],
  ['::', /unspecified/], ['::1', /loopback/], ['0:0:0:0:0:0:0:1', /loopback/], ['fe80::1', /link-local/], ['fe80::1%eth0', /link-local/],
  ['febf::1', /link-local/], ['fc00::1', /unique-local/], ['fd12:3456:789a::1', /unique-local/], ['fec0::1', /site-local/],
  ['ff02::1', /multicast/], ['::ffff:127.0.0.1', /IPv4-mapped loopback/], ['::ffff:7f00:1', /IPv4-mapped loopback/],
  ['::ffff:10.1.2.3', /IPv4-mapped private/], ['::ffff:169.254.169.254', /IPv4-mapped link-local/], ['::127.0.0.1', /IPv4-mapped loopback/],
  ['::ffff:0:192.168.0.1', /IPv4-translated private/], ['64:ff9b::10.0.0.1', /NAT64 private/], ['64:ff9b::7f00:1', /NAT64 loopback/],
  ['2002:7f00:1::1', /6to4 loopback/], ['2002:c0a8:101::', /6to4 private/], ['2001:0:4136:e378::1', /Teredo/], ['2001:db8::1', /documentation/],
  ['100::1', /discard/],
]
const PUBLIC = ['1.1.1.1', '8.8.8.8', '93.184.216.34', '172.32.0.1', '172.15.255.255', '100.128.0.1', '169.255.0.1', '192.169.0.1', '11.0.0.1',
  '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1']

t.test('nonPublicReason: every non-public kind refused, with the kind named; public addresses pass', async (t) => {
  for (const [address, reason] of REFUSED) t.match(nonPublicReason(address), reason, `${address} refused`)
  for (const address of PUBLIC) t.equal(nonPublicReason(address), undefined, `${address} is public`)
})

/** A resolver for test names; anything else is unknown (ENOTFOUND), never sent to a real DNS server. */
const fakeDns: Resolver = async (host) => {
  const table: Record<string, Array<[string, 4 | 6]>> = {
    'hooks.slack.example': [['3.120.0.1', 4], ['2a05:d014::1', 6]],
    'intranet.example': [['10.0.0.5', 4]],
    'metadata.example': [['169.254.169.254', 4]],
    'mixed.example': [['93.184.216.34', 4], ['192.168.0.10', 4]],
    'v6-local.example': [['fd00::5', 6]],
    'mapped.example': [['::ffff:127.0.0.1', 6]],
  }
  const hit = table[host.toLowerCase()]
  if (!hit) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
  return hit.map(([address, family]) => ({ address, family }))
}

async function refusal(target: string, opts = {}): Promise<OutboundTargetError | undefined> {
  try {
    await checkOutboundTarget(target, { resolve: fakeDns, ...opts })
    return undefined
  } catch (err) {
    if (err instanceof OutboundTargetError) return err
    throw err
  }
}

t.test('URLs and hosts: literal, bracketed, decimal and DNS forms', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['https://hooks.slack.example/services/T000/B000/XXXX', undefined],
    ['https://intranet.example/hook', 'private'],
    ['http://metadata.example/latest/meta-data/', 'private'],
    ['https://mixed.example/', 'private'],
    ['https://v6-local.example/', 'private'],
    ['https://mapped.example/', 'private'],
    ['http://127.0.0.1:8080/api', 'private'],
    ['http://[::1]:8080/', 'private'],
    ['http://[::ffff:127.0.0.1]/', 'private'],
    ['http://[::ffff:a9fe:a9fe]/', 'private'],
    ['http://2130706433/', 'private'], // decimal 127.0.0.1, normalized by the URL parser
    ['http://0x7f.1/', 'private'],
    ['http://017700000001/', 'private'],
    ['http://user:pass@10.0.0.1/', 'private'],
    ['https://[fe80::1%25eth0]/', 'invalid'],
    ['ftp://hooks.slack.example/', 'scheme'],
    ['file:///etc/passwd', 'scheme'],
    ['https://unknown-name.example/', 'unresolvable'],
    ['smtp.intranet.example', 'unresolvable'],
    ['intranet.example', 'private'],
    ['intranet.example:587', 'private'],
    ['hooks.slack.example:465', undefined],
    ['10.1.1.1:25', 'private'],
    ['[fd00::1]:25', 'private'],
    ['fd00::1', 'private'],
    ['8.8.8.8', undefined],
    ['bad host name', 'invalid'],
    ['https://', 'invalid'],
  ]
  for (const [target, reason] of cases) {
    const err = await refusal(target)
    t.equal(err?.reason, reason, `${target} → ${reason ?? 'allowed'}${err ? ` (${err.message})` : ''}`)
  }
  const mixed = await refusal('https://mixed.example/')
  t.match(mixed?.message, /resolves to 192\.168\.0\.10/, 'the message names the address')
  t.match(mixed?.message, /ALERT_TARGETS_ALLOW_PRIVATE=true/, 'and the way to allow it')
})

t.test('ALERT_TARGETS_ALLOW_PRIVATE=true lets private targets through, but not invalid ones', async (t) => {
  for (const target of ['https://intranet.example/hook', 'http://127.0.0.1:9/', 'http://[::1]/', 'fd00::1']) {
    t.equal(await refusal(target, { allowPrivate: true }), undefined, `${target} allowed`)
  }
  t.equal((await refusal('ftp://intranet.example/', { allowPrivate: true }))?.reason, 'scheme')
  t.equal((await refusal('https://unknown-name.example/', { allowPrivate: true }))?.reason, 'unresolvable')
})

t.test('the system resolver: localhost resolves (from /etc/hosts) to loopback and is refused', async (t) => {
  const addresses = await new Promise<string[]>((resolve, reject) => lookup('localhost', { all: true }, (e, a) => (e ? reject(e) : resolve(a.map((x) => x.address)))))
  t.ok(addresses.length > 0, `localhost resolves to ${addresses.join(', ')}`)
  const err = await checkOutboundTarget('http://localhost:8080/').then(() => undefined, (e: OutboundTargetError) => e)
  t.equal(err?.reason, 'private')
  t.equal(targetHost('https://Hooks.Example.COM./x'), 'hooks.example.com.')
})

t.test('guardedLookup refuses at connect time (a name that changes its answer after the check)', async (t) => {
  const server = createServer((_req, res) => res.end('reached')).listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  // The first answer is public, the second (at connect time) is loopback: DNS rebinding.
  let calls = 0
  const rebinding: Resolver = async () => (++calls === 1 ? [{ address: '93.184.216.34', family: 4 }] : [{ address: '127.0.0.1', family: 4 }])
  t.equal((await refusal('http://rebind.example/', { resolve: rebinding })), undefined, 'the configuration-time check passes')
  const get = (lookupFn: ReturnType<typeof guardedLookup>) => new Promise<string>((resolve, reject) => {
    const req = request({ host: 'rebind.example', port, path: '/', lookup: lookupFn }, (res) => {
      let body = ''
      res.on('data', (c) => { body += c })
      res.on('end', () => resolve(body))
    })
    req.on('error', reject)
    req.end()
  })
  await t.rejects(get(guardedLookup({ resolve: rebinding })), /loopback/, 'the connection is refused before it is made')
  t.equal(await get(guardedLookup({ resolve: rebinding, allowPrivate: true })), 'reached', 'control: with private targets allowed it connects')
})
