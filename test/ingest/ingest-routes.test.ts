// POST /api/v1/ingest: rows really stored, idempotent batch ids, all or nothing, bad bodies named, agent keys.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import {
  acceptedRows, assertError, disk, makeBatch, metric, minutesAgo, network, proc, rowCounts, startClient, type RowCounts,
} from '../test-client.ts'

const ms = (d: Date | string | null) => (d === null ? null : new Date(d).getTime())

t.test('ingest', async (t) => {
  const api = await startClient(t)
  const db = api.store.db
  const agentA = await api.createAgent('ingest-a')
  const agentB = await api.createAgent('ingest-b')

  /** Row counts must not move: what a refused request leaves behind. */
  async function assertUnchanged(t: Test, before: RowCounts, what: string) {
    t.same(await rowCounts(api.store), before, `${what}: stored row counts unchanged`)
  }

  t.test('a full batch: 202 with what was accepted, and every row stored with the right values', async (t) => {
    const batchTime = minutesAgo(2)
    const ownTime = minutesAgo(7)
    const batch = makeBatch({
      time: batchTime,
      host: { hostname: 'web-07.example.com', ip_address: '10.0.0.7', os: 'Debian', os_version: '12', agent_version: '1.2.3' },
      metrics: [
        metric('cpu', 'usage_percent', 39.37, { tags: { core: 'all' } }),
        metric('cpu', 'load_avg_1', 2.95),
        metric('memory', 'usage_percent', 75.2, { time: ownTime }),
      ],
      disks: [disk('/', { read_bytes_per_sec: 1024.5, io_util_percent: 3.5 }), disk('/boot', { time: ownTime, device: '/dev/sda16', total_bytes: 923156480, filesystem: 'vfat' })],
      networks: [network('eth0', { bytes_sent_per_sec: 100.25, is_up: false })],
      processes: [proc(603576, 'node', { cpu_percent: 144.19, create_time: minutesAgo(600), read_bytes_per_sec: 4096.5, write_bytes_per_sec: 0, open_fds: 23 }),
        proc(600666, 'postgres', { time: ownTime, parent_pid: 42 })],
    })
    const res = await api.ingest(agentA.api_key, batch)
    t.equal(res.status, 202)
    t.same(res.body, {
      accepted_batches: 1, duplicate_batches: 0,
      rows: acceptedRows({ metrics: 3, disks: 2, networks: 1, processes: 2 }),
      batch_ids: [batch.batch_id],
    })

    const metrics = await db.selectFrom('metrics').selectAll().where('agent_id', '=', agentA.id).orderBy('metric_type').orderBy('metric_name').execute()
    t.same(metrics.map((m) => ({ ...m, time: ms(m.time) })), [
      { time: ms(batchTime), org_id: api.orgId, agent_id: agentA.id, metric_type: 'cpu', metric_name: 'load_avg_1', value: 2.95, tags: {} },
      { time: ms(batchTime), org_id: api.orgId, agent_id: agentA.id, metric_type: 'cpu', metric_name: 'usage_percent', value: 39.37, tags: { core: 'all' } },
      { time: ms(ownTime), org_id: api.orgId, agent_id: agentA.id, metric_type: 'memory', metric_name: 'usage_percent', value: 75.2, tags: {} },
    ], 'metrics rows: values, tags, org, agent; the item time overrides the batch time')

    const disks = await db.selectFrom('disk_metrics').selectAll().where('agent_id', '=', agentA.id).orderBy('mount_point').execute()
    t.equal(disks.length, 2)
    t.same({ ...disks[0], time: ms(disks[0].time) }, {
      time: ms(batchTime), org_id: api.orgId, agent_id: agentA.id, device: '/dev/sd1', mount_point: '/', filesystem: 'ext4',
      total_bytes: 206900281344, used_bytes: 37557932032, available_bytes: 169325572096, usage_percent: 18.15,
      inodes_total: 26083328, inodes_used: 997477, inodes_percent: 3.82, read_bytes_per_sec: 1024.5, write_bytes_per_sec: null,
      read_ops_per_sec: null, write_ops_per_sec: null, io_util_percent: 3.5,
    }, 'disk row / (bigints exact)')
    t.equal(ms(disks[1].time), ms(ownTime), 'disk item time overrides the batch time')
    t.equal(disks[1].device, '/dev/sda16')
    t.equal(disks[1].filesystem, 'vfat')
    t.equal(disks[1].total_bytes, 923156480)

    const nets = await db.selectFrom('network_metrics').selectAll().where('agent_id', '=', agentA.id).execute()
    t.same(nets.map((n) => ({ ...n, time: ms(n.time) })), [{
      time: ms(batchTime), org_id: api.orgId, agent_id: agentA.id, interface: 'eth0', bytes_sent: 1382943312, bytes_recv: 2505301971,
      packets_sent: 8523412, packets_recv: 9234521, errors_in: 1, errors_out: 2, drop_in: 3, drop_out: 4, is_up: false,
      bytes_sent_per_sec: 100.25, bytes_recv_per_sec: null, packets_sent_per_sec: null, packets_recv_per_sec: null,
    }], 'network row')

    const snaps = await db.selectFrom('process_snapshots').selectAll().where('agent_id', '=', agentA.id).execute()
    t.equal(snaps.length, 1, 'one snapshot per process list')
    t.equal(snaps[0].batch_id, batch.batch_id)
    t.equal(snaps[0].total_processes, 2, 'total_processes = number of processes')
    t.equal(snaps[0].org_id, api.orgId)
    t.equal(ms(snaps[0].time), ms(batchTime))
    const procs = await db.selectFrom('process_metrics').selectAll().where('agent_id', '=', agentA.id).orderBy('pid').execute()
    t.same(procs.map((p) => ({ ...p, time: ms(p.time), create_time: ms(p.create_time) })), [
      { time: ms(ownTime), org_id: api.orgId, agent_id: agentA.id, snapshot_id: snaps[0].snapshot_id, pid: 600666, parent_pid: 42, name: 'postgres',
        cmdline: '/usr/bin/postgres --serve', username: 'root', status: 'running', cpu_percent: 12.17, memory_bytes: 501776384,
        memory_vms: null, memory_percent: 2.04, num_threads: 8, create_time: null, read_bytes_per_sec: null, write_bytes_per_sec: null, open_fds: null },
      { time: ms(batchTime), org_id: api.orgId, agent_id: agentA.id, snapshot_id: snaps[0].snapshot_id, pid: 603576, parent_pid: 1, name: 'node',
        cmdline: '/usr/bin/node --serve', username: 'root', status: 'running', cpu_percent: 144.19, memory_bytes: 501776384,
        memory_vms: null, memory_percent: 2.04, num_threads: 8, create_time: ms(batch.processes![0].create_time!),
        read_bytes_per_sec: 4096.5, write_bytes_per_sec: 0, open_fds: 23 },
    ], 'process rows, tied to the snapshot')

    const claimed = await db.selectFrom('ingest_batches').selectAll().where('batch_id', '=', batch.batch_id).executeTakeFirstOrThrow()
    t.equal(claimed.agent_id, agentA.id)
    t.equal(claimed.org_id, api.orgId)
    t.equal(claimed.row_count, 8)
    t.equal(ms(claimed.batch_time), ms(batchTime))

    const agent = await db.selectFrom('agents').selectAll().where('id', '=', agentA.id).executeTakeFirstOrThrow()
    t.ok(Math.abs(ms(agent.last_seen_at)! - Date.now()) < 30_000, 'last_seen_at is now')
    t.equal(ms(agent.last_metrics_at), ms(batchTime), 'last_metrics_at is the batch time')
    t.equal(agent.hostname, 'web-07.example.com')
    t.equal(agent.ip_address, '10.0.0.7')
    t.equal(agent.os, 'Debian')
    t.equal(agent.os_version, '12')
    t.equal(agent.agent_version, '1.2.3')
    const shown = await api.get(`/api/v1/agents/${agentA.id}`)
    t.equal(shown.body.hostname, 'web-07.example.com', 'GET /agents/:id shows the host fields from the batch')
    t.equal(ms(shown.body.last_metrics_at), ms(batchTime))
  })

  t.test('a batch id already stored is acknowledged again and stores nothing twice', async (t) => {
    const batch = makeBatch({ time: minutesAgo(1) })
    const first = await api.ingest(agentA.api_key, batch)
    t.equal(first.status, 202)
    t.equal(first.body.accepted_batches, 1)
    const before = await rowCounts(api.store)
    const again = await api.ingest(agentA.api_key, batch)
    t.equal(again.status, 202)
    t.same(again.body, { accepted_batches: 0, duplicate_batches: 1, rows: acceptedRows(), batch_ids: [] })
    await assertUnchanged(t, before, 'duplicate')

    const upper = await api.ingest(agentA.api_key, { ...batch, batch_id: batch.batch_id.toUpperCase() })
    t.equal(upper.status, 202)
    t.equal(upper.body.duplicate_batches, 1, 'the same uuid in upper case is the same batch')
    await assertUnchanged(t, before, 'upper-case duplicate')

    const fresh = makeBatch({ time: minutesAgo(1) })
    const mixed = await api.ingest(agentA.api_key, [fresh, batch])
    t.equal(mixed.status, 202)
    t.same(mixed.body, { accepted_batches: 1, duplicate_batches: 1, rows: acceptedRows({ metrics: 3, disks: 2, networks: 1, processes: 2 }), batch_ids: [fresh.batch_id] })
    const after = await rowCounts(api.store)
    t.same(after, {
      metrics: before.metrics + 3, disk_metrics: before.disk_metrics + 2, network_metrics: before.network_metrics + 1,
      process_metrics: before.process_metrics + 2, process_snapshots: before.process_snapshots + 1, ingest_batches: before.ingest_batches + 1,
    }, 'only the new batch was stored')

    const twiceInOne = makeBatch({ time: minutesAgo(1) })
    const dup = await api.ingest(agentA.api_key, [twiceInOne, twiceInOne])
    t.equal(dup.status, 202)
    t.equal(dup.body.accepted_batches, 1, 'one id twice in one request is stored once')
    t.equal(dup.body.rows.metrics, 3)
    t.same(await rowCounts(api.store), { ...after, metrics: after.metrics + 3, disk_metrics: after.disk_metrics + 2, network_metrics: after.network_metrics + 1,
      process_metrics: after.process_metrics + 2, process_snapshots: after.process_snapshots + 1, ingest_batches: after.ingest_batches + 1 })
  })

  t.test('an upper-case batch_id with processes is stored (snapshot ids matched case-insensitively)', async (t) => {
    const batch = makeBatch({ batch_id: randomUUID().toUpperCase(), time: minutesAgo(1) })
    const before = await rowCounts(api.store)
    const res = await api.ingest(agentB.api_key, batch)
    t.equal(res.status, 202, `status (${res.text})`)
    t.equal(res.body?.rows?.processes, 2)
    const after = await rowCounts(api.store)
    t.equal(after.process_metrics, before.process_metrics + 2, 'process rows stored')
    const rows = await db.selectFrom('process_metrics').innerJoin('process_snapshots', 'process_snapshots.snapshot_id', 'process_metrics.snapshot_id')
      .select(['process_metrics.pid', 'process_snapshots.batch_id']).where('process_snapshots.batch_id', '=', batch.batch_id.toLowerCase()).execute()
    t.equal(rows.length, 2, 'both processes belong to the batch\'s snapshot')
  })

  t.test('all or nothing: a failure in the middle stores nothing of the request', async (t) => {
    await sql.raw(`
      create or replace function hostpulse_test_fail_here() returns trigger language plpgsql as $$
      begin
        if new.mount_point = '/fail-here' then raise exception 'injected failure for mount %', new.mount_point; end if;
        return new;
      end $$;
      create trigger hostpulse_test_fail_here before insert on disk_metrics for each row execute function hostpulse_test_fail_here();`).execute(db)
    const hostBefore = await db.selectFrom('agents').select(['hostname', 'last_metrics_at']).where('id', '=', agentA.id).executeTakeFirstOrThrow()
    const other = makeBatch({ time: minutesAgo(1) })
    const failing = makeBatch({
      time: minutesAgo(0), host: { hostname: 'must-not-stick.example.com' },
      disks: [disk('/'), disk('/fail-here')],
    })
    const before = await rowCounts(api.store)
    const res = await api.ingest(agentA.api_key, [other, failing])
    t.ok(res.status >= 500 && res.status < 600, `5xx (got ${res.status})`)
    t.same(res.body, { error: 'INTERNAL_ERROR', message: 'Internal server error', code: 500 }, 'the cause is hidden from the client')
    await assertUnchanged(t, before, 'failed request')
    const claimed = await db.selectFrom('ingest_batches').select('batch_id').where('batch_id', 'in', [other.batch_id, failing.batch_id]).execute()
    t.same(claimed, [], 'neither batch id was claimed, so a retry is not taken for a duplicate')
    const hostAfter = await db.selectFrom('agents').select(['hostname', 'last_metrics_at']).where('id', '=', agentA.id).executeTakeFirstOrThrow()
    t.same(hostAfter, hostBefore, 'the agent row was not updated either')

    await sql.raw(`drop trigger hostpulse_test_fail_here on disk_metrics; drop function hostpulse_test_fail_here();`).execute(db)
    const retry = await api.ingest(agentA.api_key, [other, failing])
    t.equal(retry.status, 202)
    t.same(retry.body, { accepted_batches: 2, duplicate_batches: 0, rows: acceptedRows({ metrics: 6, disks: 4, networks: 2, processes: 4 }), batch_ids: [other.batch_id, failing.batch_id] })
    const after = await rowCounts(api.store)
    t.equal(after.metrics, before.metrics + 6)
    t.equal(after.disk_metrics, before.disk_metrics + 4)
    const stuck = await db.selectFrom('disk_metrics').select('mount_point').where('mount_point', '=', '/fail-here').execute()
    t.equal(stuck.length, 1, 'the row that failed before is stored now')
    const host = await db.selectFrom('agents').select('hostname').where('id', '=', agentA.id).executeTakeFirstOrThrow()
    t.equal(host.hostname, 'must-not-stick.example.com', 'host fields come from the last batch with a host')
  })

  t.test('bad bodies: 400 naming the field, and nothing stored', async (t) => {
    const good = () => makeBatch({ time: minutesAgo(1) })
    const { batch_id: _omit, ...noId } = good()
    const noType = good()
    delete (noType.metrics![0] as { metric_type?: string }).metric_type
    const cases: Array<{ what: string; body?: unknown; raw?: string; error?: string; field?: string }> = [
      { what: 'missing batch_id', body: noId, field: 'batch_id' },
      { what: 'batch_id not a uuid', body: { ...good(), batch_id: 'batch-1' }, field: 'batch_id' },
      { what: 'metrics[0].value a string', body: { ...good(), metrics: [{ metric_type: 'cpu', metric_name: 'usage_percent', value: '12.5' }] }, field: 'metrics[0].value' },
      { what: 'metrics[0].metric_type missing', body: noType, field: 'metrics[0].metric_type' },
      { what: 'second batch of an array bad', body: [good(), { ...good(), metrics: [metric('cpu', 'x', 1), { metric_type: 'cpu', metric_name: 'y', value: 'NaN' }] }], field: '[1].metrics[1].value' },
      { what: 'batch time 1 hour in the future', body: { ...good(), time: new Date(Date.now() + 3_600_000).toISOString() }, field: 'time' },
      { what: 'item time 1 hour in the future', body: { ...good(), metrics: [metric('cpu', 'usage_percent', 1, { time: new Date(Date.now() + 3_600_000).toISOString() })] }, field: 'metrics[0].time' },
      { what: 'future time in the second batch', body: [good(), { ...good(), time: new Date(Date.now() + 3_600_000).toISOString() }], field: '[1].time' },
      { what: 'time not RFC3339', body: { ...good(), time: 'yesterday' }, field: 'time' },
      { what: 'batch time in year 1 (a clock that was never set)', body: { ...good(), time: '0001-01-01T00:00:00Z' }, field: 'time' },
      { what: 'negative disk bytes', body: { ...good(), disks: [disk('/', { total_bytes: -1 })] }, field: 'disks[0].total_bytes' },
      { what: 'pid not an integer', body: { ...good(), processes: [proc(1.5, 'x')] }, field: 'processes[0].pid' },
      { what: 'unparsable JSON', raw: '{"batch_id": ', error: 'BAD_REQUEST' },
      { what: 'empty array', body: [] },
      { what: 'a number', body: 42 },
    ]
    const before = await rowCounts(api.store)
    for (const c of cases) {
      const res = await api.request('POST', '/api/v1/ingest', { apiKey: agentA.api_key, body: c.body, rawBody: c.raw })
      assertError(t, res, 400, c.error ?? 'VALIDATION_ERROR', `${c.what}:`)
      if (c.field) {
        t.ok(res.body?.details && c.field in res.body.details, `${c.what}: details names ${c.field} (got ${JSON.stringify(res.body?.details)})`)
        t.ok(res.body?.message?.includes(c.field), `${c.what}: message names ${c.field} (got ${JSON.stringify(res.body?.message)})`)
      }
    }
    await assertUnchanged(t, before, 'after every bad request')
  })

  t.test('agent keys: missing or unknown → 401; an inactive agent → 403; a bearer token is not a key', async (t) => {
    const before = await rowCounts(api.store)
    assertError(t, await api.request('POST', '/api/v1/ingest', { body: makeBatch() }), 401, 'UNAUTHORIZED', 'no key:')
    assertError(t, await api.ingest('', makeBatch()), 401, 'UNAUTHORIZED', 'empty key:')
    assertError(t, await api.ingest('hp_not-a-real-key-at-all-0000000000000000000000', makeBatch()), 401, 'UNAUTHORIZED', 'unknown key:')
    assertError(t, await api.request('POST', '/api/v1/ingest', { token: api.adminToken, body: makeBatch() }), 401, 'UNAUTHORIZED', 'admin bearer only:')
    const sleeper = await api.createAgent('ingest-inactive')
    await db.updateTable('agents').set({ status: 'inactive' }).where('id', '=', sleeper.id).execute()
    assertError(t, await api.ingest(sleeper.api_key, makeBatch()), 403, 'FORBIDDEN', 'inactive:')
    await assertUnchanged(t, before, 'refused keys')
  })

  t.test('each key writes only its own agent\'s rows', async (t) => {
    const a = makeBatch({ time: minutesAgo(1), metrics: [metric('cpu', 'usage_percent', 11)] })
    const b = makeBatch({ time: minutesAgo(1), metrics: [metric('cpu', 'usage_percent', 22)] })
    t.equal((await api.ingest(agentA.api_key, a)).status, 202)
    t.equal((await api.ingest(agentB.api_key, b)).status, 202)
    for (const [batch, agent] of [[a, agentA], [b, agentB]] as const) {
      const claimed = await db.selectFrom('ingest_batches').select('agent_id').where('batch_id', '=', batch.batch_id).executeTakeFirstOrThrow()
      t.equal(claimed.agent_id, agent.id, `${agent.name}: batch claimed by its agent`)
      const snap = await db.selectFrom('process_snapshots').select(['agent_id', 'snapshot_id']).where('batch_id', '=', batch.batch_id).executeTakeFirstOrThrow()
      t.equal(snap.agent_id, agent.id, `${agent.name}: snapshot`)
      const procAgents = await db.selectFrom('process_metrics').select('agent_id').distinct().where('snapshot_id', '=', snap.snapshot_id).execute()
      t.same(procAgents, [{ agent_id: agent.id }], `${agent.name}: process rows`)
    }
    const values = await db.selectFrom('metrics').select(['agent_id', 'value']).where('value', 'in', [11, 22]).orderBy('value').execute()
    t.same(values, [{ agent_id: agentA.id, value: 11 }, { agent_id: agentB.id, value: 22 }], 'metric rows carry the posting agent\'s id')
    // A key cannot write for another agent by naming it anywhere in the body.
    const sneaky = { ...makeBatch({ time: minutesAgo(1), metrics: [metric('cpu', 'usage_percent', 33)] }), agent_id: agentA.id }
    const res = await api.ingest(agentB.api_key, sneaky)
    t.equal(res.status, 202)
    const s = await db.selectFrom('metrics').select('agent_id').where('value', '=', 33).execute()
    t.same(s, [{ agent_id: agentB.id }], 'an agent_id in the body is ignored')
  })
})
