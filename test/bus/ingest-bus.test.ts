// The ingest bus on the embedded engine: its local listeners hear every publish in process; a NOTIFY is sent
// only while another bus relays through the same store (no other process can open an embedded database, so
// with one bus alone the NOTIFY would cost a statement on the engine's one session and reach nobody). With
// two, each hears the other's ingests, once, and never its own twice.
import t from 'tap'
import { IngestBus, INGEST_CHANNEL, type IngestEvent } from '../../services/bus/ingest-bus.ts'
import { openTestStore } from '../test-client.ts'
import { waitFor } from '../wait-for.ts'

const event = (agentId: string): IngestEvent => ({ orgId: 'o1', agentId, agentName: `host-${agentId}`, time: new Date().toISOString() })
/** NOTIFYs are handed over within the engine's next turn; 200 ms is ample to see that none came. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 200))

t.test('NOTIFY only when another bus on the embedded store can hear it', async (t) => {
  const store = await openTestStore(t, false)
  const raw: string[] = []
  t.teardown(await store.listen(INGEST_CHANNEL, (payload) => raw.push(payload)))
  const a = new IngestBus()
  const heardByA: string[] = []
  a.subscribe((e) => heardByA.push(e.agentId))
  await a.relayThrough(store, (err) => t.fail(err.message))
  t.teardown(() => a.stopRelay())

  a.publish(event('alone'))
  await settle()
  t.same(heardByA, ['alone'], 'the local listener heard it')
  t.same(raw, [], 'no NOTIFY with one bus alone')

  const b = new IngestBus()
  const heardByB: string[] = []
  b.subscribe((e) => heardByB.push(e.agentId))
  await b.relayThrough(store, (err) => t.fail(err.message))
  a.publish(event('two'))
  // The arrival is waited for (a loaded machine may take longer than any fixed sleep); a NOTIFY that never
  // comes still fails here. Then the settle gives a second, duplicate NOTIFY the time to show up.
  await waitFor('the NOTIFY to reach the other bus', () => raw.length >= 1 && heardByB.length >= 1)
  await settle()
  t.equal(raw.length, 1, 'one NOTIFY once a second bus relays')
  t.same(heardByB, ['two'], 'the other bus heard it through the database')
  t.same(heardByA, ['alone', 'two'], 'the publisher heard it once, in process')

  await b.stopRelay()
  a.publish(event('alone-again'))
  await settle()
  t.equal(raw.length, 1, 'alone again: no NOTIFY')
  t.same(heardByB, ['two'], 'the stopped bus heard nothing more')
})
