// What every fuzz test file starts from: the real API on an embedded store with an agent that sent data, an
// enrollment token, a viewer, a dashboard and a rule kept aside, the credentials each route takes, valid
// sample bodies for the fuzzer to mutate, and a snapshot of the rows kept aside (nothing may change them).
import type { Test } from 'tap'
import { AGENT_CONFIG_PATH } from '../../contract/agent-config.ts'
import { INGEST_PATH } from '../../contract/ingest-batch.ts'
import { LINE_PROTOCOL_PATHS } from '../../services/ingest/line-protocol-routes.ts'
import { REMOTE_WRITE_PATH } from '../../services/ingest/remote-write-routes.ts'
import { OTLP_METRICS_PATH } from '../../services/ingest/otlp-routes.ts'
import { makeBatch, startClient, type TestClient } from '../test-client.ts'
import type { FuzzSetup } from './fuzz-harness.ts'

/** Routes an agent calls with its key (native writers, and the compatibility faces' uploads). */
const AGENT_KEY_ROUTES = new Set<string>([INGEST_PATH, ...LINE_PROTOCOL_PATHS, '/query', REMOTE_WRITE_PATH, OTLP_METRICS_PATH, AGENT_CONFIG_PATH,
  '/api/submit/', '/api/ingest/', '/api/ingest', '/api/metrics/upload/', '/api/processes/upload/', '/api/logs/upload_logs/'])
const ENROLLMENT_ROUTES = new Set(['/api/v1/agents/register', '/api/v1/agents/register/:registration_id', '/api/agent/register/'])

export interface FuzzWorld { api: TestClient; setup: FuzzSetup; snapshot: () => Promise<string> }

