// Raw HTTP for the InfluxDB routes (custom headers, any body) and the checks of their two error formats.
import type { Test } from 'tap'
import { sql } from 'kysely'
import type { TestClient } from '../test-client.ts'

export interface Sent { status: number; text: string; body: any; headers: Headers }

export async function send(api: TestClient, body: string | Uint8Array | undefined, opts: { method?: string; path?: string; query?: string; headers?: Record<string, string> } = {}): Promise<Sent> {
  const res = await fetch(`${api.url}${opts.path ?? '/api/v2/write'}${opts.query ?? ''}`, {
    method: opts.method ?? 'POST', headers: body === undefined ? opts.headers : { 'content-type': 'text/plain; charset=utf-8', ...opts.headers }, body: body as BodyInit | undefined,
  })
  const text = await res.text()
  let parsed: unknown
  try { parsed = text ? JSON.parse(text) : undefined } catch { parsed = undefined }
  return { status: res.status, text, body: parsed, headers: res.headers }
}

/**
 * InfluxDB 2's error body, as Telegraf's outputs.influxdb_v2 decodes it: `code` and `message` strings (a
 * number in `code` fails its decode and the operator sees only the status line); `line`, when present, an integer.
 */
export function assertV2Error(t: Test, res: Sent, status: number, code: string, msg = ''): void {
  t.equal(res.status, status, `${msg} status ${status} (${res.text.slice(0, 300)})`)
  t.match(res.headers.get('content-type') ?? '', /application\/json/, `${msg} JSON`)
  t.equal(res.body?.code, code, `${msg} code "${code}" (a string)`)
  t.type(res.body?.message, 'string', `${msg} message is a string`)
  t.ok(String(res.body?.message ?? '').length > 0, `${msg} message is not empty`)
  t.notOk('error' in (res.body ?? {}), `${msg} no native "error" field`)
  if (res.body?.line !== undefined) t.ok(Number.isInteger(res.body.line), `${msg} line is an integer`)
}

/** InfluxDB 1.x's error body: `{"error": "…"}`, nothing of the native format. */
export function assertV1Error(t: Test, res: Sent, status: number, msg = ''): void {
  t.equal(res.status, status, `${msg} status ${status} (${res.text.slice(0, 300)})`)
  t.type(res.body?.error, 'string', `${msg} {"error": "…"}`)
  t.ok(String(res.body?.error ?? '').length > 0, `${msg} error is not empty`)
  t.notOk('code' in (res.body ?? {}) || 'message' in (res.body ?? {}), `${msg} no native code/message fields`)
}

export interface Row { time: Date; metric_type: string; metric_name: string; value: number; tags: Record<string, string> }

export async function rowsOf(api: TestClient, agentId: string): Promise<Row[]> {
  const { rows } = await sql<Row>`select time, metric_type, metric_name, value, tags from metrics where agent_id = ${agentId}::uuid
    order by time, metric_type, metric_name, tags::text`.execute(api.store.db)
  return rows
}
