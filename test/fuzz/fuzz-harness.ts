// Property-based fuzzing of every route family (issue 15 part 5) with fast-check: generated path parameters,
// query strings, headers and bodies (valid bodies with one part replaced, arbitrary JSON, text that is not
// JSON, raw bytes under any content type and encoding) sent over HTTP to the real API. The properties: no 5xx,
// no dropped connection, every refusal in the route's documented error format, the server still healthy
// after each family, and no row that existed before changed. The runs per family come from FUZZ_RUNS (10,000
// in `npm test`, with a fixed seed; `npm run bench:fuzz` runs more with a fresh one), the seed from FUZZ_SEED
// (printed, so a failure replays).
import fc from 'fast-check'
import type { Test } from 'tap'
import type { RegisteredRoute } from '../../services/security/route-inventory-plugin.ts'
import { PERF_ANALYSIS_PATHS } from '../../services/faces/perf-analysis/perf-analysis-face.ts'
import { isRouteError } from '../security/security-helpers.ts'
import { STRINGS } from '../security/injection-walk.ts'

/** Route families, first match wins; every registered route falls in one. */
export const FAMILIES: Array<[string, (url: string) => boolean]> = [
  ['auth', (u) => /^\/api\/v1\/auth\//.test(u)],
  ['users, organizations, audit', (u) => /^\/api\/v1\/(users|organizations|audit)(\/|$)/.test(u)],
  ['processes', (u) => /^\/api\/v1\/(agents\/:id\/processes|processes)(\/|$)/.test(u)],
  ['traffic', (u) => /^\/api\/v1\/(agents\/:id\/traffic|traffic)(\/|$)/.test(u)],
  ['agents and enrollment', (u) => /^\/api\/v1\/(agents|enrollment-tokens|registrations)(\/|$)/.test(u)],
  ['metrics', (u) => /^\/api\/v1\/metrics\//.test(u)],
  ['alerting', (u) => /^\/api\/v1\/(alerts|silences|notification-channels)(\/|$)/.test(u)],
  ['dashboards, logs', (u) => /^\/api\/v1\/(dashboards|logs)(\/|$)/.test(u)],
  ['ingest', (u) => u === '/api/v1/ingest'],
  ['writers', (u) => /^(\/api\/v2\/write|\/write|\/api\/v1\/write|\/v1\/metrics|\/query|\/ping)$/.test(u)],
  ['seed 004', (u) => PERF_ANALYSIS_PATHS.test(u)],
  ['seeds 000 and 002', (u) => /^\/api\/(submit|hosts|ingest|latest)(\/|$)/.test(u)],
  ['seeds 001 and 003', (u) => /^\/api\/(?!v\d+\/)/.test(u)],
  ['service', () => true],
]

export const familyOf = (url: string) => FAMILIES.find(([, test]) => test(url))![0]

export interface FuzzSetup {
  base: string
  adminToken: string
  /** Credentials a route takes besides the admin's bearer token (agent key, enrollment token), by url pattern. */
  credentialsFor: (url: string) => Record<string, string>
  /** Valid bodies by `METHOD url`, mutated by the fuzzer so generated parts reach past the schema. */
  samples: Record<string, unknown>
  /** Known query parameters by `METHOD url` (besides the schema's). */
  queries?: Record<string, string[]>
  /** Routes left out (by `METHOD url`): ones that end the session the fuzzer runs with. */
  skip?: Set<string>
}

export interface FamilyResult { family: string; routes: number; runs: number; statuses: Record<string, number>; ms: number }

const printable = fc.string({ maxLength: 40 })
/** Strings people and attackers send: generated text, unicode, the injection walk's list, numbers, uuids. */
export const fuzzString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: printable },
  { weight: 2, arbitrary: fc.fullUnicodeString({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.constantFrom(...STRINGS.filter((s) => s.length < 1000)) },
  { weight: 1, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.double().map(String) },
  { weight: 1, arbitrary: fc.uuid() },
)
const fuzzJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fuzzString },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, 1e308, -1e308, 2 ** 63, 1e21, true, false, null, [], {}, [[[[]]]], { $ne: null }) },
)

/** A JSON value with the part at `path` replaced by `value` (or removed when value is undefined). */
function replaceAt(value: unknown, path: Array<string | number>, next: unknown): unknown {
  if (path.length === 0) return next
  const [head, ...rest] = path
  if (Array.isArray(value)) {
    const copy = [...value]
    if (next === undefined && rest.length === 0) copy.splice(Number(head), 1)
    else copy[Number(head)] = replaceAt(copy[Number(head)], rest, next)
    return copy
  }
  if (value && typeof value === 'object') {
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) }
    if (next === undefined && rest.length === 0) delete copy[head]
    else copy[head] = replaceAt(copy[head], rest, next)
    return copy
  }
  return value
}

/** Every path into a JSON value (objects' keys, arrays' first two items), the value itself first. */
function pathsOf(value: unknown, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(prefix)
  if (prefix.length >= 4) return out
  if (Array.isArray(value)) value.slice(0, 2).forEach((v, i) => pathsOf(v, [...prefix, i], out))
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out)
  return out
}

