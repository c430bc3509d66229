// The injection walk shared by the injection tests: SQL metacharacters, very long strings, unicode, NUL
// bytes, out-of-range integers and JSON type confusion in every path parameter, query parameter and body
// field of the given routes (fields taken from the routes' own schemas and from valid sample bodies). It
// reports every 5xx and every error answer outside the error format; the callers check that no stored row
// changed.
import { randomUUID } from 'node:crypto'
import type { RegisteredRoute } from '../../services/security/route-inventory-plugin.ts'
import { isPlainObject, isRouteError, type TestClient } from './security-helpers.ts'

export const STRINGS = [
  "' OR '1'='1", "1; DROP TABLE agents; --", "'); DELETE FROM users; --", '"; SELECT pg_sleep(3); --', "admin'--", '%27%20OR%201%3D1',
  '../../../../etc/passwd', 'x'.repeat(100_000), '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓ Ωmega \u202e dlrow', 'nul\u0000byte', '\\x00\\u0000', '${jndi:ldap://127.0.0.1/a}',
  '<script>alert(1)</script>', '\ud800', ' ', '', '-1', '1e309', 'NaN', 'null', '00000000-0000-0000-0000-000000000000', '*', '%', '_',
  // Integers out of every column's range: just past int8 both ways, past uint64, and one JavaScript prints as 1e+21.
  '9223372036854775808', '-9223372036854775809', '99999999999999999999', '1e21',
]
// The body parser makes doubles of big integers whatever digits are sent: 2 ** 63 is 9223372036854775808 there,
// -9223372036854775809 becomes -2 ** 63 (int8's own minimum), 99999999999999999999 becomes 1e20.
export const JSON_VALUES: unknown[] = [0, -1, 1.5, 1e308, -1e308, 2 ** 63, -9223372036854775809, 99999999999999999999, 1e21, true, false, null, [], ['a'], {},
  { $ne: null }, { '': '' }, [[[[[]]]]]]

/** Alert rules, alert events, silences and notification channels: walked by injection-alerting.test.ts, the rest by injection.test.ts. */
export const ALERTING_ROUTES = /^\/api\/v1\/(alerts|silences|notification-channels)(\/|$)/
/**
 * Seeds 000 to 003's compatibility faces (every /api/ path outside /api/v<N>/): walked by injection-faces-*.test.ts;
 * seed 004's (PERF_ANALYSIS_PATHS) by injection-faces-perf-analysis.test.ts.
 */
export const FACE_ROUTES = /^\/api\/(?!v\d+\/)/

/** Percent-encoded; a lone surrogate (no UTF-8 form) goes as the invalid bytes of one. */
const enc = (s: string) => { try { return encodeURIComponent(s) } catch { return '%ED%A0%80' } }

type Schema = { properties?: Record<string, Schema> } | undefined
const props = (schema: unknown): string[] => Object.keys((schema as Schema)?.properties ?? {})

export interface InjectionWalk {
  api: TestClient
  routes: RegisteredRoute[]
  /** Valid bodies by route key, so one injected field at a time reaches the handler. */
  samples: Record<string, Record<string, unknown>>
  /**
   * Valid query parameters by route key (required ones, and ones outside the schema such as tags.core), sent
   * along with each injected query parameter so it reaches the handler; their names are walked too.
   */
  queries?: Record<string, Record<string, string>>
  /**
   * Real ids for path parameters by route key and parameter name, so injected bodies and queries get past the
   * handler's lookup (ids of objects made to be changed, or of any object for a route that only reads; never
   * a write to a row the caller's snapshot holds).
   */
  params?: Record<string, Record<string, string>>
  /** Also inject into each field of a body field that is an object (one level down: config.url, matchers.agent …). */
  nested?: boolean
  /** Also inject into each field of the first item of a body field that is an array of objects (processes[0].pid …). */
  arrays?: boolean
  viewerToken: string
  /** Credentials besides the admin's bearer token a route needs (agent key, enrollment token), by the route's url pattern. */
  credentialsFor?: (url: string) => { apiKey?: string; headers?: Record<string, string> }
  /** The bearer token the requests carry instead of the admin's (a session of its own for a route that ends the one it is called with). */
  token?: string
  /** Strings injected besides STRINGS (names a route looks up in a table of its own: __proto__, constructor …). */
  strings?: string[]
}