export async function fuzzWorld(t: Test): Promise<FuzzWorld> {
  const api = await startClient(t)
  const db = api.store.db
  const create = async (path: string, body: unknown, status = 201) => {
    const res = await api.req('POST', path, { token: api.adminToken, body })
    if (res.status !== status) throw new Error(`POST ${path} failed: ${res.status} ${res.text}`)
    return res.body
  }
  const agent = await create('/api/v1/agents', { name: 'fuzz-agent', labels: { plan: 'small' } })
  const enroll = await create('/api/v1/enrollment-tokens', { description: 'fuzz' })
  const batch = makeBatch()
  const sent = await api.req('POST', INGEST_PATH, { apiKey: agent.api_key, body: batch })
  if (sent.status !== 202) throw new Error(`ingest failed: ${sent.status} ${sent.text}`)
  const viewer = await api.user('viewer')
  const dashboard = await create('/api/v1/dashboards', {
    name: 'fuzz-keep', description: 'd', scope: 'organization',
    layout: { panels: [{ id: 'cpu', title: 'CPU', type: 'timeseries', metric: 'cpu.usage_percent', tags: {}, agg: 'avg', agents: ['fuzz-agent'], unit: '%', grid: { x: 0, y: 0, w: 6, h: 4 } }], time_range: '1h', refresh_interval_seconds: 30 },
  })
  const rule = await create('/api/v1/alerts', { name: 'fuzz-keep', metric: 'cpu.usage_percent', threshold: 90 })
  const admin = (await api.req('GET', '/api/v1/users/me', { token: api.adminToken })).body

  const credentialsFor = (url: string): Record<string, string> => ({
    ...(AGENT_KEY_ROUTES.has(url) ? { 'x-api-key': agent.api_key as string } : {}),
    ...(ENROLLMENT_ROUTES.has(url) ? { 'x-enrollment-token': enroll.token as string } : {}),
  })
  const process = { pid: 10, name: 'nginx', cpu_percent: 1.5, memory_percent: 0.4, memory_rss: 1000, username: 'www', status: 'sleeping', cmdline: 'nginx: worker' }
  const samples: Record<string, unknown> = {
    'POST /api/v1/auth/login': { username: 'admin', password: 'not-the-password' },
    'POST /api/v1/users': { username: 'fuzz-user', password: 'fuzz-password-1', role: 'viewer' },
    'POST /api/v1/organizations': { name: 'FuzzOrg', admin: { username: 'fuzz-org-admin', password: 'fuzz-password-1' } },
    'POST /api/v1/agents': { name: 'fuzz-new', labels: { a: 'b' } },
    'PUT /api/v1/agents/:id/config': { interval_seconds: 30, collect: { cpu: true, processes: false }, max_processes: 200 },
    'PUT /api/v1/agents/:id/traffic/settings': { cycle_start_day: 1, time_zone: 'Europe/Berlin', quota_bytes: 1e12, quota_direction: 'total' },
    'PUT /api/v1/traffic/quotas/:label_key/:label_value': { quota_bytes: 1e12, direction: 'sent' },
    'POST /api/v1/agents/register': { token: enroll.token, hostname: 'fuzz-host' },
    'POST /api/v1/ingest': batch,
    'POST /api/v1/alerts': { name: 'fuzz-rule', metric: 'disk.usage_percent', tags: { mount_point: '/' }, aggregation: 'max', window: '5m', condition: '>', threshold: 90, for: '1m', severity: 'warning' },
    'POST /api/v1/alerts/preview': { name: 'fuzz-rule', metric: 'cpu.usage_percent', threshold: 90 },
    'POST /api/v1/silences': { comment: 'fuzz', matchers: { agent: 'fuzz-agent' }, ends_at: new Date(Date.now() + 3_600_000).toISOString() },
    'POST /api/v1/notification-channels': { name: 'fuzz-channel', type: 'webhook', config: { url: 'https://hooks.example.com/x' } },
    'POST /api/v1/dashboards': { name: 'fuzz-new', layout: { panels: [], time_range: '1h' } },
    'POST /api/submit/': { hostname: 'fuzz-host', ip_address: '10.0.0.1', os_info: 'Linux', processes: [process] },
    'POST /api/ingest/': { hostname: 'fuzz-host', processes: [process] },
    'POST /api/ingest': { hostname: 'fuzz-host', processes: [process] },
    'POST /api/metrics/upload/': { hostname: 'fuzz-host', cpu_percent: 12.5, memory_percent: 40, disk_percent: 50 },
    'POST /api/v1/auth/token/': { username: 'admin', password: 'not-the-password' },
    'POST /dashboard/preferences/': { chart_theme: 'dark', default_time_range: '7d', visible_metrics: ['cpu'] },
  }
  const queries: Record<string, string[]> = {
    'GET /api/v1/metrics/series/:agent_id': ['metric', 'tags.mount_point', 'tags.core', 'step', 'agg', 'start', 'end', 'max_points'],
    'GET /api/v1/metrics/stats/:agent_id': ['metric', 'tags.mount_point', 'start', 'end'],
  }
  const snapshot = async () => JSON.stringify({
    users: await db.selectFrom('users').select(['id', 'org_id', 'username', 'password_hash', 'role', 'created_at']).where('id', 'in', [admin.id, viewer.id]).orderBy('id').execute(),
    agent: await db.selectFrom('agents').select(['id', 'org_id', 'name', 'labels', 'api_key_hash', 'status']).where('id', '=', agent.id).execute(),
    // Its use count moves when a generated registration is valid (a use, not a change to the token).
    token: (await db.selectFrom('enrollment_tokens').selectAll().where('id', '=', enroll.id).execute()).map(({ uses: _uses, last_used_at: _last, ...rest }: Record<string, unknown>) => rest),
    dashboard: await db.selectFrom('dashboards').selectAll().where('id', '=', dashboard.id).execute(),
    rule: await db.selectFrom('alert_rules').select(['id', 'name', 'metric', 'threshold', 'enabled', 'updated_at']).where('id', '=', rule.id).execute(),
    // The samples sent above (valid uploads the fuzzer makes add rows of their own, at other times).
    samples: await db.selectFrom('metrics').select(['time', 'metric_type', 'metric_name', 'value']).where('agent_id', '=', agent.id)
      .where('time', '=', new Date(batch.time)).orderBy('metric_name').execute(),
  })
  return {
    api, snapshot,
    setup: { base: api.url, adminToken: api.adminToken, credentialsFor, samples, queries, skip: new Set(['POST /api/v1/auth/logout', 'POST /api/v1/auth/logout/']) },
  }
}
