// Every domain error kind has its native status and code, in one table; a face that adds a kind must map it.
import t from 'tap'
import { DOMAIN_ERROR_KINDS, DomainError, invalidField } from '../../services/errors/domain-error.ts'
import { invalidInput } from '../../services/errors/validation-issues.ts'
import { ApiError, ERROR_CODES, NATIVE_ERROR_CODES, toErrorBody } from '../../services/http/errors.ts'

t.test('each kind → the native code and status', async (t) => {
  const expected: Record<string, [string, number]> = {
    invalid: ['VALIDATION_ERROR', 400], malformed: ['BAD_REQUEST', 400], unauthenticated: ['UNAUTHORIZED', 401],
    forbidden: ['FORBIDDEN', 403], not_found: ['NOT_FOUND', 404], conflict: ['CONFLICT', 409], too_large: ['PAYLOAD_TOO_LARGE', 413],
    unsupported_media_type: ['UNSUPPORTED_MEDIA_TYPE', 415], rate_limited: ['RATE_LIMITED', 429], unavailable: ['SERVICE_UNAVAILABLE', 503],
  }
  t.same(Object.keys(NATIVE_ERROR_CODES).sort(), [...DOMAIN_ERROR_KINDS].sort(), 'every kind is mapped')
  for (const kind of DOMAIN_ERROR_KINDS) {
    const body = toErrorBody(new DomainError(kind, `a ${kind} problem`, { details: { f: ['x'] } }))
    t.same(body, { error: expected[kind][0], message: `a ${kind} problem`, code: expected[kind][1], details: { f: ['x'] } }, kind)
    t.equal(ERROR_CODES[NATIVE_ERROR_CODES[kind]], expected[kind][1])
  }
})

t.test('a domain error reads exactly as the ApiError it replaced', async (t) => {
  t.same(toErrorBody(invalidField('start', 'must be before end')),
    toErrorBody(new ApiError('VALIDATION_ERROR', 'Invalid request: start must be before end', { start: ['must be before end'] })))
  const issues = [{ instancePath: '/metrics/3', keyword: 'required', params: { requiredProperties: ['value'] }, message: 'x' }, { instancePath: '/time', message: 'must match format' }]
  t.same(toErrorBody(invalidInput(issues, '[2]')), {
    error: 'VALIDATION_ERROR', code: 400, message: 'Invalid request: [2].metrics[3].value is required (and 1 more field)',
    details: { '[2].metrics[3].value': ['is required'], '[2].time': ['must match format'] },
  })
})

t.test('a field named like an Object method is a field like any other (valueOf was a 500, found by the fuzzer)', async (t) => {
  const issues = ['valueOf', 'constructor', '__proto__'].map((name) => ({ instancePath: '', keyword: 'additionalProperties', params: { additionalProperty: name }, message: 'x' }))
  const body = toErrorBody(invalidInput(issues))
  t.equal(body.message, 'Invalid request: valueOf is not allowed (and 2 more fields)')
  t.same(Object.entries(body.details ?? {}), [['valueOf', ['is not allowed']], ['constructor', ['is not allowed']], ['__proto__', ['is not allowed']]])
})
