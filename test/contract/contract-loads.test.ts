import t from 'tap'
import { IngestBatch } from '../../contract/ingest-batch.ts'
t.test('contract loads', async t => { t.equal(typeof IngestBatch, 'object') })