type Body = { kind: 'none' } | { kind: 'json'; value: unknown } | { kind: 'text'; text: string } | { kind: 'bytes'; bytes: Uint8Array }

interface Case {
  route: RegisteredRoute
  params: string[]
  query: Array<[string, string]>
  body: Body
  contentType: string | undefined
  contentEncoding: string | undefined
  /** Replaces the route's credentials with generated ones (401 expected, in the format). */
  badCredentials: string | undefined
}

const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-protobuf', 'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x', 'application/octet-stream', 'application/xml', 'image/png', 'json', '*/*']
const ENCODINGS = ['gzip', 'deflate', 'br', 'snappy', 'identity', 'x-unknown']

// Built once: a stringMatching arbitrary costs milliseconds to build (microseconds to draw from).
const generatedContentType = fc.stringMatching(/^[a-z]{1,8}\/[a-z0-9.+-]{1,12}$/)
const generatedCredentials = fc.stringMatching(/^[A-Za-z0-9._~+/=-]{0,60}$/)

function caseArbitrary(routes: RegisteredRoute[], setup: FuzzSetup): fc.Arbitrary<Case> {
  // Each route's arbitrary is built once, not once per case (building them was most of a case's cost); the
  // cases a seed draws are the same.
  const byRoute = new Map(routes.map((route) => [route, routeCaseArbitrary(route, setup)]))
  return fc.constantFrom(...routes).chain((route) => byRoute.get(route)!)
}

function routeCaseArbitrary(route: RegisteredRoute, setup: FuzzSetup): fc.Arbitrary<Case> {
  const key = `${route.method} ${route.url}`
  const schema = route.schema as { querystring?: { properties?: Record<string, unknown> }; body?: { properties?: Record<string, unknown> } } | undefined
  const queryKeys = [...new Set([...Object.keys(schema?.querystring?.properties ?? {}), ...setup.queries?.[key] ?? []])]
  const params = (route.url.match(/:[A-Za-z_]+/g) ?? []).length + (route.url.endsWith('*') ? 1 : 0)
  const sample = setup.samples[key]
  const bodyKeys = Object.keys(schema?.body?.properties ?? {})
  const hasBody = route.method !== 'GET' && route.method !== 'DELETE'
  const bodies: Array<fc.WeightedArbitrary<Body>> = [
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => ({ kind: 'json', value })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ kind: 'text', text })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ kind: 'bytes', bytes })) },
  ]
  if (bodyKeys.length > 0) {
    bodies.push({ weight: 2, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...bodyKeys), printable), fuzzJson, { maxKeys: 6 }).map((value) => ({ kind: 'json', value })) })
  }
  if (sample !== undefined) {
    const paths = pathsOf(sample)
    bodies.push({
      weight: 6,
      arbitrary: fc.tuple(fc.constantFrom(...paths), fc.option(fuzzJson, { freq: 8, nil: undefined }))
        .map(([path, value]) => ({ kind: 'json', value: replaceAt(sample, path, value) })),
    })
  }
  return fc.record({
    route: fc.constant(route),
    params: fc.array(fc.oneof(fuzzString, fc.uuid()), { minLength: params, maxLength: params }),
    query: fc.array(fc.tuple(queryKeys.length > 0 ? fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...queryKeys) }, { weight: 1, arbitrary: printable }) : printable, fuzzString), { maxLength: 5 }),
    body: hasBody ? fc.oneof(...bodies) : fc.constant<Body>({ kind: 'none' }),
    contentType: fc.option(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...CONTENT_TYPES) }, { weight: 1, arbitrary: generatedContentType }), { freq: 6, nil: undefined }),
    contentEncoding: fc.option(fc.constantFrom(...ENCODINGS), { freq: 10, nil: undefined }),
    badCredentials: fc.option(generatedCredentials, { freq: 12, nil: undefined }),
  })
}

/** Percent-encoded; a lone surrogate (no UTF-8 form) goes as the invalid bytes of one. */
const enc = (s: string) => { try { return encodeURIComponent(s) } catch { return '%ED%A0%80' } }

function requestOf(c: Case, setup: FuzzSetup): { url: string; init: RequestInit } {
  let i = 0
  const path = c.route.url.replace(/:[A-Za-z_]+/g, () => enc(c.params[i++] ?? 'x')).replace(/\*$/, () => enc(c.params[i++] ?? 'x'))
  const query = c.query.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')
  const headers: Record<string, string> = c.badCredentials !== undefined
    ? { authorization: `Bearer ${c.badCredentials}`, 'x-api-key': c.badCredentials }
    : { authorization: `Bearer ${setup.adminToken}`, ...setup.credentialsFor(c.route.url) }
  let body: BodyInit | undefined
  if (c.body.kind === 'json') { body = JSON.stringify(c.body.value) ?? 'null'; headers['content-type'] = 'application/json' }
  else if (c.body.kind === 'text') { body = c.body.text; headers['content-type'] = 'text/plain' }
  else if (c.body.kind === 'bytes') { body = Buffer.from(c.body.bytes); headers['content-type'] = 'application/octet-stream' }
  if (c.contentType !== undefined && body !== undefined) headers['content-type'] = c.contentType
  if (c.contentEncoding !== undefined && body !== undefined) headers['content-encoding'] = c.contentEncoding
  return { url: `${setup.base}${path}${query ? `?${query}` : ''}`, init: { method: c.route.method, headers, body } }
}

