// InfluxDB's error bodies on the routes InfluxDB clients call, with hostpulse's HTTP statuses: InfluxDB 2's
// {"code": "<string>", "message"} on /api/v2/write (Telegraf's outputs.influxdb_v2 decodes exactly that and
// logs code, message and `line`), InfluxDB 1.x's {"error": "…"} on /write, /query and /ping. A write that
// rejected lines also carries InfluxDB 3's partial-write list: `data: [{original_line, line_number, error_message}]`.
import { Type, type Static } from 'typebox'
import { ApiError, type ErrorBody } from '../http/errors.ts'

/** InfluxDB 2's error codes (its platform errors) by HTTP status. */
const V2_CODES: Record<number, string> = {
  400: 'invalid', 401: 'unauthorized', 403: 'forbidden', 404: 'not found', 405: 'method not allowed', 409: 'conflict',
  413: 'request too large', 422: 'unprocessable entity', 429: 'too many requests', 503: 'unavailable',
}

export const influxV2Code = (status: number): string => V2_CODES[status] ?? (status >= 500 ? 'internal error' : 'invalid')

export const RejectedLine = Type.Object({
  original_line: Type.String({ description: 'The line as sent (cut after 512 characters)' }),
  line_number: Type.Integer({ minimum: 1, description: '1-based, counting every line of the body' }),
  error_message: Type.String(),
})
export type RejectedLine = Static<typeof RejectedLine>

const Rejected = Type.Optional(Type.Array(RejectedLine, { maxItems: 100, description: 'Rejected lines (InfluxDB 3 partial write), at most 100' }))

export const InfluxV2Error = Type.Object({
  code: Type.String({ description: 'InfluxDB 2 error code: invalid, unauthorized, forbidden, not found, request too large, too many requests, internal error…' }),
  message: Type.String(),
  line: Type.Optional(Type.Integer({ description: 'The first rejected line' })),
  data: Rejected,
})
export const InfluxV1Error = Type.Object({ error: Type.String(), data: Rejected })

export const INFLUX_V2_ERRORS = { 400: InfluxV2Error, 401: InfluxV2Error, 403: InfluxV2Error, 413: InfluxV2Error, 415: InfluxV2Error, 429: InfluxV2Error }
export const INFLUX_V1_ERRORS = { 400: InfluxV1Error, 401: InfluxV1Error, 403: InfluxV1Error, 413: InfluxV1Error, 415: InfluxV1Error, 429: InfluxV1Error }

/** The rejected lines a write error carries in its details (native details of any other error are not InfluxDB's). */
function rejectedLines(body: ErrorBody): RejectedLine[] | undefined {
  const data = body.details?.rejected_lines
  return Array.isArray(data) ? data as RejectedLine[] : undefined
}

export function influxV2ErrorBody(body: ErrorBody): Static<typeof InfluxV2Error> {
  const data = rejectedLines(body)
  return { code: influxV2Code(body.code), message: body.message, ...(data && data.length > 0 ? { line: data[0].line_number, data } : {}) }
}

export function influxV1ErrorBody(body: ErrorBody): Static<typeof InfluxV1Error> {
  const data = rejectedLines(body)
  return { error: body.message, ...(data ? { data } : {}) }
}

/** Lines listed in one answer, as InfluxDB 3 lists them. */
export const MAX_REJECTED_LINES = 100
/** Lines named in the message itself: Telegraf logs the message, not the list. */
const LINES_IN_MESSAGE = 10
const MAX_ORIGINAL_LINE = 512

/**
 * The 400 for a write with rejected lines: `accepted` lines were stored (InfluxDB 3's "partial write of line
 * protocol occurred"), or none was. `body` is the request body, for the rejected lines' text.
 */
export function rejectedLinesError(body: string, errors: ReadonlyArray<{ line: number; message: string }>, accepted: number): ApiError {
  const sorted = [...errors].sort((a, b) => a.line - b.line)
  const lines = body.split('\n')
  const data: RejectedLine[] = sorted.slice(0, MAX_REJECTED_LINES).map((e) => {
    const text = (lines[e.line - 1] ?? '').replace(/\r$/, '')
    return { original_line: text.length > MAX_ORIGINAL_LINE ? `${text.slice(0, MAX_ORIGINAL_LINE)}…` : text, line_number: e.line, error_message: e.message }
  })
  const named = sorted.slice(0, LINES_IN_MESSAGE).map((e) => `line ${e.line}: ${e.message}`).join('; ')
  const more = sorted.length > LINES_IN_MESSAGE ? `; and ${sorted.length - LINES_IN_MESSAGE} more (${data.length} listed in data)` : ''
  const n = sorted.length
  const head = accepted > 0
    ? `partial write of line protocol occurred: ${n} of ${n + accepted} lines rejected, the other ${accepted} stored`
    : `no line was stored: ${n === 1 ? 'the only line was' : `all ${n} lines were`} rejected`
  return new ApiError('VALIDATION_ERROR', `${head}; ${named}${more}`, { rejected_lines: data })
}
