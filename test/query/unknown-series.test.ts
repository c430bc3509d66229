// Errors instead of silence on GET /api/v1/metrics/series, /stats and /compare: an unknown metric or tag is a
// 400 naming it with the known ones, a well-formed series the agent never reported is a 404 naming what exists,
// and a metric an agent has data for (its own agent's, or any line-protocol-style type) is served, not refused.
import t, { type Test } from 'tap'
import { assertError, disk, makeBatch, metric, network, proc, rowCounts, startClient, type Reply } from '../test-client.ts'
import { MINUTE, floorTo, isoAt } from './query-helpers.ts'

const enc = encodeURIComponent

t.test('unknown metrics, tags and series', async (t) => {
  const api = await startClient(t)
  const B = floorTo(MINUTE) - 30 * MINUTE
  const at = (minute: number) => isoAt(B, minute * MINUTE)
  const a = await api.createAgent('known-a')
  const b = await api.createAgent('known-b')
  await api.createAgent('fresh-c')
  const batches = Array.from({ length: 10 }, (_, i) => makeBatch({
    time: at(i),
    metrics: [
      metric('cpu', 'usage_percent', i), metric('cpu', 'usage_percent', 10 + i, { tags: { core: '0' } }), metric('cpu', 'usage_percent', 20 + i, { tags: { core: '1' } }),
      // What Telegraf's docker and disk inputs write through line protocol: any type, tagged series.
      metric('docker_stats', 'cpu', 100 + i, { tags: { container: 'web' } }), metric('docker_stats', 'cpu', 200 + i, { tags: { container: 'db' } }),
      metric('disk', 'used_percent', 40 + i, { tags: { path: '/', fstype: 'ext4' } }),
    ],
    disks: [disk('/'), disk('/boot')],
    networks: [network('eth0')],
    processes: [proc(10, 'nginx')],
  }))
  t.equal((await api.ingest(a.api_key, batches)).status, 202)
  t.equal((await api.ingest(b.api_key, [makeBatch({ time: at(0), metrics: [metric('nginx', 'requests', 5)], disks: [], networks: [], processes: [] })])).status, 202)
  const span = `start=${enc(at(0))}&end=${enc(at(10))}`
  const series = (q: string, agent = 'known-a') => api.get(`/api/v1/metrics/series/${agent}?${q}&${span}`)
  const stats = (q: string, agent = 'known-a') => api.get(`/api/v1/metrics/stats/${agent}?${q}&${span}`)
  const compare = (q: string, agents = 'known-a,fresh-c') => api.get(`/api/v1/metrics/compare?agents=${agents}&${q}&${span}`)
  const before = await rowCounts(api.store)

  /** The error format with `details[field]` holding the message, which contains every `parts`. */
  function refused(t: Test, res: Reply, status: number, field: string, parts: string[], msg: string) {
    assertError(t, res, status, status === 400 ? 'VALIDATION_ERROR' : 'NOT_FOUND', msg)
    t.same(res.body?.details?.[field], [res.body?.message], `${msg}: details.${field} carries the message (${JSON.stringify(res.body?.details)})`)
    for (const part of parts) t.match(res.body?.message, part, `${msg}: message names ${part}`)
  }

  t.test('an unknown metric is a 400 naming it and the known ones, on series, stats and compare', async (t) => {
    for (const [name, read] of [['series', series], ['stats', stats], ['compare', compare]] as const) {
      const res = await read('metric=cpu.usge_percent')
      refused(t, res, 400, 'metric', ['Unknown metric "cpu.usge_percent": known metrics are cpu.cores, ', 'cpu.usage_percent, cpu.user; ',
        'other types: containers, disk, diskio, docker_stats, load, memory, network, process, sessions, swap', 'Did you mean cpu.usage_percent?'], name)
      t.notMatch(res.body.message, 'nginx', `${name}: another agent's metric is not listed`)
    }
    // An unknown type lists every known metric, the catalog's and what the agent has.
    refused(t, await series('metric=nosuch.thing'), 400, 'metric', ['Unknown metric "nosuch.thing": known metrics are ', 'cpu.usage_percent',
      'disk.usage_percent', 'docker_stats.cpu', 'memory.usage_percent', 'network.rx_bytes_per_sec', 'process.cpu_percent'], 'unknown type')
    refused(t, await stats('metric=dokcer_stats.cpu'), 400, 'metric', ['Did you mean docker_stats.cpu?'], 'a typo in the type')
    // Known for the agent that has it, unknown for the one that does not.
    t.equal((await series('metric=nginx.requests', 'known-b')).status, 200, 'known-b has nginx.requests')
    refused(t, await series('metric=nginx.requests'), 400, 'metric', ['Unknown metric "nginx.requests"'], 'nginx.requests on known-a')
    t.equal((await compare('metric=nginx.requests', 'known-a,known-b')).status, 200, 'compare: one agent having it makes it known')
    // A disk name that is neither a disk_metrics column nor a stored series of type disk.
    refused(t, await series(`metric=disk.bogus&tags.mount_point=${enc('/')}`), 400, 'metric', ['Unknown metric "disk.bogus"', 'disk.usage_percent'], 'wide')
  })

  t.test('an unknown tag key is a 400 naming the known tags', async (t) => {
    refused(t, await series('metric=cpu.usage_percent&tags.colour=red'), 400, 'tags.colour', ['Unknown tag "colour" for cpu.usage_percent: known tags are core'], 'cpu')
    refused(t, await stats('metric=docker_stats.cpu&tags.colour=red'), 400, 'tags.colour', ['Unknown tag "colour" for docker_stats.cpu: known tags are container'], 'stats')
    refused(t, await compare('metric=memory.usage_percent&tags.colour=red'), 400, 'tags.colour', ['Unknown tag "colour" for memory.usage_percent: its series carry no tags'], 'compare')
    // Wide families keep the catalog's answer.
    const wide = await series(`metric=disk.usage_percent&tags.mount_point=${enc('/')}&tags.colour=red`)
    assertError(t, wide, 400, 'VALIDATION_ERROR', 'disk')
    t.match(wide.body.message, 'tags.mount_point or tags.device')
  })

  t.test('a tag value the agent never reported is a 404 naming the values it has', async (t) => {
    refused(t, await series('metric=cpu.usage_percent&tags.core=7'), 404, 'tags.core',
      ['No series cpu.usage_percent with tags.core=7 for agent "known-a": core values are 0, 1'], 'series')
    refused(t, await stats('metric=cpu.usage_percent&tags.core=7'), 404, 'tags.core', ['core values are 0, 1'], 'stats')
    refused(t, await compare('metric=cpu.usage_percent&tags.core=7'), 404, 'tags.core', ['for agents "known-a", "fresh-c": core values are 0, 1'], 'compare')
    refused(t, await series('metric=docker_stats.cpu&tags.container=cache'), 404, 'tags.container', ['container values are db, web'], 'custom')
    refused(t, await series('metric=docker_stats.cpu'), 404, 'tags', ['No untagged series docker_stats.cpu', 'tags.container (db, web)'], 'untagged')
    refused(t, await series('metric=cpu.usage_percent&tags.core=0', 'fresh-c'), 404, 'tags.core', ['it has reported no cpu.usage_percent series'], 'fresh agent')
    refused(t, await series(`metric=disk.usage_percent&tags.mount_point=${enc('/data')}`), 404, 'tags.mount_point',
      ['No series disk.usage_percent with tags.mount_point=/data for agent "known-a": mount_point values seen in the last 30 days are /, /boot'], 'disk')
    refused(t, await stats(`metric=disk.usage_percent&tags.mount_point=${enc('/')}&tags.device=sdz`), 404, 'tags.device',
      ['device values seen with tags.mount_point=/ in the last 30 days are /dev/sd1'], 'disk device')
    refused(t, await series('metric=network.rx_bytes_per_sec&tags.interface=eth9'), 404, 'tags.interface', ['interface values seen in the last 30 days are eth0'], 'network')
    refused(t, await compare('metric=process.cpu_percent&tags.name=redis'), 404, 'tags.name', ['name values seen in the last 30 days are nginx'], 'process')
    refused(t, await series('metric=process.cpu_percent&tags.name=nginx', 'fresh-c'), 404, 'tags.name', ['no name seen in the last 30 days'], 'fresh agent, wide')
  })

  t.test('what an agent has is served: line-protocol-style types, tagged series, the catalog', async (t) => {
    const web = await series('metric=docker_stats.cpu&tags.container=web&step=1m')
    t.equal(web.status, 200, `docker_stats.cpu web: ${web.text.slice(0, 200)}`)
    t.same(web.body.values, Array.from({ length: 10 }, (_, i) => 100 + i))
    const st = await stats('metric=docker_stats.cpu&tags.container=db')
    t.equal(st.status, 200)
    t.equal(st.body.count, 10)
    t.equal(st.body.max, 209)
    const cmp = await compare('metric=docker_stats.cpu&tags.container=db&step=1m')
    t.equal(cmp.status, 200)
    t.same(cmp.body.series.map((s: any) => s.agent_id), ['known-a', 'fresh-c'])
    t.same(cmp.body.series[1].values, Array.from({ length: 10 }, () => null), 'an agent without the series gets nulls')
    // Telegraf's disk input: type disk, a name that is no disk_metrics column, read from the metrics table.
    const telegraf = await series(`metric=disk.used_percent&tags.path=${enc('/')}&step=1m`)
    t.equal(telegraf.status, 200, `disk.used_percent: ${telegraf.text.slice(0, 200)}`)
    t.same(telegraf.body.values, Array.from({ length: 10 }, (_, i) => 40 + i))
    // The catalog's untagged series of an agent that has not sent it yet: empty, not an error.
    for (const q of ['metric=cpu.usage_percent', 'metric=memory.usage_percent', 'metric=load.load1']) {
      const fresh = await series(q, 'fresh-c')
      t.equal(fresh.status, 200, `${q} on a fresh agent`)
      t.same([fresh.body.timestamps, fresh.body.values], [[], []])
      t.equal((await stats(q, 'fresh-c')).body.count, 0)
    }
    // A known series with nothing in the window is empty, not an error.
    const early = await api.get(`/api/v1/metrics/series/known-a?metric=docker_stats.cpu&tags.container=web&start=${enc(at(-20))}&end=${enc(at(-10))}`)
    t.equal(early.status, 200)
    t.same(early.body.values, [])
    const earlyDisk = await api.get(`/api/v1/metrics/stats/known-a?metric=disk.usage_percent&tags.mount_point=${enc('/boot')}&start=${enc(at(-20))}&end=${enc(at(-10))}`)
    t.equal(earlyDisk.status, 200)
    t.equal(earlyDisk.body.count, 0)
  })

  t.test('a series missing from metrics_latest but stored is never refused', async (t) => {
    await api.store.db.deleteFrom('metrics_latest').where('agent_id', '=', b.id).execute()
    const early = `metric=nginx.requests&start=${enc(at(-20))}&end=${enc(at(-10))}`
    const res = await api.get(`/api/v1/metrics/series/known-b?${early}`)
    t.equal(res.status, 200, `found through the daily aggregate: ${res.text.slice(0, 200)}`)
    t.same(res.body.values, [])
    t.equal((await series('metric=nginx.requests', 'known-b')).body.values[0], 5)
  })

  t.test('odd input is a 4xx, never a 5xx, and stores nothing', async (t) => {
    const odd = [
      `metric=cpu.usage_percent&tags.core=${enc("0' or '1'='1")}`, `metric=docker_stats.cpu&tags.container=${enc('{"a":1}')}`,
      `metric=disk.usage_percent&tags.mount_point=${enc("/'; drop table metrics; --")}`, 'metric=cpu.usage_percent&tags.c%C3%B6re=1',
      `metric=process.cpu_percent&tags.name=${enc('%')}`, 'metric=zz.zz&tags.core=1',
    ]
    for (const q of odd) {
      for (const read of [series, stats, compare]) {
        const res = await read(q)
        t.ok(res.status >= 400 && res.status < 500, `${q}: ${res.status} ${res.text.slice(0, 160)}`)
      }
    }
    t.same(await rowCounts(api.store), before, 'no rows written by any refused read')
  })
})
