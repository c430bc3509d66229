// InfluxDB 1.x's /ping and /query, which 1.x clients call before they write. /ping answers 204 with the
// version headers and needs no credentials (as in InfluxDB). /query takes the agent key like /write and
// answers what a writer sends on start: CREATE DATABASE (a no-op: the agent key, not a database, decides
// where data goes) and SHOW DATABASES; any other InfluxQL is a 400 saying where to read instead.
import type { FastifyPluginAsync } from 'fastify'
import { Type, type Static } from 'typebox'
import { ApiError } from '../http/errors.ts'
import { NoContent } from '../http/response-schemas.ts'
import { INFLUX_V1_ERRORS } from './influx-errors.ts'
import { ACCEPTED_CREDENTIALS, influxClientAuthentication } from './influx-credentials.ts'

/** The InfluxDB API these routes answer: 1.8 serves /write, /query, /ping and also /api/v2/write. */
export const INFLUX_VERSION = '1.8.10'
export const INFLUX_VERSION_HEADERS = { 'x-influxdb-version': INFLUX_VERSION, 'x-influxdb-build': 'hostpulse' }

const PingQuery = Type.Object({ verbose: Type.Optional(Type.String({ description: 'Anything but empty, 0 or false: 200 with {"version"} (load balancers that want a 200)' })) })

const QueryParams = Type.Object({
  q: Type.Optional(Type.String({ description: 'InfluxQL; in the query string or a form body. CREATE DATABASE and SHOW DATABASES are answered' })),
  db: Type.Optional(Type.String({ description: 'Listed by SHOW DATABASES' })),
  u: Type.Optional(Type.String({ description: 'Accepted and ignored' })),
  p: Type.Optional(Type.String({ description: 'The agent key (prefer a header: URLs end up in logs)' })),
}, { additionalProperties: true })

const Series = Type.Object({ name: Type.String(), columns: Type.Array(Type.String()), values: Type.Optional(Type.Array(Type.Array(Type.String()))) })
const StatementResult = Type.Object({ statement_id: Type.Integer(), series: Type.Optional(Type.Array(Series)) })
const QueryResults = Type.Object({ results: Type.Array(StatementResult) })
type StatementResult = Static<typeof StatementResult>

/** A name as InfluxQL writes it: "quoted" (with backslash escapes) or a bare identifier. */
const IDENTIFIER = String.raw`"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*`
const CREATE_DATABASE = new RegExp(String.raw`^create\s+database\s+(?:if\s+not\s+exists\s+)?(${IDENTIFIER})(?:\s+with\s[\s\S]*)?$`, 'i')
const SHOW_DATABASES = /^show\s+databases$/i

const unquote = (name: string) => (name.startsWith('"') ? name.slice(1, -1).replace(/\\(.)/g, '$1') : name)

/** The statements of a query, split at the semicolons outside quotes. */
export function statementsOf(q: string): string[] {
  const out: string[] = []
  let current = ''
  let quote: string | null = null
  for (let i = 0; i < q.length; i++) {
    const c = q[i]
    if (quote) {
      current += c
      if (c === '\\' && i + 1 < q.length) current += q[++i]
      else if (c === quote) quote = null
    } else if (c === ';') {
      out.push(current)
      current = ''
    } else {
      if (c === '"' || c === "'") quote = c
      current += c
    }
  }
  out.push(current)
  return out.map((s) => s.trim()).filter((s) => s.length > 0)
}

/** The answer to each statement, as InfluxDB 1.x gives it; undefined when hostpulse does not answer that statement. */
export function answerStatements(statements: string[], requestedDb: string | undefined): StatementResult[] | undefined {
  const names = new Set(requestedDb ? [requestedDb] : [])
  for (const s of statements) {
    const created = CREATE_DATABASE.exec(s)
    if (created) names.add(unquote(created[1]))
  }
  const results: StatementResult[] = []
  for (const [i, s] of statements.entries()) {
    if (CREATE_DATABASE.test(s)) results.push({ statement_id: i })
    else if (SHOW_DATABASES.test(s)) results.push({ statement_id: i, series: [{ name: 'databases', columns: ['name'], ...(names.size > 0 ? { values: [...names].map((n) => [n]) } : {}) }] })
    else return undefined
  }
  return results
}

export const influxPingQueryRoutes: FastifyPluginAsync = async (app) => {
  app.get('/ping', {
    // A probe, like /health: cheap, and never refused for load.
    config: { rateBudget: false },
    schema: {
      summary: 'InfluxDB 1.x /ping: 204 with X-Influxdb-Version and X-Influxdb-Build; no credentials needed', tags: ['ingest'],
      querystring: PingQuery, response: { 200: Type.Object({ version: Type.String() }), 204: NoContent, 400: INFLUX_V1_ERRORS[400] },
    },
  }, async (request, reply) => {
    const verbose = (request.query as Static<typeof PingQuery>).verbose
    if (verbose && verbose !== '0' && verbose.toLowerCase() !== 'false') return reply.status(200).send({ version: INFLUX_VERSION })
    return reply.status(204).send()
  })

  app.route({
    method: ['GET', 'POST'],
    url: '/query',
    // InfluxDB answers no HEAD here, and a probe has /ping.
    exposeHeadRoute: false,
    config: { rateBudget: 'ingest' },
    onRequest: influxClientAuthentication(app),
    schema: {
      summary: 'InfluxDB 1.x /query: CREATE DATABASE (a no-op) and SHOW DATABASES for clients that send them on start; other InfluxQL is refused',
      description: `Agent key as ${ACCEPTED_CREDENTIALS}.`,
      tags: ['ingest'], security: [{ agentKey: [] }], querystring: QueryParams,
      response: { 200: QueryResults, ...INFLUX_V1_ERRORS },
    },
    handler: async (request) => {
      const query = request.query as Static<typeof QueryParams>
      const form = typeof request.body === 'string' && /application\/x-www-form-urlencoded/i.test(String(request.headers['content-type']))
        ? new URLSearchParams(request.body) : undefined
      const q = form?.get('q') ?? query.q
      if (!q || q.trim().length === 0) throw new ApiError('BAD_REQUEST', 'missing required parameter "q"')
      const statements = statementsOf(q)
      const results = answerStatements(statements, form?.get('db') ?? query.db)
      if (!results) {
        const other = statements.find((s) => !CREATE_DATABASE.test(s) && !SHOW_DATABASES.test(s)) ?? q
        throw new ApiError('BAD_REQUEST', `hostpulse stores line protocol but does not answer InfluxQL queries (${JSON.stringify(other.slice(0, 80))}): `
          + 'read through the hostpulse API (GET /api/v1/metrics/range/<agent_id>), the web page or the bundled Grafana (README, '
          + '"Telegraf in, Prometheus out"); only CREATE DATABASE (a no-op) and SHOW DATABASES are answered here')
      }
      return { results }
    },
  })
}
