// The ingest → store interface: a request's batches are written in one transaction, all or nothing,
// column-wise through unnest() (one statement per table, whatever the row count).
import { sql, type Kysely, type Transaction } from 'kysely'
import type { Database } from '../store/database.ts'
import type { IngestAccepted, IngestBatch } from '../../contract/ingest-batch.ts'

export interface IngestingAgent { id: string; org_id: string }

type Columns = Record<string, unknown[]>

function columns<T>(items: T[], pick: Record<string, (item: T) => unknown>): Columns {
  const out: Columns = {}
  for (const name of Object.keys(pick)) out[name] = new Array(items.length)
  items.forEach((item, i) => { for (const [name, get] of Object.entries(pick)) out[name][i] = get(item) ?? null })
  return out
}

// Items inherit their batch's time unless they carry their own. Times are kept to the millisecond: the
// API speaks JavaScript dates, and a finer time would make time-based pagination split one instant.
interface Timed<T> { time: string; item: T }
function flatten<K extends 'metrics' | 'disks' | 'networks' | 'processes' | 'sessions' | 'containers'>(batches: IngestBatch[], key: K) {
  const out: Timed<NonNullable<IngestBatch[K]>[number]>[] = []
  for (const b of batches) {
    for (const item of b[key] ?? []) out.push({ time: ('time' in item ? item.time : undefined) ?? b.time, item })
  }
  return out
}

async function insertMetrics(trx: Transaction<Database>, agent: IngestingAgent, batches: IngestBatch[]): Promise<number> {
  const rows = flatten(batches, 'metrics')
  if (rows.length === 0) return 0
  const c = columns(rows, {
    time: (r) => r.time, type: (r) => r.item.metric_type, name: (r) => r.item.metric_name,
    value: (r) => r.item.value, tags: (r) => JSON.stringify(r.item.tags ?? {}),
  })
  // One statement: the rows go into the hypertable, and each series' newest into metrics_latest (a replayed
  // older batch never overwrites a newer value).
  await sql`with inserted as (
      insert into metrics (time, org_id, agent_id, metric_type, metric_name, value, tags)
      select date_trunc('milliseconds', t), ${agent.org_id}::uuid, ${agent.id}::uuid, ty, n, v, tg::jsonb
      from unnest(${c.time}::timestamptz[], ${c.type}::text[], ${c.name}::text[], ${c.value}::float8[], ${c.tags}::text[])
        as u(t, ty, n, v, tg)
      returning time, metric_type, metric_name, value, tags)
    insert into metrics_latest (org_id, agent_id, metric_type, metric_name, tags, time, value)
    select distinct on (metric_type, metric_name, tags) ${agent.org_id}::uuid, ${agent.id}::uuid, metric_type, metric_name, tags, time, value
    from inserted order by metric_type, metric_name, tags, time desc
    on conflict (agent_id, metric_type, metric_name, tags)
      do update set time = excluded.time, value = excluded.value where excluded.time >= metrics_latest.time`.execute(trx)
  return rows.length
}