export async function injectEverywhere(walk: InjectionWalk): Promise<{ requests: number; failures: string[] }> {
  const { api } = walk
  let requests = 0
  const failures: string[] = []
  const strings = [...STRINGS, ...walk.strings ?? []]

  for (const r of walk.routes) {
    const key = `${r.method} ${r.url}`
    const credentials = walk.credentialsFor?.(r.url)
    const send = async (label: string, path: string, body?: unknown, token = walk.token ?? api.adminToken) => {
      const res = await api.req(r.method, path, { token, body, ...credentials })
      requests++
      if (res.status >= 500) failures.push(`${label}: ${res.status} ${res.text.slice(0, 200)}`)
      // 431 (a request line too long for Node's HTTP parser) is answered before any route runs.
      if (res.headers.get('content-type')?.includes('json') && res.status >= 400 && res.status !== 431 && !isRouteError(r.url, res.body)) failures.push(`${label}: error not in the error format: ${res.text.slice(0, 200)}`)
    }
    const known = walk.params?.[key] ?? {}
    const fillParams = (override?: [string, string]) =>
      r.url.replace(/:([A-Za-z_]+)/g, (_m, name: string) => enc(override && override[0] === name ? override[1] : known[name] ?? randomUUID()))
    const schema = r.schema as { params?: unknown; querystring?: unknown; body?: Schema } | undefined
    const hasBody = r.method !== 'GET' && r.method !== 'DELETE'
    const sample = walk.samples[key] ?? {}
    const sampleQuery = walk.queries?.[key] ?? {}
    /** `path` with the sample query, `q` left out of it and `injected` (already encoded) put in its place. */
    const withQuery = (path: string, q?: string, injected?: string) => {
      const parts = [...Object.entries(sampleQuery).filter(([k]) => k !== q).map(([k, v]) => `${enc(k)}=${enc(v)}`), ...(injected ? [injected] : [])]
      return parts.length > 0 ? `${path}?${parts.join('&')}` : path
    }
    const params = (r.url.match(/:([A-Za-z_]+)/g) ?? []).map((p) => p.slice(1))
    for (const p of params) {
      for (const s of strings) await send(`${key} param ${p}=${JSON.stringify(s).slice(0, 40)}`, withQuery(fillParams([p, s])), hasBody ? sample : undefined)
    }
    for (const q of new Set([...props(schema?.querystring), ...Object.keys(sampleQuery)])) {
      for (const s of strings) await send(`${key} query ${q}=${JSON.stringify(s).slice(0, 40)}`, withQuery(fillParams(), q, `${enc(q)}=${enc(s)}`), hasBody ? sample : undefined)
      await send(`${key} query ${q} twice`, withQuery(fillParams(), q, `${enc(q)}=1&${enc(q)}=2`), hasBody ? sample : undefined)
    }
    if (!hasBody) continue
    const fields = [...new Set([...props(schema?.body), ...Object.keys(sample)])]
    for (const f of fields) {
      for (const v of [...strings, ...JSON_VALUES]) await send(`${key} body ${f}=${JSON.stringify(v)?.slice(0, 40)}`, withQuery(fillParams()), { ...sample, [f]: v })
      const inner = sample[f]
      if (walk.arrays && Array.isArray(inner) && isPlainObject(inner[0])) {
        const first = inner[0]
        for (const g of Object.keys(first)) {
          for (const v of [...strings, ...JSON_VALUES]) {
            await send(`${key} body ${f}[0].${g}=${JSON.stringify(v)?.slice(0, 40)}`, withQuery(fillParams()), { ...sample, [f]: [{ ...first, [g]: v }, ...inner.slice(1)] })
          }
        }
      }
      if (!walk.nested || !isPlainObject(inner)) continue
      for (const g of new Set([...props(schema?.body?.properties?.[f]), ...Object.keys(inner)])) {
        for (const v of [...strings, ...JSON_VALUES]) {
          await send(`${key} body ${f}.${g}=${JSON.stringify(v)?.slice(0, 40)}`, withQuery(fillParams()), { ...sample, [f]: { ...inner, [g]: v } })
        }
      }
    }
    for (const whole of JSON_VALUES) await send(`${key} body=${JSON.stringify(whole)}`, withQuery(fillParams()), whole)
    await send(`${key} body as a viewer`, withQuery(fillParams()), sample, walk.viewerToken)
  }
  return { requests, failures }
}
