// Statistics over a window long enough to be read from an hourly aggregate (disk, network and process
// families past about six days): the hours wholly inside [start, end) come from the aggregate, the partial
// hours at either edge from raw rows, so a row after `end` in the last hour never counts and a row after
// `start` in the first hour is never left out.
import t from 'tap'
import { disk, makeBatch, startClient } from '../test-client.ts'

const HOUR = 3_600_000

t.test('statistics from an hourly aggregate keep to [start, end)', async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('edges')
  const hour = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR
  const end = hour + 30 * 60_000
  const start = end - 7 * 24 * HOUR
  const TB = 1e12 // used bytes whose square overflows bigint
  const at = (ms: number, percent: number) => makeBatch({
    time: new Date(ms).toISOString(), metrics: [], networks: [], processes: [],
    disks: [disk('/', { usage_percent: percent, used_bytes: percent * TB })],
  })
  await api.ingestOk(agent.api_key, [
    at(start - 10 * 60_000, 1), // before start, in the hour that holds it
    at(start + 10 * 60_000, 5), // inside, in the hour that holds start
    at(start + 3 * HOUR, 7), // inside, a whole hour
    at(end - 10 * 60_000, 10), // inside, in the hour that holds end
    at(end + 10 * 60_000, 99), // after end, in the same hour
  ])
  const window = `start=${encodeURIComponent(new Date(start).toISOString())}&end=${encodeURIComponent(new Date(end).toISOString())}`
  for (const field of ['usage_percent', 'used_bytes']) {
    const scale = field === 'used_bytes' ? TB : 1
    const res = await api.get(`/api/v1/metrics/stats/edges?metric=disk.${field}&tags.mount_point=/&${window}`)
    t.equal(res.status, 200, `${field}: ${res.text.slice(0, 200)}`)
    t.equal(res.body.source, 'disk_metrics_1h', `${field}: read from the hourly aggregate`)
    t.same([res.body.min, res.body.max, res.body.current, res.body.count], [5 * scale, 10 * scale, 10 * scale, 3],
      `${field}: min, max, current and count of the three rows inside the window`)
    t.ok(Math.abs(res.body.avg - (22 / 3) * scale) < 1e-9 * scale, `${field}: their mean (${res.body.avg})`)
  }
})