async function insertDisks(trx: Transaction<Database>, agent: IngestingAgent, batches: IngestBatch[]): Promise<number> {
  const rows = flatten(batches, 'disks')
  if (rows.length === 0) return 0
  const c = columns(rows, {
    time: (r) => r.time, device: (r) => r.item.device, mount: (r) => r.item.mount_point, fs: (r) => r.item.filesystem,
    total: (r) => r.item.total_bytes, used: (r) => r.item.used_bytes, avail: (r) => r.item.available_bytes,
    pct: (r) => r.item.usage_percent, it: (r) => r.item.inodes_total, iu: (r) => r.item.inodes_used, ip: (r) => r.item.inodes_percent,
    rb: (r) => r.item.read_bytes_per_sec, wb: (r) => r.item.write_bytes_per_sec, ro: (r) => r.item.read_ops_per_sec,
    wo: (r) => r.item.write_ops_per_sec, util: (r) => r.item.io_util_percent,
  })
  await sql`insert into disk_metrics (time, org_id, agent_id, device, mount_point, filesystem, total_bytes, used_bytes,
      available_bytes, usage_percent, inodes_total, inodes_used, inodes_percent, read_bytes_per_sec, write_bytes_per_sec,
      read_ops_per_sec, write_ops_per_sec, io_util_percent)
    select date_trunc('milliseconds', t), ${agent.org_id}::uuid, ${agent.id}::uuid, d, m, f, tb, ub, ab, up, it, iu, ip, rb, wb, ro, wo, util
    from unnest(${c.time}::timestamptz[], ${c.device}::text[],
      ${c.mount}::text[], ${c.fs}::text[], ${c.total}::int8[], ${c.used}::int8[], ${c.avail}::int8[], ${c.pct}::float8[],
      ${c.it}::int8[], ${c.iu}::int8[], ${c.ip}::float8[], ${c.rb}::float8[], ${c.wb}::float8[], ${c.ro}::float8[],
      ${c.wo}::float8[], ${c.util}::float8[]) as u(t, d, m, f, tb, ub, ab, up, it, iu, ip, rb, wb, ro, wo, util)`.execute(trx)
  return rows.length
}

async function insertNetworks(trx: Transaction<Database>, agent: IngestingAgent, batches: IngestBatch[]): Promise<number> {
  const rows = flatten(batches, 'networks')
  if (rows.length === 0) return 0
  const c = columns(rows, {
    time: (r) => r.time, iface: (r) => r.item.interface, bs: (r) => r.item.bytes_sent, br: (r) => r.item.bytes_recv,
    ps: (r) => r.item.packets_sent, pr: (r) => r.item.packets_recv, ei: (r) => r.item.errors_in ?? 0, eo: (r) => r.item.errors_out ?? 0,
    di: (r) => r.item.drop_in ?? 0, do: (r) => r.item.drop_out ?? 0, up: (r) => r.item.is_up ?? true,
    bsr: (r) => r.item.bytes_sent_per_sec, brr: (r) => r.item.bytes_recv_per_sec,
    psr: (r) => r.item.packets_sent_per_sec, prr: (r) => r.item.packets_recv_per_sec,
  })
  await sql`insert into network_metrics (time, org_id, agent_id, interface, bytes_sent, bytes_recv, packets_sent, packets_recv,
      errors_in, errors_out, drop_in, drop_out, is_up, bytes_sent_per_sec, bytes_recv_per_sec, packets_sent_per_sec, packets_recv_per_sec)
    select date_trunc('milliseconds', t), ${agent.org_id}::uuid, ${agent.id}::uuid, u.i, u.bs, u.br, u.ps, u.pr, u.ei, u.eo, u.di, u.dr, u.up, u.bsr, u.brr, u.psr, u.prr
    from unnest(${c.time}::timestamptz[], ${c.iface}::text[], ${c.bs}::int8[], ${c.br}::int8[], ${c.ps}::int8[], ${c.pr}::int8[],
      ${c.ei}::int8[], ${c.eo}::int8[], ${c.di}::int8[], ${c.do}::int8[], ${c.up}::bool[], ${c.bsr}::float8[], ${c.brr}::float8[],
      ${c.psr}::float8[], ${c.prr}::float8[]) as u(t, i, bs, br, ps, pr, ei, eo, di, dr, up, bsr, brr, psr, prr)`.execute(trx)
  return rows.length
}

