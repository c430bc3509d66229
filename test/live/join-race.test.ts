// A page reload while a read is running: the last client leaves (its cleanup queues behind the read) and
// a new client joins straight after. The new client must keep getting updates, not only its snapshot.
// Driven with a fake database whose answers wait until the test lets them through.
import t from 'tap'
import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type CompiledQuery, type DatabaseConnection, type Driver, type QueryResult } from 'kysely'
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from '../../services/store/database.ts'
import type { LiveConnection } from '../../services/live/live-connection.ts'
import { FleetStream } from '../../services/live/fleet-stream.ts'
import { MetricsClient, MetricsStream } from '../../services/live/metrics-stream.ts'
import { until } from './live-helpers.ts'

const ORG = '00000000-0000-4000-8000-000000000001'
const AGENT = '00000000-0000-4000-8000-000000000002'

/** Every query waits while the gate is held; readSamples answers one cpu sample at `sampleTime`. */
class SlowDatabase {
  private gate: Promise<void> = Promise.resolve()
  private open = () => {}
  started = 0
  sampleTime = new Date()

  hold(): void { this.gate = new Promise((resolve) => { this.open = resolve }) }
  release(): void { this.open() }

  readonly db = new Kysely<Database>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createQueryCompiler: () => new PostgresQueryCompiler(),
      createIntrospector: (db) => new PostgresIntrospector(db),
      createDriver: (): Driver => {
        const connection: DatabaseConnection = {
          executeQuery: async <R>(query: CompiledQuery): Promise<QueryResult<R>> => {
            this.started++
            await this.gate
            const rows = query.sql.includes('select metric_type as type')
              ? [{ type: 'cpu', name: 'usage_percent', tags: {}, time: this.sampleTime, value: 42 }]
              : []
            return { rows: rows as R[] }
          },
          streamQuery: () => { throw new Error('not used') },
        }
        return {
          init: async () => {}, destroy: async () => {},
          acquireConnection: async () => connection, releaseConnection: async () => {},
          beginTransaction: async () => {}, commitTransaction: async () => {}, rollbackTransaction: async () => {},
        }
      },
    },
  })
}

const warnings: unknown[] = []
const log = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as FastifyBaseLogger

interface FakeConnection { open: boolean; principal: { orgId: string }; messages: any[]; send(m: { data: Buffer }): void }
const fakeConnection = (): FakeConnection => ({
  open: true, principal: { orgId: ORG }, messages: [],
  send(m) { this.messages.push(JSON.parse(m.data.toString())) },
})
const ingest = (time = new Date()) => ({ orgId: ORG, agentId: AGENT, agentName: 'web-01', time: time.toISOString() })

t.test('fleet: a client joining while the last one\'s cleanup waits behind a read keeps getting updates', async (t) => {
  const fake = new SlowDatabase()
  const fleet = new FleetStream(fake.db, log, { onlineWindowSeconds: 20 })
  const first = fakeConnection()
  fleet.join(first as unknown as LiveConnection)
  await until(() => first.messages.some((m) => m.type === 'snapshot'), 5000, 'the first client\'s snapshot')

  fake.hold()
  const before = fake.started
  fleet.onIngest(ingest())
  await until(() => fake.started > before, 5000, 'a read in progress')
  fleet.leave(first as unknown as LiveConnection)
  first.open = false
  const second = fakeConnection()
  fleet.join(second as unknown as LiveConnection)
  fake.release()
  await until(() => second.messages.some((m) => m.type === 'snapshot'), 5000, 'the second client\'s snapshot')

  t.equal(fleet.clientCount, 1, 'the new client is counted')
  fleet.onAlert(JSON.stringify({ org_id: ORG, event_id: 'e1', state: 'firing', rule_name: 'cpu-high' }))
  await until(() => second.messages.some((m) => m.type === 'alert'), 5000, 'the alert after the snapshot')
  t.pass('an alert after the snapshot reaches the new client')
  t.same(warnings, [], 'no read failed')
})

t.test('metrics: a client joining while the last one\'s cleanup waits behind a read keeps getting updates', async (t) => {
  const fake = new SlowDatabase()
  const metrics = new MetricsStream(fake.db, log, { snapshotSeconds: 30 })
  const first = fakeConnection()
  const firstClient = new MetricsClient(first as unknown as LiveConnection, AGENT, 'web-01')
  metrics.join(firstClient)
  await until(() => first.messages.some((m) => m.type === 'metrics'), 5000, 'the first client\'s snapshot')

  fake.hold()
  const before = fake.started
  fake.sampleTime = new Date(Date.now() + 1000)
  metrics.onIngest(ingest(fake.sampleTime))
  await until(() => fake.started > before, 5000, 'a read in progress')
  metrics.leave(firstClient)
  first.open = false
  const second = fakeConnection()
  metrics.join(new MetricsClient(second as unknown as LiveConnection, AGENT, 'web-01'))
  fake.release()
  await until(() => second.messages.some((m) => m.type === 'metrics'), 5000, 'the second client\'s snapshot')
  const afterSnapshot = second.messages.length

  t.equal(metrics.clientCount, 1, 'the new client is counted')
  fake.sampleTime = new Date(Date.now() + 2000)
  metrics.onIngest(ingest(fake.sampleTime))
  await until(() => second.messages.length > afterSnapshot, 5000, 'the value pushed after the snapshot')
  const pushed = second.messages.at(-1)
  t.same(Object.values(pushed.data).map((v: any) => [v.value, v.timestamp]), [[42, fake.sampleTime.toISOString()]], 'the next ingest\'s value reaches the new client')
  t.same(warnings, [], 'no read failed')
})