const describe = (c: Case, url: string) => `${c.route.method} ${url.replace(/^https?:\/\/[^/]+/, '').slice(0, 300)} body=${JSON.stringify(c.body.kind === 'json' ? c.body.value : c.body.kind === 'text' ? c.body.text : c.body.kind === 'bytes' ? `${c.body.bytes.length} bytes` : null)?.slice(0, 300)} content-type=${c.contentType} encoding=${c.contentEncoding} credentials=${c.badCredentials === undefined ? 'valid' : 'generated'}`

/** Requests in flight at once per family: the store works in its own thread while the server parses the next ones. */
const CONCURRENCY = 4

/**
 * Fuzzes one family: `runs` generated requests in CONCURRENCY streams (seeds seed, seed + 1 …); throws with
 * the (shrunk) failing request on the first failure.
 */
export async function fuzzFamily(family: string, routes: RegisteredRoute[], setup: FuzzSetup, runs: number, seed: number): Promise<FamilyResult> {
  const statuses: Record<string, number> = {}
  const started = performance.now()
  const arbitrary = caseArbitrary(routes, setup)
  const property = fc.asyncProperty(arbitrary, async (c) => {
    const { url, init } = requestOf(c, setup)
    let res: Response
    try {
      res = await fetch(url, init)
    } catch (err) {
      throw new Error(`no answer (${(err as Error).cause ?? (err as Error).message}) to ${describe(c, url)}`)
    }
    // Read whole (a connection cut mid-body fails here); decoded only when it is checked (a 2xx can be 600 KB).
    const bytes = Buffer.from(await res.arrayBuffer())
    const klass = `${Math.floor(res.status / 100)}xx`
    statuses[klass] = (statuses[klass] ?? 0) + 1
    if (res.status >= 500) throw new Error(`${res.status} ${bytes.toString('utf8').slice(0, 300)} for ${describe(c, url)}`)
    // 431 (headers too large) and 414 are answered by Node's HTTP parser before any route; HEAD has no body.
    if (res.status >= 400 && res.status !== 431 && c.route.method !== 'HEAD') {
      const text = bytes.toString('utf8')
      let parsed: unknown
      try { parsed = JSON.parse(text) } catch { parsed = undefined }
      // The path as it reached the server (the URL parser resolves `.` and `..` segments): its format applies.
      const reached = new URL(url).pathname
      if (!res.headers.get('content-type')?.includes('json') || !isRouteError(reached, parsed)) {
        throw new Error(`${res.status} outside the error format (${res.headers.get('content-type')}: ${text.slice(0, 200)}) for ${describe(c, url)}`)
      }
    }
  })
  const streams = Array.from({ length: CONCURRENCY }, (_, i) => Math.floor(runs / CONCURRENCY) + (i < runs % CONCURRENCY ? 1 : 0))
  await Promise.all(streams.map((numRuns, i) => fc.assert(property, { numRuns, seed: seed + i })))
  return { family, routes: routes.length, runs, statuses, ms: performance.now() - started }
}

/**
 * The runs per family and the seed: FUZZ_RUNS and FUZZ_SEED, or 10,000 and a fixed seed, so that `npm test`
 * is the same run every time (a failure it finds fails every time); bench:fuzz runs more with a fresh seed.
 */
export function fuzzSettings(): { runs: number; seed: number } {
  const runs = Number(process.env.FUZZ_RUNS ?? 10_000)
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 20_261_204
  return { runs, seed }
}

/** Runs every family in `families` as its own subtest, checking the server's health after each. */
export async function fuzzFamilies(t: Test, families: string[], allRoutes: RegisteredRoute[], setup: FuzzSetup): Promise<FamilyResult[]> {
  const { runs, seed } = fuzzSettings()
  t.comment(`fuzzing ${families.length} families × ${runs} requests, seed ${seed} (FUZZ_SEED=${seed} FUZZ_RUNS=${runs} replays it)`)
  const results: FamilyResult[] = []
  for (const family of families) {
    const routes = allRoutes.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && !setup.skip?.has(`${r.method} ${r.url}`) && familyOf(r.url) === family)
    await t.test(`${family}: ${runs} generated requests over ${routes.length} routes`, async (t) => {
      t.ok(routes.length > 0, 'the family has routes')
      const result = await fuzzFamily(family, routes, setup, runs, seed)
      results.push(result)
      t.pass(`no 5xx, no dropped connection, every refusal in the route's format: ${JSON.stringify(result.statuses)} in ${(result.ms / 1000).toFixed(1)} s`)
      const health = await fetch(`${setup.base}/health`)
      t.equal(health.status, 200, 'the server is healthy after it')
    })
  }
  return results
}
