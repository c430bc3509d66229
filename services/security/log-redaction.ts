// No secret in a log line: request headers are logged for diagnosis, with every credential censored,
// and any password, token or key field in a logged object is censored too.
import type { FastifyServerOptions, FastifyRequest } from 'fastify'

const SECRET_HEADERS = ['authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-enrollment-token', 'x-enroll-token', 'idempotency-key', 'sec-websocket-protocol']
const SECRET_FIELDS = ['password', 'current_password', 'new_password', 'token', 'refresh_token', 'api_key', 'apiKey', 'secret',
  'enrollment_token', 'webhook_url', 'smtp_password']

export const REDACT_PATHS = [
  ...SECRET_HEADERS.map((h) => `req.headers["${h}"]`),
  ...SECRET_HEADERS.map((h) => `res.headers["${h}"]`),
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
]

/** Query parameters that carry a credential: InfluxDB 1.x's `?p=` (the agent key) and any token or key. */
const SECRET_QUERY = /([?&](?:p|password|token|access_token|api_key|apikey|key)=)[^&#]*/gi

/** The URL as logged: credentials in its query censored. */
export function redactUrl(url: string): string {
  return url.includes('?') ? url.replace(SECRET_QUERY, '$1[redacted]') : url
}

const serializers = {
  req(request: FastifyRequest) {
    return {
      method: request.method, url: redactUrl(request.url), host: request.host, remoteAddress: request.ip,
      headers: { ...request.headers },
    }
  },
}

/** The app's logger options with redaction added; `false` stays off. */
export function withRedaction(logger: FastifyServerOptions['logger']): FastifyServerOptions['logger'] {
  if (!logger) return false
  const base = logger === true ? {} : logger
  return { ...base, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, serializers: { ...serializers, ...(base as { serializers?: object }).serializers } }
}