async function insertProcesses(trx: Transaction<Database>, agent: IngestingAgent, batches: IngestBatch[]): Promise<number> {
  const withProcesses = batches.filter((b) => (b.processes?.length ?? 0) > 0)
  if (withProcesses.length === 0) return 0
  // One snapshot per collected process list: its id ties the rows of one tree together.
  const snaps = await sql<{ batch_id: string; snapshot_id: number }>`
    insert into process_snapshots (time, org_id, agent_id, batch_id, total_processes)
    select date_trunc('milliseconds', t), ${agent.org_id}::uuid, ${agent.id}::uuid, b, n
    from unnest(${withProcesses.map((b) => b.time)}::timestamptz[], ${withProcesses.map((b) => b.batch_id)}::uuid[],
      ${withProcesses.map((b) => b.processes!.length)}::int4[]) as u(t, b, n)
    returning batch_id, snapshot_id`.execute(trx)
  const snapshotOf = new Map(snaps.rows.map((r) => [r.batch_id, r.snapshot_id]))
  const rows = withProcesses.flatMap((b) => b.processes!.map((item) => ({ time: item.time ?? b.time, snapshot: snapshotOf.get(b.batch_id), item })))
  const c = columns(rows, {
    time: (r) => r.time, snap: (r) => r.snapshot, pid: (r) => r.item.pid, ppid: (r) => r.item.parent_pid, name: (r) => r.item.name,
    cmd: (r) => r.item.cmdline ?? '', user: (r) => r.item.username, status: (r) => r.item.status, cpu: (r) => r.item.cpu_percent,
    rss: (r) => r.item.memory_bytes, vms: (r) => r.item.memory_vms, mem: (r) => r.item.memory_percent,
    thr: (r) => r.item.num_threads, ct: (r) => r.item.create_time,
  })
  await sql`insert into process_metrics (time, org_id, agent_id, snapshot_id, pid, parent_pid, name, cmdline, username, status,
      cpu_percent, memory_bytes, memory_vms, memory_percent, num_threads, create_time)
    select date_trunc('milliseconds', t), ${agent.org_id}::uuid, ${agent.id}::uuid, u.s, u.p, u.pp, u.n, u.c, u.us, u.st, u.cpu, u.rss, u.vms, u.mem, u.thr, date_trunc('milliseconds', u.ct)
    from unnest(${c.time}::timestamptz[], ${c.snap}::int8[], ${c.pid}::int4[], ${c.ppid}::int4[], ${c.name}::text[], ${c.cmd}::text[],
      ${c.user}::text[], ${c.status}::text[], ${c.cpu}::float8[], ${c.rss}::int8[], ${c.vms}::int8[], ${c.mem}::float8[],
      ${c.thr}::int4[], ${c.ct}::timestamptz[]) as u(t, s, p, pp, n, c, us, st, cpu, rss, vms, mem, thr, ct)`.execute(trx)
  return rows.length
}

async function insertSessions(trx: Transaction<Database>, agent: IngestingAgent, batches: IngestBatch[]): Promise<number> {
  const rows = flatten(batches, 'sessions')
  if (rows.length === 0) return 0
  const c = columns(rows, {
    time: (r) => r.time, user: (r) => r.item.user, tty: (r) => r.item.terminal, host: (r) => r.item.host, pid: (r) => r.item.pid,
    login: (r) => r.item.login_time,
  })
  await sql`insert into user_sessions (time, org_id, agent_id, username, terminal, host, pid, login_time)
    select date_trunc('milliseconds', t), ${agent.org_id}::uuid, ${agent.id}::uuid, u, tt, h, p, date_trunc('milliseconds', l)
    from unnest(${c.time}::timestamptz[], ${c.user}::text[], ${c.tty}::text[], ${c.host}::text[], ${c.pid}::int4[],
      ${c.login}::timestamptz[]) as x(t, u, tt, h, p, l)`.execute(trx)
  return rows.length
}

async function insertContainers(trx: Transaction<Database>, agent: IngestingAgent, batches: IngestBatch[]): Promise<number> {
  const rows = flatten(batches, 'containers')
  if (rows.length === 0) return 0
  const c = columns(rows, {
    time: (r) => r.time, id: (r) => r.item.id, name: (r) => r.item.name, image: (r) => r.item.image, state: (r) => r.item.state,
    cpu: (r) => r.item.cpu_percent, mem: (r) => r.item.memory_bytes, limit: (r) => r.item.memory_limit_bytes,
    pct: (r) => r.item.memory_percent, rx: (r) => r.item.rx_bytes, tx: (r) => r.item.tx_bytes,
  })
  await sql`insert into container_metrics (time, org_id, agent_id, container_id, name, image, state, cpu_percent, memory_bytes,
      memory_limit_bytes, memory_percent, rx_bytes, tx_bytes)
    select date_trunc('milliseconds', t), ${agent.org_id}::uuid, ${agent.id}::uuid, i, n, im, st, cpu, mem, lim, pct, rx, tx
    from unnest(${c.time}::timestamptz[], ${c.id}::text[], ${c.name}::text[], ${c.image}::text[], ${c.state}::text[],
      ${c.cpu}::float8[], ${c.mem}::int8[], ${c.limit}::int8[], ${c.pct}::float8[], ${c.rx}::int8[], ${c.tx}::int8[])
      as x(t, i, n, im, st, cpu, mem, lim, pct, rx, tx)`.execute(trx)
  return rows.length
}

const rowCount = (b: IngestBatch) => (b.metrics?.length ?? 0) + (b.disks?.length ?? 0) + (b.networks?.length ?? 0)
  + (b.processes?.length ?? 0) + (b.sessions?.length ?? 0) + (b.containers?.length ?? 0)

/** The newest sample time of a request: batch times and the metrics' own times. */
function latestMetricTime(batches: IngestBatch[]): Date {
  let max = 0
  for (const b of batches) {
    max = Math.max(max, Date.parse(b.time))
    for (const m of b.metrics ?? []) if (m.time) max = Math.max(max, Date.parse(m.time))
  }
  return new Date(max)
}

export async function writeBatches(db: Kysely<Database>, agent: IngestingAgent, batches: IngestBatch[]): Promise<IngestAccepted> {
  return db.transaction().execute(async (trx) => {
    // Claim the batch ids first: one already stored is acknowledged again and stores nothing twice.
    // Batch ids are compared in one spelling (uuids arrive in either case).
    const unique = [...new Map(batches.map((b) => [b.batch_id.toLowerCase(), { ...b, batch_id: b.batch_id.toLowerCase() }])).values()]
    const claimed = await sql<{ batch_id: string }>`
      insert into ingest_batches (batch_id, org_id, agent_id, batch_time, row_count)
      select b, ${agent.org_id}::uuid, ${agent.id}::uuid, date_trunc('milliseconds', t), n
      from unnest(${unique.map((b) => b.batch_id)}::uuid[], ${unique.map((b) => b.time)}::timestamptz[],
        ${unique.map(rowCount)}::int4[]) as u(b, t, n)
      on conflict (agent_id, batch_id) do nothing
      returning batch_id`.execute(trx)
    const fresh = new Set(claimed.rows.map((r) => r.batch_id))
    const todo = unique.filter((b) => fresh.has(b.batch_id))
    const rows = {
      metrics: await insertMetrics(trx, agent, todo),
      disks: await insertDisks(trx, agent, todo),
      networks: await insertNetworks(trx, agent, todo),
      processes: await insertProcesses(trx, agent, todo),
      sessions: await insertSessions(trx, agent, todo),
      containers: await insertContainers(trx, agent, todo),
    }
    const host = [...batches].reverse().find((b) => b.host)?.host
    const now = new Date()
    await trx.updateTable('agents').set({
      last_seen_at: now,
      ...(todo.length > 0 ? { last_metrics_at: sql<Date>`greatest(last_metrics_at, ${latestMetricTime(todo)}::timestamptz)` } : {}),
      ...(host ? {
        hostname: host.hostname, ip_address: host.ip_address ?? null, os: host.os ?? null,
        os_version: host.os_version ?? null, agent_version: host.agent_version ?? null, inventory: JSON.stringify(host),
        updated_at: now,
      } : {}),
    }).where('id', '=', agent.id).execute()
    return {
      accepted_batches: todo.length, duplicate_batches: batches.length - todo.length, rows,
      batch_ids: todo.map((b) => b.batch_id),
    }
  })
}
